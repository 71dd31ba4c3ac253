"""A shop's policy as data: the YAML shape, validated field by field.

Amounts in the YAML are 元 (what a merchant writes); `Money` turns them into integer 分 on load.
Every section has a default, so an empty file is a valid (conservative) policy.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from xiaoer.policy.amounts import Money
from xiaoer.policy.programmes import Choice, Programmes
from xiaoer.policy.promotions import Promotions
from xiaoer.policy.ruleset import Rule, Windows
from xiaoer.policy.selling import Pairing, Stockout, Upsell

Days = Annotated[int, Field(ge=0, le=3650)]
State = Literal["待付款", "待发货", "已发货", "已签收", "已完成", "售后中", "已取消"]
UNSHIPPED: list[State] = ["待付款", "待发货"]
DELIVERED: list[State] = ["已签收", "已完成"]

QUALITY_WORDS = [
    "质量", "坏", "破", "故障", "瑕疵", "发错", "错发", "少发", "漏发", "划痕", "磕碰",
]  # fmt: skip
"""Words that make a reason a quality problem in any shop; a shop adds its categories' own
defect words (a sole coming off, a fridge not cooling) in `returns.quality_words`."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Confirm(_Section):
    ttl_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 30
    """A pending action not confirmed within this time expires."""


class Cancel(_Section):
    states: list[State] = UNSHIPPED
    reasons: list[str] = []
    """When set, a cancellation needs one of these reasons (any case); empty = any reason."""


class AddressChange(_Section):
    states: list[State] = UNSHIPPED
    max_changes: Annotated[int, Field(ge=0, le=10)] = 1
    subsidy_warning: bool = True
    """国补 orders: warn that moving outside the subsidy's region may lose the subsidy."""


class Refund(_Section):
    """仅退款 (refund without returning goods)."""

    states: list[State] = ["待发货", "已发货", "已签收", "已完成"]
    auto_limit: Money = 50000
    """Refunds up to this execute on the shopper's confirmation; above it they wait for the merchant."""
    shipped_needs_reason: bool = True
    """A refund on a shipped or delivered order needs a stated quality/missing-item reason."""
    timing: str = "支付宝、微信即时到账，信用卡 1-3 个工作日"
    """When refunded money arrives, as the shopper is told it (after "原路退回")."""


class Exclusion(_Section):
    """Goods that 7-day no-reason return does not cover (quality problems stay covered)."""

    categories: list[str] = []
    tags: list[str] = []
    title_words: list[str] = []
    said: list[str] = []
    """Only when the shopper's own words contain one of these (e.g. 拆封); empty = always."""
    reason: str


class Returns(_Section):
    no_reason_days: Days = 7
    quality_days: Days = 15
    exclusions: list[Exclusion] = []
    pickup_fee: dict[str, Money] = {}
    """Pickup fee per category for no-reason returns of large appliances (买家承担)."""
    quality_words: list[str] = QUALITY_WORDS
    """Words that make a reason a quality problem: list the generic ones too when setting it."""
    send_back_days: Days = 7
    """Days the shopper has to send goods back once a return or exchange is accepted."""
    inspect_hours: Annotated[int, Field(ge=1, le=24 * 60)] = 48
    """Hours after the warehouse signs for a return within which it is inspected."""


class Exchange(_Section):
    days: Days = 7
    quality_days: Days = 15
    per_order: Annotated[int, Field(ge=0, le=10)] = 1
    reship_hours: Annotated[int, Field(ge=1, le=24 * 60)] = 48
    """Hours after the returned item passes inspection within which the new one ships."""
    price_difference: Literal["same_price", "settle"] = "same_price"
    """`same_price`: only to an option at the same price (quality replacements aside);
    `settle`: any option of the same product, the difference paid or refunded (`payments`)."""


class ItemChange(_Section):
    """Changing the options (size, colour…) of lines of an order that has not shipped."""

    enabled: bool = False
    states: list[State] = UNSHIPPED
    per_order: Annotated[int, Field(ge=0, le=10)] = 1
    locks_order: bool = False
    """After an item change the order takes no other change (no cancel, address or payment
    change): the merchant has already re-picked it."""


class PaymentChange(_Section):
    """Paying an order that has not shipped with another of the shopper's payment methods."""

    enabled: bool = False
    states: list[State] = UNSHIPPED


class Payments(_Section):
    """Which of the shopper's payment methods may receive or pay money in a change."""

    refund_to: list[Literal["original", "stored_value"]] = ["original"]
    """Where a refund may go: the method that paid the order, and/or any stored-value method of
    the shopper's (a gift card, a shop balance)."""
    stored_value_covers: bool = True
    """A stored-value method pays only what its balance covers (a price difference, an order)."""


class Profile(_Section):
    """Changes to the shopper's own profile."""

    address_change: bool = False
    """The shopper's default address may be changed in chat."""


class Offer(_Section):
    kind: Literal["coupon", "partial_refund", "gift"]
    amount: Money = 0
    """Coupon value or fixed partial refund."""
    percent: Annotated[int, Field(ge=0, le=50)] = 0
    """Partial refund as a share of what was paid (capped by `max`)."""
    max: Money = 0
    gift: str = ""
    min_order: Money = 0
    max_order: Money | None = None
    valid_days: Days = 30


class Retention(_Section):
    enabled: bool = True
    when_reason: list[str] = [
        "贵",
        "便宜",
        "降价",
        "差价",
        "后悔",
        "犹豫",
        "想想",
        "没想好",
        "考虑",
    ]
    """Offer first only when the shopper's reason matches one of these (price, hesitation)."""
    never_when: list[str] = []
    """Words besides `returns.quality_words` that rule an offer out: never stand between a
    quality problem and its remedy."""
    offers: list[Offer] = []
    per_order: Annotated[int, Field(ge=0, le=5)] = 1
    per_shopper: Annotated[int, Field(ge=0, le=20)] = 2
    window_days: Days = 30


class PriceProtection(_Section):
    enabled: bool = False
    days: Days = 7


class Urge(_Section):
    promise_hours: dict[str, Annotated[int, Field(ge=1, le=24 * 60)]] = {"default": 48}
    """Dispatch promise per category, tag or title word (a line takes the longest promise of
    the keys it matches; key `default` for lines that match none)."""


class Invoice(_Section):
    types: list[Literal["电子普通发票", "增值税专用发票"]] = ["电子普通发票"]
    subsidy_personal_only: bool = True
    states: list[State] = ["已发货", "已签收", "已完成"]
    timing: dict[Literal["电子普通发票", "增值税专用发票"], str] = {
        "电子普通发票": "1-3 个工作日内开具，可在订单详情下载",
        "增值税专用发票": "审核后 7 个工作日内开具",
    }
    """When each invoice type is issued, as the shopper is told it."""


class Installation(_Section):
    categories: list[str] = []
    """Product categories that get 安装预约 (none: the tool refuses every order)."""
    slots: list[str] = ["09:00-12:00", "14:00-18:00"]
    days_ahead: Annotated[int, Field(ge=1, le=60)] = 7
    min_lead_hours: Annotated[int, Field(ge=0, le=240)] = 24


class Coupon(_Section):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,32}$")]
    name: str
    amount: Money
    min_spend: Money = 0
    new_customer_only: bool = False
    claimable: bool = True
    """Shoppers may claim it in chat (apply_coupon)."""


class Presale(_Section):
    when: list[str] = []
    """Words in the shopper's message that make this guidance apply; empty = every turn."""
    say: str


class Region(_Section):
    status: Literal["active", "paused", "quota_exhausted"] = "active"
    start: date | None = None
    extra_categories: dict[str, Annotated[int, Field(ge=1, le=30)]] = {}
    """Local top-up categories and their rate in percent."""
    note: str = ""


class Subsidy(_Section):
    enabled: bool = False
    regions: dict[str, Region] = {}
    """Overlay per province (e.g. 广东省); provinces not listed follow the national table."""
    national: bool = True
    """The national table applies; false for a shop that runs only its own programmes."""
    programmes: Programmes = []
    """The shop's own programmes (`programmes.py`), beside the national table."""
    choose: Choice = "best"
    """Which one applies when several could (`programmes.Choice`)."""


class Handoff(_Section):
    """When a conversation goes to a human, besides the shopper asking for one."""

    order_above: Money | None = None
    """A change requested on an order whose total is above this goes to a human (e.g. 5000)."""
    levels: list[str] = []
    """Shopper levels (e.g. 钻石会员) whose change requests go to a human."""
    failures: Annotated[int, Field(ge=1, le=10)] = 2
    """Turns in a row the bot could not answer (fallback or guard exhausted)."""
    upset_turns: Annotated[int, Field(ge=1, le=10)] = 2
    """Upset messages in a row; one clearly angry message (投诉, 12315, …) is enough."""
    minutes_each: Annotated[int, Field(ge=1, le=120)] = 3
    """Rough minutes a human needs per conversation ahead in the queue (the wait estimate)."""
    assist: bool = False
    """智能辅助: every conversation goes to a human agent, and the AI only drafts replies in
    the workbench for the agent to send or edit; it answers no shopper itself."""


class Guard(_Section):
    rate_per_minute: Annotated[int, Field(ge=1, le=600)] = 20
    """Messages one shopper may send per minute; more are refused with HTTP 429."""
    judge: bool = True
    """Ask the LLM about policy statements the merchant's material does not plainly cover."""


class ShopPolicy(_Section):
    version: Literal[1] = 1
    confirm: Confirm = Confirm()
    cancel: Cancel = Cancel()
    address_change: AddressChange = AddressChange()
    refund: Refund = Refund()
    returns: Returns = Returns()
    exchange: Exchange = Exchange()
    item_change: ItemChange = ItemChange()
    payment_change: PaymentChange = PaymentChange()
    payments: Payments = Payments()
    profile: Profile = Profile()
    retention: Retention = Retention()
    price_protection: PriceProtection = PriceProtection()
    urge: Urge = Urge()
    invoice: Invoice = Invoice()
    installation: Installation = Installation()
    coupons: list[Coupon] = []
    presales: list[Presale] = []
    pairing: list[Pairing] = []
    """搭配推荐: what to suggest with a product (`selling.py`)."""
    upsell: list[Upsell] = []
    """How far above a stated budget one product may be suggested (`selling.py`)."""
    promotions: Promotions = []
    """满减 promotions and whether they stack (`promotions.py`)."""
    stockout: Stockout = Stockout()
    """What a product lookup says about sold-out goods (`selling.py`)."""
    subsidy: Subsidy = Subsidy()
    handoff: Handoff = Handoff()
    guard: Guard = Guard()
    windows: Windows = Windows()
    rules: list[Rule] = []
    """The shop's own rules, read in order before the built-in checks (`ruleset.py`)."""
