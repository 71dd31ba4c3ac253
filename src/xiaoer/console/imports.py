"""Importing a document into the shop's knowledge from the console, with its progress.

The owner picks a file on the knowledge page (Markdown, HTML, text, DOCX or PDF, as
`xiaoer ingest docs` takes). `POST /console/{shop}/knowledge/documents` (multipart, with the
session's CSRF token) answers with the page at once and streams the import into it as it goes:
one `<progress>` line per batch of passages embedded (the page's style shows only the last),
then what was imported or why not. No script and no job table: the import runs inside the
request, so any API worker can take it, and it finishes even if the owner closes the page
(what it imported is then on the knowledge page; re-importing an unchanged file does nothing).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from markupsafe import escape
from starlette.datastructures import UploadFile

from xiaoer.console.auth import check_csrf
from xiaoer.console.i18n import translator
from xiaoer.console.pages import Pages
from xiaoer.domain.errors import BadInput, TooLarge, XiaoerError
from xiaoer.knowledge.readers import DOC_SUFFIXES

__all__ = ["add_import_page"]

_log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
"""A bigger file goes in with `xiaoer ingest docs` (each passage is embedded on the CPU: a
5 MB text is thousands of passages, many minutes on 2 cores)."""
MARK = "<!--progress-->"
"""Where the rendered page is cut: its head is sent at once, the progress goes here."""
_running: set[asyncio.Task[Any]] = set()
"""Every running import's task, held until it finishes (so one whose page was closed is not
dropped with its response)."""


async def _upload(request: Request) -> tuple[dict[str, str], UploadFile]:
    try:
        form = await request.form(max_files=1, max_fields=5)
    except Exception as exc:  # the parser's own errors: a malformed or non-multipart body
        raise BadInput("expected a file upload (multipart/form-data)") from exc
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise BadInput("choose a file to import")
    return fields, upload


def _name(upload: UploadFile) -> str:
    name = Path(upload.filename or "").name.strip()
    if not name.lower().endswith(DOC_SUFFIXES):
        raise BadInput(f"{name or 'the file'}: use one of {', '.join(DOC_SUFFIXES)}")
    if any(ord(c) < 32 or ord(c) == 127 for c in name) or len(name) > 120:
        raise BadInput("the file name must be at most 120 characters, without control characters")
    return name


def add_import_page(app: FastAPI, pages: Pages) -> None:
    rt, page_ctx, render = pages.rt, pages.page_ctx, pages.render

    @app.post("/{shop_id}/knowledge/documents")
    async def import_document(request: Request, shop_id: str) -> Response:
        ctx = await page_ctx(request, shop_id, owner=True)  # before the body is read
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + 64 * 1024:
            raise TooLarge(_too_large())
        fields, upload = await _upload(request)
        check_csrf(fields.get("csrf"), ctx["csrf"])
        name = _name(upload)
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise TooLarge(_too_large())
        page = render(request, "import.html", name=name, **ctx)
        head, tail = page.body.decode().split(MARK, 1)
        t = translator("en" if '<html lang="en"' in head else "zh")
        headers = {k: v for k, v in page.headers.items() if k.lower() != "content-length"}

        async def stream() -> AsyncIterator[str]:
            yield head
            steps: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()
            loop = asyncio.get_running_loop()

            def progress(done: int, total: int) -> None:
                loop.call_soon_threadsafe(steps.put_nowait, (done, total))

            async def run() -> str:
                try:
                    with tempfile.TemporaryDirectory() as folder:
                        path = Path(folder) / name
                        path.write_bytes(data)
                        report = (
                            await rt().knowledge().ingest_document(shop_id, path, progress=progress)
                        )
                    status = t(f"import_{report.status}")
                    return (
                        f'<p class="step ok" id="import-done">{escape(t("import_done"))}'
                        f"{escape(name)}：{report.chunks} {escape(t('passages'))}（{escape(status)}）"
                        "</p>"
                    )
                except XiaoerError as exc:
                    return _failed(t, exc.message)
                except Exception:  # a file its reader cannot parse: said, never a traceback
                    _log.exception("console import of %s failed", name)
                    return _failed(t, t("import_unreadable"))
                finally:
                    steps.put_nowait(None)

            task = asyncio.create_task(run())
            _running.add(task)
            task.add_done_callback(_running.discard)
            while (step := await steps.get()) is not None:
                done, total = step
                yield (
                    f'<p class="step"><progress value="{done}" max="{total}">{done}/{total}'
                    f"</progress> {escape(t('embedding'))} {done}/{total}</p>\n"
                )
            yield await task
            yield tail

        return StreamingResponse(stream(), media_type="text/html; charset=utf-8", headers=headers)


def _too_large() -> str:
    return (
        f"the file is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; "
        "import it with `xiaoer ingest docs --shop SHOP FILE`"
    )


def _failed(t: Any, why: str) -> str:
    what = f"{escape(t('import_failed'))}{escape(why)}"
    return f'<p class="step error" id="import-failed" role="alert">{what}</p>'
