"""What a dry run found: each recorded decision, what it would be now, and the summary a
merchant reads before publishing a policy (`xiaoer policy replay`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from xiaoer.domain.money import yuan
from xiaoer.tools.base import ToolResult

TOOL_NAMES = {
    "cancel_order": "取消订单",
    "change_address": "改地址",
    "request_refund": "仅退款",
    "request_return": "退货退款",
    "request_exchange": "换货",
    "offer_retention": "挽留补偿",
    "price_protection": "价保",
    "request_invoice": "开票",
    "apply_coupon": "领券",
    "schedule_installation": "预约安装",
}
WHY = {
    "mismatch": "按原策略重算与记录不一致（订单、商品或记录已变） / the rebuilt inputs do not "
    "give the recorded decision back",
    "no_decision": "按原策略重算时工具没有作出决定 / the tool came to no decision",
    "version": "原策略版本读不出来 / the recorded policy version no longer reads",
    "shopper": "顾客记录已不存在 / the shopper is gone",
    "tool": "工具已不存在 / the tool is gone",
}
SOURCES = {"current": "当前订单 / current order", "rebuilt": "按售后记录还原 / rebuilt from ledger"}
KINDS = {
    "propose": "允许 / allowed",
    "deny": "拒绝 / denied",
    "handoff": "转人工 / handed over",
    "ask": "先要凭证 / asks for evidence",
}
type Kind = Literal["propose", "deny", "handoff", "ask"]
type Outcome = Literal["same", "changed", "skipped"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What a decision came to: a change proposed (maybe above the approval limit, with its
    amount), a refusal, a handover to a human, or a request for evidence — each by a rule."""

    kind: Kind
    tool: str
    """The tool that decided; for a proposal, its tool (an `offer_retention` may stand in for
    the cancel that was asked)."""
    rule: str
    reason: str
    amount_fen: int = 0
    approval: bool = False

    @classmethod
    def of(cls, result: ToolResult, tool: str) -> Decision | None:
        """What `tool`'s result decided; None when it decided nothing (it asked the shopper
        which item or for a detail, or the call failed)."""
        p = result.proposal
        if p is not None:
            v = p.verdict
            return cls("propose", p.tool, v.rule, v.reason, p.amount_fen, v.needs_approval)
        data = result.data
        verdict = data.get("verdict")
        if isinstance(verdict, dict):
            kind: Kind = "handoff" if "handoff" in data else "deny"
            return cls(kind, tool, str(verdict.get("rule", "")), str(verdict.get("reason", "")))
        if data.get("asks") and data.get("rule"):
            return cls("ask", tool, str(data["rule"]), result.reply or result.text)
        return None

    def same(self, other: Decision) -> bool:
        """The same outcome for the shopper: the same change, amount and approval step, or a
        refusal (handover, request for evidence) by the same rule."""
        if self.kind != other.kind:
            return False
        if self.kind != "propose":
            return self.rule == other.rule
        mine = (self.tool, self.amount_fen, self.approval)
        return mine == (other.tool, other.amount_fen, other.approval)

    def text(self, asked: str = "") -> str:
        if self.kind == "propose":
            money = f" {yuan(self.amount_fen)}" if self.amount_fen else ""
            head = ("需商家审核 / needs approval" if self.approval else "允许 / allowed") + money
            if asked and self.tool != asked:
                head = f"{TOOL_NAMES.get(self.tool, self.tool)} {self.tool}: {head}"
        else:
            head = KINDS[self.kind]
        return f"{head} — {self.rule}：{self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.kind,
            "tool": self.tool,
            "needs_approval": self.approval,
            "amount": yuan(self.amount_fen),
            "rule": self.rule,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Recorded:
    """A decision as the store has it."""

    id: str
    """The action id, or `call-N` for a refused call (tool call N)."""
    tool: str
    arguments: dict[str, Any]
    shopper_id: str
    conversation_id: str
    order_id: str | None
    message_id: int | None
    """The shopper's message the decision answered."""
    at: datetime
    """When that message came in (in the shop's timezone): the moment it is re-decided at."""
    decision: Decision
    version: int | None
    status: str
    """The action's status now, or `refused`."""


@dataclass(frozen=True, slots=True)
class Replayed:
    record: Recorded
    outcome: Outcome
    new: Decision | None = None
    """The decision under the new policy (None when none was reached)."""
    order_source: str = ""
    old_version: str = ""
    """`v3`, or `current` when no recorded version covers the decision's time."""
    why: str = ""
    """For `skipped`, a key of `WHY`."""
    detail: str = ""

    def lines(self) -> list[str]:
        r = self.record
        name = TOOL_NAMES.get(r.tool, r.tool)
        source = SOURCES.get(self.order_source, "")
        head = f"{r.id} {name} {r.tool} · 订单 {r.order_id or '-'} · 会话 {r.conversation_id}"
        head += f" · {r.at:%Y-%m-%d %H:%M}" + (f" · {source}" if source else "")
        if self.outcome == "skipped":
            return [f"  {head}", f"      {WHY.get(self.why, self.why)}：{self.detail}"]
        was = f"原 / was ({self.old_version}): {r.decision.text()}"
        now = self.new.text(r.tool) if self.new is not None else self.detail
        return [f"  {head}", f"      {was}", f"      新 / now: {now}"]

    def as_dict(self) -> dict[str, Any]:
        r = self.record
        return {
            "id": r.id,
            "tool": r.tool,
            "order_id": r.order_id,
            "conversation_id": r.conversation_id,
            "at": r.at.isoformat(),
            "status": r.status,
            "outcome": self.outcome,
            "old_version": self.old_version,
            "order_source": self.order_source,
            "old": r.decision.as_dict(),
            "new": self.new.as_dict() if self.new is not None else None,
            "why": self.why,
            "detail": self.detail,
        }


def counts(items: Sequence[Replayed]) -> dict[str, int]:
    tally = Counter(i.outcome for i in items)
    return {k: tally.get(k, 0) for k in ("same", "changed", "skipped")}


def render(items: Sequence[Replayed], shop_id: str, new_name: str) -> list[str]:
    """The report: every decision that would change, those that could not be re-decided, and
    the counts."""
    n = counts(items)
    out = [f"试运行 / dry run: 店铺 {shop_id} · 新策略 / new policy {new_name}"]
    if not items:
        return [*out, "没有可重放的决定 / no recorded decisions to re-decide"]
    changed = [i for i in items if i.outcome == "changed"]
    skipped = [i for i in items if i.outcome == "skipped"]
    if changed:
        out.append(f"会改变的决定 / decisions that would change ({len(changed)}):")
        out += [line for i in changed for line in i.lines()]
    if skipped:
        out.append(f"无法重放 / could not re-decide ({len(skipped)}):")
        out += [line for i in skipped for line in i.lines()]
    out.append(
        f"共 {len(items)} 项 / {len(items)} decisions: 不变 same {n['same']} · "
        f"改变 changed {n['changed']} · 无法重放 could not re-decide {n['skipped']}"
    )
    for why, k in Counter(i.why for i in skipped).most_common():
        out.append(f"  {k} × {WHY.get(why, why)}")
    return out


def as_json(items: Sequence[Replayed], shop_id: str, new_name: str) -> dict[str, Any]:
    skipped = Counter(i.why for i in items if i.outcome == "skipped")
    return {
        "shop": shop_id,
        "new_policy": new_name,
        "counts": counts(items),
        "could_not_redecide": dict(skipped),
        "decisions": [i.as_dict() for i in items],
    }
