"""Shop subsidy programmes (店铺补贴活动) as the merchant writes them in `subsidy.programmes`.

A programme sits beside the national 国补 table (`subsidy.py`): its own name, dates, provinces,
categories, tiers by a product attribute the policy names, caps, limits and conditions. Which
one applies when several could is `subsidy.choose`. Quoting is in `programme_quote.py`.

Cross-field checks are field validators, so a problem is reported at the field it is about
(`subsidy.programmes.0.tiers.1.amount`) and `load.py` can point at its line.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from xiaoer.policy.amounts import Money

Choice = Literal["best", "national", "shop"]
"""When several programmes could apply: `best` the one that pays the shopper most (a tie goes
to the national table, then to the programme listed first); `national` the national table
whenever it applies; `shop` the first of the shop's programmes that applies, in listed order."""


Yuan = Money
"""An amount in 元, held as 分 (`amounts.Money`)."""


def _text(value: Any) -> Any:
    """A YAML scalar as the text it was written as (`value: 1` is the attribute value "1")."""
    return str(value).strip() if isinstance(value, (int, float, str)) else value


Word = Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=40)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Model):
    """What one value of the programme's `tier_by` attribute gets: a percent of the final
    price, or a fixed amount per item (never more than the price)."""

    value: Annotated[str, BeforeValidator(_text)] = ""
    """The attribute's value as the catalogue writes it (e.g. a grade); empty when the
    programme has no `tier_by`."""
    percent: Annotated[int, Field(ge=1, le=100)] | None = None
    amount: Annotated[Yuan | None, Field(validate_default=True)] = None

    @field_validator("amount")
    @classmethod
    def _one_of(cls, amount: int | None, info: ValidationInfo) -> int | None:
        if "percent" not in info.data:
            return amount  # the percent itself was invalid and is reported
        if (info.data["percent"] is None) == (amount is None):
            raise ValueError("give either percent or amount for a tier, not both or neither")
        return amount


class Caps(_Model):
    item: Yuan | None = None
    """At most this per item."""
    order: Yuan | None = None
    """At most this per order, all items together."""


class Limit(_Model):
    """How many items one shopper (or one order) may have subsidised."""

    count: Annotated[int, Field(ge=1, le=100)]
    per: Literal["person", "order"] = "person"
    by: Literal["category", "programme"] = "category"
    """Counted per category, or across all the programme's categories."""
    period: Literal["programme", "year", "month", "days"] = "programme"
    """For `per: person`: the programme's dates, the calendar year or month (shop timezone),
    or the last `days` days."""
    days: Annotated[int | None, Field(ge=1, le=3650, validate_default=True)] = None

    @field_validator("days")
    @classmethod
    def _days(cls, days: int | None, info: ValidationInfo) -> int | None:
        period, per = info.data.get("period"), info.data.get("per")
        if period == "days" and days is None:
            raise ValueError("period: days needs `days` (how many days back are counted)")
        if period != "days" and days is not None:
            raise ValueError("`days` is only for period: days")
        if per == "order" and period not in ("programme", None):
            raise ValueError("a per-order limit counts the items of one order; it has no period")
        return days


class Programme(_Model):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,32}$")]
    name: Annotated[str, Field(min_length=1, max_length=40)]
    """What replies cite, e.g. 「店铺焕新补贴」."""
    start: date | None = None
    end: Annotated[date | None, Field(validate_default=True)] = None
    """Both inclusive, as days in the shop's timezone; none = open."""
    regions: list[Word] = []
    """Provinces of the delivery address; empty = everywhere."""
    categories: list[Word] = []
    """Product categories it covers; empty = every category."""
    exclude_categories: Annotated[list[Word], Field(validate_default=True)] = []
    tier_by: Annotated[str, BeforeValidator(_text), Field(max_length=40)] = ""
    """The product attribute whose value picks the tier (e.g. an efficiency grade); empty =
    one tier for every product. Values no tier lists are not covered."""
    tiers: Annotated[list[Tier], Field(min_length=1)]
    caps: Caps = Caps()
    limits: list[Limit] = []
    needs_invoice: bool = False
    stacks_with_coupons: bool = True
    record: Annotated[str, Field(max_length=40)] = ""
    """The key under which an order's `extras` mark that it used this programme (a mapping
    with its `category`, or a list of them); empty = the programme's id. Person limits count
    the shopper's orders so marked."""
    note: Annotated[str, Field(max_length=200)] = ""
    """One more sentence for the shopper (how to claim it, what to bring)."""

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("start")
        if start is not None and end is not None and end < start:
            raise ValueError(f"ends ({end.isoformat()}) before it starts ({start.isoformat()})")
        return end

    @field_validator("exclude_categories")
    @classmethod
    def _not_both(cls, excluded: list[str], info: ValidationInfo) -> list[str]:
        both = set(excluded) & set(info.data.get("categories") or ())
        if both:
            raise ValueError(f"both included and excluded: {'、'.join(sorted(both))}")
        return excluded

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, tiers: list[Tier], info: ValidationInfo) -> list[Tier]:
        values = [t.value for t in tiers]
        if not info.data.get("tier_by"):
            if len(tiers) != 1 or values[0]:
                raise ValueError("without tier_by, give one tier with no value")
            return tiers
        if not all(values):
            raise ValueError("with tier_by, every tier needs the attribute value it is for")
        if len(set(values)) != len(values):
            raise ValueError("two tiers for the same value")
        return tiers

    @property
    def key(self) -> str:
        return self.record or self.id


def unique_ids(what: str) -> Callable[[list[Any]], list[Any]]:
    """A list validator: the entries' `id`s name them in records, so they must not repeat."""

    def check(entries: list[Any]) -> list[Any]:
        ids = [e.id for e in entries]
        if len(set(ids)) != len(ids):
            raise ValueError(f"two {what} with the same id")
        return entries

    return check


Programmes = Annotated[
    list[Programme], Field(max_length=20), AfterValidator(unique_ids("programmes"))
]
