"""Handing a conversation to a human: when (`decide`, `merchant_rule`), what the human gets
(`summarize`), what the shopper is told (`notice`), and the queueing itself (`hand_over`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xiaoer.agent.instructions import english
from xiaoer.agent.loop import Loop
from xiaoer.domain.models import Shop
from xiaoer.guard.input import InputCheck, check_input
from xiaoer.policy.schema import Handoff
from xiaoer.store.models import ConversationRow, HandoffRow, MessageRow, ToolCallRow
from xiaoer.store.repositories import ConversationRepository, HandoffRepository
from xiaoer.tools.deps import TurnDeps

REASONS = {
    "asked": "顾客要求转人工",
    "anger": "顾客情绪激动",
    "repeated_failure": "连续两次没能解决顾客的问题",
    "guard": "回复没有通过核查，需要人工确认",
    "over_limit": "操作超出自动处理额度，等待审批",
    "rule": "店铺规则要求人工处理",
    "model": "客服判断需要人工处理",
    "takeover": "人工主动接管",
    "unavailable": "模型超时或出错，AI 没能答复",
    "assist": "智能辅助：人工回复，AI 起草",
}
PRIORITY = {"anger": 1, "over_limit": 1, "rule": 1}
"""1 urgent; everything else 2 (normal)."""
APOLOGY = re.compile(r"抱歉|对不起|不好意思|sorry|apologi", re.I)
SORRY = "非常抱歉给您带来不好的体验。"
SORRY_EN = "I'm very sorry about this. "
HOURS = re.compile(r"(\d{1,2}):(\d{2})\s*[-~至到]\s*(\d{1,2}):(\d{2})")


@dataclass(frozen=True, slots=True)
class Trigger:
    reason: str
    detail: str = ""

    @property
    def priority(self) -> int:
        return PRIORITY.get(self.reason, 2)


def moods(history: Sequence[MessageRow]) -> list[str]:
    """The mood of each earlier shopper message, oldest first: as its turn understood it
    (stored with the reply), or by the keyword checks for a message answered before readings
    were stored."""
    read = {
        m.reply_to: m.meta["understood"].get("mood", "calm")
        for m in history
        if m.role == "assistant" and m.reply_to is not None and "understood" in m.meta
    }
    return [
        read[m.id] if m.id in read else check_input(m.content).mood
        for m in history
        if m.role == "shopper"
    ]


def failures(history: Sequence[MessageRow]) -> int:
    """Bot replies in a row, most recent last, that could not answer."""
    n = 0
    for m in reversed(history):
        if m.role == "shopper" or m.meta.get("notice"):
            continue
        if m.role != "assistant" or not (m.meta.get("fallback") or m.meta.get("guard_exhausted")):
            break
        n += 1
    return n


def decide(
    rules: Handoff,
    check: InputCheck,
    history: Sequence[MessageRow],
    *,
    model_reason: str | None,
    failed: bool,
    guard_exhausted: bool,
    over_limit: str | None,
    rule: str | None,
) -> Trigger | None:
    """The first trigger that fires this turn, most specific first."""
    if check.asks_human:
        return Trigger("asked")
    if model_reason is not None:
        return Trigger("model", model_reason)
    if over_limit:
        return Trigger("over_limit", over_limit)
    if rule:
        return Trigger("rule", rule)
    if check.mood == "angry":
        return Trigger("anger", "顾客提到投诉/曝光等" if "abuse" not in check.flags else "辱骂")
    if check.mood == "upset":
        streak = 1
        for mood in reversed(moods(history)):
            if mood == "calm":
                break
            streak += 1
        if streak >= rules.upset_turns:
            return Trigger("anger", f"连续 {streak} 条消息情绪不满")
    if guard_exhausted:
        return Trigger("guard")
    if failed and failures(history) + 1 >= rules.failures:
        return Trigger("repeated_failure")
    return None


async def merchant_rule(deps: TurnDeps, actions: list[dict[str, Any]]) -> str | None:
    """A merchant rule that sends this turn's change request to a human: a shop rule a tool
    applied (`TurnDeps.handoffs`), the shopper's level, or the order's amount."""
    if deps.handoffs:
        return deps.handoffs[0]
    rules = deps.policy.handoff
    proposed = [a for a in actions if a["status"] == "pending"]
    if not proposed:
        return None
    if deps.shopper.level and deps.shopper.level in rules.levels:
        return f"{deps.shopper.level}顾客的售后申请"
    if rules.order_above is None:
        return None
    for a in proposed:
        oid = a["arguments"].get("order_id")
        order = await deps.commerce.get_order(oid) if isinstance(oid, str) else None
        if order is not None and order.total_fen > rules.order_above:
            return f"订单 {oid} 金额超过 {rules.order_above // 100} 元"
    return None


async def hand_over(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    deps: TurnDeps,
    loop: Loop,
    trigger: Trigger,
    reply: str,
    *,
    history: Sequence[MessageRow],
    tool_rows: Sequence[ToolCallRow],
    text: str,
    check: InputCheck,
    pending: Sequence[str],
) -> tuple[dict[str, Any], str]:
    """Queue the conversation for a human (once) and tell the shopper what happens next;
    `pending` are the summaries of the actions still open. Returns the queue entry and the
    reply to send."""
    shop = deps.shop
    tools = [(c.name, dict(c.arguments), c.ok) for c in tool_rows]
    tools += [(r.name, r.arguments, r.ok) for r in loop.records]
    async with sessions() as s:
        handoffs = HandoffRepository(s, shop.id)
        row = await handoffs.open_for(loop.conversation_id)
        if row is None:
            row = await handoffs.open(
                loop.conversation_id,
                deps.shopper.id,
                trigger.reason,
                detail=trigger.detail,
                priority=trigger.priority,
                summary=summarize(history, text, tools, pending, check),
                now=now,
            )
            await ConversationRepository(s, shop.id).set_mode(loop.conversation_id, "queued")
        ahead = await handoffs.ahead_of(row)
        view = as_view(row)
        await s.commit()
    en = english(text)
    told = notice(shop, ahead, deps.policy.handoff.minutes_each, now, en=en)
    if trigger.reason == "anger" and not APOLOGY.search(reply):
        # the facts alone read cold to someone this upset (seen: a bare tracking line)
        told = (SORRY_EN if en else SORRY) + told
    if trigger.reason in ("asked", "model") or not reply.strip():
        return view, told
    if trigger.reason == "guard":
        return view, f"{reply}{told}"  # the guard's own give-up already says why
    return view, f"{reply}\n{told}"


def summarize(
    history: Sequence[MessageRow],
    text: str,
    tools: Sequence[tuple[str, dict[str, Any], bool]],
    pending: Sequence[str],
    check: InputCheck,
) -> dict[str, Any]:
    """What a human needs to pick the conversation up without asking again: the need, what
    was tried, the orders involved, the actions still open, and the mood."""
    said = [m.content for m in history if m.role == "shopper"][-3:]
    orders: list[str] = []
    for _, args, _ in tools:
        oid = args.get("order_id")
        if isinstance(oid, str) and oid not in orders:
            orders.append(oid)
    return {
        "need": text,
        "earlier": said,
        "tried": [f"{name}({_short(args)}) {'成功' if ok else '失败'}" for name, args, ok in tools],
        "orders": orders,
        "pending": list(pending),
        "mood": check.mood,
        "flags": check.flags,
    }


def _short(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={str(v)[:30]}" for k, v in args.items())


def open_now(shop: Shop, now: datetime) -> bool:
    """Whether `now` falls in the shop's working hours (always, when none are set)."""
    m = HOURS.search(shop.working_hours or "")
    if m is None:
        return True
    local = now.astimezone(ZoneInfo(shop.timezone or "Asia/Shanghai")).time()
    start = time(int(m[1]) % 24, int(m[2]))
    end = time(int(m[3]) % 24, int(m[4]))
    return start <= local <= end if start <= end else (local >= start or local <= end)


def notice(shop: Shop, ahead: int, minutes_each: int, now: datetime, *, en: bool = False) -> str:
    """What the shopper is told: that a human will answer, and roughly when (`en`: in English,
    for a shopper who writes English)."""
    if open_now(shop, now):
        wait = max(1, (ahead + 1) * minutes_each)
        if en:
            queue = f" ({ahead} ahead of you)" if ahead else ""
            return (f"I've passed you to a human agent{queue}; expect a reply within {wait} "
                    "minutes. No need to repeat your question.")  # fmt: skip
        queue = f"前面还有 {ahead} 位，" if ahead else ""
        return f"已为您转接人工客服，{queue}预计 {wait} 分钟内回复，请稍候，不用重复描述问题。"
    if en:
        return (f"I've passed you to a human agent. Our agents work {shop.working_hours} and "
                "will reply first thing; your question is noted, no need to repeat it.")  # fmt: skip
    return (
        f"已为您转接人工客服。人工客服的工作时间是 {shop.working_hours}，"
        "上班后会第一时间回复您；您的问题已经记下，不用重复描述。"
    )


def as_view(row: HandoffRow, now: datetime | None = None) -> dict[str, Any]:
    out = {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "shopper_id": row.shopper_id,
        "reason": row.reason,
        "reason_text": REASONS.get(row.reason, row.reason),
        "detail": row.detail,
        "priority": row.priority,
        "status": row.status,
        "agent": row.agent,
        "summary": row.summary,
        "created_at": row.created_at.isoformat(),
    }
    if now is not None:
        out["waiting_minutes"] = max(0, int((now - row.created_at).total_seconds() // 60))
    return out


async def assisted(
    session: AsyncSession,
    shop_id: str,
    conversation: ConversationRow,
    history: Sequence[MessageRow],
    text: str,
    now: datetime,
) -> None:
    """智能辅助 (`handoff.assist`): the conversation goes to the human agents' queue with the
    shopper's message, and the AI answers nothing itself (it drafts in the workbench). In the
    caller's transaction."""
    handoffs = HandoffRepository(session, shop_id)
    if await handoffs.open_for(conversation.id) is None:
        await handoffs.open(
            conversation.id, conversation.shopper_id, "assist", detail=REASONS["assist"],
            priority=2, summary=summarize(history, text, [], [], check_input(text)), now=now,
        )  # fmt: skip
    conversation.mode = "queued"
