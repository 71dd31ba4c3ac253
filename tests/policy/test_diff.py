"""`policy diff`: what changed between two policies, field by field, amounts in 元."""

from __future__ import annotations

from xiaoer.policy import load_policy
from xiaoer.policy.diff import diff_policies, render

OLD = """
refund: {auto_limit: 500}
returns: {no_reason_days: 7, quality_words: [坏, 破, 瑕疵]}
retention:
  offers:
    - {kind: coupon, amount: 10}
    - {kind: partial_refund, percent: 10, max: 30}
coupons:
  - {id: NEW10, name: 新客券, amount: 10, new_customer_only: true}
  - {id: FULL50, name: 满减券, amount: 50, min_spend: 500}
urge: {promise_hours: {default: 48}}
"""


def lines(old: str, new: str) -> list[str]:
    return [c.line() for c in diff_policies(load_policy(old), load_policy(new))]


def test_amounts_are_shown_in_yuan_with_the_dotted_field() -> None:
    new = OLD.replace("auto_limit: 500", "auto_limit: 299.5")
    assert lines(OLD, new) == ["refund.auto_limit: 500 → 299.50"]


def test_word_lists_show_the_words_added_and_removed() -> None:
    new = OLD.replace("[坏, 破, 瑕疵]", "[坏, 瑕疵, 开胶, 不制冷]")
    assert lines(OLD, new) == [
        "returns.quality_words: 删除 / removed 破",
        "returns.quality_words: 新增 / added 开胶",
        "returns.quality_words: 新增 / added 不制冷",
    ]


def test_entries_with_an_id_are_matched_by_it() -> None:
    new = OLD.replace(
        "  - {id: NEW10, name: 新客券, amount: 10, new_customer_only: true}\n"
        "  - {id: FULL50, name: 满减券, amount: 50, min_spend: 500}\n",
        "  - {id: FULL50, name: 满减券, amount: 60, min_spend: 500}\n"
        "  - {id: VIP, name: 会员券, amount: 20}\n",
    )
    got = lines(OLD, new)
    assert got[0].startswith("coupons[NEW10]: 删除 / removed {id: NEW10, name: 新客券")
    assert got[1:3] == [
        "coupons[FULL50].amount: 50 → 60",
        "coupons[VIP]: 新增 / added {id: VIP, name: 会员券, amount: '20', min_spend: '0', "
        "new_customer_only: false, claimable: true}",
    ]
    assert len(got) == 3


def test_entries_without_an_id_are_compared_by_position_and_their_order_matters() -> None:
    raised = OLD.replace("{kind: coupon, amount: 10}", "{kind: coupon, amount: 20}")
    assert lines(OLD, raised) == ["retention.offers[0].amount: 10 → 20"]
    swapped = OLD.replace(
        "    - {kind: coupon, amount: 10}\n    - {kind: partial_refund, percent: 10, max: 30}",
        "    - {kind: partial_refund, percent: 10, max: 30}\n    - {kind: coupon, amount: 10}",
    )
    (line,) = lines(OLD, swapped)
    assert line.startswith("retention.offers: 顺序变化 / reordered [{kind: coupon")


def test_map_keys_added_and_unset_values() -> None:
    new = (
        OLD.replace("{default: 48}", "{default: 48, 定制: 168}") + "handoff: {order_above: 5000}\n"
    )
    assert lines(OLD, new) == [
        "urge.promise_hours.定制: 新增 / added 168",
        "handoff.order_above: （未设置 / unset） → 5000",
    ]


def test_a_default_written_out_is_no_change() -> None:
    spelled = OLD + "cancel: {states: [待付款, 待发货]}\nconfirm: {ttl_minutes: 30}\n"
    assert diff_policies(load_policy(OLD), load_policy(spelled)) == []
    assert render([], "a.yaml", "b.yaml") == ["没有变化 / no changes: a.yaml → b.yaml"]


def test_render_has_a_header_and_a_count() -> None:
    new = OLD.replace("no_reason_days: 7", "no_reason_days: 3")
    changes = diff_policies(load_policy(OLD), load_policy(new))
    assert render(changes, "a.yaml", "b.yaml") == [
        "策略差异 / policy diff: a.yaml → b.yaml",
        "  returns.no_reason_days: 7 → 3",
        "共 1 处变化 / 1 change(s)",
    ]
    assert changes[0].as_dict() == {
        "path": "returns.no_reason_days",
        "change": "changed",
        "old": 7,
        "new": 3,
    }
