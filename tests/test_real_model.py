"""Real turns on the embedded model (Qwen2.5-Coder-1.5B Q4_K_M via llama.cpp), on a demo shop.

Marked `llm`: it loads the 1.1 GB model and takes about a minute on 2 cores. It checks what the
issue asks: the right tool with the right arguments, and a reply grounded in the tool result.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xiaoer.cli import app
from xiaoer.demo import write_demo_bundles

pytestmark = pytest.mark.llm

NOW = "2026-11-20T14:00:00+08:00"


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    pytest.importorskip("llama_cpp", reason="the embedded model needs the `local` extra")
    from datetime import datetime

    root = tmp_path_factory.mktemp("demo")
    env = {"XIAOER_HOME": str(root / "home"), "XIAOER_NOW": NOW, "XIAOER_UNDERSTAND": "cascade"}
    for path in write_demo_bundles(root / "bundles", anchor=datetime.fromisoformat(NOW)):
        result = CliRunner().invoke(app, ["shop", "import", str(path)], env=env)
        assert result.exit_code == 0, result.output
    return env | {"_bundles": str(root / "bundles")}


def _ask(env: dict[str, str], message: str) -> dict:
    clean = {k: v for k, v in env.items() if not k.startswith("_")}
    result = CliRunner().invoke(
        app, ["ask", "--shop", "stride", "--shopper", "U00001", "--json", message], env=clean
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{") :])


def _shipped_order(env: dict[str, str]) -> dict:
    rows = Path(env["_bundles"], "stride", "orders.jsonl").read_text(encoding="utf-8").splitlines()
    orders = [json.loads(r) for r in rows]
    return next(
        o
        for o in orders
        if o["shopper_id"] == "U00001" and o["status"] == "已发货" and o["shipment"]["events"]
    )


def test_logistics_question_calls_the_tool_and_grounds_the_reply(demo_env: dict[str, str]) -> None:
    order = _shipped_order(demo_env)
    out = _ask(demo_env, f"我的订单 {order['id']} 到哪了？")
    calls = [(c["name"], c["arguments"].get("order_id", "").upper()) for c in out["tool_calls"]]
    assert ("track_logistics", order["id"]) in calls or ("get_order", order["id"]) in calls
    latest = max(order["shipment"]["events"], key=lambda e: e["time"])
    facts = [order["shipment"]["carrier"], order["shipment"]["tracking_no"], latest["detail"]]
    facts += re.findall(r"【(.+?)】", latest["detail"])
    assert any(f in out["reply"] for f in facts), out["reply"]
    assert out["llm_calls"] >= 2 and out["tokens_in"] > 0 and out["tokens_out"] > 0


def test_product_question_lists_real_in_stock_products(demo_env: dict[str, str]) -> None:
    out = _ask(demo_env, "有没有 42 码的跑鞋，300 元以内")
    search = [c for c in out["tool_calls"] if c["name"] == "search_products"]
    assert search, out["tool_calls"]
    result = search[-1]["result"]
    titles = re.findall(r"^\d+\. (.+?)（编号", result, flags=re.M)
    assert titles, result
    reply = re.sub(r"\s", "", out["reply"])  # the model drops the spaces inside titles
    assert any(re.sub(r"\s", "", t) in reply for t in titles), out["reply"]
    listed = set(re.findall(r"¥(\d+)", result))
    prices = re.findall(r"(?:¥(\d+)|(\d+)元)", out["reply"])
    for price in {a or b for a, b in prices} - {"300"}:  # 300 is the shopper's own limit
        assert price in listed, (price, out["reply"])


def test_smoke_eval_suite_runs_on_the_embedded_model(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    """The CI subset of the scenario suite: the harness end to end on the real model."""
    report = tmp_path / "eval.json"
    clean = {k: v for k, v in demo_env.items() if not k.startswith("_")}
    result = CliRunner().invoke(app, ["eval", "run", "smoke", "--json", str(report)], env=clean)
    assert result.exit_code == 0, result.output
    summary = json.loads(report.read_text(encoding="utf-8"))["summary"]
    assert summary["n_scenarios"] == 3 and summary["errors"] == 0
    assert summary["unconfirmed_mutations"] == 0
    assert set(summary["pass_hat_k"]) == {"1"} and summary["llm_calls_per_turn"] >= 1
    print("smoke pass^1:", summary["pass_hat_k"]["1"])  # a quality figure, not an assertion


def test_switching_back_to_an_earlier_prompt_reuses_its_saved_state() -> None:
    pytest.importorskip("llama_cpp", reason="the embedded model needs the `local` extra")
    import asyncio

    from xiaoer.config import Settings
    from xiaoer.llm.base import ChatMessage
    from xiaoer.llm.chatml import render
    from xiaoer.runtime import build_llm

    llm = build_llm(Settings())
    rules = "\n".join(f"{i}. 第 {i} 条店规：发货前可以改地址，发货后不能改。" for i in range(1, 25))
    first = [ChatMessage("system", "你是步履不停的客服。\n" + rules), ChatMessage("user", "你好")]
    second = [ChatMessage("system", "你是伏特数码的客服。\n" + rules), ChatMessage("user", "你好")]

    async def run() -> list[int]:
        out = []
        for messages in (first, second, first):
            c = await llm.complete(messages, [], mode="text", max_tokens=4)
            out.append(c.cached_tokens)
        return out

    cached = asyncio.run(run())
    prompt = len(llm.llama.tokenize(render(first, []).encode(), add_bos=False, special=True))
    assert cached[1] < 20  # another shop's prompt shares only the first few tokens
    assert cached[2] >= prompt - 1  # the first prompt came back from its snapshot
    assert llm.snapshots.restores == 1


# The messages issue 16 lists as misread by keyword routing, read by the default (cascade)
# reader on the embedded model. Each is also in the labelled set (evals/labelled/), where
# `xiaoer eval understand` measures the step on all 428 messages.
MISREAD = [
    ("有没有真人试穿的图片", "", lambda u: not u.asks_human),
    ("烟雾报警器怎么安装", "", lambda u: u.mood == "calm"),
    ("垃圾桶多大容量", "", lambda u: u.mood == "calm"),
    ("这个多少钱！！", "", lambda u: u.mood != "angry"),
    # read as a fault (破) until the legend told product questions from size choice (64c677a)
    ("退破晓 1", "", lambda u: not u.quality),
    pytest.param(
        "质量挺好，就是颜色不喜欢",
        "亲，请问退货原因是什么呢？",
        lambda u: not u.quality,
        id="质量挺好，就是颜色不喜欢",
        marks=pytest.mark.xfail(strict=True, reason="the 1.5B model reads 质量 as a fault"),
    ),
    ("涂层脱落了，我要退货", "", lambda u: u.quality),
    ("用了一周就生锈了，要退", "", lambda u: u.quality),
    ("收到的箱子里面少了一个配件", "", lambda u: u.quality),
]


@pytest.fixture(scope="module")
def reader() -> object:
    pytest.importorskip("llama_cpp", reason="the embedded model needs the `local` extra")
    from xiaoer.agent.understanding import CascadeReader, ModelReader
    from xiaoer.config import Settings
    from xiaoer.runtime import build_llm

    return CascadeReader(ModelReader(build_llm(Settings())))


@pytest.mark.parametrize(("text", "before", "right"), MISREAD)
def test_messages_keyword_routing_misread_are_understood(
    reader: object, text: str, before: str, right: object
) -> None:
    import asyncio

    reading = asyncio.run(reader.read(text, before=before))  # type: ignore[attr-defined]
    assert reading.ok and right(reading.understood), reading.understood  # type: ignore[operator]
