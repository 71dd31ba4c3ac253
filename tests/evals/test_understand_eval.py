"""`xiaoer eval understand`: per-field accuracy and per-value precision/recall of each reader on
a labelled set, the cascade also reporting the model's own reading from the same calls."""

from __future__ import annotations

from pathlib import Path

from xiaoer.agent.understanding import CascadeReader, KeywordReader, ModelReader
from xiaoer.evals.understanding import evaluate, load_items
from xiaoer.llm.scripted import ScriptedLLM, call

LABELLED = """
- {id: t-1, shop: stride, split: dev, text: "有没有真人试穿的图片", want: [product],
   reason_kind: [none], asks_human: false, mood: [calm]}
- {id: t-2, shop: stride, split: dev, text: "转人工", want: [other], reason_kind: [none],
   asks_human: true, mood: [calm]}
- {id: t-4, shop: stride, split: dev, text: "这双多少钱", want: [product], reason_kind: [none],
   asks_human: false, mood: [calm]}
- {id: t-3, shop: orchard, split: heldout, text: "好的", pending: "取消订单 SO1", want: [cancel],
   reason_kind: [none], asks_human: false, mood: [calm], answer: "yes"}
"""


async def test_readers_are_scored_per_field_and_split(tmp_path: Path) -> None:
    path = tmp_path / "l.yaml"
    path.write_text(LABELLED, encoding="utf-8")
    items = load_items(path)
    assert [i.gold["answer"] for i in items if "answer" in i.gold] == [frozenset({"yes"})]
    # the model says every message asks for a person and wants a product
    form = {"事": "商品咨询", "原因": "无", "情绪": "平静", "人工": "是", "确认": "同意"}
    llm = ScriptedLLM(script=lambda m, t, mode: call("understand", **form))
    done: list[int] = []
    report = await evaluate(
        [KeywordReader(), CascadeReader(ModelReader(llm))], items,
        progress=lambda d, total: done.append(d),
    )  # fmt: skip
    assert done[-1] == 8
    kw, model, cascade = (report["readers"][n]["fields"] for n in ("keywords", "model", "cascade"))
    assert "dev/want" not in kw  # the keyword checks do not read a want
    assert kw["dev/asks_human"]["accuracy"] == round(2 / 3, 3)  # 真人 taken as a person
    assert model["dev/asks_human"]["accuracy"] == round(1 / 3, 3)  # says yes to everything
    # the price question is not flagged by the checks, so the model's yes never counts
    assert cascade["dev/asks_human"]["accuracy"] == round(2 / 3, 3)
    assert report["readers"]["cascade"]["said"]["t-4"]["asks_human"] == "false"
    assert model["dev/want"]["per_value"]["product"] == {
        "precision": round(2 / 3, 3), "recall": 1.0, "said": 3, "gold": 2,
    }  # fmt: skip
    assert cascade["heldout/answer"]["accuracy"] == 1.0 and "all/mood" in cascade
