"""What one turn accumulates while it runs: the messages sent to the model, the tool calls made,
the counters, and what the guard and the handoff steps need to know."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xiaoer.agent.events import ToolCallRecord
from xiaoer.domain.understanding import Understanding
from xiaoer.llm.base import ChatMessage, Completion, ToolSpec


@dataclass
class Loop:
    """What one turn's LLM/tool loop accumulates."""

    messages: list[ChatMessage]
    records: list[ToolCallRecord] = field(default_factory=list)
    llm_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cached: int = 0
    ttft_ms: int | None = None
    streamed: bool = False
    gated: Any = None
    """The reply streamed sentence by sentence under the guard (`agent/streaming.py`), if any."""
    note: str = ""
    """The answer note that followed the last tool results (history must replay it)."""
    guidance: str = ""
    """The merchant's pre-sales guidance carried by the note."""
    conversation_id: str = ""
    message_id: int = 0
    actions: list[str] = field(default_factory=list)
    """Ids of the actions this turn touched."""
    prefetched: int = 0
    """How many of `records` code looked up before the model's first step (knowledge)."""
    citations: list[dict[str, Any]] = field(default_factory=list)
    written: bool = False
    """The reply is the model's own text (the output guard checks only that)."""
    handoff: str | None = None
    """The model's reason, when it called `handoff`."""
    guard: list[dict[str, Any]] = field(default_factory=list)
    guard_ms: int = 0
    earlier: list[str] = field(default_factory=list)
    """What the shop already told this shopper (bot and human replies, whispers): evidence."""
    understood: Understanding | None = None
    """What the shopper's message was read to mean (routing reads this, not the raw text)."""
    stage_tools: tuple[str, ...] = ()
    """An after-sales flow's stage tools: the only ones the model is offered (empty: by want)."""
    order_id: str = ""
    """The order an after-sales flow resolved: the stage's tools act on it."""
    offered: list[ToolSpec] | None = None
    """The tools this turn's model calls were offered: a rewrite is asked with the same ones, so
    its prompt starts like the reply's and the model's cache covers it (seen: a rewrite offered
    every tool re-read 1,643 prompt tokens, ≈20 s)."""
    canned: str = ""
    """A reply code wrote from what it looked up (the model is not asked to write one)."""
    record_answer: str = ""
    """What the record says of the options the shopper named (stock and price), written by code:
    sent instead of a reply that twice misstated their stock."""
    asked_answer: str = ""
    """The record's own answer to what was asked, written by code (an order's sums, for a
    question about its discounts): sent instead of a reply that declines to answer (no second
    try, no colleague)."""
    tell: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    """Record sentences the reply must give (the words that show it did, the sentence): code
    adds those it leaves out."""
    pressed: bool = False
    """The model was asked again to answer from the shop's material after it gave up."""
    unsure: bool = False
    """It gave up twice: a colleague is asked, as when the guard runs out of options."""
    answering: bool = False
    """Code already looked up what the reply needs: the model answers in text at once."""
    stock_of: str = ""
    """The product whose stock this turn's reply told from the record (a follow-up naming
    other options of it is a stock question too)."""
    stock_before: str = ""
    """`stock_of` of the reply just before this message."""
    stock_follow_up: bool = False
    """This message names other options of `stock_before`'s product: a stock question."""
    opened: int = 0
    """How many of `messages` the turn started with (instructions, history, the shopper's
    message): the rest is what this turn showed the model."""

    def shown(self) -> list[dict[str, Any]]:
        """What this turn showed the model after the shopper's message — its lookups as it read
        them (a result cut or trimmed of snippets stays so), code's notes — for the next turns'
        history to replay word for word (`context.build_history`): their prompt then starts
        with this turn's, and the model's cache holds it. A reply of the model's that was not
        kept, and what it was told back, are left out.

        Measured on the embedded model: a follow-up whose history showed a lookup's stored
        result instead of the trimmed one the model had read re-read 1,800 tokens (28 s)."""
        out: list[dict[str, Any]] = []
        dropped = False
        for m in self.messages[self.opened :]:
            if m.role == "assistant" and not m.tool_calls:
                dropped = True  # a reply not kept: rewritten, or asked again
                continue
            if dropped and m.role == "user":
                dropped = False  # what it was told back
                continue
            dropped = False
            entry: dict[str, Any] = {"role": m.role, "content": m.content}
            if m.tool_calls:
                entry["calls"] = [{"name": c.name, "arguments": c.arguments} for c in m.tool_calls]
            out.append(entry)
        return out

    def count(self, c: Completion) -> None:
        self.llm_calls += 1
        self.tokens_in += c.tokens_in
        self.tokens_out += c.tokens_out
        self.cached += c.cached_tokens
