"""Order timelines: timestamps and parcel events consistent with an order's status at 'now'."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from xiaoer.demo.common import hours, minutes, pick, shopping_time

Track = Callable[[datetime], list[dict[str, Any]]]
DAY = timedelta(days=1)
AUTO_CONFIRM = timedelta(days=10)  # 发货后 10 天自动确认收货
STALE = timedelta(days=3)  # a parcel without updates for longer than this is 'delayed'


@dataclass(slots=True)
class Timeline:
    """All the instants of one order; None where the step has not happened."""

    created: datetime
    paid: datetime | None = None
    shipped: datetime | None = None
    delivered: datetime | None = None
    completed: datetime | None = None
    cancelled: datetime | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    applied: datetime | None = None  # after-sale application
    note: str = ""  # e.g. how a cancellation happened


class Retry(Exception):
    """The random draw did not fit the status; draw again."""


def _pay(rng: random.Random, created: datetime) -> datetime:
    return created + pick(
        rng, [(minutes(rng, 0.2, 2), 70), (minutes(rng, 2, 15), 25), (minutes(rng, 15, 90), 5)]
    )


def _ship(rng: random.Random, paid: datetime) -> datetime:
    """Dispatch within the 48 h promise, mostly the same or next day."""
    return paid + pick(
        rng,
        [
            (hours(rng, 2, 10), 40),
            (hours(rng, 10, 26), 40),
            (hours(rng, 26, 40), 15),
            (hours(rng, 40, 47.5), 5),
        ],
    )


def _shipped_order(
    rng: random.Random, anchor: datetime, track: Track, max_age: timedelta, min_age: timedelta
) -> Timeline:
    created = shopping_time(rng, anchor, max_age, min_age)
    paid = _pay(rng, created)
    shipped = _ship(rng, paid)
    tl = Timeline(created, paid, shipped, events=track(shipped))
    tl.delivered = tl.events[-1]["time"]
    return tl


def pending_payment(rng: random.Random, anchor: datetime, track: Track) -> Timeline:
    """Placed in the last 24 h, not paid (unpaid orders close after 24 h)."""
    return Timeline(
        shopping_time(rng, anchor, timedelta(hours=23, minutes=30), timedelta(minutes=3))
    )


def pending_shipment(rng: random.Random, anchor: datetime, track: Track) -> Timeline:
    """Paid within the last ~3 days, not yet handed to the carrier."""
    created = shopping_time(rng, anchor, timedelta(hours=64), timedelta(minutes=20))
    paid = _pay(rng, created)
    if paid > anchor - timedelta(minutes=5):
        raise Retry
    return Timeline(created, paid)


def in_transit(rng: random.Random, anchor: datetime, track: Track, min_events: int = 1) -> Timeline:
    """Shipped, on its way right now (may be out for delivery)."""
    tl = _shipped_order(rng, anchor, track, timedelta(days=4), timedelta(hours=5))
    assert tl.shipped is not None and tl.delivered is not None
    if tl.shipped > anchor - timedelta(minutes=30) or tl.delivered <= anchor:
        raise Retry
    tl.events = [e for e in tl.events if e["time"] <= anchor]
    if len(tl.events) < min_events or anchor - tl.events[-1]["time"] > DAY:
        raise Retry
    tl.delivered = None
    return tl


def delayed(rng: random.Random, anchor: datetime, track: Track, min_events: int = 2) -> Timeline:
    """Shipped, but the track has not moved for more than three days."""
    tl = _shipped_order(rng, anchor, track, timedelta(days=11), timedelta(days=5))
    assert tl.shipped is not None
    cut = anchor - STALE - hours(rng, 4, 72)
    tl.events = [e for e in tl.events if e["time"] <= cut and e["status"] in ("已揽收", "运输中")]
    if tl.shipped > cut or len(tl.events) < min_events:
        raise Retry
    tl.delivered = None
    tl.note = "delayed"
    return tl


def delivered(rng: random.Random, anchor: datetime, track: Track) -> Timeline:
    """Signed for, not yet confirmed (auto-confirm 10 days after shipping)."""
    tl = _shipped_order(rng, anchor, track, timedelta(days=10), timedelta(days=1))
    assert tl.shipped is not None and tl.delivered is not None
    if tl.delivered > anchor - timedelta(minutes=10) or anchor >= tl.shipped + AUTO_CONFIRM:
        raise Retry
    return tl


def completed(rng: random.Random, anchor: datetime, track: Track) -> Timeline:
    """Confirmed by the shopper after delivery, or automatically 10 days after shipping."""
    tl = _shipped_order(rng, anchor, track, timedelta(days=120), timedelta(days=3))
    assert tl.shipped is not None and tl.delivered is not None
    if rng.random() < 0.65:
        tl.completed = tl.delivered + pick(rng, [(hours(rng, 0.2, 6), 50), (hours(rng, 6, 96), 50)])
    else:
        tl.completed = max(tl.shipped + AUTO_CONFIRM + minutes(rng, 1, 30), tl.delivered)
    if tl.completed > anchor:
        raise Retry
    return tl


def after_sale(
    rng: random.Random,
    anchor: datetime,
    track: Track,
    shipped: bool = True,
    window: timedelta = timedelta(days=7),
) -> Timeline:
    """An open after-sale case: before shipping (仅退款) or within the window after delivery."""
    if not shipped:
        tl = pending_shipment(rng, anchor, track)
        assert tl.paid is not None
        tl.applied = tl.paid + hours(rng, 0.2, 30)
    else:
        tl = _shipped_order(rng, anchor, track, timedelta(days=24), timedelta(days=2))
        assert tl.delivered is not None
        tl.applied = tl.delivered + hours(rng, 1, window.total_seconds() / 3600 - 1)
    if tl.applied > anchor or anchor - tl.applied > timedelta(days=5):
        raise Retry
    return tl


def cancelled(rng: random.Random, anchor: datetime, track: Track) -> Timeline:
    """Closed: cancelled by the shopper before paying, timed out unpaid, or refunded before shipping."""
    created = shopping_time(rng, anchor, timedelta(days=120), timedelta(hours=1))
    tl = Timeline(created)
    kind = pick(rng, [("unpaid", 45), ("timeout", 20), ("paid", 35)])
    if kind == "unpaid":
        tl.cancelled = created + minutes(rng, 2, 240)
    elif kind == "timeout":
        tl.cancelled = created + DAY
    else:
        tl.paid = _pay(rng, created)
        tl.cancelled = tl.paid + hours(rng, 0.1, 20)
    if tl.cancelled > anchor:
        raise Retry
    tl.note = kind
    return tl


SIMULATORS: dict[str, Callable[..., Timeline]] = {
    "待付款": pending_payment,
    "待发货": pending_shipment,
    "已发货": in_transit,
    "已签收": delivered,
    "已完成": completed,
    "售后中": after_sale,
    "已取消": cancelled,
}


def simulate(
    rng: random.Random, status: str, anchor: datetime, track: Track, **kwargs: Any
) -> Timeline:
    """Draw a timeline for `status`, retrying until it fits (deterministic for a given rng)."""
    sim = delayed if kwargs.pop("delayed", False) else SIMULATORS[status]
    for _ in range(200):
        try:
            return sim(rng, anchor, track, **kwargs)
        except Retry:
            continue
    raise RuntimeError(f"could not draw a {status} timeline")
