"""Pre-sales strategies as the merchant writes them: what to pair with a product (`pairing`),
how far above a stated budget one product may be suggested (`upsell`) and what to say when
goods are sold out (`stockout`). Promotions (满减) are in `promotions.py`.

Only the merchant's choices are here; the products, their prices and their stock always come
from the catalogue (`tools/presale.py` looks them up). Cross-field checks are field
validators, so a problem is reported at the field it is about (`pairing.0.suggest.category`)
and `load.py` can point at its line.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from xiaoer.domain.models import Product
from xiaoer.policy.amounts import Money


def _text(value: Any) -> Any:
    """A YAML scalar as the text it was written as (`product: 1001` is the id "1001")."""
    return str(value).strip() if isinstance(value, (int, float, str)) else value


Word = Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=40)]
Say = Annotated[str, Field(max_length=120)]

PAIR_MAX = 2
"""At most this many paired products are suggested on one product."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)


class Target(_Model):
    """The products a pairing rule is for: one product, or every product of a category."""

    product: Annotated[str, BeforeValidator(_text), Field(max_length=64)] = ""
    category: Annotated[
        str, BeforeValidator(_text), Field(max_length=40, validate_default=True)
    ] = ""

    @field_validator("category")
    @classmethod
    def _one_of(cls, category: str, info: ValidationInfo) -> str:
        if "product" in info.data and bool(info.data["product"]) == bool(category):
            raise ValueError("give either product or category, not both or neither")
        return category

    def covers(self, product: Product) -> bool:
        return product.id == self.product if self.product else product.category == self.category


class Suggest(_Model):
    """What to suggest: these products (ids, in this order), or products of a category."""

    products: Annotated[list[Word], Field(max_length=10)] = []
    category: Annotated[
        str, BeforeValidator(_text), Field(max_length=40, validate_default=True)
    ] = ""

    @field_validator("category")
    @classmethod
    def _one_of(cls, category: str, info: ValidationInfo) -> str:
        if "products" in info.data and bool(info.data["products"]) == bool(category):
            raise ValueError("give either products or category, not both or neither")
        return category


class Pairing(_Model):
    """搭配推荐: looking at a product `for` covers, the shopper is told of up to `PAIR_MAX`
    in-stock products of `suggest`, each with its catalogue price."""

    for_: Target = Field(alias="for")
    suggest: Suggest
    say: Say = ""
    """The merchant's words before the products (e.g. why they go together); empty = none."""


class Upsell(_Model):
    """预算内加价推荐: when products are listed for a stated budget, one more product of
    `category` priced above the budget by at most the headroom may be shown, marked as over."""

    category: Annotated[str, BeforeValidator(_text), Field(max_length=40)] = ""
    """The category of the listed products it applies to; empty = every category."""
    up_to_percent: Annotated[int, Field(ge=1, le=100)] | None = None
    """Headroom as a percent of the budget."""
    up_to: Annotated[Money | None, Field(validate_default=True)] = None
    """Headroom as an amount (元)."""
    say: Say = ""

    @field_validator("up_to")
    @classmethod
    def _one_of(cls, up_to: int | None, info: ValidationInfo) -> int | None:
        if "up_to_percent" not in info.data:
            return up_to  # the percent itself was invalid and is reported
        if (info.data["up_to_percent"] is None) == (up_to is None):
            raise ValueError("give either up_to_percent or up_to, not both or neither")
        if up_to == 0:
            raise ValueError("up_to must be above 0")
        return up_to

    def headroom(self, budget_fen: int) -> int:
        """How far above `budget_fen` a suggestion may be priced (分, rounded down)."""
        if self.up_to is not None:
            return self.up_to
        return budget_fen * (self.up_to_percent or 0) // 100


class Stockout(_Model):
    """What a product lookup says when the options asked about (or all of the product's) cannot
    be ordered. The restock date is said whenever the catalogue has one for the SKU."""

    alternatives: Annotated[int, Field(ge=0, le=5)] = 0
    """Up to this many in-stock alternatives in all: the same product's other options count
    first, then products of the same category fill the rest; 0 = the same product's options
    only (as listed without this section)."""
    price_band_percent: Annotated[int, Field(ge=0, le=100)] = 20
    """Other products are offered only when priced within this percent of the sold-out SKU's
    price, either way."""
    say: Say = ""
    """The merchant's sentence after the alternatives (e.g. how to be told of a restock)."""

    def band(self, price_fen: int) -> tuple[int, int]:
        """The lowest and highest price (分) an alternative may have."""
        low = price_fen * (100 - self.price_band_percent) // 100
        high = -(-price_fen * (100 + self.price_band_percent) // 100)
        return low, high


def pairing_for(rules: list[Pairing], product: Product) -> Pairing | None:
    """The first pairing rule for the product (rules are read in the order written)."""
    return next((r for r in rules if r.for_.covers(product)), None)


def upsell_for(rules: list[Upsell], categories: list[str]) -> Upsell | None:
    """The first upsell rule for the listed products' categories (empty category: any)."""
    return next((r for r in rules if not r.category or r.category in categories), None)
