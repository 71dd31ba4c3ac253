"""Demo shoppers: Chinese names, unique 11-digit phones, 1-3 realistic addresses."""

from __future__ import annotations

import random
from typing import Any

from xiaoer.demo.common import pick
from xiaoer.demo.geo import (
    COMMUNITIES,
    FEMALE_CHARS,
    MALE_CHARS,
    PLACES,
    SURNAMES,
    TOWERS,
    province_weights,
)

_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "173",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "193",
    "195",
    "198",
    "199",
]


def person_name(rng: random.Random, female: bool | None = None) -> str:
    """A plausible Chinese full name."""
    if female is None:
        female = rng.random() < 0.5
    chars = FEMALE_CHARS if female else MALE_CHARS
    given = rng.choice(chars)
    if rng.random() < 0.65:
        given += rng.choice(chars + ["子", "嘉", "思", "一", "若", "梓", "雅", "天"])
    return pick(rng, SURNAMES) + given


def phone_number(rng: random.Random, used: set[str]) -> str:
    """A fresh 11-digit mobile number not in `used` (which is updated)."""
    while True:
        number = rng.choice(_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
        if number not in used:
            used.add(number)
            return number


def street_detail(rng: random.Random, roads: list[str]) -> str:
    """House-level address detail: road, number, estate, building, room."""
    road = rng.choice(roads)
    number = rng.randint(1, 888)
    kind = rng.random()
    if kind < 0.45:
        return (
            f"{road}{number}号{rng.choice(COMMUNITIES)}{rng.randint(1, 28)}栋"
            f"{rng.randint(1, 4)}单元{rng.randint(2, 32)}0{rng.randint(1, 4)}"
        )
    if kind < 0.75:
        return f"{road}{number}号{rng.choice(COMMUNITIES)}{rng.randint(1, 18)}幢{rng.randint(1, 6)}0{rng.randint(1, 4)}室"
    if kind < 0.9:
        return (
            f"{road}{number}号{rng.choice(TOWERS)}{rng.randint(3, 36)}楼{rng.randint(1, 20):02d}室"
        )
    return f"{rng.choice(COMMUNITIES)}{rng.randint(1, 5)}期{rng.randint(1, 40)}号楼{rng.randint(1, 30)}0{rng.randint(1, 6)}"


def address(
    rng: random.Random, name: str, phone: str, province: str | None = None
) -> dict[str, str]:
    """One address dict in the bundle's shape."""
    province = province or pick(rng, province_weights())
    cities = PLACES[province][3]
    city = rng.choice(list(cities))
    districts, roads = cities[city]
    return {
        "name": name,
        "phone": phone,
        "province": province,
        "city": city,
        "district": rng.choice(districts),
        "detail": street_detail(rng, roads),
    }


def make_shopper(
    rng: random.Random, sid: str, used: set[str], levels: list[tuple[str, int]], female_share: float
) -> dict[str, Any]:
    """One shopper with 1-3 addresses (home, maybe office, maybe family)."""
    female = rng.random() < female_share
    name = person_name(rng, female)
    phone = phone_number(rng, used)
    home = address(rng, name, phone)
    addresses = [home]
    if rng.random() < 0.35:  # office in the same province
        addresses.append(address(rng, name, phone, home["province"]))
    if rng.random() < 0.2:  # parents or partner elsewhere
        relative = person_name(rng)
        relative = home_surname(name) + relative[len(home_surname(relative)) :]
        addresses.append(address(rng, relative, phone_number(rng, used)))
    return {
        "id": sid,
        "name": name,
        "phone": phone,
        "level": pick(rng, levels),
        "addresses": addresses,
    }


def home_surname(name: str) -> str:
    """The surname part of a generated name."""
    return name[:2] if name.startswith("欧阳") else name[:1]


def make_shoppers(
    rng: random.Random,
    count: int,
    first: dict[str, Any],
    levels: list[tuple[str, int]],
    female_share: float,
) -> list[dict[str, Any]]:
    """`count` shoppers; `first` is the hand-written demo shopper U00001."""
    used = {first["phone"]} | {a["phone"] for a in first["addresses"]}
    shoppers = [first]
    for i in range(2, count + 1):
        shoppers.append(make_shopper(rng, f"U{i:05d}", used, levels, female_share))
    return shoppers
