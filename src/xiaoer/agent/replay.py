"""Dry run: re-decide a shop's recorded decisions under another policy, changing nothing.

Re-decided: every action the agent proposed (the action desk's rows) and every proposal the
policy refused (a mutating tool's call answered "不能…（规则 …）"). Each is run again as the
action desk re-checks an action at confirmation — the tool itself, with the recorded arguments,
so the same rule functions (`policy.rules`) decide on the same inputs — against the shop as it
was when the shopper's message came in (`agent.asof`): the order with later after-sales changes
undone, what the shopper had said in that conversation and how it was read, their earlier
actions with the status each had then (the audit log), the ledger records applied before.

A decision is first re-run under the policy version it was decided under. When that does not
give the recorded decision back, the picture is not faithful (the catalogue changed since, say):
the decision is counted as not re-decided, with why, never as a change the new policy made.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xiaoer.agent.asof import AsOf, ReadOnly
from xiaoer.agent.replay_report import Decision, Recorded, Replayed
from xiaoer.commerce.base import CommerceBackend
from xiaoer.domain.errors import NotFound, XiaoerError
from xiaoer.domain.models import Shop, Shopper
from xiaoer.domain.understanding import Understanding
from xiaoer.policy.schema import ShopPolicy
from xiaoer.policy.versions import version, version_in_force
from xiaoer.store.models import ActionRow, AuditRow, MessageRow, ToolCallRow
from xiaoer.store.repositories import (
    ActionRepository,
    AuditRepository,
    ConversationRepository,
    ShopperRepository,
    ShopRepository,
)
from xiaoer.tools.base import Tool, ToolResult
from xiaoer.tools.deps import PastAction, TurnDeps
from xiaoer.tools.orders import normalize_order_id
from xiaoer.tools.registry import BY_NAME, MUTATING

_REFUSAL = re.compile(r"^不能[^：]*：(?P<reason>.*)（规则 (?P<rule>[\w.\-]+)）$", re.S)
"""A policy "no" as the tools word it for the model (`tools.aftersales.denied`)."""
type Way = Literal["recorded", "asked"]
"""How a decision is re-run: its recorded tool and arguments, or — for a retention offer — the
request it answered (`asked`: the cancel, return or refund, which offers first)."""


async def replay(
    sessions: async_sessionmaker[AsyncSession],
    commerce: CommerceBackend,
    shop_id: str,
    new: ShopPolicy,
    current: ShopPolicy,
    *,
    since: date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Replayed]:
    """Every recorded decision of the shop from the day `since` on (in the shop's timezone),
    re-decided under `new` (`current` is the shop's policy, for decisions older than any
    recorded version). Reads only."""
    async with sessions() as s:
        shop = await ShopRepository(s).get(shop_id)
        if shop is None:
            raise NotFound(f"shop {shop_id!r} not found")
        tz = ZoneInfo(shop.timezone or "Asia/Shanghai")
        start = None if since is None else datetime.combine(since, time(0), tz)
        history = await _History.load(s, shop, start)
    run = _Run(sessions, commerce, shop_id, history, new, current)
    out = []
    for done, record in enumerate(history.records, 1):
        out.append(await run.one(record))
        if progress is not None:
            progress(done, len(history.records))
    return out


# ---------- what was recorded ----------


@dataclass
class _History:
    shop: Shop
    actions: list[ActionRow]
    audit: dict[str, list[AuditRow]]
    messages: dict[str, list[MessageRow]]
    calls: dict[str, list[ToolCallRow]]
    shopper_of: dict[str, str]
    """Conversation id → shopper id."""
    records: list[Recorded] = field(default_factory=list)
    shoppers: dict[str, Shopper | None] = field(default_factory=dict)

    @classmethod
    async def load(cls, s: AsyncSession, shop: Shop, since: datetime | None) -> _History:
        shop_id = shop.id
        actions = await ActionRepository(s, shop_id).since(None)
        audit: dict[str, list[AuditRow]] = {}
        for row in await AuditRepository(s, shop_id).all():
            if row.action_id:
                audit.setdefault(row.action_id, []).append(row)
        talks = ConversationRepository(s, shop_id)
        refused = [
            (call, reply)
            for call, reply in await talks.calls_named(sorted(MUTATING), since)
            if _REFUSAL.match(call.result)
        ]
        ids = sorted({a.conversation_id for a in actions} | {c.conversation_id for c, _ in refused})
        shopper_of = {}
        for cid in ids:
            conversation = await talks.get(cid)
            shopper_of[cid] = conversation.shopper_id if conversation else ""
        h = cls(
            shop,
            actions,
            audit,
            {cid: list(await talks.messages(cid)) for cid in ids},
            {cid: list(await talks.tool_calls(cid)) for cid in ids},
            shopper_of,
        )
        mine = [h._action(a) for a in actions if since is None or a.created_at >= since]
        h.records = sorted(mine + [h._refusal(c, m) for c, m in refused], key=lambda r: r.at)
        for shopper_id in sorted({r.shopper_id for r in h.records}):
            h.shoppers[shopper_id] = await ShopperRepository(s, shop_id).get(shopper_id)
        return h

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.shop.timezone or "Asia/Shanghai")

    def _message(self, conversation_id: str, message_id: int | None) -> MessageRow | None:
        rows = self.messages.get(conversation_id, [])
        return next((m for m in rows if m.id == message_id), None)

    def _action(self, row: ActionRow) -> Recorded:
        asked = self._message(row.conversation_id, row.proposed_message_id)
        verdict = row.policy_verdict
        return Recorded(
            id=row.id,
            tool=row.tool,
            arguments=dict(row.arguments),
            shopper_id=row.shopper_id,
            conversation_id=row.conversation_id,
            order_id=row.order_id,
            message_id=asked.id if asked else None,
            at=(asked.created_at if asked else row.created_at).astimezone(self.tz),
            decision=Decision(
                "propose",
                row.tool,
                str(verdict.get("rule", "")),
                str(verdict.get("reason", "")),
                row.amount_fen,
                bool(verdict.get("needs_approval", False)),
            ),
            version=row.policy_version,
            status=row.status,
        )

    def _refusal(self, call: ToolCallRow, reply: MessageRow) -> Recorded:
        m = _REFUSAL.match(call.result)
        assert m is not None
        asked = self._message(call.conversation_id, reply.reply_to)
        return Recorded(
            id=f"call-{call.id}",
            tool=call.name,
            arguments=dict(call.arguments),
            shopper_id=self.shopper_of.get(call.conversation_id, ""),
            conversation_id=call.conversation_id,
            order_id=normalize_order_id(call.arguments.get("order_id")) or None,
            message_id=asked.id if asked else None,
            at=(asked.created_at if asked else reply.created_at).astimezone(self.tz),
            decision=Decision("deny", call.name, m.group("rule"), m.group("reason").strip()),
            version=None,
            status="refused",
        )


# ---------- re-deciding ----------


@dataclass
class _Run:
    sessions: async_sessionmaker[AsyncSession]
    commerce: CommerceBackend
    shop_id: str
    history: _History
    new: ShopPolicy
    current: ShopPolicy
    _versions: dict[int, ShopPolicy | str] = field(default_factory=dict)

    async def one(self, record: Recorded) -> Replayed:
        shopper = self.history.shoppers.get(record.shopper_id)
        if shopper is None:
            return Replayed(record, "skipped", why="shopper", detail=record.shopper_id or "?")
        if record.tool not in BY_NAME:
            return Replayed(record, "skipped", why="tool", detail=record.tool)
        old, label = await self._old_policy(record)
        if isinstance(old, str):
            return Replayed(record, "skipped", old_version=label, why="version", detail=old)
        ways: list[Way] = ["recorded"]
        if record.tool == "offer_retention" and record.arguments.get("instead") in BY_NAME:
            ways = ["asked", "recorded"]  # the model may also have offered on its own
        for way in ways:  # the first way of running it that gives the recorded decision back
            base, source = await self._decide(record, shopper, old, way)
            if isinstance(base, Decision) and base.same(record.decision):
                break
        seen = Replayed(record, "skipped", old_version=label, order_source=source)
        if isinstance(base, str):
            return replace(seen, why="no_decision", detail=base)
        if not base.same(record.decision):
            return replace(seen, why="mismatch", detail=f"按原策略重算得到「{base.text()}」")
        now, _ = await self._decide(record, shopper, self.new, way)
        if isinstance(now, str):
            return replace(seen, outcome="changed", detail=now)
        return replace(seen, outcome="same" if now.same(record.decision) else "changed", new=now)

    async def _old_policy(self, record: Recorded) -> tuple[ShopPolicy | str, str]:
        """The policy the decision was made under (or why it cannot be read), and its name."""
        number = record.version
        async with self.sessions() as s:
            if number is None and (found := await version_in_force(s, self.shop_id, record.at)):
                number = found.number
            if number is None:
                return self.current, "current"
            if number not in self._versions:
                try:
                    self._versions[number] = (await version(s, self.shop_id, number)).policy()
                except XiaoerError as exc:
                    self._versions[number] = exc.message
        return self._versions[number], f"v{number}"

    async def _decide(
        self, record: Recorded, shopper: Shopper, policy: ShopPolicy, way: Way
    ) -> tuple[Decision | str, str]:
        """The decision the tool comes to under `policy` (or why it comes to none), and how the
        order was read."""
        world = AsOf(self.commerce, record.at)
        deps = self._deps(record, shopper, world, policy)
        try:
            tool, result = await _run(record, deps, way)
        except ReadOnly as exc:
            return f"工具要写入数据，试运行不执行 / the tool would write: {exc}", ""
        except Exception as exc:  # any failure is this one decision not re-decided
            return f"工具出错 / the tool failed: {type(exc).__name__}: {exc}", ""
        source = world.sources.get(record.order_id or "", "")
        decision = Decision.of(result, tool)
        if decision is None:
            return f"工具没有作出决定 / no decision: {(result.reply or result.text)[:80]}", source
        return decision, source

    def _deps(
        self, record: Recorded, shopper: Shopper, world: AsOf, policy: ShopPolicy
    ) -> TurnDeps:
        """The turn's deps as they were when the shopper's message came in."""
        upto = record.message_id if record.message_id is not None else 1 << 62
        messages = self.history.messages.get(record.conversation_id, [])
        replies = {m.id for m in messages if m.role == "assistant" and (m.reply_to or 0) <= upto}
        calls = self.history.calls.get(record.conversation_id, [])
        return TurnDeps(
            self.history.shop,
            shopper,
            world,
            record.at,
            said=[m.content for m in messages if m.role == "shopper" and m.id <= upto],
            seen=[c.result for c in calls if c.message_id in replies],
            policy=policy,
            past_actions=self._past(record),
            readings=[
                Understanding.model_validate(m.meta["understood"])
                for m in messages
                if m.id in replies and m.meta.get("understood")
            ],
        )

    def _past(self, record: Recorded) -> list[PastAction]:
        """The shopper's actions proposed before the message, each with the status it had then
        (the last audit event before it)."""
        out = []
        for a in self.history.actions:
            if a.shopper_id != record.shopper_id or a.created_at >= record.at:
                continue
            events = [e.event for e in self.history.audit.get(a.id, []) if e.at < record.at]
            status = events[-1] if events and events[-1] != "proposed" else "pending"
            out.append(PastAction(a.id, a.tool, a.order_id, status, a.created_at))
        return out


def _plain(tool: Tool, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments as a tool first receives them: the fields only code sets are dropped (the
    desk stores `skip_retention` for its own re-check; the first call had none)."""
    hidden = tool.args.hidden() if tool.args is not None else frozenset()
    return {k: v for k, v in arguments.items() if k not in hidden}


async def _run(record: Recorded, deps: TurnDeps, way: Way) -> tuple[str, ToolResult]:
    """Run the recorded request; returns the tool run and its result."""
    name = record.tool
    args = record.arguments
    if way == "asked":  # the request the retention offer answered, with its reason
        name = str(args["instead"])
        args = {**(args.get("instead_args") or {}), "reason": args.get("reason", "")}
    tool = BY_NAME[name]
    return name, await tool.run(deps, _plain(tool, args))
