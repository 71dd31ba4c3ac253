"""The shop's own rules: their shape (validated, with lines), how they are read (order, outcomes,
each condition) and how windows count days."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from xiaoer.domain.errors import BadInput
from xiaoer.domain.models import (
    Address,
    LogisticsEvent,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    Shipment,
)
from xiaoer.policy import load_policy, rules
from xiaoer.policy.evaluate import Decision, Facts, decide
from xiaoer.policy.load import check_policy
from xiaoer.policy.schema import ShopPolicy

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 14, 0, tzinfo=TZ)
ADDR = Address("王芳", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 100 号")
LINE = OrderLine("K1-S", "K1", "不锈钢电水壶", {}, 19900, 1)
KETTLE = Product("K1", "不锈钢电水壶", "厨房电器", "家乐", "", {}, (), ("大件",))
ORDER = Order("SO1", "U1", OrderStatus.DELIVERED, NOW - timedelta(days=9), (LINE,), 19900, 19900,
              ADDR, paid_at=NOW - timedelta(days=9), delivered_at=NOW - timedelta(days=3))  # fmt: skip


def facts(request: str = "return", *said: str, **kw: object) -> Facts:
    base = Facts(request, ORDER, (LINE,), {"K1": KETTLE}, rules.Said.of(said, None), NOW)  # type: ignore[arg-type]
    return replace(base, **kw)  # type: ignore[arg-type]


def policy(rules_yaml: str) -> ShopPolicy:
    return load_policy("rules:\n" + rules_yaml)


@pytest.mark.parametrize("name", ["stride", "volt", "orchard"])
def test_the_demo_policies_still_load(name: str) -> None:
    text = (files("xiaoer.demo") / f"policy_{name}.yaml").read_text(encoding="utf-8")
    assert isinstance(load_policy(text), ShopPolicy)


def test_no_rules_decide_nothing() -> None:
    assert decide(ShopPolicy(), facts()) == Decision()


def test_the_first_stopping_rule_decides_and_compensations_add_up() -> None:
    p = policy(
        """
  - {when: {request: [refund]}, then: deny, reason: 不退}
  - {when: {request: [return]}, then: compensate, amount: 10, reason: 补偿甲}
  - {when: {request: [return]}, then: offer}
  - {when: {request: [return]}, then: no_offer}
  - {when: {request: [return]}, then: allow, reason: 准了}
  - {when: {request: [return]}, then: deny, reason: 读不到这里}
  - {when: {request: [return]}, then: compensate, amount: 20, reason: 也读不到}
"""
    )
    d = decide(p, facts())
    assert (d.then, d.rule, d.reason) == ("allow", "rules.4", "准了")
    assert d.compensation_fen == 1000 and d.offer == ("rules.2", True)
    assert d.granted is not None and d.granted.allowed
    refused = decide(p, facts("refund"))
    assert refused.verdict is not None and not refused.verdict.allowed
    assert refused.granted is None


def test_unless_keeps_a_rule_from_its_exceptions() -> None:
    """ "Returns only for quality problems — kitchen appliances excepted": the rule stops every
    other return, and the exception (all of `unless` holding) passes it over."""
    p = policy(
        """
  - when: {request: [return], quality: false}
    unless: {categories: [厨房电器], days_since_delivery: {max: 7}}
    then: deny
    reason: 只退质量问题
"""
    )
    assert decide(p, facts()).then == ""  # a kitchen appliance, 3 days: the exception
    late = replace(ORDER, delivered_at=NOW - timedelta(days=8))
    assert decide(p, facts(order=late)).then == "deny"  # only part of `unless` holds
    other = Product("K2", "保温杯", "杯具", "家乐", "", {}, (), ())
    assert decide(p, facts(products={"K1": other})).reason == "只退质量问题"
    _, problems = check_policy("rules:\n  - {when: {}, unless: {colour: [红]}, then: allow}\n")
    assert [(p.line, p.field) for p in problems] == [(2, "rules.0.unless.colour")]


def test_ask_is_passed_over_once_the_evidence_is_in_the_words() -> None:
    p = policy(
        """
  - {when: {quality: true}, then: ask, say: 请拍照片}
  - {when: {}, then: handoff, reason: 人工看照片}
"""
    )
    assert decide(p, facts("refund", "坏了")).then == "ask"
    assert decide(p, facts("refund", "坏了", "照片发了")).then == "handoff"
    assert decide(p, facts("refund", "坏了", "没有照片")).then == "ask"  # negated


@pytest.mark.parametrize(
    ("when", "kw", "holds"),
    [
        ("{status: [已签收]}", {}, True),
        ("{status: [已发货]}", {}, False),
        ("{quality: true}", {"said": rules.Said.of(["漏水，质量问题"], None)}, True),
        ("{quality: true}", {"said": rules.Said.of(["漏水"], True)}, True),  # the reading's fault
        ("{quality: false}", {"said": rules.Said.of(["质量问题"], None)}, False),
        ("{reason_kind: [price, changed_mind]}", {"reason_kind": "price"}, True),
        ("{reason_kind: [price]}", {"reason_kind": "not_fit"}, False),
        ("{said: [拆封]}", {"said": rules.Said.of(["已经拆封了"], None)}, True),
        ("{said: [拆封]}", {"said": rules.Said.of(["没拆封"], None)}, False),
        ("{paid: {over: 199}}", {}, False),
        ("{paid: {min: 199}}", {}, True),
        ("{quantity: {min: 2}}", {}, False),
        ("{item_price: {under: 100}}", {}, False),
        ("{categories: [厨房电器], tags: [大件]}", {}, True),
        ("{categories: [厨房电器], title_words: [咖啡]}", {}, False),
        ("{shopper_level: [钻石会员]}", {"level": "钻石会员"}, True),
        ("{shopper_level: [钻石会员]}", {}, False),
        ("{shopper: {黑名单: true}}", {"extras": {"黑名单": True}}, True),
        ("{shopper: {黑名单: true}}", {"extras": {"黑名单": 1}}, False),
        ("{shopper: {渠道: [直播, 团购]}}", {"extras": {"渠道": "团购"}}, True),
        ("{shopper: {退货次数: {min: 5}}}", {"extras": {"退货次数": 6}}, True),
        ("{shopper: {退货次数: {min: 5}}}", {}, False),
        ("{days_since_delivery: {over: 2}}", {}, True),
        ("{hours_since_delivery: {max: 24}}", {}, False),
        ("{days_since_payment: {over: 10}}", {}, False),
        ("{days_since_completion: {over: 0}}", {}, False),  # never completed
        ("{invoice_type: [增值税专用发票]}", {"invoice_type": "增值税专用发票"}, True),
    ],
)
def test_each_condition(when: str, kw: dict[str, object], holds: bool) -> None:
    p = policy(f"  - {{when: {when}, then: deny, reason: 否}}\n")
    assert (decide(p, facts(**kw)).then == "deny") is holds  # type: ignore[arg-type]


def test_tracking_conditions_read_the_latest_scan_of_a_parcel_on_its_way() -> None:
    scan = LogisticsEvent(NOW - timedelta(hours=80), "运输中", "到达杭州转运中心")
    on_way = replace(ORDER, status=OrderStatus.SHIPPED, shipment=Shipment("顺丰", "SF1", (scan,)))
    still = policy("  - {when: {tracking_still_hours: {over: 72}}, then: handoff}\n")
    assert decide(still, facts(order=on_way)).then == "handoff"
    delivered = replace(on_way, status=OrderStatus.DELIVERED)
    assert decide(still, facts(order=delivered)).then == ""  # a delivered parcel is not stuck
    says = policy("  - {when: {tracking_says: [转运中心]}, then: handoff}\n")
    assert decide(says, facts(order=on_way)).then == "handoff"


def test_done_counts_what_was_done_per_order_or_shopper_within_days() -> None:
    class Past:
        def __init__(self, tool: str, order_id: str, status: str, days: int) -> None:
            self.tool, self.order_id, self.status = tool, order_id, status
            self.created_at = NOW - timedelta(days=days)

    p = policy(
        "  - {when: {done: {requests: [refund], per: order, min: 1}}, then: deny, reason: 否}\n"
        "  - {when: {done: {requests: [refund, return], days: 30, min: 2}}, then: handoff}\n"
    )
    other = Past("request_refund", "SO9", "executed", 3)
    assert decide(p, facts(past=[other])).then == ""
    assert decide(p, facts(past=[other, Past("request_return", "SO8", "executed", 40)])).then == ""
    assert decide(p, facts(past=[other, Past("request_return", "SO8", "executed", 4)])).then == (
        "handoff"
    )
    assert decide(p, facts(past=[Past("request_refund", "SO1", "declined", 1)])).then == ""
    assert decide(p, facts(past=[Past("request_refund", "SO1", "executed", 1)])).then == "deny"


def test_calendar_days_count_from_the_day_after_in_the_shops_timezone() -> None:
    calendar = load_policy("windows: {days: calendar}")
    delivered = datetime(2026, 11, 13, 23, 30, tzinfo=TZ)
    assert rules.age_days(calendar, delivered, datetime(2026, 11, 20, 23, 59, tzinfo=TZ)) == 7
    assert rules.age_days(calendar, delivered, datetime(2026, 11, 21, 0, 1, tzinfo=TZ)) == 8
    elapsed = ShopPolicy()
    assert rules.age_days(elapsed, delivered, datetime(2026, 11, 20, 23, 59, tzinfo=TZ)) == (
        pytest.approx(7.02, abs=0.01)
    )


def test_a_bad_rule_is_reported_with_its_line_and_field() -> None:
    text = """refund: {auto_limit: 300}
rules:
  - when: {request: [exchange], quality: false}
    then: deny
  - when:
      statuz: [已发货]
    then: handoff
  - when: {paid: {}}
    then: maybe
  - then: compensate
    reason: 运费
  - when: {request: [refund]}
    then: deny
    refund: item
    reason: 否
"""
    _, problems = check_policy(text)
    found = {(p.line, p.field) for p in problems}
    assert found == {
        (3, "rules.0"),
        (6, "rules.1.when.statuz"),
        (8, "rules.2.when.paid"),
        (9, "rules.2.then"),
        (10, "rules.3"),
        (12, "rules.4"),
    }
    messages = " ".join(p.message for p in problems)
    assert "`then: deny` needs `reason`" in messages and "needs an `amount` above 0" in messages
    with pytest.raises(BadInput, match=r"policy.yaml:6: rules.1.when.statuz"):
        load_policy(text)


def test_rules_round_trip_through_storage() -> None:
    p = policy(
        "  - {when: {paid: {over: 19.9}, shopper: {vip: true, n: {min: 3}}}, then: compensate,"
        " amount: 25, reason: 运费}\n"
    )
    dumped = p.model_dump(mode="json")
    assert ShopPolicy.model_validate(dumped) == p


def test_the_documented_examples_load() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "policy.md").read_text(encoding="utf-8")
    section = doc[doc.index("## 店铺规则") : doc.index("## How an action runs")]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    assert len(blocks) == 5  # the exception (`unless`) and the worked examples
    assert all(load_policy(b).rules for b in blocks)
