"""τ-retail through the product: the τ policy as a `policy.yaml` the product's loader accepts,
every train task's reference changes allowed by the product's policy engine and applied
through the τ tools, and the τ rules' violations refused by the engine (with its rule)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from xiaoer.commerce.resolve import lines_of, resolve_option
from xiaoer.domain.models import Shopper
from xiaoer.evals.tau import load_db, load_tasks, score_task
from xiaoer.evals.tau.checks import POLICY_FILE, tau_policy
from xiaoer.evals.tau.commerce import TauCommerce, domain_order, domain_product
from xiaoer.evals.tau.episodes import TauRun
from xiaoer.evals.tau.world import TauWorld, fork_db
from xiaoer.evals.tau.xiaoer_tools import TAU_SHOP, tau_tools
from xiaoer.llm.base import ChatMessage, Completion, Mode, ToolSpec
from xiaoer.llm.scripted import ScriptedLLM, call, say
from xiaoer.store.repositories import ActionRepository
from xiaoer.tools.base import Tool, ToolResult
from xiaoer.tools.deps import TurnDeps

DATA = Path(
    os.environ.get("XIAOER_TAU_DATA")
    or Path(__file__).parents[2].parent / "shared/benchmarks/tau_retail"
)
Db = dict[str, Any]


@pytest.fixture(scope="module")
def data() -> tuple[Db, list[dict[str, Any]]]:
    if not (DATA / "tasks_train.json").exists():
        pytest.skip(f"τ-retail data not found at {DATA} (put shared/ beside the repo)")
    return load_db(DATA), load_tasks(DATA)


class Desk:
    """The action desk's steps without its store: propose, re-check on the yes, apply once."""

    def __init__(self, base: Db, user_id: str) -> None:
        self.world = TauWorld(fork_db(base))
        self.tools: dict[str, Tool] = {t.spec.name: t for t in tau_tools(self.world)}
        self.deps = TurnDeps(
            TAU_SHOP, Shopper("guest-1", "guest", ""), TauCommerce(self.world),
            datetime(2026, 1, 1, tzinfo=UTC), said=["Hi."],
            seen=[f"Authenticated user id: {user_id}"], policy=tau_policy(),
        )  # fmt: skip
        self.applied = 0

    async def propose(self, name: str, **kwargs: Any) -> ToolResult:
        return await self.tools[name].run(self.deps, kwargs)

    async def run(self, name: str, **kwargs: Any) -> ToolResult:
        first = await self.propose(name, **kwargs)
        if first.proposal is None:
            return first
        again = await self.propose(name, **first.proposal.arguments)  # the desk's re-check
        assert again.proposal is not None and again.proposal.verdict.allowed, again.text
        self.applied += 1
        change = dataclasses.replace(again.proposal.change, key=f"act_{self.applied}")
        record = await self.deps.commerce.apply(change)
        assert record.status == "done", record.detail
        return again


def test_the_tau_policy_is_a_policy_the_product_loads() -> None:
    from xiaoer.cli import app

    result = CliRunner().invoke(app, ["policy", "check", str(POLICY_FILE)])
    assert result.exit_code == 0, result.output
    policy = tau_policy()
    assert policy.cancel.reasons == ["no longer needed", "ordered by mistake"]
    assert policy.item_change.locks_order and policy.exchange.price_difference == "settle"


async def test_every_reference_change_passes_the_policy_engine(data: Any) -> None:
    """All 500 train tasks: each reference action, as a τ tool call through the product's
    policy engine and re-check, leaves exactly the database the benchmark expects. The few
    reference actions the τ world itself rejects (the benchmark skips them) are refused too,
    by the policy engine."""
    base, tasks = data
    rules: set[str] = set()
    refused: list[str] = []
    for index, task in enumerate(tasks):
        desk = Desk(base, task["user_id"])
        for action in task["actions"]:
            name, kwargs = action["name"], action["kwargs"]
            world_says = TauWorld(fork_db(desk.world.db)).call(name, kwargs)
            result = await desk.run(name, **kwargs)
            if world_says.startswith("Error"):
                refused.append(_refused(result))
                continue
            assert result.proposal is not None, (index, action, result.text)
            rules.add(result.proposal.verdict.rule)
        score = score_task(task, desk.world.db, [], base, task_index=index)
        assert score.passed, (index, task["actions"])
    assert not any(r.startswith("tau.") for r in rules)
    assert {"cancel.states", "item_change.states", "payments.refund_to"} <= rules
    assert refused and all(r.startswith(("payments.", "item_change.")) for r in refused), refused


def _order(base: Db, status: str, pred: Any = lambda o: True) -> dict[str, Any]:
    return next(o for o in base["orders"].values() if o["status"] == status and pred(o))


def _paid_by(o: dict[str, Any]) -> str:
    return o["payment_history"][0]["payment_method_id"]


def _refused(result: ToolResult) -> str:
    assert result.proposal is None and not result.ok
    return str(result.data.get("verdict", {}).get("rule", result.text))


async def test_cancel_rules(data: Any) -> None:
    base, _ = data
    delivered = _order(base, "delivered")
    desk = Desk(base, delivered["user_id"])
    args = {"order_id": delivered["order_id"], "reason": "no longer needed"}
    result = await desk.propose("cancel_pending_order", **args)
    assert _refused(result) == "cancel.states"
    assert "only a pending order can be cancelled" in result.text
    pending = _order(base, "pending")
    desk = Desk(base, pending["user_id"])
    bad = await desk.propose(
        "cancel_pending_order", order_id=pending["order_id"], reason="too expensive"
    )
    assert _refused(bad) == "cancel.reasons" and "'ordered by mistake'" in bad.text
    good = await desk.propose(
        "cancel_pending_order", order_id=pending["order_id"], reason="Ordered by mistake."
    )
    assert good.proposal is not None
    assert good.proposal.arguments["reason"] == "ordered by mistake"  # the shop's wording


async def test_an_item_change_is_once_and_locks_the_order(data: Any) -> None:
    base, tasks = data
    task = next(
        t for t in tasks if [a["name"] for a in t["actions"]] == ["modify_pending_order_items"]
    )
    (action,) = task["actions"]
    desk = Desk(base, task["user_id"])
    assert (await desk.run(action["name"], **action["kwargs"])).proposal is not None
    now_in_order = action["kwargs"]["new_item_ids"]
    again = {**action["kwargs"], "item_ids": now_in_order, "new_item_ids": now_in_order}
    assert _refused(await desk.propose(action["name"], **again)) == "item_change.per_order"
    order_id = action["kwargs"]["order_id"]
    cancel = await desk.propose(
        "cancel_pending_order", order_id=order_id, reason="no longer needed"
    )
    assert _refused(cancel) == "item_change.locks_order"


async def test_payment_rules(data: Any) -> None:
    base, _ = data

    def short_card(o: dict[str, Any]) -> str | None:
        methods = base["users"][o["user_id"]]["payment_methods"].values()
        amount = o["payment_history"][0]["amount"]
        return next(
            (
                m["id"]
                for m in methods
                if m["source"] == "gift_card" and m["id"] != _paid_by(o) and m["balance"] < amount
            ),
            None,
        )

    order = _order(base, "pending", lambda o: len(o["payment_history"]) == 1 and short_card(o))
    desk = Desk(base, order["user_id"])
    oid = order["order_id"]
    same = await desk.propose(
        "modify_pending_order_payment", order_id=oid, payment_method_id=_paid_by(order)
    )
    assert _refused(same) == "payment_change.same"
    short = await desk.propose(
        "modify_pending_order_payment", order_id=oid, payment_method_id=short_card(order)
    )
    assert _refused(short) == "payments.stored_value_covers"
    assert "gift card balance does not cover" in short.text
    nobody = await desk.propose(
        "modify_pending_order_payment", order_id=oid, payment_method_id="paypal_0"
    )
    assert _refused(nobody) == "payments.method"


async def test_a_refund_goes_to_the_original_method_or_a_gift_card(data: Any) -> None:
    base, _ = data

    def other_card(o: dict[str, Any]) -> str | None:
        methods = base["users"][o["user_id"]]["payment_methods"].values()
        return next(
            (m["id"] for m in methods if m["source"] != "gift_card" and m["id"] != _paid_by(o)),
            None,
        )

    order = _order(base, "delivered", other_card)
    desk = Desk(base, order["user_id"])
    item = order["items"][0]["item_id"]
    args = {"order_id": order["order_id"], "item_ids": [item]}
    wrong = await desk.propose(
        "return_delivered_order_items", **args, payment_method_id=other_card(order)
    )
    assert _refused(wrong) == "payments.refund_to"
    right = await desk.run(
        "return_delivered_order_items", **args, payment_method_id=_paid_by(order)
    )
    assert right.proposal is not None
    twice = await desk.propose(
        "return_delivered_order_items", **args, payment_method_id=_paid_by(order)
    )
    assert _refused(twice) == "returns.states"  # returned: the order is in after-sales now


async def test_exchange_rules(data: Any) -> None:
    base, tasks = data
    task = next(
        t
        for t in tasks
        if [a["name"] for a in t["actions"]] == ["exchange_delivered_order_items"]
        and t["actions"][0]["kwargs"]["item_ids"] != t["actions"][0]["kwargs"]["new_item_ids"]
    )
    kwargs = task["actions"][0]["kwargs"]
    desk = Desk(base, task["user_id"])
    order = base["orders"][kwargs["order_id"]]
    old = next(i for i in order["items"] if i["item_id"] == kwargs["item_ids"][0])
    foreign = next(
        v["item_id"]
        for p in base["products"].values()
        if p["product_id"] != old["product_id"]
        for v in p["variants"].values()
        if v["available"]
    )
    swap = {**kwargs, "item_ids": kwargs["item_ids"][:1], "new_item_ids": [foreign]}
    assert _refused(await desk.propose("exchange_delivered_order_items", **swap)) == (
        "exchange.target"
    )
    assert (await desk.run("exchange_delivered_order_items", **kwargs)).proposal is not None
    again = await desk.propose("exchange_delivered_order_items", **kwargs)
    assert _refused(again) == "exchange.states"  # one exchange per order


def test_every_reference_swap_resolves_from_its_option_values(data: Any) -> None:
    """The model may name new options as the user says them ("color black, size M")."""
    base, tasks = data
    world = TauWorld(fork_db(base))
    checked = 0
    for task in tasks:
        for action in task["actions"]:
            kwargs = action["kwargs"]
            if "new_item_ids" not in kwargs:
                continue
            order = domain_order(world, base["orders"][kwargs["order_id"]])
            lines, _ = lines_of(order, kwargs["item_ids"])
            for line, new in zip(lines, kwargs["new_item_ids"], strict=True):
                product = domain_product(base["products"][line.product_id])
                options = base["products"][line.product_id]["variants"][new]["options"]
                text = ", ".join(f"{k} {v}" for k, v in options.items())
                assert resolve_option(line, product, text) == new, (text, new)
                checked += 1
    assert checked == 511


async def test_a_whole_episode_records_the_policy_engines_verdict(data: Any) -> None:
    """Task 0 played by xiaoer with a scripted model: the return the desk executes carries the
    verdict of the product's rule (refund to the original method), not an adapter's."""
    base, tasks = data
    (reference,) = tasks[0]["actions"]

    def model(messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], mode: Mode) -> Completion:
        seen = [m for m in messages if m.role == "tool"]
        if messages[-1].role == "user" and not seen:
            return call(
                "find_user_id_by_name_zip", first_name="Omar", last_name="Anderson", zip="19031"
            )
        if messages[-1].role == "tool" and len(seen) == 1:
            return call(reference["name"], **reference["kwargs"])
        return say("Is there anything else I can help with?")

    run = TauRun(DATA, ScriptedLLM(script=model), base)
    await run.open()
    try:
        ep = await run.episode("xiaoer", tasks[0], 0, 0, "scripted")
        assert run.rt is not None
        async with run.rt.sessions() as s:
            rows = await ActionRepository(s, TAU_SHOP.id).for_shopper("task0-t0")
    finally:
        await run.close()
    assert ep.score is not None and ep.score.passed and ep.unconfirmed == 0
    (row,) = rows
    assert row.status == "executed"
    assert row.policy_verdict["rule"] == "payments.refund_to" and row.policy_verdict["allowed"]


async def test_a_refused_change_never_reaches_the_desk(data: Any) -> None:
    base, _ = data
    pending = _order(base, "pending")
    desk = Desk(base, pending["user_id"])
    before = desk.world.db["orders"][pending["order_id"]]
    result = await desk.run("cancel_pending_order", order_id=pending["order_id"], reason="meh")
    assert _refused(result) == "cancel.reasons" and desk.applied == 0
    assert desk.world.db["orders"][pending["order_id"]] is before
