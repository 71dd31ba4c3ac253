"""Tests for the τ-retail world, scorer and baseline agents (train split data)."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from math import isclose
from pathlib import Path
from typing import Any

import pytest

from xiaoer.evals.tau import (
    TOOL_NAMES,
    TaskScore,
    TauWorld,
    db_hash,
    fork_db,
    load_db,
    load_tasks,
    run_tasks,
    score_task,
    summary,
)
from xiaoer.evals.tau.score import same_db

DATA = Path(
    os.environ.get("XIAOER_TAU_DATA")
    or Path(__file__).parents[2].parent / "shared/benchmarks/tau_retail"
)

Db = dict[str, Any]


@pytest.fixture(scope="module")
def base() -> Db:
    if not (DATA / "tasks_train.json").exists():
        pytest.skip(
            f"τ-retail data not found at {DATA} (put shared/ beside the repo, or set XIAOER_TAU_DATA)"
        )
    return load_db(DATA)


@pytest.fixture(scope="module")
def tasks(base: Db) -> list[dict[str, Any]]:
    return load_tasks(DATA)


@pytest.fixture
def db(base: Db) -> Db:
    return copy.deepcopy(base)


@pytest.fixture
def world(db: Db) -> TauWorld:
    return TauWorld(db)


# -- helpers to pick records out of the data ------------------------------------------------


def _methods(db: Db, order: dict[str, Any]) -> dict[str, Any]:
    return db["users"][order["user_id"]]["payment_methods"]


def _paid_with(order: dict[str, Any]) -> str:
    return order["payment_history"][0]["payment_method_id"]


def _orders(db: Db, status: str, source: str | None = None) -> Iterator[dict[str, Any]]:
    for order in db["orders"].values():
        if order["status"] != status:
            continue
        if source is None or _methods(db, order)[_paid_with(order)]["source"] == source:
            yield order


def _swap(db: Db, order: dict[str, Any], higher: bool | None = None) -> tuple[str, str] | None:
    """(old item id, new item id) for an available other variant of the same product."""
    for item in order["items"]:
        for vid, variant in db["products"][item["product_id"]]["variants"].items():
            if vid == item["item_id"] or not variant["available"]:
                continue
            if higher is None or (variant["price"] > item["price"]) == higher:
                return item["item_id"], vid
    return None


def _swappable(db: Db, status: str, higher: bool | None = None) -> tuple[dict[str, Any], str, str]:
    for order in _orders(db, status):
        pair = _swap(db, order, higher)
        if pair:
            return order, *pair
    raise AssertionError("no swappable order in data")


def _other_product_item(db: Db, product_id: str) -> str:
    for pid, product in db["products"].items():
        if pid != product_id:
            return next(iter(product["variants"]))
    raise AssertionError


def _gift_card(db: Db, user_id: str) -> str | None:
    methods = db["users"][user_id]["payment_methods"]
    return next((m for m, pm in methods.items() if pm["source"] == "gift_card"), None)


def _assert_error(world: TauWorld, name: str, kwargs: dict[str, Any]) -> str:
    before = db_hash(world.db)
    result = world.call(name, kwargs)
    assert result.startswith("Error:"), result
    assert db_hash(world.db) == before
    return result


def _order_of(world: TauWorld, order_id: str) -> dict[str, Any]:
    return world.db["orders"][order_id]


# -- read-only tools -------------------------------------------------------------------------


def test_sixteen_tools() -> None:
    assert len(TOOL_NAMES) == 16 == len(set(TOOL_NAMES))


def test_find_user(world: TauWorld, db: Db) -> None:
    user_id, user = next(iter(db["users"].items()))
    before = db_hash(db)
    assert world.call("find_user_id_by_email", {"email": user["email"].upper()}) == user_id
    name = user["name"]
    kwargs = {
        "first_name": name["first_name"].upper(),
        "last_name": name["last_name"].lower(),
        "zip": user["address"]["zip"],
    }
    assert world.call("find_user_id_by_name_zip", kwargs) == user_id
    assert world.call("find_user_id_by_email", {"email": "nobody@x.y"}).startswith("Error:")
    kwargs["zip"] = "00000x"
    assert world.call("find_user_id_by_name_zip", kwargs).startswith("Error:")
    assert db_hash(db) == before


def test_get_details(world: TauWorld, db: Db) -> None:
    user_id = next(iter(db["users"]))
    order_id = next(iter(db["orders"]))
    product_id = next(iter(db["products"]))
    assert json.loads(world.call("get_user_details", {"user_id": user_id})) == db["users"][user_id]
    got = json.loads(world.call("get_order_details", {"order_id": order_id}))
    assert got == db["orders"][order_id]
    got = json.loads(world.call("get_product_details", {"product_id": product_id}))
    assert got == db["products"][product_id]
    assert world.call("get_user_details", {"user_id": "nope"}).startswith("Error:")
    assert world.call("get_order_details", {"order_id": "#W0"}).startswith("Error:")
    assert world.call("get_product_details", {"product_id": order_id}).startswith("Error:")


def test_list_all_product_types(world: TauWorld, db: Db) -> None:
    types = json.loads(world.call("list_all_product_types", {}))
    assert len(types) == 50
    assert all(db["products"][pid]["name"] == name for name, pid in types.items())


@pytest.mark.parametrize(
    ("expression", "expected"),
    [("(1 + 2) * 3 / 7", "1.29"), ("-2.5 + 10", "7.5"), ("100", "100.0")],
)
def test_calculate(world: TauWorld, expression: str, expected: str) -> None:
    assert world.call("calculate", {"expression": expression}) == expected


@pytest.mark.parametrize("expression", ["1/0", "2**3", "abs(1)", "1 +", "", "__import__"])
def test_calculate_errors(world: TauWorld, expression: str) -> None:
    assert world.call("calculate", {"expression": expression}).startswith("Error:")


def test_think_and_transfer(world: TauWorld) -> None:
    before = db_hash(world.db)
    assert world.call("think", {"thought": "hmm"}) == ""
    assert not world.transferred
    assert world.call("transfer_to_human_agents", {"summary": "x"}) == "Transfer successful"
    assert world.transferred
    assert db_hash(world.db) == before


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("no_such_tool", {}),
        ("get_user_details", {}),
        ("get_user_details", {"user_id": "a", "extra": 1}),
        ("get_user_details", {"user_id": 7}),
        ("cancel_pending_order", {"order_id": "#W1", "reason": None}),
        (
            "return_delivered_order_items",
            {"order_id": "#W1", "item_ids": "1", "payment_method_id": "p"},
        ),
        (
            "return_delivered_order_items",
            {"order_id": "#W1", "item_ids": [1], "payment_method_id": "p"},
        ),
        ("think", ["positional"]),
    ],
)
def test_call_rejects_bad_calls(world: TauWorld, name: str, kwargs: Any) -> None:
    _assert_error(world, name, kwargs)


# -- cancel ----------------------------------------------------------------------------------


def test_cancel_pending_order(world: TauWorld, db: Db) -> None:
    order = next(_orders(db, "pending", "credit_card"))
    oid, paid = order["order_id"], order["payment_history"][0]
    out = json.loads(
        world.call("cancel_pending_order", {"order_id": oid, "reason": "ordered by mistake"})
    )
    order = _order_of(world, oid)
    assert out == order
    assert order["status"] == "cancelled"
    assert order["cancel_reason"] == "ordered by mistake"
    assert order["payment_history"][-1] == {
        "transaction_type": "refund",
        "amount": paid["amount"],
        "payment_method_id": paid["payment_method_id"],
    }
    _assert_error(world, "cancel_pending_order", {"order_id": oid, "reason": "no longer needed"})


def test_cancel_refunds_gift_card_immediately(world: TauWorld, db: Db) -> None:
    order = next(_orders(db, "pending", "gift_card"))
    gift, amount = _paid_with(order), order["payment_history"][0]["amount"]
    balance = _methods(db, order)[gift]["balance"]
    world.call(
        "cancel_pending_order", {"order_id": order["order_id"], "reason": "no longer needed"}
    )
    new_balance = world.db["users"][order["user_id"]]["payment_methods"][gift]["balance"]
    assert new_balance == round(balance + amount, 2)


def test_cancel_errors(world: TauWorld, db: Db) -> None:
    pending = next(_orders(db, "pending"))["order_id"]
    delivered = next(_orders(db, "delivered"))["order_id"]
    _assert_error(world, "cancel_pending_order", {"order_id": pending, "reason": "too expensive"})
    _assert_error(
        world, "cancel_pending_order", {"order_id": delivered, "reason": "no longer needed"}
    )
    _assert_error(world, "cancel_pending_order", {"order_id": "#W0", "reason": "no longer needed"})


# -- modify address / user address -----------------------------------------------------------

ADDRESS = {
    "address1": "1 Main St",
    "address2": "Apt 2",
    "city": "Springfield",
    "state": "IL",
    "country": "USA",
    "zip": "62701",
}


def test_modify_pending_order_address(world: TauWorld, db: Db) -> None:
    oid = next(_orders(db, "pending"))["order_id"]
    world.call("modify_pending_order_address", {"order_id": oid, **ADDRESS})
    assert _order_of(world, oid)["address"] == ADDRESS
    assert _order_of(world, oid)["status"] == "pending"
    delivered = next(_orders(db, "delivered"))["order_id"]
    _assert_error(world, "modify_pending_order_address", {"order_id": delivered, **ADDRESS})
    _assert_error(world, "modify_pending_order_address", {"order_id": oid, "city": "X"})


def test_modify_user_address(world: TauWorld, db: Db) -> None:
    user_id = next(iter(db["users"]))
    out = json.loads(world.call("modify_user_address", {"user_id": user_id, **ADDRESS}))
    assert out["address"] == ADDRESS == world.db["users"][user_id]["address"]
    _assert_error(world, "modify_user_address", {"user_id": "ghost_1", **ADDRESS})


# -- modify items ----------------------------------------------------------------------------


def test_modify_items_once_only(world: TauWorld, db: Db) -> None:
    order, old, new = _swappable(db, "pending")
    oid, pm = order["order_id"], _paid_with(order)
    old_price = next(i["price"] for i in order["items"] if i["item_id"] == old)
    variant = db["products"][next(i for i in order["items"] if i["item_id"] == old)["product_id"]][
        "variants"
    ][new]
    n_payments = len(order["payment_history"])
    kwargs = {"order_id": oid, "item_ids": [old], "new_item_ids": [new], "payment_method_id": pm}
    world.call("modify_pending_order_items", kwargs)
    order = _order_of(world, oid)
    assert order["status"] == "pending (item modified)"
    swapped = [i for i in order["items"] if i["item_id"] == new]
    assert swapped and swapped[0]["price"] == variant["price"]
    assert swapped[0]["options"] == variant["options"]
    diff = round(variant["price"] - old_price, 2)
    assert len(order["payment_history"]) == n_payments + 1
    last = order["payment_history"][-1]
    assert last["transaction_type"] == ("payment" if diff >= 0 else "refund")
    assert isclose(last["amount"], abs(diff))
    # a second modification (and any other pending-only tool) now fails
    again = {"order_id": oid, "item_ids": [new], "new_item_ids": [old], "payment_method_id": pm}
    _assert_error(world, "modify_pending_order_items", again)
    _assert_error(world, "cancel_pending_order", {"order_id": oid, "reason": "no longer needed"})


def test_modify_items_errors(world: TauWorld, db: Db) -> None:
    order, old, new = _swappable(db, "pending")
    oid, pm = order["order_id"], _paid_with(order)
    product_id = next(i for i in order["items"] if i["item_id"] == old)["product_id"]
    foreign = _other_product_item(db, product_id)
    ok = {"order_id": oid, "item_ids": [old], "new_item_ids": [new], "payment_method_id": pm}
    _assert_error(world, "modify_pending_order_items", {**ok, "new_item_ids": [foreign]})
    _assert_error(world, "modify_pending_order_items", {**ok, "new_item_ids": [new, new]})
    _assert_error(world, "modify_pending_order_items", {**ok, "item_ids": ["0000000000"]})
    _assert_error(world, "modify_pending_order_items", {**ok, "item_ids": [old] * 9})
    _assert_error(world, "modify_pending_order_items", {**ok, "payment_method_id": "paypal_0"})
    _assert_error(world, "modify_pending_order_items", {**ok, "item_ids": [], "new_item_ids": []})
    variants = db["products"][product_id]["variants"]
    variants[new]["available"] = False
    _assert_error(world, "modify_pending_order_items", ok)
    delivered = next(_orders(db, "delivered"))["order_id"]
    _assert_error(world, "modify_pending_order_items", {**ok, "order_id": delivered})


def test_modify_items_gift_card_must_cover(world: TauWorld, db: Db) -> None:
    for order in _orders(db, "pending"):
        pair, gift = _swap(db, order, higher=True), _gift_card(db, order["user_id"])
        if pair and gift:
            break
    else:
        raise AssertionError("no pending order with a pricier variant and a gift card")
    card = db["users"][order["user_id"]]["payment_methods"][gift]
    kwargs = {
        "order_id": order["order_id"],
        "item_ids": [pair[0]],
        "new_item_ids": [pair[1]],
        "payment_method_id": gift,
    }
    card["balance"] = 0.0
    _assert_error(world, "modify_pending_order_items", kwargs)
    card["balance"] = 10_000.0
    world.call("modify_pending_order_items", kwargs)
    diff = world.db["orders"][order["order_id"]]["payment_history"][-1]["amount"]
    balance = world.db["users"][order["user_id"]]["payment_methods"][gift]["balance"]
    assert diff > 0 and balance == round(10_000.0 - diff, 2)


# -- modify payment --------------------------------------------------------------------------


def test_modify_pending_order_payment(world: TauWorld, db: Db) -> None:
    for order in _orders(db, "pending", "gift_card"):
        others = [m for m in _methods(db, order) if m != _paid_with(order)]
        if others and _methods(db, order)[others[0]]["source"] != "gift_card":
            break
    else:
        raise AssertionError("no suitable order")
    oid, old, new = order["order_id"], _paid_with(order), others[0]
    amount = order["payment_history"][0]["amount"]
    balance = _methods(db, order)[old]["balance"]
    _assert_error(
        world, "modify_pending_order_payment", {"order_id": oid, "payment_method_id": old}
    )
    _assert_error(
        world, "modify_pending_order_payment", {"order_id": oid, "payment_method_id": "x"}
    )
    world.call("modify_pending_order_payment", {"order_id": oid, "payment_method_id": new})
    history = _order_of(world, oid)["payment_history"]
    assert history[-2:] == [
        {"transaction_type": "payment", "amount": amount, "payment_method_id": new},
        {"transaction_type": "refund", "amount": amount, "payment_method_id": old},
    ]
    user = world.db["users"][order["user_id"]]
    assert user["payment_methods"][old]["balance"] == round(balance + amount, 2)
    assert _order_of(world, oid)["status"] == "pending"
    # now there are two payments: a second change is refused
    _assert_error(
        world, "modify_pending_order_payment", {"order_id": oid, "payment_method_id": old}
    )


def test_modify_payment_gift_card_must_cover(world: TauWorld, db: Db) -> None:
    for order in _orders(db, "pending"):
        gift = _gift_card(db, order["user_id"])
        if gift and gift != _paid_with(order):
            break
    else:
        raise AssertionError("no suitable order")
    card = db["users"][order["user_id"]]["payment_methods"][gift]
    kwargs = {"order_id": order["order_id"], "payment_method_id": gift}
    amount = order["payment_history"][0]["amount"]
    card["balance"] = round(amount - 0.01, 2)
    _assert_error(world, "modify_pending_order_payment", kwargs)
    card["balance"] = amount
    world.call("modify_pending_order_payment", kwargs)
    assert world.db["users"][order["user_id"]]["payment_methods"][gift]["balance"] == 0.0


# -- return / exchange -----------------------------------------------------------------------


def test_return_delivered_order_items(world: TauWorld, db: Db) -> None:
    order = next(o for o in _orders(db, "delivered") if len(o["items"]) >= 2)
    oid, pm = order["order_id"], _paid_with(order)
    items = [i["item_id"] for i in order["items"]][:2][::-1]
    history = copy.deepcopy(order["payment_history"])
    world.call(
        "return_delivered_order_items",
        {"order_id": oid, "item_ids": items, "payment_method_id": pm},
    )
    order = _order_of(world, oid)
    assert order["status"] == "return requested"
    assert order["return_items"] == sorted(items)
    assert order["return_payment_method_id"] == pm
    assert order["payment_history"] == history
    again = {"order_id": oid, "item_ids": items[:1], "payment_method_id": pm}
    _assert_error(world, "return_delivered_order_items", again)


def test_return_errors(world: TauWorld, db: Db) -> None:
    for order in _orders(db, "delivered"):
        other = [
            m
            for m, pm in _methods(db, order).items()
            if m != _paid_with(order) and pm["source"] != "gift_card"
        ]
        if other:
            break
    else:
        raise AssertionError("no suitable order")
    oid, item = order["order_id"], order["items"][0]["item_id"]
    ok = {"order_id": oid, "item_ids": [item], "payment_method_id": _paid_with(order)}
    _assert_error(world, "return_delivered_order_items", {**ok, "payment_method_id": other[0]})
    _assert_error(world, "return_delivered_order_items", {**ok, "item_ids": ["123"]})
    _assert_error(world, "return_delivered_order_items", {**ok, "item_ids": []})
    pending = next(_orders(db, "pending"))
    _assert_error(
        world,
        "return_delivered_order_items",
        {
            "order_id": pending["order_id"],
            "item_ids": [pending["items"][0]["item_id"]],
            "payment_method_id": _paid_with(pending),
        },
    )


def test_return_to_gift_card_allowed(world: TauWorld, db: Db) -> None:
    for order in _orders(db, "delivered"):
        gift = _gift_card(db, order["user_id"])
        if gift and gift != _paid_with(order):
            break
    else:
        raise AssertionError("no suitable order")
    kwargs = {
        "order_id": order["order_id"],
        "item_ids": [order["items"][0]["item_id"]],
        "payment_method_id": gift,
    }
    assert not world.call("return_delivered_order_items", kwargs).startswith("Error:")


def test_exchange_delivered_order_items(world: TauWorld, db: Db) -> None:
    order, old, new = _swappable(db, "delivered")
    oid, pm = order["order_id"], _paid_with(order)
    old_price = next(i["price"] for i in order["items"] if i["item_id"] == old)
    items_before = copy.deepcopy(order["items"])
    history = copy.deepcopy(order["payment_history"])
    kwargs = {"order_id": oid, "item_ids": [old], "new_item_ids": [new], "payment_method_id": pm}
    world.call("exchange_delivered_order_items", kwargs)
    order = _order_of(world, oid)
    product_id = next(i for i in items_before if i["item_id"] == old)["product_id"]
    new_price = db["products"][product_id]["variants"][new]["price"]
    assert order["status"] == "exchange requested"
    assert order["exchange_items"] == [old] and order["exchange_new_items"] == [new]
    assert order["exchange_payment_method_id"] == pm
    assert order["exchange_price_difference"] == round(new_price - old_price, 2)
    assert order["items"] == items_before and order["payment_history"] == history
    _assert_error(world, "exchange_delivered_order_items", kwargs)


def test_exchange_errors(world: TauWorld, db: Db) -> None:
    for order in _orders(db, "delivered"):
        pair, gift = _swap(db, order, higher=True), _gift_card(db, order["user_id"])
        if pair and gift:
            break
    else:
        raise AssertionError("no suitable order")
    oid, (old, new) = order["order_id"], pair
    product_id = next(i for i in order["items"] if i["item_id"] == old)["product_id"]
    ok = {"order_id": oid, "item_ids": [old], "new_item_ids": [new], "payment_method_id": gift}
    db["users"][order["user_id"]]["payment_methods"][gift]["balance"] = 0.0
    _assert_error(world, "exchange_delivered_order_items", ok)
    ok["payment_method_id"] = _paid_with(order)
    foreign = _other_product_item(db, product_id)
    _assert_error(world, "exchange_delivered_order_items", {**ok, "new_item_ids": [foreign]})
    _assert_error(world, "exchange_delivered_order_items", {**ok, "new_item_ids": []})
    pending = next(_orders(db, "pending"))["order_id"]
    _assert_error(world, "exchange_delivered_order_items", {**ok, "order_id": pending})


# -- scoring ---------------------------------------------------------------------------------


def test_replay_scores_all_train_tasks(tasks: list[dict[str, Any]]) -> None:
    scores = run_tasks(DATA, tasks, "replay")
    assert len(scores) == len(tasks) == 500
    assert all(s.passed for s in scores), [s for s in scores if not s.passed][:3]
    result = summary(scores)
    assert result["n_tasks"] == 500 and result["trials"] == 1 and result["passed"] == 500
    assert result["pass_hat_k"] == {"1": 1.0}


def test_noop_scores_share_of_no_change_tasks(base: Db, tasks: list[dict[str, Any]]) -> None:
    base_hash = db_hash(base)
    unchanged = 0
    for task in tasks:
        world = TauWorld(fork_db(base))
        for action in task["actions"]:
            world.call(action["name"], action["kwargs"])
        unchanged += db_hash(world.db) == base_hash
    assert db_hash(base) == base_hash  # forks never write through to the base
    scores = run_tasks(DATA, tasks, "noop")
    assert sum(s.passed for s in scores) == unchanged
    assert summary(scores)["pass_hat_k"]["1"] == unchanged / len(tasks)


def test_same_db_agrees_with_hash(base: Db, tasks: list[dict[str, Any]]) -> None:
    for task in tasks[155:165]:  # includes task 161, whose reference actions all fail
        world = TauWorld(fork_db(base))
        for action in task["actions"]:
            world.call(action["name"], action["kwargs"])
        deep = copy.deepcopy(world.db)
        assert same_db(deep, world.db) and db_hash(deep) == db_hash(world.db)
        assert same_db(world.db, base) == (db_hash(world.db) == db_hash(base))


def test_score_task_extra_write_fails(base: Db, tasks: list[dict[str, Any]]) -> None:
    task = tasks[0]
    world = TauWorld(fork_db(base))
    for action in task["actions"]:
        world.call(action["name"], action["kwargs"])
    user_id = task["user_id"]
    world.call("modify_user_address", {"user_id": user_id, **ADDRESS})
    score = score_task(task, world.db, [], base, task_index=0)
    assert score == TaskScore(0, False, False, True, ())


def test_score_task_outputs(base: Db) -> None:
    task = {"actions": [], "outputs": ["1234.50", "Tracking"]}
    good = score_task(task, fork_db(base), ["Total: 1,234.50", "tracking id 1"], base)
    assert good.passed and good.outputs_ok
    bad = score_task(task, fork_db(base), ["Total: 1,234.50"], base)
    assert not bad.passed and bad.db_match and not bad.outputs_ok


def test_score_task_records_reference_errors(base: Db) -> None:
    task = {
        "actions": [{"name": "cancel_pending_order", "kwargs": {"order_id": "#W0", "reason": "x"}}]
    }
    score = score_task(task, fork_db(base), [], base)
    assert score.passed and len(score.reference_errors) == 1
    assert "Error:" in score.reference_errors[0]


def test_summary_pass_hat_k() -> None:
    runs = [True, True, True, True, True, False]  # task 0: 3/3, task 1: 2/3
    scores = [TaskScore(i % 2, ok, ok, True) for i, ok in enumerate(runs)]
    result = summary(scores, n_trials=3)
    assert result["n_tasks"] == 2 and result["passed"] == 5
    assert isclose(result["pass_hat_k"]["1"], (1 + 2 / 3) / 2)
    assert isclose(result["pass_hat_k"]["2"], (1 + 1 / 3) / 2)
    assert isclose(result["pass_hat_k"]["3"], 0.5)
    with pytest.raises(ValueError):
        summary(scores, n_trials=4)
