"""`xiaoer ingest …` and `xiaoer knowledge …` as a merchant uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from minishop import write_bundle
from xiaoer.cli import app


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {"XIAOER_HOME": str(tmp_path / "home"), "XIAOER_NOW": "2026-11-20T14:00:00+08:00"}
    result = CliRunner().invoke(app, ["shop", "import", str(write_bundle(tmp_path / "b"))], env=env)
    assert result.exit_code == 0, result.output
    return env


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_ingest_a_folder_of_documents_then_search_with_sources(
    env: dict[str, str], tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "warranty.md").write_text("# 延保\n\n## 价格\n\n两年延保 299 元。\n", encoding="utf-8")
    (docs / "care.html").write_text("<h1>保养</h1><h2>网面</h2><p>网面用软毛刷清洗。</p>", "utf-8")
    (docs / "broken.docx").write_bytes(b"not a zip")
    code, out = run(env, "ingest", "docs", "--shop", "mini", str(docs))
    assert code == 1  # one file failed: reported, the others are in
    assert "broken.docx" in out and "could not read" in out and "Traceback" not in out
    assert out.count("added") == 2
    code, out = run(env, "ingest", "docs", "--shop", "mini", str(docs / "warranty.md"))
    assert code == 0 and "unchanged" in out
    code, out = run(env, "knowledge", "search", "两年延保多少钱", "--shop", "mini", "--json")
    top = json.loads(out)[0]
    assert top["source_id"] == "doc:warranty.md#1" and top["kind"] == "doc"
    assert top["title"] == "延保 > 价格" and "299" in top["snippet"]


def test_facts_catalog_and_candidates(env: dict[str, str], tmp_path: Path) -> None:
    facts = tmp_path / "facts.txt"
    facts.write_text("本周六仓库盘点不发货 | 到期 2026-11-28\n# 注释行\n", encoding="utf-8")
    code, out = run(env, "ingest", "facts", "--shop", "mini", str(facts))
    assert code == 0 and "added" in out
    code, out = run(env, "knowledge", "search", "周六发货吗", "--shop", "mini", "--json")
    assert json.loads(out)[0]["kind"] == "fact"
    catalog = tmp_path / "more.csv"
    catalog.write_text("商品ID,商品名称,价格,库存,防水等级\nP77,潜水表,999,3,IP68\n", "utf-8")
    code, out = run(env, "ingest", "catalog", "--shop", "mini", str(catalog))
    assert code == 0 and "replaced" in out
    code, out = run(env, "knowledge", "search", "潜水表防水吗", "--shop", "mini", "--json")
    assert json.loads(out)[0]["source_id"] == "product:P77:防水等级"
    code, out = run(env, "knowledge", "candidates", "--shop", "mini", "--json")
    assert code == 0 and json.loads(out) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "docs", "--shop", "nope", "/tmp"], "shop 'nope' not found"),
        (["ingest", "docs", "--shop", "mini", "/no/such/path"], "no such file or folder"),
        (["knowledge", "approve", "X1", "--shop", "mini"], "no candidate 'X1'"),
        (
            ["knowledge", "add-fact", "周日休息", "--shop", "mini", "--expires", "soon"],
            "bad --expires",
        ),
        (["knowledge", "search", "x", "--shop", "mini", "--method", "magic"], "unknown method"),
    ],
)
def test_bad_input_is_a_clear_message(env: dict[str, str], args: list[str], message: str) -> None:
    code, out = run(env, *args)
    assert code == 1 and message in out and "Traceback" not in out
