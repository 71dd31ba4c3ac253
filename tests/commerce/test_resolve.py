"""Names and option values the model writes, mapped onto the order's and the product's ids."""

from __future__ import annotations

from datetime import UTC, datetime

from xiaoer.commerce.resolve import lines_of, resolve_lines, resolve_option, sku_of
from xiaoer.domain.models import Address, Order, OrderLine, OrderStatus, Product, Sku

SHOES = Product(
    "P1", "Running Shoes", "shoes", "", "", {},
    (Sku("S-9-W", "P1", {"size": "9", "color": "white"}, 9900, 3),
     Sku("S-9-B", "P1", {"size": "9", "color": "black"}, 9900, 2),
     Sku("S-10-W", "P1", {"size": "10", "color": "white"}, 9900, 0),
     Sku("S-10-B", "P1", {"size": "10", "color": "black"}, 10900, 4)),
)  # fmt: skip
WHITE_9 = OrderLine("S-9-W", "P1", "Running Shoes", {"size": "9", "color": "white"}, 9900, 1)
BLACK_10 = OrderLine("S-10-B", "P1", "Running Shoes", {"size": "10", "color": "black"}, 10900, 1)
MUG = OrderLine("M-1", "P2", "Mug", {"color": "red"}, 1500, 1)
ORDER = Order(
    "O1", "U1", OrderStatus.PENDING_SHIPMENT, datetime(2026, 1, 1, tzinfo=UTC),
    (WHITE_9, BLACK_10, MUG, MUG), 32300, 32300, Address("A", "", "", "", "", ""),
)  # fmt: skip


def test_lines_by_id_or_by_name_and_options() -> None:
    given = ["S-9-W", "running shoes (size 10, black)", "the red Mug", "Running Shoes", "hat"]
    assert resolve_lines(ORDER, given) == ["S-9-W", "S-10-B", "M-1", "Running Shoes", "hat"]
    # two lines of the product and no option to tell them apart: left as given


def test_lines_of_takes_each_repeated_id_from_its_own_line() -> None:
    lines, missing = lines_of(ORDER, ["M-1", "M-1", "M-1", "S-9-W", "X"])
    assert [ln.sku_id for ln in lines] == ["M-1", "M-1", "S-9-W"]
    assert missing == ["M-1", "X"]


def test_option_by_id_or_by_values() -> None:
    assert resolve_option(WHITE_9, SHOES, "S-9-B") == "S-9-B"
    assert resolve_option(WHITE_9, SHOES, "black") == "S-9-B"  # keeps size 9, the line's own
    assert resolve_option(WHITE_9, SHOES, "size 10, black") == "S-10-B"


def test_option_needs_one_in_stock_best_match() -> None:
    assert resolve_option(WHITE_9, SHOES, "size 10 white") == "size 10 white"  # sold out
    assert resolve_option(WHITE_9, SHOES, "a nicer one") == "a nicer one"
    assert resolve_option(BLACK_10, SHOES, "white") == "S-9-W"  # the only white in stock
    assert resolve_option(WHITE_9, SHOES, 42) == "42"


def test_sku_of() -> None:
    assert sku_of(SHOES, "S-10-B") == SHOES.skus[3]
    assert sku_of(SHOES, "nope") is None and sku_of(None, "S-10-B") is None


def test_option_values_are_whole_words_and_option_names_are_not_values() -> None:
    sizes = Product(
        "P3", "Tee", "tops", "", "", {},
        (Sku("T-S", "P3", {"size": "S", "fit/cut": "fit"}, 900, 1),
         Sku("T-M", "P3", {"size": "M", "fit/cut": "fit"}, 900, 1),
         Sku("T-M-C", "P3", {"size": "M", "fit/cut": "cut"}, 900, 1)),
    )  # fmt: skip
    tee = OrderLine("T-S", "P3", "Tee", {"size": "S", "fit/cut": "fit"}, 900, 1)
    assert resolve_option(tee, sizes, "stretchy M") == "T-M"  # the s of "stretchy" is no size
    assert resolve_option(tee, sizes, "size M, fit/cut cut") == "T-M-C"


def test_option_from_old_to_new_and_the_lines_own_when_named_in_full() -> None:
    assert resolve_option(WHITE_9, SHOES, "from white to black") == "S-9-B"
    assert resolve_option(WHITE_9, SHOES, "size 9, color white") == "S-9-W"
