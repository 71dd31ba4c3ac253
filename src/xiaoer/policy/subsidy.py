"""国补 (national trade-in subsidy) as versioned rule tables plus a per-province overlay.

National tables (summarised from the notices named in `source`):
- 2025 (effective 2025-01-01; digital products from 2025-01-20): 12 appliance categories,
  grade 1 → 20 %, grade 2 → 15 %, at most ¥2,000 per item (空调 up to 3 units); 手机/平板/
  智能手表手环 priced ≤ ¥6,000 → 15 %, at most ¥500.
- 2026 (effective 2026-01-01): 6 appliance categories, grade 1 only, 15 %, at most ¥1,500;
  手机/平板/智能手表手环/智能眼镜 priced ≤ ¥6,000 → 15 %, at most ¥500.

The price basis is the final price after all discounts; the price ceiling is checked before
the rate. Every quote names its table and source date and says 以当地政策为准.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from xiaoer.domain.money import yuan
from xiaoer.policy.schema import Subsidy


@dataclass(frozen=True, slots=True)
class Rule:
    rate_by_grade: dict[str, int]
    """Percent by efficiency grade; key "" = no grade required."""
    cap_fen: int
    price_ceiling_fen: int | None = None
    units: int = 1


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    effective: date
    source: str
    source_date: date
    rules: dict[str, Rule]
    starts: dict[str, date]
    """Categories that start later than `effective`."""


_DIGITAL = ("手机", "平板", "智能手表手环")
_A25 = Rule({"一级": 20, "二级": 15}, 200000)
_D = Rule({"": 15}, 50000, price_ceiling_fen=600000)

TABLES: tuple[Table, ...] = (
    Table(
        "2025 年全国以旧换新",
        date(2025, 1, 1),
        "发改委、财政部《关于2025年加力扩围实施大规模设备更新和消费品以旧换新政策的通知》",
        date(2025, 1, 8),
        {
            **dict.fromkeys(("冰箱", "洗衣机", "电视", "电脑", "热水器", "家用灶具", "吸油烟机", "微波炉", "净水器", "洗碗机", "电饭煲"), _A25),
            "空调": Rule({"一级": 20, "二级": 15}, 200000, units=3),
            **dict.fromkeys(_DIGITAL, _D),
        },
        {c: date(2025, 1, 20) for c in _DIGITAL},
    ),
    Table(
        "2026 年全国以旧换新",
        date(2026, 1, 1),
        "发改委、财政部 2025-12-30 通知；商务部等 5 部门 2025-12-31 通知",
        date(2025, 12, 31),
        {
            **{c: Rule({"一级": 15}, 150000) for c in ("冰箱", "洗衣机", "电视", "空调", "热水器", "电脑")},
            **dict.fromkeys((*_DIGITAL, "智能眼镜"), _D),
        },
        {},
    ),
)  # fmt: skip

GRADES = {"1": "一级", "一级": "一级", "1级": "一级", "2": "二级", "二级": "二级", "2级": "二级",
          "3": "三级", "三级": "三级", "3级": "三级"}  # fmt: skip
ALIASES = {"智能手表": "智能手表手环", "手环": "智能手表手环", "智能手环": "智能手表手环",
           "笔记本": "电脑", "笔记本电脑": "电脑", "平板电脑": "平板"}  # fmt: skip
LOCAL_POLICY = "具体以当地政策为准"
NOT_OFFERED = "本店商品不参与国家以旧换新补贴（国补）。"
"""What the subsidy check says when the shop takes no part in any programme."""


@dataclass(frozen=True, slots=True)
class Quote:
    eligible: bool
    amount_fen: int
    rate: int
    reason: str
    table: str
    source_date: date

    def text(self, price_fen: int) -> str:
        head = (
            f"可以申请国补：按成交价{yuan(price_fen)}补贴{self.rate}%，约{yuan(self.amount_fen)}，"
            f"到手约{yuan(price_fen - self.amount_fen)}。"
            if self.eligible
            else f"不能申请国补：{self.reason}。"
        )
        extra = f"{self.reason}。" if self.eligible and self.reason else ""
        return (
            f"{head}{extra}依据：{self.table}（政策发布日期 {self.source_date.isoformat()}），"
            f"{LOCAL_POLICY}。"
        )


def table_for(on: date) -> Table:
    current = [t for t in TABLES if t.effective <= on]
    return current[-1] if current else TABLES[0]


def quote(
    category: str,
    grade: str,
    price_fen: int,
    province: str,
    on: date,
    overlay: Subsidy,
) -> Quote:
    """Eligibility and amount for one item at its final price, delivered to `province`."""
    table = table_for(on)
    cat = ALIASES.get(category, category)
    grade = GRADES.get(str(grade).strip(), str(grade).strip())

    def no(reason: str) -> Quote:
        return Quote(False, 0, 0, reason, table.name, table.source_date)

    region = overlay.regions.get(province) if province else None
    if region is not None and region.status != "active":
        state = "本地补贴名额已领完" if region.status == "quota_exhausted" else "本地补贴暂停领取"
        return no(f"{province}{state}" + (f"（{region.note}）" if region.note else ""))
    if region is not None and region.start and on < region.start:
        return no(f"{province}从{region.start.isoformat()}开始受理")
    rule = table.rules.get(cat)
    if rule is None:
        if region is not None and cat in region.extra_categories:
            rate = region.extra_categories[cat]
            amount = price_fen * rate // 100
            return Quote(
                True, amount, rate, f"{province}地方补贴品类", table.name, table.source_date
            )
        return no(f"{category}不在{table.name}的补贴品类内")
    start = table.starts.get(cat)
    if start and on < start:
        return no(f"{cat}从{start.isoformat()}开始补贴")
    if rule.price_ceiling_fen is not None and price_fen > rule.price_ceiling_fen:
        return no(f"单件成交价{yuan(price_fen)}超过{yuan(rule.price_ceiling_fen)}上限")
    if "" in rule.rate_by_grade:
        rate = rule.rate_by_grade[""]
    elif grade in rule.rate_by_grade:
        rate = rule.rate_by_grade[grade]
    else:
        need = "或".join(rule.rate_by_grade)
        shown = f"{grade}能效" if grade else "没有能效等级信息"
        return no(f"{shown}，需要{need}能效")
    amount = min(price_fen * rate // 100, rule.cap_fen)
    note = f"每件最高{yuan(rule.cap_fen)}，每人每类限{rule.units}件"
    return Quote(True, amount, rate, note, table.name, table.source_date)
