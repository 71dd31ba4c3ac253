"""Shop subsidy programmes: the YAML shape, validated with the file, line and field of each
problem; the existing `subsidy` fields unchanged."""

from __future__ import annotations

from datetime import date

import pytest

from xiaoer.domain.errors import BadInput
from xiaoer.policy import load_policy, parse_policy
from xiaoer.policy.lines import compose, line_of
from xiaoer.policy.load import check_policy

EXAMPLE = """\
subsidy:
  enabled: true
  choose: best
  programmes:
    - id: energy
      name: 店铺节能焕新补贴
      start: 2026-03-01
      end: 2026-12-31
      regions: [浙江省, 江苏省]
      tier_by: 能效等级
      tiers:
        - {value: 一级, percent: 20}
        - {value: 二级, percent: 15}
      caps: {item: 2000}
      limits:
        - {count: 1, per: person, by: category}
      needs_invoice: true
      stacks_with_coupons: false
"""


def test_a_programme_loads_with_amounts_in_fen_and_round_trips() -> None:
    policy = load_policy(EXAMPLE)
    p = policy.subsidy.programmes[0]
    assert (p.name, p.start, p.end) == ("店铺节能焕新补贴", date(2026, 3, 1), date(2026, 12, 31))
    assert [(t.value, t.percent, t.amount) for t in p.tiers] == [
        ("一级", 20, None),
        ("二级", 15, None),
    ]
    assert p.caps.item == 200000 and p.caps.order is None
    assert (p.needs_invoice, p.stacks_with_coupons, p.key) == (True, False, "energy")
    assert policy.subsidy.choose == "best" and policy.subsidy.national
    dumped = policy.model_dump(mode="json")
    assert dumped["subsidy"]["programmes"][0]["caps"]["item"] == "2000"
    assert parse_policy(dumped) == policy


def test_the_existing_subsidy_fields_mean_what_they_did() -> None:
    policy = load_policy("subsidy: {enabled: true, regions: {上海市: {status: paused}}}\n")
    assert policy.subsidy.programmes == [] and policy.subsidy.national
    assert policy.subsidy.regions["上海市"].status == "paused"
    assert load_policy("").subsidy.enabled is False


def test_a_tier_value_written_as_a_number_is_the_text() -> None:
    policy = load_policy(EXAMPLE.replace("value: 一级", "value: 1"))
    assert policy.subsidy.programmes[0].tiers[0].value == "1"


def test_a_fixed_amount_tier_and_a_programme_without_tiers_by_attribute() -> None:
    text = EXAMPLE.replace("{value: 二级, percent: 15}", "{value: 二级, amount: 99.5}")
    assert load_policy(text).subsidy.programmes[0].tiers[1].amount == 9950
    flat = load_policy(
        "subsidy:\n  programmes:\n    - {id: flat, name: 店铺补贴, tiers: [{percent: 5}]}\n"
    )
    assert flat.subsidy.programmes[0].tiers[0].value == ""


BAD = [
    # (what to replace in EXAMPLE, by what, the field reported, its line, words in the message)
    ("end: 2026-12-31", "end: 2026-02-01", "subsidy.programmes.0.end", 8, "before it starts"),
    ("{value: 二级, percent: 15}", "{value: 二级}", "subsidy.programmes.0.tiers.1.amount", 13,
     "either percent or amount"),
    ("{value: 二级, percent: 15}", "{value: 二级, percent: 15, amount: 3}",
     "subsidy.programmes.0.tiers.1.amount", 13, "either percent or amount"),
    ("{value: 二级, percent: 15}", "{value: 二级, percent: 120}",
     "subsidy.programmes.0.tiers.1.percent", 13, "less than or equal to 100"),
    ("{value: 二级, percent: 15}", "{value: 一级, percent: 15}", "subsidy.programmes.0.tiers",
     11, "same value"),
    ("{value: 二级, percent: 15}", "{percent: 15}", "subsidy.programmes.0.tiers", 11,
     "every tier needs"),
    ("      tier_by: 能效等级\n", "", "subsidy.programmes.0.tiers", 10, "without tier_by"),
    ("caps: {item: 2000}", "caps: {item: lots}", "subsidy.programmes.0.caps.item", 14,
     "not an amount"),
    ("caps: {item: 2000}", "caps: {per_item: 2000}", "subsidy.programmes.0.caps.per_item", 14,
     "Extra inputs"),
    ("{count: 1, per: person, by: category}", "{count: 1, period: days}",
     "subsidy.programmes.0.limits.0.days", 16, "needs `days`"),
    ("{count: 1, per: person, by: category}", "{count: 1, per: order, period: year}",
     "subsidy.programmes.0.limits.0.days", 16, "no period"),
    ("{count: 1, per: person, by: category}", "{count: 0}",
     "subsidy.programmes.0.limits.0.count", 16, "greater than or equal to 1"),
    ("regions: [浙江省, 江苏省]", "regions: [浙江省, 江苏省]\n      categories: [甲]\n"
     "      exclude_categories: [甲]", "subsidy.programmes.0.exclude_categories", 11,
     "both included and excluded"),
    ("id: energy", "id: 节能 补贴", "subsidy.programmes.0.id", 5, "pattern"),
    ("choose: best", "choose: cheapest", "subsidy.choose", 3, "'best', 'national' or 'shop'"),
    ("stacks_with_coupons: false", "stacks_with_coupon: false",
     "subsidy.programmes.0.stacks_with_coupon", 18, "Extra inputs"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "field", "line", "words"), BAD)
def test_a_bad_programme_is_reported_by_file_line_and_field(
    old: str, new: str, field: str, line: int, words: str
) -> None:
    assert old in EXAMPLE
    text = EXAMPLE.replace(old, new)
    policy, problems = check_policy(text)
    assert policy is None
    assert [(p.field, p.line) for p in problems] == [(field, line)]
    assert words in problems[0].message
    with pytest.raises(BadInput) as err:
        load_policy(text, source="shops/a/policy.yaml")
    assert f"shops/a/policy.yaml:{line}: {field}: " in err.value.message


def test_two_programmes_with_one_id_are_refused() -> None:
    second = "    - {id: energy, name: 又一个, tiers: [{percent: 5}]}\n"
    policy, problems = check_policy(EXAMPLE + second)
    assert policy is None
    assert [(p.field, p.line) for p in problems] == [("subsidy.programmes", 4)]
    assert "same id" in problems[0].message


def test_a_missing_field_points_at_the_mapping_it_is_missing_from() -> None:
    text = EXAMPLE.replace("      name: 店铺节能焕新补贴\n", "")
    _, problems = check_policy(text)
    assert [(p.field, p.line) for p in problems] == [("subsidy.programmes.0.name", 5)]


def test_line_of_follows_keys_and_list_items() -> None:
    root = compose("a:\n  b:\n    - x\n    - {c: 1}\n")
    assert line_of(root, "a.b.1.c") == 4
    assert line_of(root, "a.b.0") == 3
    assert line_of(root, "a.zz") == 1  # missing: the mapping it is missing from
    assert line_of(root, "") == 0 and line_of(None, "a") == 0
    assert compose("a: [1") is None


def test_other_sections_get_their_line_too() -> None:
    with pytest.raises(BadInput) as err:
        load_policy("confirm: {ttl_minutes: 30}\nrefund: {auto_limit: -5}\n")
    assert "policy.yaml:2: refund.auto_limit: " in err.value.message
    with pytest.raises(BadInput) as err:
        parse_policy({"refund": {"auto_limit": -5}})
    assert "policy: refund.auto_limit: " in err.value.message  # no file, no line
