"""Parcel tracks: carrier-shaped tracking numbers and realistic Chinese hub scans."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from xiaoer.demo.common import hours, minutes
from xiaoer.demo.geo import COURIER_SURNAMES, PLACES, TRANSIT


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a shop's parcels leave from."""

    province: str
    city: str
    district: str
    site: str  # the pickup site's name


@dataclass(frozen=True, slots=True)
class Carrier:
    """How one carrier numbers parcels and names its sites."""

    name: str
    prefix: str
    digits: int
    hub: str  # format with {c} = city short name
    station: str  # format with {c}, {d}
    speed: float  # multiplier on line-haul durations


CARRIERS: dict[str, Carrier] = {
    c.name: c
    for c in (
        Carrier("顺丰速运", "SF", 13, "{c}中转场", "{c}{d}营业点", 0.65),
        Carrier("中通快递", "7", 13, "{c}转运中心", "{c}{d}网点", 1.0),
        Carrier("圆通速递", "YT", 13, "{c}转运中心", "{c}{d}公司", 1.0),
        Carrier("韵达快递", "43", 13, "{c}分拨中心", "{c}{d}服务部", 1.1),
        Carrier("京东快递", "JD", 13, "{c}分拣中心", "{c}{d}营业部", 0.75),
        Carrier("日日顺物流", "RRS", 12, "{c}物流中心", "{c}{d}服务网点", 1.2),
    )
}


def short(place: str) -> str:
    """城市/区县 name without its administrative suffix: 杭州市 -> 杭州, 西湖区 -> 西湖."""
    for suffix in ("街道", "新区", "市", "区", "县", "镇"):
        if place.endswith(suffix) and len(place) > len(suffix) + 1:
            return place[: -len(suffix)]
    return place


def tracking_no(rng: random.Random, carrier: str) -> str:
    """A tracking number in the carrier's usual shape (SF…, 7…, YT…, 43…, JD…)."""
    c = CARRIERS[carrier]
    return c.prefix + "".join(str(rng.randint(0, 9)) for _ in range(c.digits))


def _courier(rng: random.Random) -> str:
    phone = f"1{rng.choice('3578')}{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}"
    return f"{rng.choice(COURIER_SURNAMES)}师傅，电话：{phone}"


def _hubs(origin: Origin, addr: dict[str, str]) -> list[str]:
    """City short names of the sorting hubs a parcel passes, in order."""
    o_region = PLACES.get(origin.province, (0, "华东", "", {}))[1]
    _, d_region, d_hub, _ = PLACES[addr["province"]]
    chain = [short(origin.city)]
    transit = TRANSIT.get((o_region, d_region))
    if origin.province != addr["province"] and transit:
        chain.append(transit)
    chain.append(d_hub)
    chain.append(short(addr["city"]))
    deduped: list[str] = []
    for hub in chain:
        if hub not in deduped:
            deduped.append(hub)
    return deduped


def _event(time: datetime, status: str, location: str, detail: str) -> dict[str, Any]:
    return {"time": time, "status": status, "location": location, "detail": detail}


def _deliver_time(rng: random.Random, arrived: datetime) -> datetime:
    """When the courier sets out: soon in the daytime, else next morning."""
    if 7 <= arrived.hour < 16:
        return arrived + minutes(rng, 20, 150)
    day = arrived.date() if arrived.hour < 7 else arrived.date() + timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 8, 0, tzinfo=arrived.tzinfo)
    return max(start + minutes(rng, 0, 150), arrived + minutes(rng, 20, 60))


_SIGNED = [
    "快件已签收，签收人：本人，感谢使用{c}，期待再次为您服务",
    "快件已签收，签收人：家人代收，如有疑问请联系派件员",
    "您的快件已由【{d}菜鸟驿站】代收，请及时取件，如有疑问请联系派件员",
    "快件已放入【丰巢智能柜】，已签收，取件码已短信通知",
    "快件已签收，签收人：前台/门卫代收",
]


def build_track(
    rng: random.Random, carrier: str, origin: Origin, addr: dict[str, str], shipped_at: datetime
) -> list[dict[str, Any]]:
    """The full track from pickup to signature; callers cut it at 'now' when needed."""
    c = CARRIERS[carrier]
    o_loc = origin.province + origin.city
    events = [
        _event(shipped_at, "已揽收", o_loc, f"{carrier} 已揽收快件，揽收网点【{origin.site}】")
    ]
    t = shipped_at + hours(rng, 1.5, 5)
    hubs = _hubs(origin, addr)
    station = c.station.format(c=short(addr["city"]), d=short(addr["district"]))
    for i, city in enumerate(hubs):
        hub = "【" + c.hub.format(c=city) + "】"
        loc = o_loc if i == 0 else (addr["province"] + addr["city"] if i == len(hubs) - 1 else "")
        loc = loc or f"{city}市"
        events.append(_event(t, "运输中", loc, f"快件已到达{hub}"))
        t += hours(rng, 0.8, 4)
        nxt = hubs[i + 1] if i + 1 < len(hubs) else None
        target = "【" + (c.hub.format(c=nxt) if nxt else station) + "】"
        events.append(_event(t, "运输中", loc, f"快件已从{hub}发出，下一站{target}"))
        haul = hours(rng, 4, 20).total_seconds() * c.speed
        t += hours(rng, 2, 5) if nxt is None else timedelta(seconds=int(haul))
    d_loc = addr["province"] + addr["city"]
    events.append(_event(t, "运输中", d_loc, f"快件已到达【{station}】，正在安排派送"))
    t = _deliver_time(rng, t)
    who = "送装师傅" if carrier == "日日顺物流" else "派件员"
    events.append(
        _event(t, "派送中", d_loc, f"快件正在派送中，{who}：{_courier(rng)}，请保持电话畅通")
    )
    t += minutes(rng, 25, 300)
    signed = rng.choice(_SIGNED).format(c=carrier, d=short(addr["district"]))
    events.append(_event(t, "已签收", d_loc, signed))
    return events
