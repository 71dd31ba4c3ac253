"""Dry run: recorded decisions re-decided under a new policy, on the mini shop, changing nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from minishop import write_bundle
from xiaoer.agent.replay_report import Replayed, as_json, counts, render
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM, call
from xiaoer.policy import ShopPolicy, load_policy
from xiaoer.runtime import Runtime
from xiaoer.store.models import ActionRow, Base, OrderRow

RETENTION = """
retention:
  offers: [{kind: coupon, amount: 15, valid_days: 30}]
"""


def ticking(start: datetime) -> Callable[[], datetime]:
    """A clock a second further on each reading: every recorded step has its own moment."""
    state = {"now": start}

    def now() -> datetime:
        state["now"] += timedelta(seconds=1)
        return state["now"]

    return now


async def _shop(settings: Settings, llm: ScriptedLLM, folder: Path, policy: str) -> Runtime:
    rt = await Runtime.open(settings, llm=llm)
    rt.clock = ticking(settings.now or datetime.now().astimezone())
    await rt.import_shop(write_bundle(folder, policy=policy))
    return rt


@pytest.fixture
async def shop(settings: Settings, llm: ScriptedLLM, tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = await _shop(settings, llm, tmp_path / "b", "")
    yield rt
    await rt.close()


async def say(rt: Runtime, llm: ScriptedLLM, shopper: str, message: str, **tool: Any) -> str:
    """One shopper turn whose model step is the given tool call; the conversation id."""
    name = tool.pop("tool")
    llm.steps = [call(name, **tool)]
    result = await rt.assistant().turn("mini", shopper, message)
    return result.conversation_id


async def confirm(rt: Runtime, conversation_id: str) -> None:
    await rt.assistant().turn("mini", "U1", "确认", conversation_id=conversation_id)


async def snapshot(rt: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    async with rt.sessions() as s:
        return {
            table.name: sorted(map(tuple, (await s.execute(select(table))).all()), key=repr)
            for table in Base.metadata.sorted_tables
        }


def by_tool(items: list[Replayed], tool: str) -> Replayed:
    return next(i for i in items if i.record.tool == tool)


async def test_a_lower_refund_limit_sends_a_recorded_refund_for_approval(
    shop: Runtime, llm: ScriptedLLM
) -> None:
    await say(shop, llm, "U1", "SO1002 不想要了，退款", tool="request_refund", order_id="SO1002")
    new = load_policy("refund: {auto_limit: 100}\n")
    items = await shop.replay_policy("mini", new)
    assert counts(items) == {"same": 0, "changed": 1, "skipped": 0}
    item = items[0]
    assert item.record.decision.text().startswith("允许 / allowed ¥308")
    assert item.new is not None and item.new.approval and item.new.rule == "refund.auto_limit"
    assert item.old_version == "v1" and item.order_source == "current"
    lines = "\n".join(render(items, "mini", "new.yaml"))
    assert "会改变的决定 / decisions that would change (1)" in lines
    assert "需商家审核 / needs approval ¥308 — refund.auto_limit" in lines
    assert "不变 same 0 · 改变 changed 1 · 无法重放 could not re-decide 0" in lines


async def test_the_same_policy_changes_nothing(shop: Runtime, llm: ScriptedLLM) -> None:
    await say(shop, llm, "U1", "SO1002 不想要了，退款", tool="request_refund", order_id="SO1002")
    await say(shop, llm, "U2", "SO2001 不想要了，要退货", tool="request_return", order_id="SO2001")
    unrelated = load_policy("handoff: {minutes_each: 9}\nguard: {judge: false}\n")
    items = await shop.replay_policy("mini", unrelated)
    assert counts(items) == {"same": 2, "changed": 0, "skipped": 0}
    assert "会改变" not in "\n".join(render(items, "mini", "same.yaml"))


async def test_a_refusal_the_new_policy_would_grant(shop: Runtime, llm: ScriptedLLM) -> None:
    # SO2001 was signed for 7.2 days before: past the default 7 days without reason
    await say(shop, llm, "U2", "SO2001 不想要了，要退货", tool="request_return", order_id="SO2001")
    items = await shop.replay_policy("mini", load_policy("returns: {no_reason_days: 10}\n"))
    assert [i.outcome for i in items] == ["changed"]
    item = items[0]
    assert item.record.id.startswith("call-") and item.record.status == "refused"
    assert item.record.decision.rule == "returns.no_reason_days"
    assert item.new is not None and item.new.kind == "propose" and item.new.amount_fen == 89900


async def test_a_shorter_window_refuses_a_recorded_return(
    settings: Settings, llm: ScriptedLLM, tmp_path: Path
) -> None:
    rt = await _shop(settings, llm, tmp_path / "b", "returns: {no_reason_days: 10}\n")
    try:
        await say(
            rt, llm, "U2", "SO2001 不想要了，要退货", tool="request_return", order_id="SO2001"
        )
        items = await rt.replay_policy("mini", load_policy("returns: {no_reason_days: 5}\n"))
    finally:
        await rt.close()
    assert [i.outcome for i in items] == ["changed"]
    assert items[0].new is not None and items[0].new.kind == "deny"
    assert items[0].new.rule == "returns.no_reason_days"
    assert "拒绝 / denied — returns.no_reason_days" in "\n".join(items[0].lines())


async def test_an_executed_refund_is_re_decided_on_the_order_as_it_was(
    shop: Runtime, llm: ScriptedLLM
) -> None:
    cid = await say(
        shop, llm, "U1", "SO1002 不想要了，退款", tool="request_refund", order_id="SO1002"
    )
    await confirm(shop, cid)
    async with shop.sessions() as s:
        assert (await s.get(OrderRow, ("mini", "SO1002"))).status == "已取消"
    items = await shop.replay_policy("mini", ShopPolicy())
    assert [(i.outcome, i.order_source) for i in items] == [("same", "rebuilt")]


async def test_a_retention_offer_the_new_policy_drops_becomes_the_cancel(
    settings: Settings, llm: ScriptedLLM, tmp_path: Path
) -> None:
    rt = await _shop(settings, llm, tmp_path / "b", RETENTION)
    try:
        await say(rt, llm, "U1", "SO1002 太贵了，取消吧", tool="cancel_order", order_id="SO1002",
                  reason="太贵了")  # fmt: skip
        async with rt.sessions() as s:
            assert [a.tool for a in await s.scalars(select(ActionRow))] == ["offer_retention"]
        items = await rt.replay_policy("mini", load_policy("retention: {enabled: false}\n"))
        same = await rt.replay_policy("mini", load_policy(RETENTION))
    finally:
        await rt.close()
    item = items[0]
    assert item.outcome == "changed" and item.new is not None
    assert (item.new.tool, item.new.amount_fen) == ("cancel_order", 30800)
    assert "取消订单 cancel_order: 允许 / allowed ¥308" in "\n".join(item.lines())
    assert [i.outcome for i in same] == ["same"]


async def test_a_second_offer_on_the_order_counts_the_first(
    settings: Settings, llm: ScriptedLLM, tmp_path: Path
) -> None:
    """The shopper declined the offer ("还是取消"): the cancel that followed was decided with the
    first offer counted (one per order), so re-deciding it offers nothing again."""
    rt = await _shop(settings, llm, tmp_path / "b", RETENTION)
    try:
        cid = await say(rt, llm, "U1", "SO1002 太贵了，取消吧", tool="cancel_order",
                        order_id="SO1002", reason="太贵了")  # fmt: skip
        await rt.assistant().turn("mini", "U1", "还是取消", conversation_id=cid)
        items = await rt.replay_policy("mini", load_policy(RETENTION))
    finally:
        await rt.close()
    assert [(i.record.tool, i.outcome) for i in items] == [
        ("offer_retention", "same"),
        ("cancel_order", "same"),
    ]


async def test_a_decision_the_records_no_longer_reproduce_is_not_a_change(
    shop: Runtime, llm: ScriptedLLM
) -> None:
    await say(shop, llm, "U1", "SO1002 不想要了，退款", tool="request_refund", order_id="SO1002")
    async with shop.sessions() as s:  # the backend corrected the order's amount since
        await s.execute(update(OrderRow).where(OrderRow.id == "SO1002").values(pay_fen=20000))
        await s.commit()
    items = await shop.replay_policy("mini", load_policy("refund: {auto_limit: 100}\n"))
    assert [(i.outcome, i.why) for i in items] == [("skipped", "mismatch")]
    assert "¥200" in items[0].detail
    report = as_json(items, "mini", "new.yaml")
    assert report["counts"] == {"same": 0, "changed": 0, "skipped": 1}
    assert report["could_not_redecide"] == {"mismatch": 1}


async def test_replay_changes_nothing_in_the_store(shop: Runtime, llm: ScriptedLLM) -> None:
    cid = await say(
        shop, llm, "U1", "SO1002 不想要了，退款", tool="request_refund", order_id="SO1002"
    )
    await confirm(shop, cid)
    await say(shop, llm, "U2", "SO2001 不想要了，要退货", tool="request_return", order_id="SO2001")
    before = await snapshot(shop)
    items = await shop.replay_policy("mini", load_policy("returns: {no_reason_days: 10}\n"))
    assert len(items) == 2
    assert await snapshot(shop) == before


async def test_since_counts_from_the_shops_day(shop: Runtime, llm: ScriptedLLM) -> None:
    await say(shop, llm, "U1", "SO1002 不想要了，退款", tool="request_refund", order_id="SO1002")
    assert len(await shop.replay_policy("mini", ShopPolicy(), since=date(2026, 11, 20))) == 1
    assert await shop.replay_policy("mini", ShopPolicy(), since=date(2026, 11, 21)) == []


async def test_an_unknown_shop_is_an_error(shop: Runtime) -> None:
    from xiaoer.domain.errors import NotFound

    with pytest.raises(NotFound, match="nope"):
        await shop.replay_policy("nope", ShopPolicy())


@pytest.mark.parametrize(
    ("rule", "kind", "shown"),
    [
        ("{when: {request: [refund], paid: {over: 300}}, then: handoff, reason: 大额退款由人工处理}",
         "handoff", "转人工 / handed over — rules.0：大额退款由人工处理"),
        ("{when: {request: [refund]}, then: ask, say: 请先拍一张商品照片}",
         "ask", "先要凭证 / asks for evidence — rules.0：请先拍一张商品照片"),
    ],
)  # fmt: skip
async def test_a_shop_rule_can_turn_a_proposal_into_a_handover_or_a_question(
    shop: Runtime, llm: ScriptedLLM, rule: str, kind: str, shown: str
) -> None:
    await say(shop, llm, "U1", "SO1002 不想要了，退款", tool="request_refund", order_id="SO1002")
    items = await shop.replay_policy("mini", load_policy(f"rules:\n  - {rule}\n"))
    assert [i.outcome for i in items] == ["changed"]
    assert items[0].new is not None and items[0].new.kind == kind
    assert shown in "\n".join(items[0].lines())
