"""Tokens, sections and chunks; the document readers (HTML, DOCX, PDF); catalog files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xiaoer.domain.errors import BadInput
from xiaoer.knowledge.catalog import product_passages, read_catalog
from xiaoer.knowledge.readers import read_document
from xiaoer.knowledge.text import Section, chunks, markdown_sections, tokens


def test_tokens_have_words_and_bigrams_without_stopwords() -> None:
    got = tokens("亲，燃训鞋底是什么材质？X60 Pro")
    assert "鞋底" in got and "材质" in got  # jieba words
    assert "燃训" in got and "训鞋" in got  # CJK bigrams survive unknown names
    assert "x60" in got and "pro" in got
    assert "亲" not in got and "什么" not in got and "，" not in got


def test_markdown_sections_keep_the_heading_path() -> None:
    md = "# 政策\n\n## 退换货\n\n### 7天无理由退货\n\n- 条件：**未穿着**\n\n## 运费\n满99包邮"
    sections = markdown_sections(md)
    assert [s.title for s in sections] == ["政策 > 退换货 > 7天无理由退货", "政策 > 运费"]
    assert sections[0].text == "- 条件：**未穿着**"


def test_long_sections_are_cut_between_items() -> None:
    items = "\n".join(f"- 第{i}条：" + "很长的规则说明" * 8 for i in range(10))
    pieces = list(chunks(Section(("政策",), items), limit=200))
    assert len(pieces) > 1 and all(len(p) <= 200 for p in pieces)
    assert "".join(pieces).count("第") == 10 and "**" not in "".join(pieces)


def test_html_headings_and_lists(tmp_path: Path) -> None:
    page = tmp_path / "care.html"
    page.write_text(
        "<html><head><title>保养指南</title><style>p{}</style></head><body><h1>鞋类保养</h1>"
        "<h2>网面</h2><p>用软毛刷&amp;清水</p><ul><li>不要暴晒</li></ul>"
        "<script>alert(1)</script><h2>麂皮</h2><p>专用橡皮擦</p></body></html>",
        encoding="utf-8",
    )
    sections = read_document(page)
    assert [s.title for s in sections] == ["鞋类保养 > 网面", "鞋类保养 > 麂皮"]
    assert "用软毛刷&清水" in sections[0].text and "- 不要暴晒" in sections[0].text
    assert not any("alert" in s.text or "p{}" in s.text for s in sections)


def test_docx_headings_and_tables(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("延保服务条款", level=0)
    document.add_heading("保障范围", level=1)
    document.add_paragraph("性能故障免费维修。")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "套餐", "价格"
    table.cell(1, 0).text, table.cell(1, 1).text = "一年延保", "199元"
    path = tmp_path / "warranty.docx"
    document.save(str(path))
    sections = read_document(path)
    assert sections[0].title == "延保服务条款 > 保障范围"
    assert "性能故障免费维修" in sections[0].text and "一年延保 | 199元" in sections[0].text


def _pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF with one line of Helvetica text per page."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objects)} 0 R"
            " /Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
            " >> >> >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out, offsets = b"%PDF-1.4\n", []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out


def test_pdf_keeps_page_numbers(tmp_path: Path) -> None:
    path = tmp_path / "manual.pdf"
    path.write_bytes(_pdf(["Warranty is one year.", "Installation is free within 30 km."]))
    sections = read_document(path)
    assert [(s.page, s.text) for s in sections] == [
        (1, "Warranty is one year."),
        (2, "Installation is free within 30 km."),
    ]
    assert sections[0].title == "manual"


def test_unreadable_documents_are_clear_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.docx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(BadInput, match="broken.docx: could not read"):
        read_document(broken)
    with pytest.raises(BadInput, match="unsupported document type '.exe'"):
        read_document(tmp_path / "x.exe")


def test_catalog_csv_groups_skus_and_keeps_unknown_columns(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text(
        "商品ID,商品名称,类目,价格,库存,颜色,尺码,鞋底材质,适用场景\n"
        "P9,云跃 跑鞋,跑鞋,399,5,黑,42,橡胶,路跑\n"
        "P9,云跃 跑鞋,跑鞋,399.50,0,白,43,橡胶,路跑\n"
        ",没有编号,跑鞋,1,1,黑,40,,\n"
        "P8,袜子,配件,abc,1,,,,\n",
        encoding="utf-8-sig",
    )
    read = read_catalog(path)
    assert [p.id for p in read.products] == ["P9"]
    p = read.products[0]
    assert p.attributes == {"鞋底材质": "橡胶", "适用场景": "路跑"}
    assert [(s.options, s.price_fen, s.stock) for s in p.skus] == [
        ({"颜色": "黑", "尺码": "42"}, 39900, 5),
        ({"颜色": "白", "尺码": "43"}, 39950, 0),
    ]
    assert read.problems == ["row 4: needs a product id and a title", "row 5: bad price or stock"]
    facts = product_passages(p)
    assert {f.field for f in facts} == {"description", "attributes.鞋底材质", "attributes.适用场景"}
    assert any(f.text == "鞋底材质：橡胶" and f.title == "云跃 跑鞋" for f in facts)


def test_catalog_xlsx_and_json(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["product_id", "title", "price", "stock", "保修"])
    sheet.append(["X1", "伏特 电饭煲", 299, 10, "2年"])
    book.save(str(tmp_path / "c.xlsx"))
    assert read_catalog(tmp_path / "c.xlsx").products[0].attributes == {"保修": "2年"}
    (tmp_path / "c.json").write_text(
        json.dumps({"products": [{"id": "J1", "title": "手环", "skus": [
            {"id": "J1-A", "price_fen": 19900, "stock": 3, "options": {"颜色": "黑"}}]}]}),
        encoding="utf-8",
    )  # fmt: skip
    assert read_catalog(tmp_path / "c.json").products[0].skus[0].price_fen == 19900
    with pytest.raises(BadInput, match="unsupported catalog type"):
        read_catalog(tmp_path / "c.txt")
