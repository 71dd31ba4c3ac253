"""Context assembly: the conversation so far, as chat messages, and the shopper's orders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xiaoer.llm.base import ChatMessage, ToolCall
from xiaoer.store.models import MessageRow, ToolCallRow

HISTORY_MESSAGES = 4
"""How many earlier messages (shopper + assistant) the model sees, with their tool calls."""


def build_history(
    rows: Sequence[MessageRow], tool_rows: Sequence[ToolCallRow], result_chars: int
) -> list[ChatMessage]:
    """Earlier messages rendered exactly as they were seen, so the prompt stays append-only.

    Turns that ended in a templated fallback are left out: the model copies them verbatim
    into later replies (measured in the demo chat); so are queue notices and the merchant's
    whispers (those go to the system prompt). A human agent's replies are kept, marked as such.
    """
    calls_by_message: dict[int, list[ToolCallRow]] = {}
    for call in tool_rows:
        calls_by_message.setdefault(call.message_id, []).append(call)
    out: list[ChatMessage] = []
    failed = {row.reply_to for row in rows if row.role == "assistant" and row.meta.get("fallback")}
    kept = [
        r
        for r in rows
        if r.id not in failed
        and not (r.role == "assistant" and (r.reply_to in failed or r.meta.get("notice")))
        and r.role != "whisper"
    ]
    for row in kept[-HISTORY_MESSAGES:]:
        if row.role == "shopper":
            out.append(ChatMessage("user", row.content))
            continue
        if row.role == "agent":
            out.append(ChatMessage("assistant", f"（人工客服）{row.content}"))
            continue
        shown = row.meta.get("shown")
        if isinstance(shown, list):  # as this turn showed it to the model (`Loop.shown`)
            out += _replayed(row.id, shown)
            out.append(ChatMessage("assistant", row.content))
            continue
        for i, call in enumerate(calls_by_message.get(row.id, [])):
            call_id = f"h{row.id}_{i}"
            out.append(
                ChatMessage(
                    "assistant", tool_calls=(ToolCall(call_id, call.name, dict(call.arguments)),)
                )
            )
            out.append(ChatMessage("tool", call.result[:result_chars], tool_call_id=call_id))
        note = row.meta.get("answer_note")
        if isinstance(note, str) and note and out and out[-1].role == "tool":
            out.append(ChatMessage("user", note))
        out.append(ChatMessage("assistant", row.content))
    return out


def _replayed(row_id: int, shown: list[dict[str, Any]]) -> list[ChatMessage]:
    """A turn's messages as they were shown to the model; each result answers its call."""
    out: list[ChatMessage] = []
    waiting: list[str] = []
    for i, m in enumerate(shown):
        calls = tuple(
            ToolCall(f"h{row_id}_{i}_{k}", c["name"], dict(c["arguments"]))
            for k, c in enumerate(m.get("calls") or [])
        )
        waiting += [c.id for c in calls]
        answers = waiting.pop(0) if m["role"] == "tool" and waiting else None
        out.append(ChatMessage(m["role"], m.get("content") or "", calls, tool_call_id=answers))
    return out
