"""Which saved model states are kept: a new state replaces the oldest of its own prompt family,
so one turn's several agent calls do not push out the understanding step's state."""

from __future__ import annotations

from typing import Any

from xiaoer.llm.snapshots import MIN_GAIN, Snapshots


class Live:
    """The prompt llama.cpp holds now (its token ids), as `Snapshots` reads it."""

    def __init__(self) -> None:
        self._input_ids: list[int] = []


class Kept(Snapshots):
    def _state(self) -> bytes | None:
        return bytes(len(self._live()))


def _prompt(family: int, tail: int) -> list[int]:
    return [family] * (MIN_GAIN + 10) + [1000 + tail] * 5


def _save(snaps: Kept, live: Any, ids: list[int]) -> None:
    live._input_ids = ids
    snaps.save()


def test_a_new_state_replaces_the_oldest_of_its_own_family() -> None:
    live = Live()
    snaps = Kept(live, size=3)
    _save(snaps, live, _prompt(7, 0))  # the understanding step
    for call in range(4):  # one turn's agent calls, one after another
        _save(snaps, live, _prompt(9, call))
    families = [s.ids[0] for s in snaps.saved]
    assert sorted(families) == [7, 9, 9]
    assert [s.ids[-1] for s in snaps.saved if s.ids[0] == 9] == [1002, 1003]


def test_with_no_state_of_its_family_the_least_recently_used_goes() -> None:
    live = Live()
    snaps = Kept(live, size=2)
    for family in (5, 6, 7):
        _save(snaps, live, _prompt(family, 0))
    assert [s.ids[0] for s in snaps.saved] == [6, 7]


def test_a_state_the_new_one_extends_is_dropped_and_size_zero_keeps_none() -> None:
    live = Live()
    snaps = Kept(live, size=4)
    _save(snaps, live, _prompt(3, 0))
    _save(snaps, live, _prompt(3, 0) + [42, 43])
    assert [len(s.ids) for s in snaps.saved] == [MIN_GAIN + 17]
    none = Kept(live, size=0)
    _save(none, live, _prompt(3, 0))
    assert none.saved == []


def test_a_new_state_replaces_the_one_of_its_family_sharing_most_with_it() -> None:
    """One shop's states with two tool sets: a new conversation with the first set replaces
    the older conversation with that set, not the (older still) state with the other set."""
    live = Live()
    snaps = Kept(live, size=3)
    shop = [9] * MIN_GAIN
    first, other = [1] * 50, [2] * 50
    _save(snaps, live, shop + other + [101])  # tool set 2, conversation B
    _save(snaps, live, shop + first + [100])  # tool set 1, conversation A
    _save(snaps, live, [7] * (MIN_GAIN + 5))  # the understanding step
    _save(snaps, live, shop + first + [102])  # tool set 1, conversation C
    kept = sorted(s.ids[-1] for s in snaps.saved)
    assert kept == [7, 101, 102]
