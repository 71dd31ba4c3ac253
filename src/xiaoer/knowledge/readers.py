"""Documents → sections: Markdown, plain text, HTML, DOCX and PDF.

Each reader keeps the document's heading structure (and, for PDF, page numbers) so a cited
snippet can say where it came from. Unreadable files raise `BadInput` with the reason.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from xiaoer.domain.errors import BadInput
from xiaoer.knowledge.text import Section, markdown_sections

DOC_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".docx", ".pdf")


def read_document(path: Path) -> list[Section]:
    """The sections of one document; the file name is the top heading when it has none."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".md", ".markdown", ".txt"):
            sections = markdown_sections(path.read_text(encoding="utf-8", errors="replace"))
        elif suffix in (".html", ".htm"):
            sections = markdown_sections(html_to_markdown(path.read_text("utf-8", "replace")))
        elif suffix == ".docx":
            sections = markdown_sections(docx_to_markdown(path))
        elif suffix == ".pdf":
            sections = pdf_sections(path)
        else:
            raise BadInput(
                f"{path.name}: unsupported document type {suffix!r} "
                f"(supported: {', '.join(DOC_SUFFIXES)})"
            )
    except BadInput:
        raise
    except Exception as exc:  # a corrupt file: name it, keep the batch going upstream
        raise BadInput(f"{path.name}: could not read ({type(exc).__name__}: {exc})") from exc
    return [s if s.headings else Section((path.stem,), s.text, s.page) for s in sections]


class _HtmlToMarkdown(HTMLParser):
    BLOCK = {"p", "div", "li", "tr", "br", "section", "article", "table", "ul", "ol", "dd", "dt"}
    SKIP = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.title = ""
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif tag == "title":
            self.in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("td", "th"):
            self.out.append(" | ")
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "title":
            self.in_title = False
        elif re.fullmatch(r"h[1-6]", tag) or tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data.strip()
        elif not self.skip:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_markdown(html: str) -> str:
    parser = _HtmlToMarkdown()
    parser.feed(html)
    parser.close()
    text = "".join(parser.out)
    lines = [line.strip() for line in text.splitlines()]
    body = "\n".join(line for line in lines if line.strip("|- "))
    if parser.title and not re.search(r"^# ", body, re.M):
        body = f"# {parser.title}\n{body}"
    return body


def docx_to_markdown(path: Path) -> str:
    import docx  # python-docx

    document = docx.Document(str(path))
    lines: list[str] = []
    body = document.element.body
    tables = iter(document.tables)
    paragraphs = iter(document.paragraphs)
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para = next(paragraphs)
            text = para.text.strip()
            if not text:
                continue
            style = (para.style.name if para.style is not None else "") or ""
            level = _heading_level(style)
            lines.append(f"{'#' * level} {text}" if level else text)
        elif tag == "tbl":
            table = next(tables)
            for row in table.rows:
                cells = [c.text.strip() for c in row.cells]
                lines.append(" | ".join(dict.fromkeys(c for c in cells if c)))
    return "\n".join(lines)


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    m = re.fullmatch(r"(?:Heading|标题)\s*(\d)", style)
    return min(6, int(m.group(1)) + 1) if m else 0


def pdf_sections(path: Path) -> list[Section]:
    """One or more sections per page; a short numbered line ("一、退货" / "2. 安装") starts a
    new heading, since PDFs carry no heading markup."""
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    title = (reader.metadata.title if reader.metadata else None) or path.stem
    out: list[Section] = []
    heading: str | None = None
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text() or ""
        body: list[str] = []
        for line in text.splitlines():
            line = line.strip()
            if _looks_like_heading(line):
                if body:
                    out.append(_pdf_section(title, heading, body, number))
                    body = []
                heading = line
            elif line:
                body.append(line)
        if body:
            out.append(_pdf_section(title, heading, body, number))
    return out


PDF_HEADING = re.compile(
    r"^(第[一二三四五六七八九十\d]+[章节条]|[一二三四五六七八九十]+、|\d+(\.\d+)*[.、 ])\S"
)


def _looks_like_heading(line: str) -> bool:
    return 2 <= len(line) <= 30 and bool(PDF_HEADING.match(line)) and not line.endswith("。")


def _pdf_section(title: str, heading: str | None, body: list[str], page: int) -> Section:
    headings = (title, heading) if heading else (title,)
    return Section(headings, "\n".join(body), page)
