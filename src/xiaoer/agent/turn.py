"""One shopper turn — the only place that sequences a turn's steps.

1. Validate the input and resolve shop, shopper and conversation (identity comes from the
   caller's authenticated session, never from the model).
   A shopper over the shop's rate limit is refused (429) before anything is stored.
2. Persist the shopper's message and commit, before any LLM call. A message sent again
   with the same `client_key` is not stored twice: its stored reply is returned, or, if
   the process died before replying, the turn runs again for that same message. While a
   human has the conversation (queued or taken over) the AI stays silent.
3. Build the context: stable system prefix (persona, rules, tool schemas, the merchant's
   whispers), then the conversation so far (with its tool calls and results) and the new
   message, with a note when the input guard flagged it.
4. If the conversation has a pending action and the message is an unambiguous yes, the action
   desk executes it (policy re-checked) and its outcome is the reply — no LLM call; a no
   declines it and the turn goes on to the model; "还是取消" after a retention offer proposes
   the original request.
5. LLM/tool loop with a step limit; tolerant tool-call parsing, a grammar-constrained retry
   when a call does not parse, text-only on the last step, templated fallbacks for empty or
   degenerate output. A mutating tool's proposal becomes a pending action and the reply is
   its confirmation question.
6. Output guard on model-written text (`checking.py`, `guard/`): on failure one rewrite with
   the reason, then the best approved knowledge answer, then an honest "let me get a
   colleague".
7. Handoff (`handoff.py`): the shopper asked, anger, repeated failure, guard exhausted, an
   action above the limit, a merchant rule — the conversation is queued with a summary.
8. Persist the reply with its tool calls, tokens, LLM calls, latency and guard verdicts;
   emit `TurnResult`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xiaoer.agent.actions import (
    CONFIRM_AGAIN,
    CONFIRM_AGAIN_EN,
    ActionDesk,
    ActionView,
    Outcome,
    insists,
    is_no,
    is_yes,
    pushes,
)
from xiaoer.agent.checking import ReplyCheck, changed_before
from xiaoer.agent.context import build_history
from xiaoer.agent.events import (
    Accepted,
    Emit,
    TextDelta,
    ToolCallRecord,
    ToolFinished,
    ToolStarted,
    TurnResult,
    ignore,
)
from xiaoer.agent.flows import (
    FlowDriver,
    FlowTurn,
    Hands,
    is_return,
    named_orders,
    synced,
)
from xiaoer.agent.grounding import cited
from xiaoer.agent.handoff import as_view, assisted, decide, hand_over, merchant_rule, notice
from xiaoer.agent.inflight import InFlight
from xiaoer.agent.instructions import (
    ANSWER_NOTE,
    CHANGE_REQUEST,
    CHINESE,
    GUARD_GIVE_UP,
    GUARD_GIVE_UP_EN,
    ORDER_ID,
    PRESS_NOTE,
    SEVERAL_ORDERS,
    WHISPER,
    Voice,
    about_own_order,
    asks_again,
    claims_done,
    english,
    gives_up,
    is_stalling,
    presale_guidance,
    unecho,
)
from xiaoer.agent.loop import Loop
from xiaoer.agent.streaming import GuardedStream
from xiaoer.agent.understanding import CAPABILITIES, KeywordReader, Reader, offered, tool_sets
from xiaoer.agent.understanding import prompt as understanding_prompt
from xiaoer.agent.understanding import spec as understanding_spec
from xiaoer.commerce.base import CommerceBackend
from xiaoer.commerce.search import named_value
from xiaoer.domain.errors import BadInput, Conflict, Forbidden, NotFound, TooManyRequests
from xiaoer.domain.flows import Flows
from xiaoer.domain.models import OrderStatus, Shop, Shopper
from xiaoer.domain.understanding import Understanding
from xiaoer.guard.input import InputCheck, Limiter, RateLimiter, check_input
from xiaoer.guard.markup import URL, strip_markup
from xiaoer.guard.output import OutputGuard
from xiaoer.knowledge import KnowledgeBase
from xiaoer.llm.base import LLM, ChatMessage, Completion, Mode, OnText, ToolCall, ToolSpec, warm
from xiaoer.llm.parse import looks_like_call
from xiaoer.policy.schema import ShopPolicy
from xiaoer.store.models import ActionRow, MessageRow, ToolCallRow
from xiaoer.store.repositories import (
    ActionRepository,
    ConversationRepository,
    HandoffRepository,
    ShopperRepository,
    ShopRepository,
)
from xiaoer.tools.base import Proposal, Tool, ToolResult
from xiaoer.tools.catalog import asked_skus
from xiaoer.tools.deps import PastAction, TurnDeps
from xiaoer.tools.knowledge import HEADER as KNOWLEDGE_HEADER
from xiaoer.tools.knowledge import NOTES as KNOWLEDGE_NOTES
from xiaoer.tools.knowledge import on_matter, unknown_to
from xiaoer.tools.registry import ALL_TOOLS, run_tool
from xiaoer.tools.services import SIZE_CHART, measures

MAX_MESSAGE_CHARS = 2000
FOLLOW_UP_CHARS = 12
ORDER_LOOKUPS = frozenset({"get_order", "list_my_orders", "track_logistics"})
OF_PRODUCT = {"check_subsidy": "product", "get_product": "product_id"}
"""Lookups the output guard calls for that are made for a product, and their argument naming it."""
TOOL_RESULT_CHARS = 900
PREFETCH_ID = "kb_0"
"""The call id of the knowledge code looks up before the model's first step."""


class PolicySource(Protocol):
    """A shop's policy; read in `session` when one is given (a turn's own transaction, which
    has the shop's row already), else in a session of its own."""

    def __call__(
        self, shop_id: str, session: AsyncSession | None = None, /
    ) -> Awaitable[ShopPolicy]: ...


class Assistant:
    """Runs shopper turns for every shop in the store."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        llm: LLM,
        commerce_for: Callable[[str], CommerceBackend],
        clock: Callable[[], datetime],
        *,
        policy_for: PolicySource | None = None,
        tools: tuple[Tool, ...] = ALL_TOOLS,
        max_steps: int = 4,
        voice: Voice = CHINESE,
        result_chars: int = TOOL_RESULT_CHARS,
        knowledge: KnowledgeBase | None = None,
        guard: OutputGuard | None = None,
        limiter: Limiter | None = None,
        reader: Reader | None = None,
        reads: async_sessionmaker[AsyncSession] | None = None,
        writes_at_once: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.sessions = sessions
        self.writes_at_once = writes_at_once or sessions
        """Where a turn's writes of one statement each are made — a conversation opened, the
        shopper's message, the reply with its tool calls — with the reads around them
        (`store.db.at_once`: on PostgreSQL no transaction around them)."""
        self.llm = llm
        self.commerce_for = commerce_for
        self.clock = clock
        self.policy_for = policy_for or _default_policy
        self.tools = {t.spec.name: t for t in tools}
        self.max_steps = max_steps
        self.voice = voice
        self.result_chars = result_chars
        self.knowledge = knowledge
        self.guard = guard
        self.desk = ActionDesk(sessions, self.tools, clock, reads=reads)
        self.flow_driver = FlowDriver(self.tools)
        self.limiter = limiter or RateLimiter()
        self.reader = reader
        """Reads each message into an `Understanding` (None: the keyword checks, which is what
        a scripted assistant in unit tests uses)."""
        self._pressing: InFlight[_Pressed, TurnResult] = InFlight()
        """The button presses this process is answering, by shopper, action and button."""

    async def warm(self, shop_id: str) -> int:
        """Read the prompt prefixes this shop's turns start with — the understanding step's,
        and the instructions with each tool set a turn can be offered — into the model's cache
        (`llm.base.Warms`), so that no shopper's first turn on a tool set reads them. Returns
        the tokens read; 0 on a model that keeps no cache of its own.

        Measured on the embedded model: a turn's first call on a tool set not yet seen read
        700–2,200 prompt tokens more than the next one's (8–25 s on two cores)."""
        async with self.sessions() as s:
            shop = await ShopRepository(s).get(shop_id)
        if shop is None:
            raise NotFound(f"no shop {shop_id}")
        read = 0
        if self.reader is not None and not isinstance(self.reader, KeywordReader):
            reading = understanding_prompt("")
            read += await warm(self.llm, reading, [understanding_spec(CAPABILITIES, False)])
        system = [ChatMessage("system", self.voice.system(shop))]
        for names in tool_sets(list(self.tools)):
            read += await warm(self.llm, system, [self.tools[n].spec for n in names])
        return read

    async def start(self, shop_id: str, shopper_id: str, *, channel: str = "api") -> str:
        """Open a new conversation for a shopper; returns its id. One statement (on PostgreSQL
        on its own, `store.db.at_once`), which reads the shopper as it stores the conversation;
        only where it stored nothing are the shop and the shopper read, to say which is missing."""
        conversation_id = f"cv_{uuid.uuid4().hex[:16]}"
        async with self.writes_at_once() as s:
            repo = ConversationRepository(s, shop_id)
            if not await repo.open(conversation_id, shopper_id, channel, self.clock()):
                await _require(s, shop_id, shopper_id)
                raise NotFound(f"shopper {shopper_id!r} not found in shop {shop_id!r}")
            await s.commit()
        return conversation_id

    async def turn(
        self,
        shop_id: str,
        shopper_id: str,
        text: str,
        *,
        conversation_id: str | None = None,
        client_key: str | None = None,
        emit: Emit = ignore,
    ) -> TurnResult:
        text = _clean(text)
        started = time.perf_counter()
        if conversation_id is None:
            conversation_id = await self.start(shop_id, shopper_id)
        # On PostgreSQL each statement of this session runs on its own (`store.db.at_once`):
        # reads, and one write, the shopper's message (one statement). What else the start of
        # a turn may write — 智能辅助's handoff, open actions found expired — is written after
        # it, in a transaction of its own.
        async with self.writes_at_once() as s:
            repo = ConversationRepository(s, shop_id)
            # held: the session keeps loaded rows only while something refers to them, and
            # `_require`, the policy and `repo.get` read these
            held = await repo.load_for_turn(shopper_id, conversation_id)  # noqa: F841
            shop, shopper = await _require(s, shop_id, shopper_id)
            policy = await self.policy_for(shop_id, s)
            conversation = await repo.get(conversation_id)
            if conversation is None:
                raise NotFound(f"conversation {conversation_id!r} not found in shop {shop_id!r}")
            if conversation.shopper_id != shopper_id:
                raise Forbidden("this conversation belongs to another shopper")
            earlier = await repo.messages(conversation_id)
            if not await self.limiter.allow(
                f"{shop_id}/{shopper_id}", policy.guard.rate_per_minute
            ):
                raise TooManyRequests(
                    f"more than {policy.guard.rate_per_minute} messages a minute; "
                    "wait a moment and send again"
                )
            message, replay = await self._accept(repo, conversation_id, text, client_key,
                                                 earlier=earlier)  # fmt: skip
            history_rows = [m for m in earlier if m.id < message.id]
            # a conversation's first message has no tool calls before it to read; the others
            # are read before the commit gives the connection back
            tool_rows = (
                await repo.tool_calls(conversation_id) if history_rows and replay is None else []
            )
            await s.commit()
            if replay is not None:
                return await self._replayed(repo, conversation_id, replay)
            rerun = any(m.id == message.id for m in earlier)  # its first run died unanswered
            mode = conversation.mode
            past: list[PastAction] = []
            pending: ActionRow | None = None
            if mode == "ai" and policy.handoff.assist:
                mode = await self._assist(shop_id, conversation_id, earlier, text)
            elif mode == "ai":
                past, pending = await self.desk.at_turn_start(
                    s, shop_id, shopper_id, conversation_id
                )
        await emit(Accepted(conversation_id, message.id))
        if mode != "ai":
            return await self._paused(shop, conversation_id, message.id, mode, started, emit,
                                      en=english(text))  # fmt: skip
        check = check_input(text)
        deps = await self._deps(shop, shopper, history_rows, tool_rows, text, policy, past)
        loop = self._context(deps, history_rows, tool_rows, text, check)
        loop.conversation_id, loop.message_id = conversation_id, message.id
        loop.stock_before = _stock_before(history_rows)
        understood = None
        if not (pending is not None and is_yes(text)):  # the explicit yes needs no reading
            understood = await self._understand(loop, deps, text, history_rows, pending)
            check = routed(check, understood)
            loop.understood = understood
        settled = await self._desk_step(loop, deps, text, understood, rerun, pending)
        before = flows = _flows(history_rows)
        exhausted = False
        if settled is not None:
            reply, fallback = settled, False
        elif check.asks_human:  # the handoff notice is the whole reply: no model work to discard
            reply, fallback = "", False
        elif understood is not None and self.flow_driver.takes(understood, flows):
            step = await self.flow_driver.step(
                deps, flows, understood, text, _TurnHands(self, loop, deps, emit)
            )
            flows = step.flows
            reply, fallback = await self._flow_reply(loop, deps, text, step, emit)
        else:
            reply, fallback = await self._run(loop, deps, text, emit)
        if loop.written and self.guard is not None:  # only the model's own text is checked
            reply, exhausted = await self._checker().run(loop, deps, text, reply)
        added = _untold(reply, loop.tell) if loop.written and not exhausted else ""
        reply += added
        actions = await self._touched(shop_id, conversation_id, loop.actions)
        trigger = decide(
            deps.policy.handoff,
            check,
            history_rows,
            model_reason=loop.handoff,
            failed=fallback,
            guard_exhausted=exhausted or loop.unsure,
            over_limit=next(
                (a["summary"] for a in actions if a["status"] == "awaiting_approval"), None
            ),
            rule=await merchant_rule(deps, actions),
        )
        handoff: dict[str, Any] | None = None
        if trigger is not None:
            views = await self.desk.views(shop_id, conversation_id)
            handoff, reply = await hand_over(
                self.sessions, self.clock(), deps, loop, trigger, reply,
                history=history_rows, tool_rows=tool_rows, text=text, check=check,
                pending=[v.summary for v in views if v.status in ("pending", "awaiting_approval")],
            )  # fmt: skip
        reply, removed = strip_markup(reply, _hosts(deps))
        if removed:
            loop.guard.append(
                {"layer": "markup", "passed": False, "claims": removed, "fixed": True}
            )
        if loop.gated is not None:
            await loop.gated.finish(reply)
        elif not loop.streamed:
            await emit(TextDelta(reply))
        elif added:  # streamed as written, without the guard: the record's sentences follow
            await emit(TextDelta(added))
        result = TurnResult(
            reply=reply,
            conversation_id=conversation_id,
            message_id=0,
            tool_calls=loop.records,
            llm_calls=loop.llm_calls,
            tokens_in=loop.tokens_in,
            tokens_out=loop.tokens_out,
            cached_tokens=loop.cached,
            latency_ms=int((time.perf_counter() - started) * 1000),
            ttft_ms=loop.ttft_ms,
            fallback=fallback,
            actions=actions,
            citations=cited(reply, loop.citations),
            guard=[check.as_dict(), *loop.guard] if check.flags or loop.guard else [],
            guard_ms=loop.guard_ms,
            handoff=handoff,
        )
        flows = synced(flows, deps.past_actions)
        await self._persist(shop_id, message.id, result, note=loop.note, exhausted=exhausted,
                            shown=loop.shown(),
                            understood=understood, stock_of=loop.stock_of,
                            flows=None if flows.empty and before.empty else flows)  # fmt: skip
        await emit(result)
        return result

    async def _understand(
        self, loop: Loop, deps: TurnDeps, text: str, history: Sequence[MessageRow],
        pending: ActionRow | None,
    ) -> Understanding:  # fmt: skip
        """The shopper's message read once (DESIGN "Understand, then decide"); the call is
        counted with the turn's. What earlier turns understood stays in `deps.readings`."""
        reader = self.reader or KeywordReader(deps.policy.returns.quality_words)
        before = next((m.content for m in reversed(history) if m.role == "assistant"), "")
        reading = await reader.read(text, before=before,
                                    pending=pending.summary if pending is not None else "")  # fmt: skip
        if not isinstance(reader, KeywordReader):  # one model call
            loop.llm_calls += 1
            loop.tokens_in += reading.tokens_in
            loop.tokens_out += reading.tokens_out
            loop.cached += reading.cached_tokens
        understood = _as_request(reading.understood, text)
        deps.readings.append(understood)
        return understood

    async def _paused(
        self, shop: Shop, conversation_id: str, message_id: int, mode: str, started: float,
        emit: Emit, *, en: bool = False,
    ) -> TurnResult:  # fmt: skip
        """A human has the conversation: the AI does not answer. While it is still queued the
        shopper is told their place; once a human took it, the human answers."""
        async with self.sessions() as s:
            handoffs = HandoffRepository(s, shop.id)
            row = await handoffs.open_for(conversation_id)
            ahead = await handoffs.ahead_of(row) if row is not None else 0
        view = as_view(row) if row is not None else None
        reply = ""
        if mode == "queued" and row is not None:
            policy = await self.policy_for(shop.id)
            reply = notice(shop, ahead, policy.handoff.minutes_each, self.clock(), en=en)
        result = TurnResult(
            reply=reply,
            conversation_id=conversation_id,
            message_id=0,
            latency_ms=int((time.perf_counter() - started) * 1000),
            handoff=view,
        )
        if reply:
            await emit(TextDelta(reply))
            await self._persist(shop.id, message_id, result, note="", notice=mode)
        await emit(result)
        return result

    async def _deps(
        self,
        shop: Shop,
        shopper: Shopper,
        history: Sequence[MessageRow],
        tool_rows: Sequence[ToolCallRow],
        text: str | None,
        policy: ShopPolicy | None = None,
        past: list[PastAction] | None = None,
    ) -> TurnDeps:
        said = [m.content for m in history if m.role == "shopper"]
        return TurnDeps(
            shop,
            shopper,
            self.commerce_for(shop.id),
            self.clock(),
            said=said + ([text] if text is not None else []),
            seen=[c.result for c in tool_rows],
            policy=policy or await self.policy_for(shop.id),
            past_actions=past
            if past is not None
            else await self.desk.past_actions(shop.id, shopper.id),
            knowledge=self.knowledge,
            readings=[
                Understanding.model_validate(m.meta["understood"])
                for m in history
                if m.role == "assistant" and m.meta.get("understood")
            ],
        )

    async def review(
        self, shop_id: str, action_id: str, *, approve: bool, note: str = ""
    ) -> Outcome:
        """The merchant approves or rejects an action waiting above its limit; the shopper's
        conversation gets the outcome as a message."""
        async with self.sessions() as s:
            action = await ActionRepository(s, shop_id).get(action_id)
            if action is None:
                raise NotFound(f"action {action_id!r} not found in shop {shop_id!r}")
            shop, shopper = await _require(s, shop_id, action.shopper_id)
            repo = ConversationRepository(s, shop_id)
            history = await repo.messages(action.conversation_id)
            tool_rows = await repo.tool_calls(action.conversation_id)
        deps = await self._deps(shop, shopper, history, tool_rows, None)
        outcome = await self.desk.review(deps, action_id, approve=approve, note=note)
        async with self.sessions() as s:
            await ConversationRepository(s, shop_id).add_message(
                action.conversation_id,
                "assistant",
                outcome.reply,
                self.clock(),
                meta={"action_id": action_id, "review": "approved" if approve else "rejected"},
            )
            await s.commit()
        return outcome

    async def press(
        self,
        shop_id: str,
        shopper_id: str,
        conversation_id: str,
        action_id: str,
        *,
        accept: bool,
    ) -> TurnResult:
        """The shopper pressed the confirm (or decline) button of a pending action. Stored as
        the shopper's message; pressing again returns the same outcome — and a press that
        comes while this process is still answering the same button waits for that answer
        (`replayed`) rather than executing the action a second time alongside it. (A press
        that another process is answering gets a 409: `_answered_elsewhere`.)"""
        pressed = _Pressed(shop_id, shopper_id, conversation_id, action_id, accept)
        first = self._pressing.get(pressed)
        if first is not None:
            return replace(await asyncio.shield(first), replayed=True)
        return await asyncio.shield(self._pressing.start(pressed, self._press(pressed)))

    async def _press(self, pressed: _Pressed) -> TurnResult:
        shop_id, shopper_id, conversation_id, action_id, accept = pressed
        started = time.perf_counter()
        text = "确认" if accept else "不用了"
        async with self.sessions() as s:
            shop, shopper = await _require(s, shop_id, shopper_id)
            repo = ConversationRepository(s, shop_id)
            conversation = await repo.get(conversation_id)
            if conversation is None or conversation.shopper_id != shopper_id:
                raise NotFound(f"conversation {conversation_id!r} not found")
            action = await ActionRepository(s, shop_id).get(action_id)
            if action is None or action.conversation_id != conversation_id:
                raise NotFound(f"action {action_id!r} not found in this conversation")
            history = await repo.messages(conversation_id)
            tool_rows = await repo.tool_calls(conversation_id)
            key = f"button:{action_id}:{'yes' if accept else 'no'}"
            pressed = next((m for m in history if m.client_key == key), None)
            if pressed is None and action.status != "pending":
                # the same words as a press that loses the race later on (`desk._settle`): a
                # press that comes after the other one settled is told what it became, too
                raise Conflict(f"action {action_id} is {action.status} now, not pending")
            message, replay = await self._accept(repo, conversation_id, text, key,
                                                 earlier=history)  # fmt: skip
            await s.commit()
            if replay is not None:
                return await self._replayed(repo, conversation_id, replay)
        deps = await self._deps(shop, shopper, history, tool_rows, text)
        outcome = await self.desk.resume(deps, message.id)
        if outcome is None:
            if accept:
                outcome = await self.desk.confirm(deps, action, message.id)
            else:
                await self.desk.decline(deps, action)
        reply = outcome.reply if outcome else "好的，这个操作不办理了。还有其他需要随时告诉我。"
        result = TurnResult(
            reply=reply,
            conversation_id=conversation_id,
            message_id=0,
            latency_ms=int((time.perf_counter() - started) * 1000),
            actions=await self._touched(shop_id, conversation_id, [action_id]),
        )
        await self._persist(shop_id, message.id, result, note="")
        return result

    async def suggest(self, shop_id: str, conversation_id: str) -> dict[str, Any]:
        """A draft reply to the shopper's last message, for a human agent: the same context,
        knowledge and read-only lookups as the bot's own turn, checked by the same guard —
        nothing is stored and no change is proposed."""
        async with self.sessions() as s:
            repo = ConversationRepository(s, shop_id)
            conversation = await repo.get(conversation_id)
            if conversation is None:
                raise NotFound(f"conversation {conversation_id!r} not found in shop {shop_id!r}")
            shop, shopper = await _require(s, shop_id, conversation.shopper_id)
            rows = await repo.messages(conversation_id)
            tool_rows = await repo.tool_calls(conversation_id)
        asked = [m for m in rows if m.role == "shopper"]
        if not asked:
            raise Conflict("the shopper has not written anything yet")
        last = asked[-1]
        history = [m for m in rows if m.id < last.id or m.role == "whisper"]
        drafter = self._drafter()
        deps = await self._deps(shop, shopper, history, tool_rows, last.content)
        loop = drafter._context(deps, history, tool_rows, last.content, check_input(last.content))
        reply, _ = await drafter._run(loop, deps, last.content, ignore)
        if loop.written and self.guard is not None:
            reply, _ = await drafter._checker().run(loop, deps, last.content, reply)
        return {
            "conversation_id": conversation_id,
            "to_message_id": last.id,
            "reply": reply,
            "citations": cited(reply, loop.citations),
            "facts": [
                {"tool": r.name, "arguments": r.arguments, "result": r.result}
                for r in loop.records
                if r.ok
            ],  # fmt: skip
            "guard": loop.guard,
            "llm_calls": loop.llm_calls,
        }

    def _gated(self, loop: Loop, deps: TurnDeps, emit: Emit) -> OnText:
        """The guarded stream of this turn's answer, afresh for this model call."""
        if loop.gated is None:
            checker = self._checker()

            async def check(sentence: str) -> bool:
                if not unecho(sentence, loop.note):  # a copy of the note: left out, not shown
                    return False
                return await checker.passes_alone(loop, deps, sentence, _hosts(deps))

            loop.gated = GuardedStream(check, emit)
        loop.gated.restart()
        return loop.gated.feed

    def _checker(self) -> ReplyCheck:
        assert self.guard is not None
        specs = [t.spec for t in self.tools.values()]
        return ReplyCheck(self.guard, self.llm, self.voice, self.clock, specs, self._look_up_for)

    async def _look_up_for(self, loop: Loop, deps: TurnDeps, name: str) -> str | None:
        """A lookup the output guard found a reply needed (`checking.LOOKUPS`), entered in the
        turn as if the model had called it: its answer hint, or None if it did not answer."""
        if name not in self.tools:
            return None
        args: dict[str, Any] = {}
        if key := OF_PRODUCT.get(name):  # of the product the turn is about; none found, none
            if (product_id := await self._product_in_turn(loop, deps)) is None:
                return None
            args = {key: product_id}
        if any(r.name == name and r.ok and r.arguments == args for r in loop.records):
            return None  # made already: the reply misread it, and is told so with the reason;
            # the same lookup again would show the model nothing new
        result = await self._code_call(loop, deps, f"check_{name}", name, args, ignore)
        if result.ok and name == "get_product":
            loop.record_answer = str(result.data.get("stock_answer") or loop.record_answer)
        return self.tools[name].answer_hint if result.ok else None

    async def _product_in_turn(self, loop: Loop, deps: TurnDeps) -> str | None:
        """The product this turn is about: the one the shopper's message names, else the one
        product the turn looked up, else one named in their two messages before."""
        said = deps.said[-3:]
        looked = {
            str(r.arguments.get("product_id"))
            for r in loop.records
            if r.name == "get_product" and r.ok and r.arguments.get("product_id")
        }
        if deps.knowledge is not None and said:
            if named := await deps.knowledge.product_named(deps.shop.id, said[-1]):
                return named
        if len(looked) == 1:
            return looked.pop()
        for text in reversed(said[:-1]) if deps.knowledge is not None else ():
            if named := await deps.knowledge.product_named(deps.shop.id, text):
                return named
        return None

    def _drafter(self) -> Assistant:
        """This assistant with only its read-only tools (suggestions change nothing)."""
        tools = tuple(t for t in self.tools.values() if not t.mutating and t.spec.name != "handoff")
        return Assistant(
            self.sessions, self.llm, self.commerce_for, self.clock,
            policy_for=self.policy_for, tools=tools, max_steps=self.max_steps, voice=self.voice,
            result_chars=self.result_chars, knowledge=self.knowledge, guard=self.guard,
        )  # fmt: skip

    async def _desk_step(
        self,
        loop: Loop,
        deps: TurnDeps,
        text: str,
        understood: Understanding | None,
        rerun: bool,
        pending: ActionRow | None,
    ) -> str | None:
        """Settle the turn from the action desk when the message answers a pending action
        (`pending`: the one open when the message was stored; none then, none to answer — one
        proposed since came after the message).

        Only an explicit yes (the confirmation word the question asked for) executes; a yes
        read in other words is asked again, and a no — in words or as read — declines."""
        desk = self.desk
        # only a message run before can have confirmed an action (a new one has not yet)
        resumed = await desk.resume(deps, loop.message_id) if rerun else None
        if resumed is not None:
            loop.actions.append(resumed.action.id)
            return resumed.reply
        if pending is not None:  # read again: a button may have settled it, or time expired it
            pending = await desk.open_action(deps.shop.id, loop.conversation_id)
        if pending is None:
            return None
        if is_yes(text):
            outcome = await desk.confirm(deps, pending, loop.message_id)
            loop.actions.append(pending.id)
            return outcome.reply
        if pending.tool == "offer_retention" and insists(text):
            await desk.decline(deps, pending)
            loop.actions.append(pending.id)
            args = pending.arguments
            instead = str(args.get("instead") or "cancel_order")
            call = {**(args.get("instead_args") or {}), "reason": args.get("reason", "")}
            result, _ = await run_tool(self.tools, instead, call, deps)
            if result.proposal is not None:
                return await self._propose(loop, deps, result.proposal)
            return result.reply or result.text
        answer = understood.answer if understood is not None else "none"
        if is_no(text) or answer == "no":
            await desk.decline(deps, pending)
            loop.actions.append(pending.id)
        elif pushes(text) or (answer == "yes" and not _asks(text)):
            # seen: "跟你说了别再问我确认，直接退" answered with an FAQ entry
            loop.actions.append(pending.id)
            again = CONFIRM_AGAIN_EN if english(text) else CONFIRM_AGAIN
            return again.format(summary=pending.summary)
        return None

    async def _propose(self, loop: Loop, deps: TurnDeps, proposal: Proposal) -> str:
        ask = await self.desk.propose(deps, loop.conversation_id, loop.message_id, proposal)
        loop.actions.append(deps.past_actions[-1].id)
        return ask

    async def _touched(
        self, shop_id: str, conversation_id: str, ids: list[str]
    ) -> list[dict[str, Any]]:
        if not ids:
            return []
        views = {v.id: v for v in await self.desk.views(shop_id, conversation_id)}
        return [views[i].as_dict() for i in dict.fromkeys(ids) if i in views]

    async def action_views(self, shop_id: str, conversation_id: str) -> list[ActionView]:
        return await self.desk.views(shop_id, conversation_id)

    async def _assist(
        self, shop_id: str, conversation_id: str, earlier: Sequence[MessageRow], text: str
    ) -> str:
        """`assisted`, in a transaction of its own; the conversation's mode after it."""
        async with self.sessions() as s:
            conversation = await ConversationRepository(s, shop_id).get(conversation_id)
            if conversation is None:
                raise NotFound(f"conversation {conversation_id!r} not found in shop {shop_id!r}")
            await assisted(s, shop_id, conversation, earlier, text, self.clock())
            await s.commit()
            return conversation.mode

    async def _accept(
        self,
        repo: ConversationRepository,
        conversation_id: str,
        text: str,
        key: str | None,
        *,
        earlier: Sequence[MessageRow],
    ) -> tuple[MessageRow, MessageRow | None]:
        """The shopper's message stored, or the one stored with its `key` and its reply (None
        while unanswered). `earlier`: the conversation's messages, read in this transaction:
        the stored one and its reply are looked for there rather than read again."""
        if key:
            existing = next((m for m in earlier if m.client_key == key), None)
            if existing is not None:
                reply = next((m for m in earlier if m.reply_to == existing.id), None)
                if reply is None and _answered_elsewhere(existing.meta):
                    # another worker is answering it right now: answering again would reply twice
                    raise Conflict(
                        f"message {key!r} is still being answered; resend it in a moment to "
                        "get the reply"
                    )
                return existing, reply  # its worker is gone: answer it here
        try:
            row = await repo.add_message(
                conversation_id, "shopper", text, self.clock(), client_key=key,
                meta={"accepted": round(time.time(), 3), "by": WORKER} if key else None,
            )  # fmt: skip
        except IntegrityError as exc:  # the same key raced in from a second request
            raise Conflict(f"message {key!r} is already being answered") from exc
        return row, None

    async def _replayed(
        self,
        repo: ConversationRepository,
        conversation_id: str,
        reply: MessageRow,
    ) -> TurnResult:
        calls = [
            ToolCallRecord(c.name, c.arguments, c.result, c.ok, c.latency_ms)
            for c in await repo.tool_calls(conversation_id)
            if c.message_id == reply.id
        ]
        meta = reply.meta
        return TurnResult(
            reply=reply.content,
            conversation_id=conversation_id,
            message_id=reply.id,
            tool_calls=calls,
            llm_calls=meta.get("llm_calls", 0),
            tokens_in=meta.get("tokens_in", 0),
            tokens_out=meta.get("tokens_out", 0),
            latency_ms=meta.get("latency_ms", 0),
            ttft_ms=meta.get("ttft_ms"),
            replayed=True,
        )

    def _context(
        self,
        deps: TurnDeps,
        history: Sequence[MessageRow],
        tool_rows: Sequence[ToolCallRow],
        text: str,
        check: InputCheck | None = None,
    ) -> Loop:
        system = self.voice.system(deps.shop)
        whispers = [m.content for m in history if m.role == "whisper"]
        if whispers:  # the prefix changes only for conversations a merchant steered
            system += WHISPER.format("；".join(whispers[-3:]))
        messages = [
            ChatMessage("system", system),
            *build_history(history, tool_rows, self.result_chars),
            ChatMessage("user", text + (check.note if check else "")),
        ]
        earlier = [m.content for m in history if m.role in ("assistant", "agent", "whisper")]
        return Loop(messages, earlier=earlier, opened=len(messages))

    async def _run(self, loop: Loop, deps: TurnDeps, question: str, emit: Emit) -> tuple[str, bool]:
        names = [n for n in loop.stage_tools if n in self.tools] or self._offered(loop, deps)
        specs = [self.tools[n].spec for n in names]
        loop.offered = specs
        seen: set[str] = set()

        async def on_text(piece: str) -> None:
            loop.streamed = True
            await emit(TextDelta(piece))

        mode: Mode = "auto"
        if loop.answering:
            mode = "text"
        elif not loop.stage_tools and await self._fault_asked(loop, deps, question, emit):
            mode = "text"
        elif not loop.stage_tools:
            product_id = await self._product_asked(loop, deps)
            if not (product_id and _stock_asked(loop)):
                await self._prefetch(loop, deps, question, emit)  # a stock answer is the record
            if product_id and await self._look_up_product(loop, deps, question, product_id, emit):
                mode = "text"
            elif await self._look_up_order(loop, deps, question, emit):
                mode = "text"
            elif await self._look_up_subsidy(loop, deps, question, emit):
                mode = "text"
            elif _stock_asked(loop) and "search_products" in names:
                # Asked whether something is in stock, naming no product of the catalogue: the
                # answer is the catalogue's, so the first step is a lookup (the tools offered
                # stay the same, and with them the cached prompt). Seen on the demo bench: "有没有
                # 42 码的跑鞋" answered with the size chart's foot length from the snippets.
                mode = "call"
            if mode == "auto":
                await self._show_named_order(loop, deps, question, emit)
            if loop.canned:
                return loop.canned, False
        # Seen on the tuned suite ("有实体店吗", "吊装收费吗"): the model searched again for the
        # question it had been shown the shop's entries on; what code looked up is not looked
        # up again, the model answers with what it has.
        seen.update(_call_key([ToolCall("", r.name, r.arguments)]) for r in loop.records)
        for step in range(self.max_steps):
            if step == self.max_steps - 1:
                mode = "text"
            # Stream only answers written after a lookup: a first-step reply may turn out to be a
            # stall or an unbacked "not found" that is replaced, and streamed text cannot be unsaid.
            looked_up = len(loop.records) > loop.prefetched
            # Under the output guard a reply streams sentence by sentence, each only once it
            # passed the checks that need no model call (`agent/streaming.py`).
            stream = None
            if looked_up or mode == "text":
                stream = on_text if self.guard is None else self._gated(loop, deps, emit)
            completion = await self.llm.complete(loop.messages, specs, mode=mode, on_text=stream)
            loop.count(completion)
            if loop.ttft_ms is None and completion.ttft_ms is not None:
                loop.ttft_ms = completion.ttft_ms
            # A call that did not parse, or a first reply that only stalls or denies without
            # looking anything up, or states something about an order without looking it up
            # (seen: "SO… 怎么一直没发货" answered "已签收" from nothing; a question back, such
            # as "退货还是换货？", is fine): make the lookup happen under the call grammar.
            if mode == "auto" and not completion.tool_calls:
                reply = completion.content
                stalled = not looked_up and (
                    is_stalling(reply, searched=_searched(loop))
                    or asks_again(reply, deps.said)
                    or (claims_done(reply) and not changed_before(deps))
                    or (
                        ORDER_ID.search(question) is not None
                        and not _asks(reply)
                        and not _code_showed_order(loop)
                    )
                )
                if stalled or looks_like_call(completion.raw):
                    completion = await self._forced_call(loop, specs)
            if not completion.tool_calls:
                reply = unecho(completion.content, loop.note)
                if reply and not looks_like_call(reply):
                    gave_up = gives_up(reply, "\n".join(deps.seen))
                    if gave_up and loop.asked_answer and not english(question):
                        # the record answers what was asked (seen in the demo: "SO… 的卫衣用券了
                        # 吗？" twice "无法提供具体的优惠和实付金额", then handed over)
                        return loop.asked_answer, False
                    if gave_up and _shop_material_shown(loop):
                        if loop.pressed:  # twice: a colleague answers, not "contact us"
                            loop.unsure = True
                            return (GUARD_GIVE_UP_EN if english(question) else GUARD_GIVE_UP), False
                        if step < self.max_steps - 1:
                            loop.pressed = True
                            loop.messages.append(ChatMessage("assistant", reply))
                            note = PRESS_NOTE.format(question=question)
                            loop.messages.append(ChatMessage("user", note))
                            mode = "text"
                            continue
                    loop.written = True
                    return reply, False
                if loop.records and not loop.note and mode != "text":
                    # Seen on the embedded model: an empty first reply with the knowledge shown
                    # ("星河 X60 Pro 多重？"), and the fallback then listed snippets that did not
                    # answer. Under the answer note it says what the material does not say.
                    mode = "text"
                    tool = self.tools.get(loop.records[-1].name)
                    _ask_for_answer(loop, deps, question, tool.answer_hint if tool else "")
                    continue
                return self._fallback(loop), True
            calls = completion.tool_calls[:2]
            if (
                step == 0
                and (_invented_order(calls, deps) or _schema_copied(calls))
                and _about_the_shop(question, loop.understood)
            ):
                # Seen: asked when a pick-up point closes, with the answer in the snippets shown,
                # the model looked up an order number nobody gave ("1234567890"), or sent a tool's
                # parameter schema as its arguments. Answer from the snippets instead, as after
                # any lookup; with none shown, search for them (seen: "Where is your Shanghai
                # store?" answered with the shopper's orders).
                if loop.prefetched:
                    mode = "text"
                    hint = self.tools["search_knowledge"].answer_hint
                    _ask_for_answer(loop, deps, question, hint)
                    continue
                if "search_knowledge" in self.tools:
                    calls = [ToolCall("kb_1", "search_knowledge", {"query": question})]
            key = _call_key(calls)
            if key in seen:  # the model repeats itself: make it answer with what it has
                mode = "text"
                continue
            seen.add(key)
            mode, canned = await self._call_tools(loop, deps, calls, emit)
            if canned:
                return canned, False
            if mode == "text":
                hint = next((t.answer_hint for c in calls if (t := self.tools.get(c.name))), "")
                _ask_for_answer(loop, deps, question, hint)
        return self._fallback(loop), True

    def _offered(self, loop: Loop, deps: TurnDeps) -> list[str]:
        """The tools of what the message was read to want (`offered`) — or, when the turn
        before offered all of those and more, that turn's tools again: the prompt then starts
        with the whole conversation as the model last read it, and the cache holds it.

        A follow-up read as `other` (no want of its own: every tool) keeps the topic's tools.

        Measured on the embedded model: a follow-up read as a narrower want ("那接下来怎么
        处理？" after a late parcel) re-read 900 tokens of the conversation (11 s) because
        its smaller tool set changed the prompt ahead of them."""
        available = list(self.tools)
        names = offered(available, loop.understood)
        if loop.understood is not None and len(deps.readings) >= 2:
            before = offered(available, deps.readings[-2])
            # a follow-up read as nothing in particular ("平时穿 42 码") goes on with the topic
            if set(names) <= set(before) or loop.understood.want == "other":
                return before
        return names

    async def _flow_reply(
        self, loop: Loop, deps: TurnDeps, question: str, step: FlowTurn, emit: Emit
    ) -> tuple[str, bool]:
        """The reply of a turn an after-sales flow took: the one code wrote (a proposal's
        question, the policy's refusal, which order or item), or the model's — with the stage's
        tools and instruction, or in text from what the flow's tool returned."""
        if step.reply is not None:
            return step.reply, False
        flow = step.flow
        loop.order_id = flow.order_id if flow is not None else ""
        if step.tools:
            loop.stage_tools = step.tools
            loop.messages.append(ChatMessage("user", step.instruction))
        elif len(loop.records) > 0 and loop.records[-1].name != "list_my_orders":
            loop.answering = True
            hint = tool.answer_hint if (tool := self.tools.get(loop.records[-1].name)) else ""
            _ask_for_answer(loop, deps, question, hint)
        return await self._run(loop, deps, question, emit)

    async def _prefetch(self, loop: Loop, deps: TurnDeps, question: str, emit: Emit) -> None:
        """Look the question up in the shop's knowledge before the model's first step, so the
        answer can come from it (the model may still call other tools). Skipped for messages
        about the shopper's own order, and left out when nothing relevant was found.

        Measured on the embedded model: asked "包邮吗", it answered from nothing; it rarely
        picks `search_knowledge` by itself among 20 tools."""
        if deps.knowledge is None or "search_knowledge" not in self.tools:
            return
        if not _about_the_shop(question, loop.understood):
            return
        if len(question) <= FOLLOW_UP_CHARS and any(
            c.name in ORDER_LOOKUPS for m in loop.messages[-6:] for c in m.tool_calls
        ):
            return  # "什么时候到" right after an order lookup is about that order
        args = {"query": question}
        result, ms = await run_tool(self.tools, "search_knowledge", args, deps)
        # The cosine threshold in `relevant` was read off the demo shops to keep order questions
        # and greetings out; a message read as a question for the shop needs only a snippet that
        # shares its words (seen: a fact only in a document the merchant had just added, ranked
        # first, kept from the model by the threshold and answered "抱歉，我无法提供").
        asked = loop.understood is not None and loop.understood.want in SHOP_QUESTIONS
        relevant = result.data.get("relevant") or (asked and result.data.get("shares_words"))
        if not result.ok or not relevant:
            return
        call = ToolCall(PREFETCH_ID, "search_knowledge", args)
        await _show_found(loop, deps, call, result, ms, emit, result.text)

    async def _look_up_order(self, loop: Loop, deps: TurnDeps, question: str, emit: Emit) -> bool:
        """Read as asking where an order is or how it stands — or what it cost, with its
        discounts, naming it — code looks the order up and the model's one call answers from
        the result (two calls with the reading, instead of the model first choosing the
        lookup)."""
        want = loop.understood.want if loop.understood is not None else ""
        found = set(ORDER_ID.findall(question))
        if len(found) == 1 and await self._after_sale_asked(loop, deps, found, emit):
            return True
        tool = ORDER_LOOKUP.get(want) or (NAMED_ORDER_LOOKUP.get(want) if found else None)
        if not tool or tool not in self.tools or len(found) > 1:
            return False
        if not found:
            return await self._list_orders(loop, deps, question, tool, emit)
        hint = MONEY_HINT if want in NAMED_ORDER_LOOKUP else None
        return await self._look_up(loop, deps, question, tool, [found.pop()], emit, hint=hint)

    async def _show_named_order(
        self, loop: Loop, deps: TurnDeps, question: str, emit: Emit
    ) -> None:
        """A message naming one order number that no step of code answered: the order is looked
        up before the model's first step, which goes on from its record (seen on the tuned suite:
        "我订单 SO… 用券了吗？优惠了多少，实付多少？" read as neither a coupon nor an order
        question, the knowledge searched twice, a discount made up, handed over). A number that
        is no order of theirs gets the lookup's refusal, except in a question about products,
        where it may be a model number (nothing is shown). Only for questions about goods, orders
        and the shop's rules: an after-sales matter asked about goes on with its own tools, which
        say what the rules allow (an order record shown first, the model may answer "可以退款"
        from nothing)
        — so also any message read with a reason, which is offered those tools (seen on the
        tuned suite: "订单 SO…，现在是不是降价了？能保价吗？" read as 商品咨询 for 价格, the order
        shown, answered "是的…¥3699" instead of with the price protection's check); read as
        `other` (nothing to go on), the model has every tool and chooses."""
        found = set(ORDER_ID.findall(question))
        tool = "get_order"
        u = loop.understood
        if u is None or u.want not in ORDER_SHOWN or u.reason_kind != "none":
            return
        if len(found) != 1 or tool not in self.tools:
            return
        order_id = found.pop()
        if any(order_id in map(str, r.arguments.values()) for r in loop.records):
            return
        about_products = u.want in PRODUCT_WANTS
        args = {"order_id": order_id}
        result = await self._code_call(
            loop, deps, "order_0", tool, args, emit, keep_failed=not about_products
        )
        if not result.ok and result.reply and not about_products:
            # not theirs: the lookup's own refusal is the reply, as when the model makes it
            # (seen: shown the refusal's instructions, the model handed the shopper over)
            loop.canned = result.reply

    async def _after_sale_asked(
        self, loop: Loop, deps: TurnDeps, found: set[str], emit: Emit
    ) -> bool:
        """Read as an after-sales matter asked about, not asked for (退款, 办理=否), naming one
        order: code looks the order up, and when it is in after-sales its record's progress,
        refund and the shop's steps from there are the reply. For any other order the turn goes
        on as if nothing was looked up.

        Seen on the tuned suite: "我申请退款的那个订单 SO…，现在处理到哪一步了？" read as 退款,
        asked nothing; the model tracked the parcel and sent "暂时没有物流信息" back."""
        u = loop.understood
        tool = "get_order"
        if u is None or u.acts or u.want not in AFTER_SALES_WANTS or tool not in self.tools:
            return False
        args = {"order_id": next(iter(found))}
        result, ms = await run_tool(self.tools, tool, args, deps)
        if not (result.ok and result.data.get("after_sale_answer")):
            return False
        call = ToolCall("order_0", tool, args)
        await _show_found(loop, deps, call, result, ms, emit, result.text[: self.result_chars])
        loop.canned = str(result.data["after_sale_answer"])
        return True

    async def _fault_asked(self, loop: Loop, deps: TurnDeps, question: str, emit: Emit) -> bool:
        """Read as telling of something wrong with goods they have (a fault, a missing or wrong
        item) and asking what can be done — not yet asking for a return or an exchange — about
        one order the message names: code looks the order up and the shop's word on goods that
        arrived wrong, and the model answers from both; with no word of the shop's on it, a
        colleague is asked (nothing is made up).

        Seen on the dev suite: "SO… 的…右耳完全没声音，是坏的吧？怎么弄" and "…侧面有个凹坑，
        SO…，能怎么处理" were read as product questions; the first was answered with the battery
        life of another product, the second with the shop's entries on installation."""
        u = loop.understood
        tool = "get_order"
        if u is None or u.acts or u.reason_kind not in FAULTS or tool not in self.tools:
            return False
        if u.want not in FAULT_READ_AS:  # read as a return or an exchange: the flows take it
            return False
        found = set(ORDER_ID.findall(question))
        if len(found) != 1:
            return False
        result = await self._code_call(loop, deps, "order_0", tool, {"order_id": found.pop()}, emit)
        if not result.ok:
            return False
        # the shop's word on faulty goods (measured on the dev suite: searched with the shopper's
        # own words instead, the entries were other products' warranties and installation fees,
        # and the replies were built from them)
        query = FAULT_QUERIES[u.reason_kind]
        if await self._shop_word(loop, deps, query, FAULT_UNLIKE, emit):
            _ask_for_answer(loop, deps, question, FAULT_FOUND)
        else:
            loop.unsure = True
            _ask_for_answer(loop, deps, question, FAULT_UNKNOWN)
        return True

    async def _list_orders(
        self, loop: Loop, deps: TurnDeps, question: str, tool: str, emit: Emit
    ) -> bool:
        """Read as asking about their own orders without naming one ("我最近买了什么？", "我买的
        那件外套到哪了"): code finds the order whose items they name, or — asked where a parcel
        is — the one or two of theirs on the way, and looks it up; otherwise it lists their
        recent orders. The model answers from the result.

        Seen on the embedded model without it: "帮我看看我的订单" answered "请告诉我你的订单号"
        (the shopper is known; their orders are one lookup away); "我最近买了什么？" answered
        with a product from the knowledge prefetched for it, as if they had bought it; asked
        where the thing they bought is, the model made up an order number and then asked which
        order. With the list alone, "我的快递到哪了" was answered with a delivered order."""
        if "list_my_orders" not in self.tools or not about_own_order(question):
            return False
        orders = await deps.commerce.orders_for(deps.shopper.id, limit=NAMED_AMONG)
        # two orders of the item they name (seen on the dev suite: "我买的冰箱什么时候发货？" of a
        # shopper with one fridge delivering and one not shipped) are both looked up
        named = named_orders(orders, question)
        if tool == "track_logistics" and len(named) > 1:  # where it is: of those not yet there
            named = [o for o in named if o.status in UNDELIVERED] or named
        picked = named if len(named) <= 2 else []
        if not picked and tool == "track_logistics":
            picked = [o for o in orders if o.status is OrderStatus.SHIPPED][:3]
        if not 0 < len(picked) <= 2:
            return await self._look_up(loop, deps, question, "list_my_orders", [], emit)
        deps.seen.extend(o.id for o in picked)  # code took them from the shopper's own orders
        return await self._look_up(loop, deps, question, tool, [o.id for o in picked], emit)

    async def _look_up(
        self, loop: Loop, deps: TurnDeps, question: str, tool: str, ids: list[str], emit: Emit,
        *, hint: str | None = None,
    ) -> bool:  # fmt: skip
        """Look these orders up with `tool` (or, with no ids, list the shopper's orders) and ask
        the model for the answer. A parcel with no tracking yet (not shipped, or in after-sales)
        is answered from the order's details as well (seen: "我申请退款的那个订单…处理到哪一步了"
        answered "暂时没有物流信息" with the refund's progress unsaid)."""
        calls = [(tool, {"order_id": oid}) for oid in ids] or [(tool, {})]
        results, details = [], []
        for i, (name, args) in enumerate(calls):
            result = await self._code_call(loop, deps, f"lookup_{i}", name, args, emit)
            results.append(result)
            untracked = name == "track_logistics" and result.ok and "carrier" not in result.data
            if untracked and "get_order" in self.tools:
                tool = "get_order"
                details.append(await self._code_call(loop, deps, f"detail_{i}", tool, args, emit))
        if not any(r.ok for r in results):  # not theirs, or no such order: the model takes it
            return False
        told = [str(r.data["after_sale_answer"]) for r in results + details
                if r.data.get("after_sale_answer")]  # fmt: skip
        if len(calls) == 1 and told:  # its record says how it stands (see `after_sale_answer`)
            loop.canned = told[0]
            return True
        if hint == MONEY_HINT and len(calls) == 1:
            loop.asked_answer = str(results[0].data.get("money_answer") or "")
        hint = hint or self.tools[tool].answer_hint
        if any(r.data.get("status") == OrderStatus.AFTER_SALE for r in results):
            hint += AFTER_SALE_HINT
        if len(calls) > 1:
            hint = f"，{len(calls)}个订单分别说出订单号{hint.removeprefix('，说出')}"
        if idle := max((r.data.get("idle_days") or 0 for r in results), default=0):
            found = await self._shop_word(loop, deps, STALLED_QUERY, STALLED_UNLIKE, emit)
            hint += STALLED_FOUND if found else STALLED_UNKNOWN.format(days=idle)
        # paid, not shipped: the record gives the promise and whether it was kept. Past it, the
        # reply apologises whatever was asked; on time, the promise is said when they asked
        # where or when (seen on the tuned suite: a plain "…现在什么状态了" answered with the
        # promise instead of the items, garbled as "您需要在…内发货")
        by_order = {r.data["order_id"]: r.data for r in results + details if "overdue" in r.data}
        waiting = list(by_order.values())
        asked_when = calls[0][0] == "track_logistics"
        if waiting and asked_when and not any(w["overdue"] for w in waiting):
            hint += UNSHIPPED_ON_TIME.format(
                id=waiting[0]["order_id"], promise=waiting[0]["promise"]
            )
        for w in waiting:  # said by code after the reply, when the reply leaves it out
            if w["overdue"]:
                told = UNSHIPPED_LATE.format(id=w["order_id"], promise=w["promise"])
                loop.tell.append(((f"{w['promise_hours']}小时", "抱歉"), told))
            elif asked_when:
                loop.tell.append(
                    ((f"{w['promise_hours']}小时",), f"订单 {w['order_id']} {w['promise']}。")
                )
        _ask_for_answer(loop, deps, question, hint)
        return True

    async def _look_up_subsidy(self, loop: Loop, deps: TurnDeps, question: str, emit: Emit) -> bool:
        """Read as a subsidy question naming a product (and no order): code checks the subsidy
        for it and the model answers from the result (seen on the tuned suite: "…那个 6499 的
        能用国补吗？能减多少？" read as 国补, the model looked the product up instead and said
        "能用国补" of a price the programme excludes)."""
        u = loop.understood
        tool = "check_subsidy"
        if u is None or u.want != "subsidy" or tool not in self.tools or deps.knowledge is None:
            return False
        if ORDER_ID.search(question):
            return False
        product_id = await deps.knowledge.product_named(deps.shop.id, question)
        if not product_id:
            return False
        args = {"product": product_id}
        result = await self._code_call(loop, deps, "subsidy_0", tool, args, emit)
        if not result.ok:
            return False
        _ask_for_answer(loop, deps, question, self.tools[tool].answer_hint)
        return True

    async def _shop_word(
        self, loop: Loop, deps: TurnDeps, query: str, unlike: tuple[str, ...], emit: Emit
    ) -> bool:
        """The shop's knowledge on a matter code ran into (a parcel that stopped moving), looked
        up and shown to the model when it has an entry on it rather than on the matter next to
        them (`unlike`, see `on_matter`); whether it had one."""
        if deps.knowledge is None or "search_knowledge" not in self.tools:
            return False
        started = time.perf_counter()
        result = await on_matter(deps, query, unlike)
        if result is None:
            return False
        ms = int((time.perf_counter() - started) * 1000)
        shown = result.text[: self.result_chars]
        call = ToolCall("kb_rule", "search_knowledge", {"query": query})
        await _show_found(loop, deps, call, result, ms, emit, shown)
        return True

    async def _product_asked(self, loop: Loop, deps: TurnDeps) -> str | None:
        """Read as asking about a product that the message names — or, for a follow-up ("那另一
        个颜色呢？"), one of the shopper's two messages before it: that product's id. Right after
        a reply that told a product's stock, a message naming other options of that product
        (and no other product) asks for their stock, however it was read.

        Seen on dev (stock-stride-001, stock-stride-003): a follow-up naming another colour and
        size after a stock answer was read as `other`; the model then searched the knowledge base and looked the
        product up itself, 40–60 s for a two-line answer."""
        u = loop.understood
        if u is None or deps.knowledge is None or "get_product" not in self.tools:
            return None
        if followed := await self._stock_follow_up(loop, deps):
            return followed
        if u.want not in PRODUCT_QUESTIONS:
            return None
        for said in reversed(deps.said[-3:]):
            if product_id := await deps.knowledge.product_named(deps.shop.id, said):
                return product_id
        return None

    async def _stock_follow_up(self, loop: Loop, deps: TurnDeps) -> str | None:
        u = loop.understood
        if not loop.stock_before or u is None or u.acts or u.want not in FOLLOW_UP_WANTS:
            return None
        if deps.knowledge is not None and await deps.knowledge.product_named(
            deps.shop.id, deps.said[-1] if deps.said else ""
        ):
            return None
        product = await deps.commerce.get_product(loop.stock_before)
        if product is None or not deps.said or not asked_skus(product, deps.said[-1]):
            return None
        loop.stock_follow_up = True
        return product.id

    async def _look_up_product(
        self, loop: Loop, deps: TurnDeps, question: str, product_id: str, emit: Emit
    ) -> bool:
        """Code looks up the product asked about (the options the shopper named first, with
        their stock) and the model answers from its record.

        Seen on dev (stock-stride-001): asked whether a sold-out colour was in stock, the model
        answered "还有货" and a price from another product, with no lookup."""
        if await self._advise_size(loop, deps, question, product_id, emit):
            return True
        args = {"product_id": product_id}
        result = await self._code_call(loop, deps, "product_0", "get_product", args, emit)
        if not result.ok:
            return False
        _drop_known_snippets(loop, result.text[: self.result_chars])
        said = result.data.get("stock_answer")
        loop.record_answer = str(said or "")
        if _stock_asked(loop) and said:
            loop.canned = str(said)  # the options they named: the record answers, not the model
            loop.stock_of = product_id
            return True
        _ask_for_answer(loop, deps, question, self.tools["get_product"].answer_hint)
        return True

    async def _advise_size(
        self, loop: Loop, deps: TurnDeps, question: str, product_id: str, emit: Emit
    ) -> bool:
        """Read as asking which size to pick, of a product with a size chart: code runs the size
        tool (the chart, the product's fit and the figures the shopper gave decide) and the
        model words its advice; with too little to go on, the tool's question is the reply.
        The usual size is the one chart size the message names, if it names exactly one.

        Seen on dev (size-advice-stride-001): asked which size to buy, with a usual size and a
        body measure, the model read the record's price and stock back and never advised.

        Read as a product question, a message that gives figures the chart's own columns take
        (a measure with its unit, in the column's range) asks for a size too (seen on the tuned
        suite: a child's foot length read as 商品咨询, and the model picked a size off the chart
        by itself, two sizes too small)."""
        u = loop.understood
        if u is None or u.want not in SIZED_WANTS or "recommend_size" not in self.tools:
            return False
        product = await deps.commerce.get_product(product_id)
        chart = product.attributes.get(SIZE_CHART) if product is not None else None
        if not isinstance(chart, dict) or not chart:
            return False
        if u.want != "size" and not measures(chart, [question]):
            return False
        named = [str(k) for k in chart if named_value(question, [str(k)]) == str(k)]
        args = {"product": product_id, "usual_size": named[0] if len(named) == 1 else ""}
        result = await self._code_call(loop, deps, "size_0", "recommend_size", args, emit)
        if not result.ok:
            return False
        if result.reply:
            loop.canned = result.reply
            return True
        _ask_for_answer(loop, deps, question, self.tools["recommend_size"].answer_hint)
        return True

    async def _code_call(
        self, loop: Loop, deps: TurnDeps, call_id: str, name: str, args: dict[str, Any],
        emit: Emit, *, keep_failed: bool = False,
    ) -> ToolResult:  # fmt: skip
        """Run a tool code chose, announced to the client; its result enters the turn as if the
        model had called it (`_looked_up`) — a failed one only with `keep_failed`."""
        await emit(ToolStarted(name, args))
        result, ms = await run_tool(self.tools, name, args, deps)
        await emit(ToolFinished(name, result.ok, ms))
        if result.ok or keep_failed:
            call = ToolCall(call_id, name, args)
            _looked_up(loop, deps, call, result, ms, result.text[: self.result_chars])
        return result

    async def _forced_call(self, loop: Loop, specs: list[ToolSpec]) -> Completion:
        completion = await self.llm.complete(loop.messages, specs, mode="call")
        loop.count(completion)
        return completion

    async def _call_tools(
        self, loop: Loop, deps: TurnDeps, calls: list[ToolCall], emit: Emit
    ) -> tuple[Mode, str | None]:
        """Run the calls; the next step answers in text if every result should suffice.

        A result carrying a canned reply (a refusal) settles the turn: it is returned as is.

        Measured on the embedded model: after a successful lookup it tends to repeat the same
        call instead of answering, costing a whole extra LLM call (~5 s on 2 cores).
        """
        calls = [await self._as_understood(loop, deps, c) for c in calls]
        loop.messages.append(ChatMessage("assistant", tool_calls=tuple(calls)))
        answered = True
        canned: str | None = None
        for call in calls:
            await emit(ToolStarted(call.name, call.arguments))
            result, ms = await run_tool(self.tools, call.name, call.arguments, deps)
            await emit(ToolFinished(call.name, result.ok, ms))
            deps.seen.append(result.text)
            loop.records.append(
                ToolCallRecord(call.name, call.arguments, result.text, result.ok, ms)
            )
            loop.citations.extend(result.data.get("citations") or [])
            loop.handoff = result.data.get("handoff") or loop.handoff
            loop.messages.append(
                ChatMessage("tool", result.text[: self.result_chars], tool_call_id=call.id)
            )
            tool = self.tools.get(call.name)
            answered = answered and result.ok and tool is not None and tool.answers
            if result.proposal is not None and canned is None:
                canned = await self._propose(loop, deps, result.proposal)
            canned = canned or result.reply
        return ("text" if answered else "auto"), canned

    async def _as_understood(self, loop: Loop, deps: TurnDeps, call: ToolCall) -> ToolCall:
        """The tool the shopper asked for, when the model picked its neighbour: money back for a
        delivered order is its return — the same rule the after-sales flows follow — unless a
        missing or wrong item was read as the reason (seen: a delivered order refused with
        "已发货的订单不能仅退款…请签收后申请退货退款"; on dev, "只退手表可以吗" and "有点贵，
        想退掉" read as 退款 and refused the same way) — and so is undoing an order the shopper
        already has (`cancel_is_return`)."""
        if loop.order_id and call.name in loop.stage_tools and "order_id" in call.arguments:
            call = ToolCall(call.id, call.name, {**call.arguments, "order_id": loop.order_id})
        u = loop.understood
        if u is None or call.name not in BACK_TOOLS or "request_return" not in self.tools:
            return call
        oid = call.arguments.get("order_id")
        order = await deps.commerce.get_order(oid) if isinstance(oid, str) and oid else None
        if order is None or order.shopper_id != deps.shopper.id:
            return call
        if not is_return(BACK_TOOLS[call.name], order, u.reason_kind):
            return call
        args = {k: v for k, v in call.arguments.items() if k in ("order_id", "reason")}
        return ToolCall(call.id, "request_return", args)

    def _fallback(self, loop: Loop) -> str:
        good = [r for r in loop.records if r.ok]
        if good:
            result = good[-1].result
            for note in KNOWLEDGE_NOTES:  # the tool's instructions to the model, not the shopper's
                result = result.replace(note, "").strip()
            return self.voice.with_result.format(result=result)
        return self.voice.no_reply

    async def _persist(
        self,
        shop_id: str,
        shopper_message_id: int,
        result: TurnResult,
        *,
        note: str,
        exhausted: bool = False,
        notice: str = "",
        understood: Understanding | None = None,
        flows: Flows | None = None,
        stock_of: str = "",
        shown: list[dict[str, Any]] | None = None,
    ) -> None:
        async with self.writes_at_once() as s:
            repo = ConversationRepository(s, shop_id)
            meta = {
                "llm_calls": result.llm_calls,
                "tokens_in": result.tokens_in,
                "tokens_out": result.tokens_out,
                "cached_tokens": result.cached_tokens,
                "latency_ms": result.latency_ms,
                "ttft_ms": result.ttft_ms,
                "fallback": result.fallback,
                "answer_note": note,
                "model": self.llm.name,
                "citations": result.citations,
                "guard": result.guard,
                "guard_ms": result.guard_ms,
                "guard_exhausted": exhausted,
                "handoff": result.handoff["id"] if result.handoff else None,
            }
            if notice:
                meta["notice"] = notice
            if understood is not None:
                meta["understood"] = understood.model_dump(exclude_defaults=True)
            if flows is not None:
                meta["flows"] = flows.model_dump(mode="json", exclude_defaults=True)
            if stock_of:
                meta["stock_of"] = stock_of
            if shown:
                meta["shown"] = shown
            result.message_id = await repo.add_reply(
                result.conversation_id,
                result.reply,
                self.clock(),
                reply_to=shopper_message_id,
                meta=meta,
                calls=[
                    {
                        "name": r.name,
                        "arguments": r.arguments,
                        "result": r.result,
                        "ok": r.ok,
                        "latency_ms": r.latency_ms,
                    }
                    for r in result.tool_calls
                ],
            )
            await s.commit()


class _TurnHands(Hands):
    """A flow's tool calls enter the turn as code-made lookups (recorded, shown to the model,
    announced to the client); its proposals become the conversation's pending action."""

    def __init__(self, assistant: Assistant, loop: Loop, deps: TurnDeps, emit: Emit) -> None:
        self.assistant, self.loop, self.deps, self.emit = assistant, loop, deps, emit

    async def call(self, name: str, args: dict[str, Any]) -> ToolResult:
        return await self.assistant._code_call(
            self.loop, self.deps, f"flow_{len(self.loop.records)}", name, args, self.emit,
            keep_failed=True,
        )  # fmt: skip

    async def propose(self, proposal: Proposal) -> tuple[str, str]:
        ask = await self.assistant._propose(self.loop, self.deps, proposal)
        return ask, self.deps.past_actions[-1].id


def _flows(history: Sequence[MessageRow]) -> Flows:
    """The conversation's after-sales flows as the last reply that had any left them."""
    for m in reversed(history):
        if m.role == "assistant" and "flows" in m.meta:
            return Flows.model_validate(m.meta["flows"])
    return Flows()


def _hosts(deps: TurnDeps) -> tuple[str, ...]:
    """Web hosts the merchant's own material links to: links to them may stay in a reply."""
    text = " ".join([*deps.seen, deps.shop.description])
    return tuple({m.split("//", 1)[1].split("/", 1)[0].lower() for m in URL.findall(text)})


def _looked_up(
    loop: Loop, deps: TurnDeps, call: ToolCall, result: ToolResult, ms: int, shown: str
) -> None:
    """A lookup code made before the model's first step, entered in the turn as if the model
    had called it (`shown` is what the model reads of the result)."""
    loop.messages.append(ChatMessage("assistant", tool_calls=(call,)))
    loop.messages.append(ChatMessage("tool", shown, tool_call_id=call.id))
    loop.records.append(ToolCallRecord(call.name, call.arguments, result.text, result.ok, ms))
    loop.citations.extend(result.data.get("citations") or [])
    loop.prefetched = len(loop.records)
    deps.seen.append(result.text)


async def _show_found(
    loop: Loop, deps: TurnDeps, call: ToolCall, result: ToolResult, ms: int, emit: Emit,
    shown: str,
) -> None:  # fmt: skip
    """A lookup code made and kept (knowledge found relevant, an order found in after-sales),
    announced to the client and entered in the turn as if the model had made it."""
    await emit(ToolStarted(call.name, call.arguments))
    await emit(ToolFinished(call.name, True, ms))
    _looked_up(loop, deps, call, result, ms, shown)


def _drop_known_snippets(loop: Loop, known: str) -> None:
    """Of the knowledge prefetched this turn, the snippets a later lookup's result already says
    word for word leave what the model reads (the guard still has them, in `loop.records`)."""
    for i, m in enumerate(loop.messages):
        if m.role == "tool" and m.tool_call_id == PREFETCH_ID:
            if rest := unknown_to(m.content, known):
                loop.messages[i] = replace(m, content=rest)
            else:
                del loop.messages[i - 1 : i + 1]  # the call with its result
            return


def _ask_for_answer(loop: Loop, deps: TurnDeps, question: str, hint: str) -> None:
    """The note that turns the next step into an answer from what was looked up."""
    # Pre-sales guidance is for pre-sales questions (seen: a parcel stuck for days answered
    # with the merchant's "建议搭配…" because the message named the product kind).
    u = loop.understood
    # nor for goods that arrived wrong, whatever they were read as (seen on the dev suite: a
    # sole come unglued answered, then "买跑鞋可以推荐搭配…")
    presale = u is None or (u.want in PRESALE_WANTS and u.reason_kind == "none")
    loop.guidance = presale_guidance(deps.policy, question) if presale else ""
    orders = {r.arguments.get("order_id") for r in loop.records if r.ok}
    if len(orders - {None, ""}) > 1:
        hint += SEVERAL_ORDERS
    loop.note = ANSWER_NOTE.format(question=question, hint=hint) + loop.guidance
    loop.messages.append(ChatMessage("user", loop.note))


def _untold(reply: str, tell: Sequence[tuple[tuple[str, ...], str]]) -> str:
    """What goes after the reply: each record sentence code must see said (`Loop.tell`) of which
    the reply lacks a word (seen on the dev suite: "我买的…什么时候发货？" answered "订单 SO…：
    待发货。" with the dispatch promise in the note, and the promise unsaid)."""
    flat = "".join(reply.split())
    missing = [s for words, s in tell if not all(w in flat for w in words)]
    return "\n" + "".join(missing) if missing else ""


def _shop_material_shown(loop: Loop) -> bool:
    """Whether this turn showed the model entries of the shop's knowledge for a question they
    may answer: one for the shop, or about an after-sales matter without asking for it (not,
    say, a plea to look up a friend's order, which the model rightly declines)."""
    u = loop.understood
    if u is None or not (u.want in SHOP_QUESTIONS or (u.want in AFTER_SALES_WANTS and not u.acts)):
        return False
    return any(
        r.name == "search_knowledge" and r.ok and r.result.startswith(KNOWLEDGE_HEADER)
        for r in loop.records
    )


def _code_showed_order(loop: Loop) -> bool:
    """Whether code showed the model an order's record this turn (its reply about the order, or
    an empty one, then answers from it: seen in the demo, an empty first reply after the named
    order was shown forced a call, which tracked the parcel, and "用券了吗？实付多少？" was
    answered with the parcel's progress)."""
    return any(r.ok and r.name in ORDER_LOOKUPS for r in loop.records[: loop.prefetched])


def _asks(reply: str) -> bool:
    return reply.rstrip().endswith(("？", "?"))


def routed(check: InputCheck, understood: Understanding) -> InputCheck:
    """The input check with what the reading understood: whether a person is asked for, and the
    mood (abuse, which the input guard flags, stays angry whatever the reading says)."""
    mood = "angry" if "abuse" in check.flags else understood.mood
    return replace(check, mood=mood, asks_human=understood.asks_human)


ANSWERING_S = 300.0
"""How long (wall clock) a message taken by another worker stays "being answered" at most.
Longer than any turn's deadline."""


class _Pressed(NamedTuple):
    """A button of a pending action, pressed by a shopper."""

    shop_id: str
    shopper_id: str
    conversation_id: str
    action_id: str
    accept: bool


WORKER = f"{socket.gethostname()}:{os.getpid()}"
"""The process that accepted a message (`meta.by` of a message with a `client_key`)."""


def _answered_elsewhere(meta: dict[str, Any]) -> bool:
    """Whether another worker may still be answering a message it accepted (`meta.by`): for
    `ANSWERING_S` after it accepted it — and on this machine only while that process lives. A
    resend to the process that took it finds it answered or not running (`agent/bounded.py`
    makes an in-flight resend wait), and a message from before workers were named is re-run.
    (The time bound also covers a pid that names some other process: containers that share a
    host name have pid namespaces of their own.)"""
    by = str(meta.get("by", ""))
    host, _, pid = by.rpartition(":")
    if not by or by == WORKER or not pid.isdigit():
        return False
    if time.time() - float(meta.get("accepted", 0) or 0) >= ANSWERING_S:
        return False
    if host == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False  # it died mid-turn (kill -9, a crash): answer the message here
        except PermissionError:
            return True
    return True


PRODUCT_QUESTIONS = frozenset({"stock", "product", "size"})
PRODUCT_WANTS = frozenset({"product", "stock", "size", "subsidy", "coupon"})
"""Questions about the shop's goods (a number in them may be a model number, not an order)."""
ORDER_SHOWN = PRODUCT_WANTS | {"urge", "shop_policy"}
"""Readings under which an order number the message names is looked up before the model's first
step, when no step of code answered (`_show_named_order`; an order or parcel question code
looks up itself, `ORDER_LOOKUP`)."""
FOLLOW_UP_WANTS = frozenset({"other", "size", "product"})
"""What a short follow-up after a stock answer may be read as and still ask for stock."""
SIZED_WANTS = frozenset({"size", "product"})
"""Read as these, a question about a product with a size chart may be sized by code (see
`_advise_size`)."""


def _stock_asked(loop: Loop) -> bool:
    return loop.stock_follow_up or (loop.understood is not None and loop.understood.want == "stock")


def _stock_before(history: Sequence[MessageRow]) -> str:
    """The product whose stock the reply just before this message told ("" if it told none)."""
    last = next((m for m in reversed(history) if m.role in ("assistant", "agent")), None)
    return str(last.meta.get("stock_of", "")) if last is not None and last.meta else ""


SHOP_QUESTIONS = frozenset({"product", "stock", "size", "subsidy", "coupon", "shop_policy"})


ORDER_LOOKUP = {"logistics": "track_logistics", "order_status": "get_order"}
"""Wants code answers by looking up the shopper's order (named, or found among theirs)."""
NAMED_ORDER_LOOKUP = {"coupon": "get_order", "subsidy": "get_order"}
"""Wants code answers from the order the message names, when it names one (seen on the tuned
suite: "我订单 SO… 用券了吗？优惠了多少，实付多少？" read as 优惠券, the order never looked up,
handed over)."""
AFTER_SALE_HINT = "，并说出售后进度和退款金额"
"""For orders in after-sales, when more than one was looked up (one alone is answered from its
record: seen on the tuned suite, "钱什么时候退给我" answered "订单状态：售后中" under this hint).
Only then: asked of every order, the model told a shipped one "在售后中，退款金额为¥0"."""
AFTER_SALES_WANTS = frozenset({"refund", "return", "exchange", "price_protection", "complaint"})
"""Wants whose question about a named order may be about an after-sale already under way."""
MONEY_HINT = "，说出订单里的优惠和实付金额"
BACK_TOOLS = {"request_refund": "refund", "cancel_order": "cancel"}
"""The model's calls that may be the order's return (`_as_understood`), by flow kind."""
CATALOGUE_WANTS = frozenset({"product", "stock"})
STALLED_QUERY = "物流好几天没有更新怎么办"
"""A parcel whose tracking stopped moving: what the shop's own material says it does about
that is looked up and said (seen on the tuned suite: "物流好几天都不动了" answered with the
latest scan only — neither the days without news nor the shop's 催查工单 were said)."""
STALLED_UNLIKE = ("订单还没有发货怎么办", "收到的商品坏了怎么办", "怎么申请退货退款")
"""The matters next to a stalled parcel, whose entries are not shown for one (see `on_matter`):
orders not yet shipped (seen on a tuned shop), goods that arrived damaged (seen on the held-out
shop, which has no entry on stalled parcels), returns."""
STALLED_FOUND = "；物流多天没有更新的，说出几天没有更新，以及店铺资料里说的处理办法"
"""Worded so on the tuned suite; "告诉顾客物流已经N天没有更新了，再照店铺资料说怎么处理" and
"物流已经N天没有更新，还要照店铺资料告诉顾客会怎么处理" were answered with the tracking alone,
or with the note itself (logistics_delay: 1 and 2 of 4 passed, against 4 of 4)."""
STALLED_UNKNOWN = "；说出物流已经{days}天没有更新，可以帮顾客转人工向快递核实"
"""With no entry of the shop's own on it: no promise made up, a person offered."""
UNSHIPPED_LATE = (
    "抱歉让您久等了，订单 {id} 已经过了承诺的发货时间（{promise}）还没发货，"
    "需要我帮您催一下仓库吗？"
)
"""Said after the reply to any question on an order paid and not shipped past the shop's promise
(`urge.promise_hours`), as its record says (seen on the dev suite: "付款快三天了怎么还没发货？
不是说48小时内发吗" answered with the order's details alone — no word of the promise, the wait
or an apology). Not a note to the model: asked to open its reply with these words, it did, and
dropped the figure asked for ("发货了吗？我实付是多少来着？" lost its ¥4999 on the tuned suite)."""
UNSHIPPED_ON_TIME = "；订单 {id} 还没发货，告诉顾客它「{promise}」"
"""Named, so that of two orders looked up the other is not given its promise (seen on the dev
suite: the deadline of the one not shipped said of the one on its way as well)."""


UNDELIVERED = frozenset({OrderStatus.PENDING_SHIPMENT, OrderStatus.SHIPPED})
"""Orders whose parcel a "where is it" may be about (seen on the tuned suite: "我买的女款…物流
好几天都不动了" answered about the pair on its way and one signed for in July)."""
FAULTS = frozenset({"defect", "missing_or_wrong"})
FAULT_READ_AS = frozenset({"product", "stock", "size", "shop_policy", "complaint"})
"""What a fault asked about is read as, besides the after-sales requests themselves."""
FAULT_QUERIES = {
    "defect": "收到的商品有质量问题、坏了或外观破损怎么办",
    "missing_or_wrong": "收到的商品少件、漏发或发错了怎么办",
}
"""The shop's entries searched for a fault, by its kind: the after-sales categories every shop
has (quality or damage on arrival; missing or wrong items), not the shopper's words."""
FAULT_UNLIKE = ("物流好几天没有更新怎么办", "订单还没有发货怎么办", "七天无理由退货怎么退")
"""The matters next to goods that arrived wrong, whose entries are not shown for them."""
FAULT_FOUND = (
    "；回复以「抱歉给您添麻烦了」开头，照店铺资料说出这种情况怎么处理，最后问顾客要不要帮忙申请"
)
FAULT_UNKNOWN = "；回复以「抱歉给您添麻烦了」开头，说店铺资料没写这种情况怎么处理，请同事核实后答复"
PRESALE_WANTS = frozenset({"product", "stock", "size", "coupon", "subsidy", "other"})
"""What a shopper asks before buying: the merchant's pre-sales guidance applies to these."""
NAMED_AMONG = 10
"""How many of the shopper's latest orders a message naming an item is matched against."""


def _as_request(understood: Understanding, text: str) -> Understanding:
    """A reading as a size or product question about an order the message names, which asks to
    act on it (for no reason, or because the goods do not fit) or gives "do not fit" as its
    reason, is that order's exchange request. Seen on the tuned suite: "SO… 的鞋小了，想换成
    大一号" read as 选规格 or 库存 with 办理 是, and "SO… 的鞋想换成大一号，还是这个颜色" with
    办理 否 but the reason 不合适 — which the reading's legend asks for only with an
    after-sale — each answered with a product search, no exchange. Read so, it asks for the
    exchange (a question about exchanges starts no flow, `flows.picked`)."""
    reason = understood.reason_kind
    acting = (understood.acts and reason == "none") or reason == "not_fit"
    if acting and understood.want in PRODUCT_QUESTIONS and ORDER_ID.search(text):
        return understood.model_copy(update={"want": "exchange", "acts": True})
    return understood


def _call_key(calls: list[ToolCall]) -> str:
    """Tool calls as a key that is the same for the same tools asked the same things."""
    return repr([(c.name, sorted(c.arguments.items())) for c in calls])


def _searched(loop: Loop) -> bool:
    """Whether what was looked up before the model's first step backs a "not found": the shop's
    knowledge does, except for a question for the catalogue — which products, options, prices
    there are — which only a catalogue lookup answers (seen in the demo: "有没有大号的，
    300 元以内" answered "无法提供" with the knowledge shown and no product searched)."""
    wants = loop.understood.want if loop.understood is not None else ""
    return loop.prefetched > 0 and wants not in CATALOGUE_WANTS


def _about_the_shop(question: str, understood: Understanding | None = None) -> bool:
    """A question the shop's knowledge may answer: not about the shopper's own order, not a
    change request, not a yes or no to a proposal — as the message was read, or, when the
    reading could not say what it wants, by the keyword checks.

    Read as about orders or an after-sale, but as a question (`acts` false) that names no order
    of theirs, it is a question for the shop as well: the reading puts a question about the
    shop's rules on the nearest order topic (seen on both tuned shops and the held-out one: a
    pick-up or free-shipping question read as 物流, answered with the shopper's order list or a
    made-up threshold). The knowledge is then shown only if it clears the relevance threshold."""
    if understood is not None and understood.want != "other":
        if understood.answer != "none":
            return False
        if understood.want in SHOP_QUESTIONS:
            return True
        return not understood.acts and not about_own_order(question)
    return not (
        about_own_order(question)
        or CHANGE_REQUEST.search(question)
        or is_yes(question)
        or is_no(question)
    )


def _invented_order(calls: Sequence[ToolCall], deps: TurnDeps) -> bool:
    """A call naming an order id that no shopper message and no tool result ever gave."""
    known = "\n".join([*deps.said, *deps.seen]).upper()
    return any(
        isinstance(oid := c.arguments.get("order_id"), str) and oid.strip().upper() not in known
        for c in calls
    )


def _schema_copied(calls: Sequence[ToolCall]) -> bool:
    """A call whose arguments are a parameter schema rather than values (seen on the tuned suite:
    {"type": "object", "properties": {…}, "required": [...]} sent to two tools, then "您提供的商品
    名称或编号不正确" with the answer in the snippets shown)."""
    return any(isinstance(c.arguments.get("properties"), dict) for c in calls)


async def _default_policy(shop_id: str, session: AsyncSession | None = None) -> ShopPolicy:
    return ShopPolicy()


def _clean(text: str) -> str:
    text = (text or "").replace("\x00", "").strip()
    if not text:
        raise BadInput("message is empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise BadInput(f"message is {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}")
    return text


async def _require(s: AsyncSession, shop_id: str, shopper_id: str) -> tuple[Shop, Shopper]:
    shop = await ShopRepository(s).get(shop_id)
    if shop is None:
        raise NotFound(f"shop {shop_id!r} not found; `xiaoer shops` lists the shops")
    shopper = await ShopperRepository(s, shop_id).get(shopper_id)
    if shopper is None:
        raise NotFound(f"shopper {shopper_id!r} not found in shop {shop_id!r}")
    return shop, shopper
