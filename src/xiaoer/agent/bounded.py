"""A shopper's message answered once, within a deadline, and honestly when the model fails.

`BoundedTurns` stands in front of `Assistant.turn` for callers whose clients resend (the API):

- **Once.** A message resent with the same `client_key` while its first copy is still being
  answered does not run the turn again: the resend waits for the first copy's answer and gets
  it (`replayed: true`; on SSE a `delta` and a `done`). A resend after the answer was stored
  gets the stored answer (`Assistant.turn`). A resend that reaches another API worker while
  the one that took the message is still answering it gets a 409 (`Assistant.turn` reads who
  took it: a process on the same machine while it lives, one elsewhere for 5 minutes), and is
  answered there once that worker is gone.
- **Deadline.** The whole turn (every LLM call, tool and guard in it) runs under `deadline_s`.
- **Honest failure.** When the deadline passes, or the LLM fails (`UpstreamError`: an endpoint's
  5xx, a connection error or timeout, a reply that is not chat-completion JSON; the embedded model's own
  failures), after the shopper's message was stored: the shopper gets an apology in their
  language and the conversation is queued for a human (reason `unavailable`), stored as the
  ordinary assistant reply to that message (`meta.fallback`, `meta.unavailable`). A resend
  then gets that reply. Before the message was stored the caller gets 503 `Unavailable`, and
  resending with the same `client_key` is safe.
- **Backpressure.** When the model is busy with other conversations (`llm/gate.py`), a turn
  waits in line for it: the shopper is told their place in line (a `Queued` event with the
  holding reply, told again every `REFRESH_S` as the line moves, and to a resend of the same
  message too), and the time spent in line does not count against the deadline, which bounds
  the turn's own work. The API answers a JSON request that has waited in line for a while
  with the holding reply (202) while the turn goes on (`api/app.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from xiaoer.agent.events import Accepted, Emit, Event, Queued, TextDelta, TurnResult, ignore
from xiaoer.agent.handoff import as_view, notice, summarize
from xiaoer.agent.inflight import InFlight
from xiaoer.agent.instructions import english
from xiaoer.domain.errors import NotFound, Unavailable, UpstreamError
from xiaoer.domain.tracing import span
from xiaoer.guard.input import check_input
from xiaoer.llm.gate import LLMGate, Ticket, turn_began, waiting_hook
from xiaoer.store.repositories import ConversationRepository, HandoffRepository, ShopRepository

if TYPE_CHECKING:
    from xiaoer.agent.turn import Assistant

log = logging.getLogger(__name__)

UNAVAILABLE = "非常抱歉，系统这会儿没能及时给您答复。"
UNAVAILABLE_EN = "I'm very sorry, our system couldn't answer you in time. "
"""What the shopper hears before the handoff notice when the model timed out or failed."""
REASON = "unavailable"
"""The handoff reason (`agent/handoff.py: REASONS`)."""
HOLDING = "现在咨询的人比较多，您前面还有 {ahead} 位，请稍候，马上为您回复。"
HOLDING_NEXT = "现在咨询的人比较多，马上就轮到您了，请稍候。"
HOLDING_EN = (
    "We're busy right now: {ahead} shoppers are ahead of you. Please hold on, we'll answer shortly."
)
HOLDING_NEXT_EN = "We're busy right now, and you're next. Please hold on."
"""The holding reply while a turn waits in line for the model."""
REFRESH_S = 5.0
"""How often a waiting shopper is told their place in line again (when it moved)."""

type _Key = tuple[str, str, str, str]


@dataclass
class BoundedTurns:
    """`Assistant.turn` answered once per `client_key`, within `deadline_s` seconds (None: no
    deadline), with an apology and a handoff when the model cannot answer."""

    assistant: Assistant
    deadline_s: float | None = None
    gate: LLMGate | None = None
    """At most this gate's slots turns worked on at once, each from when its message is stored;
    the others wait in line for a slot, told their place (None: no limit)."""
    _lines: dict[_Key, _Line] = field(default_factory=dict)
    _running: InFlight[_Key, TurnResult] = field(init=False)

    def __post_init__(self) -> None:
        self._running = InFlight(ended=lambda key: self._lines.pop(key, None))

    async def turn(
        self,
        shop_id: str,
        shopper_id: str,
        text: str,
        *,
        conversation_id: str,
        client_key: str | None = None,
        emit: Emit = ignore,
        watching: bool = True,
    ) -> TurnResult:
        """`watching`: as `QueuedTurns.turn` takes it; in one process every event is one call,
        and all are emitted."""
        if not client_key:
            line = _Line(emit, english(text))
            result = await self._bounded(
                shop_id, shopper_id, text, conversation_id, None, emit, line
            )
            return await _told(result, emit) if result.replayed else result
        key = (shop_id, shopper_id, conversation_id, client_key)
        first = self._running.get(key)
        if first is not None:  # the same message, still being answered: wait for its answer
            line = self._lines.get(key)
            if line is not None:
                await line.listen(emit)  # it may be waiting for the model: say where it stands
            try:
                return await _told(replace(await asyncio.shield(first), replayed=True), emit)
            finally:
                if line is not None:
                    line.listeners.remove(emit)
        line = self._lines[key] = _Line(emit, english(text))
        task = self._running.start(
            key, self._bounded(shop_id, shopper_id, text, conversation_id, client_key, emit, line)
        )
        # shielded: the sender hanging up does not stop the answer a resend will wait for
        result = await asyncio.shield(task)
        return await _told(result, emit) if result.replayed else result

    async def _bounded(
        self,
        shop_id: str,
        shopper_id: str,
        text: str,
        conversation_id: str,
        client_key: str | None,
        emit: Emit,
        line: _Line,
    ) -> TurnResult:
        started = time.perf_counter()
        accepted: Accepted | None = None
        holding_slot = False

        async def watch(event: Event) -> None:
            nonlocal accepted, holding_slot
            if isinstance(event, TurnResult):
                event.waited_ms = round(line.waited_s * 1000)
                event.model_ms = round(line.model_s * 1000)
            elif isinstance(event, Accepted):
                accepted = line.accepted = event
                await emit(event)
                if self.gate is not None:  # the message is stored: now wait for a turn slot
                    await self.gate.acquire()
                    holding_slot = True
                return
            await emit(event)

        hook = waiting_hook.set(line)
        began = turn_began.set(time.monotonic())  # its calls go before newer turns' calls
        traced = span("xiaoer.turn", **{"shop.id": shop_id, "conversation.id": conversation_id})
        try:
            with traced as turn_span:
                async with asyncio.timeout(self.deadline_s) as line.deadline:
                    result = await self.assistant.turn(
                        shop_id, shopper_id, text,
                        conversation_id=conversation_id, client_key=client_key, emit=watch,
                    )  # fmt: skip
                turn_span.set_attribute("turn.llm_calls", result.llm_calls)
                turn_span.set_attribute("turn.replayed", result.replayed)
                if result.handoff:
                    turn_span.set_attribute("turn.handoff", str(result.handoff.get("reason", "")))
                return result
        except (TimeoutError, UpstreamError) as exc:
            what = _what_failed(exc, self.deadline_s)
            log.warning("turn in %s/%s: %s (%s)", shop_id, conversation_id, what, exc)
            if accepted is None:
                raise Unavailable(
                    "the assistant is busy and did not take the message; send it again "
                    "(with the same client_key)"
                ) from exc
            return await self._apologise(shop_id, shopper_id, text, accepted, what, started, emit)
        finally:
            if holding_slot and self.gate is not None:
                self.gate.release()
            waiting_hook.reset(hook)
            turn_began.reset(began)
            line.close()

    async def _apologise(
        self,
        shop_id: str,
        shopper_id: str,
        text: str,
        accepted: Accepted,
        what: str,
        started: float,
        emit: Emit,
    ) -> TurnResult:
        """The stored message gets an apology and a human; nothing the model half-did is sent.
        `what` (the handoff's detail, which the shopper's client sees) says what went wrong
        without the upstream's own message, which stays in the log."""
        assistant, cid = self.assistant, accepted.conversation_id
        policy = await assistant.policy_for(shop_id)
        now, en = assistant.clock(), english(text)
        async with assistant.sessions() as s:
            repo = ConversationRepository(s, shop_id)
            if (stored := await repo.reply_to(accepted.message_id)) is not None:
                # the turn stored its reply just as time ran out: that is the answer
                return _from_row(stored.content, cid, stored.id, stored.meta, replayed=True)
            shop = await ShopRepository(s).get(shop_id)
            if shop is None:
                raise NotFound(f"shop {shop_id!r} not found")
            handoffs = HandoffRepository(s, shop_id)
            row = await handoffs.open_for(cid)
            if row is None:
                earlier = [m for m in await repo.messages(cid) if m.id < accepted.message_id]
                row = await handoffs.open(
                    cid, shopper_id, REASON, detail=what, priority=2,
                    summary=summarize(earlier, text, [], [], check_input(text)), now=now,
                )  # fmt: skip
                await repo.set_mode(cid, "queued")
            ahead = await handoffs.ahead_of(row)
            view = as_view(row)
            told = notice(shop, ahead, policy.handoff.minutes_each, now, en=en)
            reply = (UNAVAILABLE_EN if en else UNAVAILABLE) + told
            meta = {
                "fallback": True,
                "unavailable": what,
                "latency_ms": int((time.perf_counter() - started) * 1000),
                "model": assistant.llm.name,
                "handoff": view["id"],
            }
            stored = await repo.add_message(
                cid, "assistant", reply, now, reply_to=accepted.message_id, meta=meta
            )
            await s.commit()
        result = _from_row(reply, cid, stored.id, meta, handoff=view)
        await emit(TextDelta(reply))
        await emit(result)
        return result


def holding(ahead: int, *, en: bool, eta_s: float | None = None) -> Queued:
    """The holding reply for a turn with `ahead` turns before it in line for the model."""
    eta_s = None if eta_s is None else round(eta_s, 1)
    if en:
        text = HOLDING_EN.format(ahead=ahead) if ahead else HOLDING_NEXT_EN
    else:
        text = HOLDING.format(ahead=ahead) if ahead else HOLDING_NEXT
    return Queued(ahead, text, eta_s=eta_s)


class _Line:
    """One turn's waits in line for the model (`llm/gate.Waiter`): each told to the turn's
    stream and to any resend's (`listeners`) as a `Queued` event. The deadline stops while the
    turn waits: it bounds the turn's own work, not the other conversations' before it."""

    def __init__(self, emit: Emit, en: bool) -> None:
        self.listeners: list[Emit] = [emit]
        self.en = en
        self.deadline: asyncio.Timeout | None = None
        self.accepted: Accepted | None = None
        self.last: Queued | None = None
        self.waited_s = 0.0
        """How long the turn has waited in line, all its waits together."""
        self.model_s = 0.0
        """How long its model calls took once they had their slots, together."""
        self._left: float | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def queued(self, ticket: Ticket) -> None:
        if self.deadline is not None and (when := self.deadline.when()) is not None:
            self._left = when - asyncio.get_running_loop().time()
            self.deadline.reschedule(None)
        await self._tell(holding(ticket.ahead, en=self.en, eta_s=ticket.eta_s))
        self._refresher = asyncio.create_task(self._refresh(ticket))

    async def admitted(self, waited_s: float) -> None:
        self.waited_s += waited_s
        self.close()
        if self.deadline is not None and self._left is not None:
            self.deadline.reschedule(asyncio.get_running_loop().time() + self._left)
            self._left = None
        if self.last is not None:
            await self._tell(replace(self.last, waiting=False))

    def called(self, seconds: float) -> None:
        self.model_s += seconds

    async def listen(self, emit: Emit) -> None:
        """A resend of the message: told where the turn stands, if it waits in line."""
        self.listeners.append(emit)
        if self.last is not None and self.last.waiting and self.accepted is not None:
            await emit(self.accepted)
            await emit(self.last)

    def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None

    async def _refresh(self, ticket: Ticket) -> None:
        while ticket.waiting:
            await asyncio.sleep(REFRESH_S)
            if ticket.waiting and self.last is not None and ticket.ahead != self.last.ahead:
                await self._tell(holding(ticket.ahead, en=self.en, eta_s=ticket.eta_s))

    async def _tell(self, event: Queued) -> None:
        self.last = event
        for emit in list(self.listeners):
            await emit(event)


def _what_failed(exc: Exception, deadline_s: float | None) -> str:
    if not isinstance(exc, TimeoutError):
        return "the LLM or another upstream service failed"
    return f"no reply within {deadline_s:g} s" if deadline_s is not None else "timed out"


def _from_row(
    reply: str,
    conversation_id: str,
    message_id: int,
    meta: dict[str, Any],
    *,
    handoff: dict[str, Any] | None = None,
    replayed: bool = False,
) -> TurnResult:
    return TurnResult(
        reply=reply,
        conversation_id=conversation_id,
        message_id=message_id,
        latency_ms=meta.get("latency_ms", 0),
        fallback=bool(meta.get("fallback")),
        replayed=replayed,
        handoff=handoff,
    )


async def _told(result: TurnResult, emit: Emit) -> TurnResult:
    """A stored or shared answer (the turn emitted nothing for it), told to this caller's
    stream as the reply and `done`."""
    await emit(TextDelta(result.reply))
    await emit(result)
    return result
