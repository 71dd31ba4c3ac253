"""Historical human-agent chats: the world topics draw from, and the assembly of a chat record."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from xiaoer.demo.common import pick, rand_time

HISTORY = timedelta(days=119)


@dataclass(slots=True)
class Draft:
    """The content of one chat before times, agent and rating are filled in."""

    tags: list[str]
    turns: list[tuple[str, str]]  # (role, text), role "shopper" or "agent"
    bad: bool
    start: datetime
    shopper_id: str | None = None
    order_id: str | None = None
    agent: str | None = None  # a specific agent (e.g. the installation desk)


@dataclass
class World:
    """Everything a chat topic may refer to."""

    anchor: datetime
    products: list[dict[str, Any]]
    shoppers: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    agents: list[str]
    facts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {p["id"]: p for p in self.products}
        self.shopper_by_id = {s["id"]: s for s in self.shoppers}

    def product_of(self, order: dict[str, Any]) -> dict[str, Any]:
        """The product of the order's first line."""
        return self.by_id[order["lines"][0]["product_id"]]

    def find_order(
        self, rng: random.Random, pred: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any] | None:
        """A random order matching `pred` (None if there is none)."""
        found = [o for o in self.orders if o["shopper_id"] != "U00001" and pred(o)]
        return rng.choice(found) if found else None

    def products_where(self, pred: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [p for p in self.products if pred(p)]

    def random_shopper(self, rng: random.Random) -> dict[str, Any]:
        return rng.choice(self.shoppers[1:])

    def when(
        self, rng: random.Random, lo: datetime | None = None, hi: datetime | None = None
    ) -> datetime:
        """A chat start in [lo, hi] within agents' hours (09-22) and the last 119 days.

        Raises NoSlot when the window has no such time; the topic is then skipped.
        """
        lo = max(lo or self.anchor - HISTORY, self.anchor - HISTORY)
        hi = min(hi or self.anchor, self.anchor - timedelta(minutes=40))
        if hi < lo:
            raise NoSlot
        for _ in range(12):
            t = rand_time(rng, lo, hi)
            if 9 <= t.hour < 22:
                return t
        raise NoSlot


class NoSlot(Exception):
    """No time in working hours fits the chat's window."""


Topic = Callable[[World, random.Random, bool], Draft | None]

_TYPO = [
    ("怎么", "咋"),
    ("什么", "啥"),
    ("已经", "以经"),
    ("到底", "倒底"),
    ("知道", "知到"),
    ("是不是", "是不"),
    ("好的", "好滴"),
    ("谢谢", "3q"),
    ("这个", "这"),
    ("没有", "没"),
    ("为什么", "为啥"),
    ("一下", "一哈"),
    ("可以", "能"),
    ("吗", "嘛"),
]
_PREFIX = ["在吗？", "亲，", "你好，", "客服在不在，", "hello，", "喂喂，", "麻烦问下，", ""]
_SUFFIX = ["？？", "。。。", "，急！", "", "啊", "呀", "!!", "，谢谢"]


def colloquial(rng: random.Random, text: str, first: bool = True) -> str:
    """Make a shopper message sloppier: typos, slang, stray punctuation (openers get 在吗…)."""
    if rng.random() < 0.45:
        options = [pair for pair in _TYPO if pair[0] in text]
        for old, new in rng.sample(options, k=min(len(options), rng.randint(1, 2))):
            text = text.replace(old, new, 1)
    if first and rng.random() < 0.25:
        text = rng.choice(_PREFIX) + text
    if rng.random() < 0.3:
        text = text.rstrip("？?。.！!")
        suffix = rng.choice(_SUFFIX)
        if text.endswith(("吗", "嘛", "呢", "啊", "呀")) and suffix in ("啊", "呀"):
            suffix = "？"
        text += suffix
    if rng.random() < 0.15:
        text = text.replace("，", " ")
    return text


_HELLO = ["在吗", "你好", "有人吗", "客服", "在不在", "亲在吗"]
_GREET = [
    "您好，我是{a}，很高兴为您服务，请问有什么可以帮您？",
    "在的亲，{a}为您服务~",
    "亲，您好！请问有什么可以帮到您？",
    "您好，{a}在的，您请说~",
]
_THANKS = [
    "好的，谢谢",
    "好滴 辛苦了",
    "明白了，谢谢亲",
    "ok",
    "行，那我等等",
    "好的好的",
    "收到，感谢",
]
_BYE = [
    "不客气亲，还有其他问题随时找我哦~",
    "应该的，祝您生活愉快！",
    "感谢您的耐心，有问题随时联系~",
    "不客气，祝您购物愉快~",
]
_ANGRY = [
    "什么态度啊",
    "算了，差评",
    "问了等于没问",
    "你们这客服真不行",
    "？？？",
    "无语",
    "那我投诉了",
]
_SHRUG = ["还有其他问题吗", "嗯", "……"]


def _frame(rng: random.Random, draft: Draft, agent: str) -> list[tuple[str, str]]:
    """Add an optional greeting and a closing that matches the answer quality."""
    turns = list(draft.turns)
    if rng.random() < 0.3:
        turns = [
            ("shopper", rng.choice(_HELLO)),
            ("agent", rng.choice(_GREET).format(a=agent)),
            *turns,
        ]
    if turns[-1][0] == "agent" and len(turns) < 11 and rng.random() < 0.75:
        turns.append(("shopper", rng.choice(_ANGRY if draft.bad else _THANKS)))
        if len(turns) < 12 and rng.random() < 0.6:
            turns.append(("agent", rng.choice(_SHRUG if draft.bad else _BYE)))
    return turns[:12]


def _times(
    rng: random.Random, start: datetime, turns: list[tuple[str, str]], bad: bool, anchor: datetime
) -> list[datetime]:
    """Message times: agents answer within minutes (bad ones sometimes much later)."""
    times = [start]
    for prev, cur in zip(turns, turns[1:], strict=False):
        if cur[0] == "agent" and prev[0] == "shopper":
            slow = bad and rng.random() < 0.3
            gap = rng.randint(240, 900) if slow else rng.randint(15, 150)
        else:
            gap = rng.randint(20, 240)
        times.append(times[-1] + timedelta(seconds=gap))
    excess = times[-1] - (anchor - timedelta(minutes=1))
    if excess > timedelta(0):
        times = [t - excess for t in times]
    return times


def _rating(rng: random.Random, bad: bool) -> int | None:
    if bad:
        return pick(rng, [(1, 45), (2, 30), (3, 5), (None, 20)])
    return pick(rng, [(5, 55), (4, 25), (3, 6), (None, 14)])


def assemble(
    rng: random.Random, draft: Draft, cid: str, agents: list[str], anchor: datetime
) -> dict[str, Any]:
    """A chats.jsonl record (times as datetimes); `_bad` is kept for tests only."""
    agent = draft.agent or rng.choice(agents)
    draft.turns = [
        (role, colloquial(rng, text, i == 0) if role == "shopper" else text)
        for i, (role, text) in enumerate(draft.turns)
    ]
    turns = _frame(rng, draft, agent)
    times = _times(rng, draft.start.replace(microsecond=0), turns, draft.bad, anchor)
    return {
        "id": cid,
        "shopper_id": draft.shopper_id,
        "order_id": draft.order_id,
        "agent": agent,
        "started_at": times[0],
        "rating": _rating(rng, draft.bad),
        "tags": draft.tags,
        "messages": [
            {"role": role, "text": text, "time": t}
            for (role, text), t in zip(turns, times, strict=True)
        ],
        "_bad": draft.bad,
    }


def build_chats(
    rng: random.Random,
    world: World,
    topics: list[tuple[Topic, int]],
    count: int,
    bad_share: float = 0.2,
) -> list[dict[str, Any]]:
    """`count` chats drawn from weighted topics, sorted by start time, ids C00001…"""
    drafts: list[Draft] = []
    bad_count = 0
    while len(drafts) < count:
        topic = pick(rng, topics)
        behind = bad_count < bad_share * (len(drafts) + 1)  # keep the share close to target
        try:
            draft = topic(world, rng, rng.random() < (0.5 if behind else 0.05))
        except NoSlot:
            continue
        if draft is not None:
            drafts.append(draft)
            bad_count += draft.bad
    records = [assemble(rng, d, "", world.agents, world.anchor) for d in drafts]
    records.sort(key=lambda r: r["started_at"])
    for i, record in enumerate(records, start=1):
        record["id"] = f"C{i:05d}"
    return records
