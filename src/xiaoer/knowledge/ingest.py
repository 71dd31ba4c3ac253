"""`xiaoer ingest catalog|docs|chats|facts`: files → the shop's knowledge, with a report per file.

A bad file is reported (its name and why) and the rest of the batch goes on; nothing that was
ingested before is lost when a later file fails.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xiaoer.domain.errors import BadInput, NotFound
from xiaoer.knowledge.base import IngestReport, KnowledgeBase
from xiaoer.knowledge.catalog import read_catalog
from xiaoer.knowledge.readers import DOC_SUFFIXES
from xiaoer.store.models import ChatTranscriptRow
from xiaoer.store.repositories import CatalogRepository, ShopRepository

KINDS = ("catalog", "docs", "chats", "facts")
type Step = Callable[[str, int, int], None]
"""Progress: (current file name, files done, files in all)."""


async def ingest(
    kb: KnowledgeBase,
    sessions: async_sessionmaker[AsyncSession],
    kind: str,
    shop_id: str,
    path: Path,
    *,
    step: Step | None = None,
) -> list[IngestReport]:
    if kind not in KINDS:
        raise BadInput(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    async with sessions() as s:
        if await ShopRepository(s).get(shop_id) is None:
            raise NotFound(f"shop {shop_id!r} not found; `xiaoer shops` lists the shops")
    files = await asyncio.to_thread(_files, path, kind)
    reports: list[IngestReport] = []
    for n, file in enumerate(files):
        if step is not None:
            step(file.name, n, len(files))
        try:
            reports.append(await _one(kb, sessions, kind, shop_id, file))
        except BadInput as exc:
            reports.append(IngestReport(file.name, "failed", detail=exc.message))
    if step is not None:
        step("", len(files), len(files))
    return reports


def _files(path: Path, kind: str) -> list[Path]:
    if not path.exists():
        raise BadInput(f"no such file or folder: {str(path)!r}")
    if path.is_file():
        return [path]
    suffixes = DOC_SUFFIXES if kind == "docs" else (".csv", ".json", ".jsonl", ".xlsx", ".txt")
    found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if not found:
        raise BadInput(f"no {kind} files in {str(path)!r} (looked for {', '.join(suffixes)})")
    return found


async def _one(
    kb: KnowledgeBase,
    sessions: async_sessionmaker[AsyncSession],
    kind: str,
    shop_id: str,
    file: Path,
) -> IngestReport:
    if kind == "docs":
        return await kb.ingest_document(shop_id, file)
    if kind == "catalog":
        read = await asyncio.to_thread(read_catalog, file)
        if not read.products:
            raise BadInput(f"no products read ({'; '.join(read.problems[:3]) or 'empty file'})")
        async with sessions() as s:
            await CatalogRepository(s, shop_id).upsert(read.products)
            await s.commit()
        report = await kb.ingest_products(shop_id)
        report.extra = {"products": len(read.products), "problems": read.problems}
        if read.problems:
            report.detail = f"{len(read.problems)} rows skipped: " + "; ".join(read.problems[:3])
        return report
    if kind == "chats":
        chats = await asyncio.to_thread(read_chats, file)
        async with sessions() as s:
            await _keep_transcripts(s, shop_id, chats, kb.clock())
            await s.commit()
        report, _ = await kb.ingest_chats(shop_id, file.name, chats)
        return report
    facts = await asyncio.to_thread(read_facts, file)
    for text, expires in facts:
        await kb.add_fact(shop_id, text, expires_at=expires)
    return IngestReport(f"facts:{file.name}", "added", len(facts))


def read_chats(file: Path) -> list[dict[str, Any]]:
    """JSONL (one chat per line: id, messages [{role, text}], optional rating, order_id) or
    CSV (one message per row: chat_id, role, text, optional rating)."""
    text = file.read_text("utf-8-sig")
    chats: list[dict[str, Any]] = []
    if file.suffix.lower() == ".csv":
        by_id: dict[str, dict[str, Any]] = {}
        for n, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            cid, role, said = row.get("chat_id"), row.get("role"), row.get("text")
            if not cid or role not in ("shopper", "agent") or not said:
                raise BadInput(f"{file.name} row {n}: needs chat_id, role (shopper|agent), text")
            chat = by_id.setdefault(cid, {"id": cid, "messages": [], "rating": None})
            chat["messages"].append({"role": role, "text": said})
            if row.get("rating"):
                chat["rating"] = int(row["rating"])
        return list(by_id.values())
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            chat = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{file.name} line {n}: not JSON ({exc.msg})") from exc
        if not isinstance(chat, dict) or not chat.get("id") or not chat.get("messages"):
            raise BadInput(f"{file.name} line {n}: a chat needs id and messages")
        chats.append(chat)
    return chats


async def _keep_transcripts(
    s: AsyncSession, shop_id: str, chats: list[dict[str, Any]], now: datetime
) -> None:
    """Store the transcripts so candidates can link back to them (existing ids are kept)."""
    for chat in chats:
        if await s.get(ChatTranscriptRow, (shop_id, str(chat["id"]))) is not None:
            continue
        started = chat.get("started_at")
        s.add(
            ChatTranscriptRow(
                shop_id=shop_id,
                id=str(chat["id"]),
                shopper_id=chat.get("shopper_id"),
                order_id=chat.get("order_id"),
                agent=str(chat.get("agent") or ""),
                started_at=datetime.fromisoformat(started) if started else now,
                rating=chat.get("rating"),
                tags=list(chat.get("tags") or []),
                messages=list(chat["messages"]),
            )
        )


def read_facts(file: Path) -> list[tuple[str, datetime | None]]:
    """Plain text, one fact per line, optionally `| 到期 2026-12-31` (or `| expires …`) at the
    end; or JSONL/CSV with `text` and optional `expires_at`."""
    raw = file.read_text("utf-8-sig")
    rows: list[tuple[str, str]] = []
    suffix = file.suffix.lower()
    if suffix == ".jsonl":
        for line in raw.splitlines():
            if line.strip():
                item = json.loads(line)
                rows.append((str(item.get("text", "")), str(item.get("expires_at") or "")))
    elif suffix == ".csv":
        rows = [
            (r.get("text", ""), r.get("expires_at", "") or "")
            for r in csv.DictReader(io.StringIO(raw))
        ]
    else:
        for line in raw.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            body, _, tail = line.partition("|")
            rows.append((body, tail.replace("到期", "").replace("expires", "").strip()))
    out: list[tuple[str, datetime | None]] = []
    for n, (text, expires) in enumerate(rows, start=1):
        if not text.strip():
            continue
        try:
            out.append((text.strip(), parse_expiry(expires)))
        except ValueError as exc:
            raise BadInput(
                f"{file.name} fact {n}: bad expiry {expires!r} (use 2026-12-31)"
            ) from exc
    if not out:
        raise BadInput(f"{file.name}: no facts found")
    return out


def parse_expiry(text: str) -> datetime | None:
    """`2026-12-31` (end of that day, UTC+8) or a full ISO time with an offset."""
    text = text.strip()
    if not text:
        return None
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime.fromisoformat(f"{day.isoformat()}T23:59:59+08:00")
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)
