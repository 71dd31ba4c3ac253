"""The action desk: where a proposed change waits for the shopper's "yes", is checked against
the policy once more, and is applied exactly once.

    propose ──► pending ──yes──► confirmed ──policy ok──► executed
                   │                  │   └──over limit──► awaiting_approval ──merchant──► approved ──► executed
                   │                  └──policy no──► blocked                 └──────────► rejected
                   ├──no──► declined
                   ├──a newer proposal──► superseded
                   └──ttl──► expired

The states and allowed moves are `domain.actions` (an enum and a table). Every move is a
compare-and-set in the database: it applies only if the action is still in the state it was
read in, so confirm and decline pressed together settle exactly one of them, and two confirms
(or two merchant approvals) are recorded and answered once; the loser gets a 409 that says
what the action became. An illegal move is an error, never a silent change.

Crash safety: "confirmed" is committed (with the confirming message id) before anything is
applied; the effect is applied under the action id as its idempotency key; "executed" is
committed after. A turn re-run for the same message (same `client_key`) finds the action it
confirmed and finishes it: the commerce backend returns the already-applied record instead of
applying it twice. Every step is appended to the audit log.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xiaoer.domain.actions import ActionStatus, MovedMeanwhile, check_move
from xiaoer.domain.errors import Conflict, NotFound
from xiaoer.domain.money import yuan
from xiaoer.policy.versions import number_for
from xiaoer.store.models import ActionRow
from xiaoer.store.repositories import ActionRepository, AuditRepository
from xiaoer.tools.base import Proposal, Tool
from xiaoer.tools.deps import PastAction, TurnDeps

OPEN = (ActionStatus.PENDING.value,)
CONFIRM_ASK = "{summary}\n请确认：回复「确认」为您办理，回复「不用了」则不办理。"

_PUNCT = re.compile(r"[\s，。！!,.、~～…]+")
_YES = re.compile(
    r"^(确认|确定|是的?|好的?|好滴|可以|行|嗯+|对|同意|没问题|办吧|ok|okay|yes|y)", re.I
)
_NEGATION = re.compile(r"不|别|没|算了|再想|等等|先等|吗|呢|\?|？")
_NO = re.compile(
    r"^(不用|不要|不了|先不|算了|别|不行|不需要|不同意|no\b|nope|not (now|yet)|don'?t|do not)", re.I
)
_PUSH = re.compile(
    r"确认|(别|不用|不要)再?(问|让我确认|发确认)|怎么还(问|要)|直接(退|取消|改|执行|办)|执行"
    r"|\b(confirm|execute|just do it|stop asking)",
    re.I,
)
_ASKS = re.compile(r"[?？]|吗|呢|是不是|会不会|能不能")
CONFIRM_AGAIN = (
    "{summary}\n为了您的订单和资金安全，这一步要您单独回复「确认」才会办理（写在别的话里、"
    "或说提前确认过的都不算）；不办理请回复「不用了」。"
)
CONFIRM_AGAIN_EN = (
    "{summary}\nFor your safety this is carried out only when you reply “确认” (or “yes”) "
    "on its own — a confirmation written in advance or inside another message does not count. "
    "Reply “不用了” (or “no”) to drop it."
)
_INSIST = re.compile(r"还是(要|想)?(取消|退)|就要(取消|退)|直接(取消|退)|坚持|只想(取消|退)")


_EN_YES = re.compile(
    r"^(y|yes|yeah|yep|yup|sure|ok|okay|confirm(ed)?|correct|please (do|proceed|go ahead)|"
    r"go ahead|proceed|that'?s (right|correct))\b",
    re.I,
)
_EN_DOUBT = re.compile(
    r"\b(not?|don'?t|doesn'?t|wait|but|hold|cancel that|instead|change)\b|\?", re.I
)
_EN_WORDS = 12


def is_yes(text: str) -> bool:
    """An unambiguous yes: short, starts with a yes word, no negation or question in it."""
    words = text.strip().split()
    if words and text.isascii():
        return (
            len(words) <= _EN_WORDS
            and bool(_EN_YES.match(text.strip()))
            and not _EN_DOUBT.search(text)
        )
    t = _PUNCT.sub("", text.strip())
    if not t or len(t) > 14:
        return False
    if t.startswith("确认") or t.startswith("确定"):
        return not re.search(r"不|别|吗|？|\?", t)
    return bool(_YES.match(t)) and not _NEGATION.search(t)


def is_no(text: str) -> bool:
    t = text.strip()
    return bool(_NO.match(t if t.isascii() else _PUNCT.sub("", t)))


def pushes(text: str) -> bool:
    """A push to skip the confirmation ("我第一句就写了确认", "直接退，别再问"): not a yes, and
    not a question about the pending action either."""
    return bool(_PUSH.search(text)) and not _ASKS.search(text)


def insists(text: str) -> bool:
    """After a retention offer: "还是取消" — the shopper wants what they first asked for."""
    return bool(_INSIST.search(text))


@dataclass(frozen=True, slots=True)
class ActionView:
    """An action as `xiaoer ask --json` and the API show it."""

    id: str
    tool: str
    arguments: dict[str, Any]
    status: str
    summary: str
    amount: str
    policy_verdict: dict[str, Any]
    result: dict[str, Any]

    @classmethod
    def of(cls, row: ActionRow) -> ActionView:
        return cls(
            row.id,
            row.tool,
            dict(row.arguments),
            row.status,
            row.summary,
            yuan(row.amount_fen),
            dict(row.policy_verdict),
            dict(row.result),
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the desk did with a shopper message, and the reply it settles the turn with."""

    reply: str
    action: ActionRow


def _sync(deps: TurnDeps, action_id: str, status: str) -> None:
    """Keep the turn's snapshot of past actions in step with the store."""
    for i, past in enumerate(deps.past_actions):
        if past.id == action_id:
            deps.past_actions[i] = dataclasses.replace(past, status=status)


class ActionDesk:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tools: dict[str, Tool],
        clock: Callable[[], datetime],
        *,
        reads: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.sessions = sessions
        self.reads = reads or sessions
        """For what is only read (`store.db.readers`)."""
        self.tools = tools
        self.clock = clock

    # ---- reading ----

    async def past_actions(self, shop_id: str, shopper_id: str) -> list[PastAction]:
        async with self.reads() as s:
            return await self.past_actions_in(s, shop_id, shopper_id)

    @staticmethod
    async def past_actions_in(s: AsyncSession, shop_id: str, shopper_id: str) -> list[PastAction]:
        return _past(await ActionRepository(s, shop_id).for_shopper(shopper_id))

    async def open_action(self, shop_id: str, conversation_id: str) -> ActionRow | None:
        """The conversation's pending action (the latest), expiring stale ones on the way."""
        async with self.sessions() as s:
            live = await self.open_action_in(s, shop_id, conversation_id)
            await s.commit()
        return live

    async def open_action_in(
        self, s: AsyncSession, shop_id: str, conversation_id: str
    ) -> ActionRow | None:
        """`open_action` in the caller's transaction (the caller commits the expiries)."""
        rows = await ActionRepository(s, shop_id).in_conversation(conversation_id, statuses=OPEN)
        return await self._live(s, shop_id, rows)

    async def at_turn_start(
        self, s: AsyncSession, shop_id: str, shopper_id: str, conversation_id: str
    ) -> tuple[list[PastAction], ActionRow | None]:
        """`past_actions_in` and `open_action_in` of the shopper's conversation, from one read
        of the shopper's actions through `s` (every action of a conversation is its
        shopper's). The open actions found expired are moved in a transaction of their own:
        `s` may be one whose statements each commit (`store.db.at_once`), and on SQLite it must
        not be holding a write."""
        rows = await ActionRepository(s, shop_id).for_shopper(shopper_id)
        mine = [r for r in rows if r.conversation_id == conversation_id and r.status in OPEN]
        past = _past(rows)
        async with self.sessions() as moving:  # no statement, no transaction: when none expired
            live = await self._live(moving, shop_id, mine)
            await moving.commit()
        return past, live

    async def _live(self, s: AsyncSession, shop_id: str, rows: list[ActionRow]) -> ActionRow | None:
        """The latest of these open rows that has not expired; the others are moved to expired."""
        now = self.clock()
        live = None
        for row in rows:
            if row.expires_at > now:
                live = row
                continue
            try:
                await self._move(s, shop_id, row, ActionStatus.EXPIRED, "system")
            except MovedMeanwhile:  # settled by another hand while we looked
                continue
        return live

    async def views(self, shop_id: str, conversation_id: str) -> list[ActionView]:
        async with self.reads() as s:
            rows = await ActionRepository(s, shop_id).in_conversation(conversation_id)
        return [ActionView.of(r) for r in rows]

    # ---- the shopper's side ----

    async def propose(
        self, deps: TurnDeps, conversation_id: str, message_id: int, proposal: Proposal
    ) -> str:
        """Store a proposal as the conversation's pending action; returns the confirmation
        question. An older pending action in the conversation is superseded."""
        now = self.clock()
        action_id = f"act_{uuid.uuid4().hex[:16]}"
        shop_id = deps.shop.id
        async with self.sessions() as s:
            repo = ActionRepository(s, shop_id)
            for old in await repo.in_conversation(conversation_id, statuses=OPEN):
                try:
                    await self._move(s, shop_id, old, ActionStatus.SUPERSEDED, "system")
                except MovedMeanwhile:  # confirmed or declined meanwhile: nothing to supersede
                    continue
            version = await number_for(s, shop_id, deps.policy)
            row = await repo.add(
                ActionRow(
                    id=action_id,
                    shop_id=shop_id,
                    conversation_id=conversation_id,
                    shopper_id=deps.shopper.id,
                    order_id=proposal.order_id,
                    tool=proposal.tool,
                    arguments=proposal.arguments,
                    summary=proposal.summary,
                    amount_fen=proposal.amount_fen,
                    status="pending",
                    policy_verdict=proposal.verdict.as_dict(),
                    policy_version=version,
                    proposed_message_id=message_id,
                    result={"done": proposal.done},
                    created_at=now,
                    updated_at=now,
                    expires_at=now + timedelta(minutes=deps.policy.confirm.ttl_minutes),
                )
            )
            await AuditRepository(s, shop_id).append(
                "proposed",
                "model",
                now,
                action_id=row.id,
                conversation_id=conversation_id,
                detail={
                    "tool": proposal.tool,
                    "arguments": proposal.arguments,
                    "summary": proposal.summary,
                    "verdict": proposal.verdict.as_dict(),
                },
            )
            await s.commit()
        deps.past_actions.append(
            PastAction(action_id, proposal.tool, proposal.order_id, "pending", now)
        )
        return proposal.ask or CONFIRM_ASK.format(summary=proposal.summary)

    async def confirm(self, deps: TurnDeps, action: ActionRow, message_id: int | None) -> Outcome:
        """The shopper said yes (in words or with the button): record it, then execute. Only
        one yes wins: a second one, or one racing a no, gets a 409 (MovedMeanwhile)."""
        await self._settle(
            deps.shop.id, action, ActionStatus.CONFIRMED, "shopper", confirm_message_id=message_id
        )
        _sync(deps, action.id, ActionStatus.CONFIRMED)
        return await self.execute(deps, action.id)

    async def decline(self, deps: TurnDeps, action: ActionRow) -> None:
        """The shopper said no. A 409 (MovedMeanwhile) when the action was settled meanwhile
        (a yes pressed at the same moment won)."""
        await self._settle(deps.shop.id, action, ActionStatus.DECLINED, "shopper")
        _sync(deps, action.id, ActionStatus.DECLINED)

    async def _settle(
        self,
        shop_id: str,
        action: ActionRow,
        status: ActionStatus,
        actor: str,
        detail: dict[str, Any] | None = None,
        **values: Any,
    ) -> ActionRow:
        """Move a pending (or waiting) action on the shopper's or merchant's word: the
        compare-and-set is the transaction's first statement, so it holds the write lock
        before anything is read and the loser of a race sees the winner's state."""
        async with self.sessions() as s:
            repo = ActionRepository(s, shop_id)
            await self._move(s, shop_id, action, status, actor, detail, **values)
            row = await repo.get(action.id)
            if row is None:
                raise NotFound(f"action {action.id!r} not found")
            await s.commit()
        return row

    async def resume(self, deps: TurnDeps, message_id: int) -> Outcome | None:
        """A turn re-run for a message that had confirmed an action (the process died before
        the reply): finish the action and give the reply it should have had."""
        async with self.sessions() as s:
            rows = await ActionRepository(s, deps.shop.id).confirmed_by(message_id)
        if not rows:
            return None
        row = rows[-1]
        if row.status == "confirmed":
            return await self.execute(deps, row.id)
        return Outcome(str(row.result.get("reply") or row.summary), row)

    async def execute(self, deps: TurnDeps, action_id: str, *, actor: str = "shopper") -> Outcome:
        """Check the policy again, then apply under the action id. Safe to call again."""
        shop_id = deps.shop.id
        async with self.sessions() as s:
            row = await ActionRepository(s, shop_id).get(action_id)
        if row is None:
            raise NotFound(f"action {action_id!r} not found")
        tool = self.tools.get(row.tool)
        applied = await deps.commerce.find_record(row.id)
        if applied is None:
            if tool is None:
                return await self._finish(
                    deps, row, "blocked", "这个操作暂时无法办理，已转交人工处理。", {}
                )
            fresh = await tool.run(deps, dict(row.arguments))
            proposal = fresh.proposal
            if proposal is None or not proposal.verdict.allowed:
                # the change itself may be why the check fails now: another execute of this
                # action applied it after the look above (a cancelled order cannot be again)
                applied = await deps.commerce.find_record(row.id)
                if applied is None:
                    why = fresh.reply or "情况有变化，这个操作现在不能办理了。"
                    verdict = (
                        proposal.verdict.as_dict() if proposal else fresh.data.get("verdict", {})
                    )
                    return await self._finish(deps, row, "blocked", why, {"verdict": verdict})
            elif proposal.verdict.needs_approval and actor != "merchant":
                reply = (
                    f"已提交：{proposal.summary}。金额超过自动办理额度，需要商家审核，"
                    "审核结果会通知您（通常 24 小时内）。"
                )
                return await self._finish(
                    deps, row, "awaiting_approval", reply, {"verdict": proposal.verdict.as_dict()}
                )
            else:
                change = dataclasses.replace(proposal.change, key=row.id)
                record = await deps.commerce.apply(change)
                done = proposal.done
        if applied is not None:  # applied before a crash, or by that other execute
            record = applied
            done = str(row.result.get("done") or f"已办理：{row.summary}。")
        return await self._finish(
            deps, row, "executed", done, {"record_id": record.id, "record_status": record.status}
        )

    async def _finish(
        self, deps: TurnDeps, row: ActionRow, status: str, reply: str, extra: dict[str, Any]
    ) -> Outcome:
        shop_id = deps.shop.id
        async with self.sessions() as s:
            fresh = await ActionRepository(s, shop_id).get(row.id)
            assert fresh is not None
            result = {**fresh.result, **extra, "reply": reply}
            await self._move(
                s, shop_id, fresh, ActionStatus(status), "system", extra, result=result
            )
            await s.commit()
        _sync(deps, row.id, status)
        return Outcome(reply, fresh)

    # ---- the merchant's side ----

    async def review(
        self, deps: TurnDeps, action_id: str, *, approve: bool, note: str = ""
    ) -> Outcome:
        async with self.sessions() as s:
            row = await ActionRepository(s, deps.shop.id).get(action_id)
        if row is None:
            raise NotFound(f"action {action_id!r} not found in shop {deps.shop.id!r}")
        if row.status != ActionStatus.AWAITING_APPROVAL:
            raise Conflict(
                f"action {row.id} is {row.status}; only awaiting_approval can be reviewed"
            )
        if approve:  # one approval wins; a second (or a racing rejection) gets a 409
            await self._settle(deps.shop.id, row, ActionStatus.APPROVED, "merchant", {"note": note})
            _sync(deps, row.id, ActionStatus.APPROVED)
            return await self.execute(deps, row.id, actor="merchant")
        reply = f"商家未通过：{note or row.summary}"
        done = await self._settle(
            deps.shop.id, row, ActionStatus.REJECTED, "merchant", {"note": note},
            result={**row.result, "reply": reply},
        )  # fmt: skip
        _sync(deps, row.id, ActionStatus.REJECTED)
        return Outcome(reply, done)

    # ----

    async def _move(
        self,
        s: AsyncSession,
        shop_id: str,
        row: ActionRow,
        status: ActionStatus,
        actor: str,
        detail: dict[str, Any] | None = None,
        **values: Any,
    ) -> None:
        """One move of the table, applied only if the action is still in `row.status` (as the
        caller read it), with its audit entry in the same transaction."""
        before, after = check_move(row.id, row.status, status)
        now = self.clock()
        repo = ActionRepository(s, shop_id)
        if not await repo.move(row.id, before, after, now, **values):
            current = await repo.get(row.id)
            if current is None:
                raise NotFound(f"action {row.id!r} not found")
            raise MovedMeanwhile(
                f"action {row.id} is {current.status} now (it was {before}): not {after}"
            )
        await AuditRepository(s, shop_id).append(
            after.value,
            actor,
            now,
            action_id=row.id,
            conversation_id=row.conversation_id,
            detail={"from": before.value, **(detail or {})},
        )


def _past(rows: list[ActionRow]) -> list[PastAction]:
    return [PastAction(r.id, r.tool, r.order_id, r.status, r.created_at) for r in rows]
