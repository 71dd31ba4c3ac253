"""xiaoer and the baseline on τ-retail (scripted model), the scripted τ user, and the CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from xiaoer.evals.cli import subset
from xiaoer.evals.tau import load_db, load_tasks
from xiaoer.evals.tau.episodes import Episode, episode_summary, run_episodes
from xiaoer.evals.tau.users import ScriptedTauUser, parse_instruction
from xiaoer.llm.base import ChatMessage, Completion, Mode, ToolSpec
from xiaoer.llm.scripted import ScriptedLLM, call, say

DATA = Path(
    os.environ.get("XIAOER_TAU_DATA")
    or Path(__file__).parents[2].parent / "shared/benchmarks/tau_retail"
)
RETURN = {  # task 0's reference action
    "order_id": "#W6067464",
    "item_ids": ["9624127908", "8917609800"],
    "payment_method_id": "credit_card_4190576",
}


@pytest.fixture(scope="module")
def data() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not (DATA / "tasks_train.json").exists():
        pytest.skip(f"τ-retail data not found at {DATA} (put shared/ beside the repo)")
    return load_db(DATA), load_tasks(DATA)


def _tools_seen(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    return [m for m in messages if m.role == "tool"]


def careful(messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], mode: Mode) -> Completion:
    """Authenticates, looks the order up, then asks for the return (what a good model does)."""
    seen = _tools_seen(messages)
    if messages[-1].role == "user" and not seen:
        return call(
            "find_user_id_by_name_zip", first_name="Omar", last_name="Anderson", zip="19031"
        )
    if messages[-1].role == "tool" and len(seen) == 1:
        return call("get_order_details", order_id="#W6067464")
    if messages[-1].role == "tool" and len(seen) == 2:
        return call("return_delivered_order_items", **RETURN)
    return say("Is there anything else I can help with?")


def reckless(messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], mode: Mode) -> Completion:
    """Skips authentication and acts at once."""
    if messages[-1].role == "user" and not _tools_seen(messages):
        return call("return_delivered_order_items", **RETURN)
    return say("Done.")


async def _play(data: Any, llm: ScriptedLLM, agents: list[str]) -> list[Episode]:
    base, tasks = data
    return await run_episodes(DATA, llm, [(0, tasks[0])], agents, base)


async def test_xiaoer_executes_only_after_the_users_yes(data: Any) -> None:
    (ep,) = await _play(data, ScriptedLLM(script=careful), ["xiaoer"])
    first, second = ep.turns[:2]
    assert "Shall I go ahead?" in first.reply and first.changed_world == 0
    assert second.user == "Yes, please go ahead." and second.changed_world == 1
    assert second.llm_calls == 0  # the desk executes on the yes, without the model
    assert ep.score is not None and ep.score.passed
    assert ep.unconfirmed == 0 and ep.policy_violations == []


async def test_baseline_acts_as_called_and_is_counted_unconfirmed(data: Any) -> None:
    (ep,) = await _play(data, ScriptedLLM(script=careful), ["baseline"])
    assert ep.score is not None and ep.score.passed  # the benchmark only checks the end state
    assert ep.unconfirmed == 1  # the return happened in the turn that asked for it


async def test_a_hasty_change_waits_for_the_yes_in_xiaoer_but_not_in_the_baseline(
    data: Any,
) -> None:
    (ep,) = await _play(data, ScriptedLLM(script=reckless), ["xiaoer"])
    assert ep.turns[0].changed_world == 0 and "Shall I go ahead?" in ep.turns[0].reply
    assert ep.unconfirmed == 0
    (base_ep,) = await _play(data, ScriptedLLM(script=reckless), ["baseline"])
    assert base_ep.turns[0].changed_world == 1 and base_ep.unconfirmed == 1


async def test_xiaoer_refuses_a_change_for_an_unidentified_user(data: Any) -> None:
    from xiaoer.evals.tau.episodes import TauRun
    from xiaoer.evals.tau.world import TauWorld, fork_db

    base, _ = data
    run = TauRun(DATA, ScriptedLLM(script=reckless), base)
    await run.open()
    try:
        world = TauWorld(fork_db(base))
        agent = await run._agent("xiaoer", world, "anon")
        turn = await agent.respond("Return the kettle and the clock from #W6067464 please.")
    finally:
        await run.close()
    assert turn.tool_calls[0]["ok"] is False and turn.changed_world == 0
    assert world.db["orders"]["#W6067464"]["status"] == "delivered"


async def test_xiaoer_only_shows_the_authenticated_users_orders(data: Any) -> None:
    def snoop(messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], mode: Mode) -> Completion:
        seen = _tools_seen(messages)
        if not seen:
            return call(
                "find_user_id_by_name_zip", first_name="Omar", last_name="Anderson", zip="19031"
            )
        if len(seen) == 1:
            return call("get_order_details", order_id="#W5765741")  # someone else's order
        return say("Sorry.")

    (ep,) = await _play(data, ScriptedLLM(script=snoop), ["xiaoer"])
    lookup = ep.turns[0].tool_calls[1]
    assert lookup["name"] == "get_order_details" and lookup["ok"] is False


def test_every_train_instruction_parses_into_one_request_per_reference_action(data: Any) -> None:
    _, tasks = data
    for task in tasks:
        script = parse_instruction(task["instruction"])
        assert len(script.requests) == len(task["actions"]), task["instruction"]
        orders = [a["kwargs"].get("order_id") for a in task["actions"]]
        assert sorted(r.order_id for r in script.requests) == sorted(orders)
        assert script.identity.startswith("I'm ")


async def test_scripted_user_confirms_then_moves_on_then_stops() -> None:
    user = ScriptedTauUser(
        "Your name is Juan Rossi and your zip code is 77209. You are shy. "
        "Cancel order #W7602708 because no longer needed. "
        "For #W1, change payment to paypal_1."
    )
    assert (await user.first()).endswith(
        "Please cancel order #W7602708; the reason is: no longer needed."
    )
    assert await user.reply("Could you give me your email, or name and zip code?") == (
        "I'm Juan Rossi, and my zip code is 77209."
    )
    assert (
        await user.reply('Cancel order #W7602708. Reply "yes" to confirm.')
        == "Yes, please go ahead."
    )
    assert "paypal_1" in (await user.reply("Done: cancelled.") or "")
    assert (
        await user.reply("Which order?")
        == "To be clear: For order #W1, please change the payment method to paypal_1."
    )
    assert await user.reply("Cancel order #W1? Shall I go ahead?") == (
        "No, that is not what I asked for. "
        "For order #W1, please change the payment method to paypal_1."
    )  # a change the user did not ask for gets a no
    assert await user.reply("Pay order #W1 with paypal_1. Shall I go ahead?") == (
        "Yes, please go ahead."
    )
    assert await user.reply("Done.") is None


def test_fixed_subset_is_every_tenth_task() -> None:
    assert subset(500, 50) == list(range(0, 500, 10))
    assert subset(5, None) == [0, 1, 2, 3, 4]


def test_summary_counts_safety_figures(data: Any) -> None:
    eps = [Episode("baseline", 0, 0), Episode("baseline", 1, 0)]
    summary = episode_summary(eps, 1)
    assert summary["n_tasks"] == 0 and summary["unconfirmed_mutations"] == 0


def test_cli_rejects_unknown_agents_and_mixed_scorer_agents(data: Any, tmp_path: Path) -> None:
    from xiaoer.cli import app

    runner = CliRunner()
    env = {"XIAOER_HOME": str(tmp_path)}
    bad = runner.invoke(
        app, ["eval", "tau-retail", "--tasks", str(DATA), "--agent", "gpt"], env=env
    )
    assert bad.exit_code == 1 and "unknown agent" in bad.output
    mixed = runner.invoke(
        app, ["eval", "tau-retail", "--tasks", str(DATA), "--agent", "replay,xiaoer"], env=env
    )
    assert mixed.exit_code == 1 and "side by side" in mixed.output
    out = tmp_path / "replay.json"
    ok = runner.invoke(
        app,
        ["eval", "tau-retail", "--tasks", str(DATA), "--agent", "replay", "--subset", "50",
         "--json", str(out)],
        env=env,
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert json.loads(out.read_text())["summary"]["pass_hat_k"] == {"1": 1.0}
    rest = runner.invoke(
        app,
        ["eval", "tau-retail", "--tasks", str(DATA), "--agent", "replay", "--subset", "50",
         "--skip", "16", "--json", str(out)],
        env=env,
    )  # fmt: skip
    assert rest.exit_code == 0, rest.output
    assert json.loads(out.read_text())["summary"]["n_tasks"] == 34
    empty = runner.invoke(
        app, ["eval", "tau-retail", "--tasks", str(DATA), "--subset", "5", "--skip", "5"], env=env
    )
    assert empty.exit_code == 1 and "leaves no tasks" in empty.output


async def test_xiaoer_mends_a_dropped_hash_and_item_names(data: Any) -> None:
    """The small model writes "W6067464" and item names; the tool resolves both from the order."""

    def sloppy(
        messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], mode: Mode
    ) -> Completion:
        seen = _tools_seen(messages)
        if not seen:
            return call(
                "find_user_id_by_name_zip", first_name="omar", last_name="anderson", zip="19031"
            )
        if len(seen) == 1:
            return call(
                "return_delivered_order_items",
                order_id="W6067464",
                item_ids=["Electric Kettle", "wall clock"],
                payment_method_id="credit_card_4190576",
            )
        return say("Anything else?")

    (ep,) = await _play(data, ScriptedLLM(script=sloppy), ["xiaoer"])
    assert ep.score is not None and ep.score.passed
    assert ep.unconfirmed == 0


async def test_xiaoer_identifies_the_user_from_their_words_and_resolves_option_values(
    data: Any,
) -> None:
    """Task 3: exchange the Coffee Maker for the stainless-steel drip one with a grinder. The
    model skips the lookups and writes option values; the tools verify the user the message
    names and pick the one variant matching those values."""
    base, tasks = data

    def hasty(messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], mode: Mode) -> Completion:
        if not _tools_seen(messages):
            return call(
                "exchange_delivered_order_items",
                order_id="W7736983",
                item_ids=["Coffee Maker"],
                new_item_ids=["stainless steel, drip, built-in grinder"],
                payment_method_id="paypal_6840891",
            )
        return say("Anything else?")

    (ep,) = await run_episodes(DATA, ScriptedLLM(script=hasty), [(3, tasks[3])], ["xiaoer"], base)
    first = ep.turns[0]
    assert first.tool_calls[0]["ok"] is True and "Shall I go ahead?" in first.reply
    world_changes = [t.changed_world for t in ep.turns]
    assert world_changes[:2] == [0, 1]  # applied only on the user's yes
    assert ep.score is not None and not ep.score.passed  # the task's cancel was never asked for
    assert ep.unconfirmed == 0


async def test_xiaoer_holds_a_first_transfer_the_user_did_not_ask_for(data: Any) -> None:
    def quitter(
        messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], mode: Mode
    ) -> Completion:
        if messages[-1].role == "user":
            return call("transfer_to_human_agents", summary="cannot help")
        return say("Let me look again.")

    (ep,) = await _play(data, ScriptedLLM(script=quitter), ["xiaoer"])
    assert ep.turns[0].tool_calls[0]["ok"] is False  # held: nobody asked for a human
    assert ep.turns[1].tool_calls[0]["ok"] is True  # called again: it goes through
    assert ep.handoff and len(ep.turns) == 2


def test_variant_resolution_needs_a_single_best_match(data: Any) -> None:
    from xiaoer.commerce.resolve import lines_of, resolve_option
    from xiaoer.evals.tau.commerce import domain_order, domain_product
    from xiaoer.evals.tau.world import TauWorld, fork_db

    base, _ = data
    world = TauWorld(fork_db(base))
    order = domain_order(world, base["orders"]["#W7736983"])
    (line,), _ = lines_of(order, ["5952720925"])
    product = domain_product(base["products"][line.product_id])
    wanted = "stainless steel, drip, built-in grinder"
    assert resolve_option(line, product, wanted) == "1323134954"  # the reference's choice
    assert resolve_option(line, product, "a nicer one") == "a nicer one"


async def test_tau_world_reads_through_xiaoers_commerce_port(data: Any) -> None:
    from xiaoer.commerce.base import ProductQuery
    from xiaoer.domain.models import OrderStatus
    from xiaoer.evals.tau.commerce import TauCommerce
    from xiaoer.evals.tau.world import TauWorld, fork_db

    base, _ = data
    commerce = TauCommerce(TauWorld(fork_db(base)))
    order = await commerce.get_order("#W6067464")
    assert order is not None and order.status == OrderStatus.DELIVERED
    assert order.shopper_id == "omar_anderson_3203"
    assert {line.sku_id for line in order.lines} >= {"9624127908", "8917609800"}
    assert all(isinstance(line.unit_price_fen, int) for line in order.lines)  # cents, integers
    mine = await commerce.orders_for("omar_anderson_3203")
    assert "#W6067464" in {o.id for o in mine}
    hits = await commerce.search_products(ProductQuery(keyword="Electric Kettle"))
    assert hits and hits[0].product.title == "Electric Kettle"
    assert await commerce.get_order("#W0000000") is None


async def test_llm_user_plays_the_instruction_and_stops_on_the_marker() -> None:
    from xiaoer.evals.tau.users import STOP, LLMTauUser

    llm = ScriptedLLM(steps=[say("Hi, I want to cancel an order."), say(f"Thanks! {STOP}")])
    user = LLMTauUser("Your name is Juan Rossi. Cancel order #W7602708.", llm)
    assert await user.first() == "Hi, I want to cancel an order."
    assert await user.reply("Done: cancelled.") is None
    system = llm.calls[0][0][0]
    assert system.role == "system" and "#W7602708" in system.content


def test_item_resolution_reads_names_with_options(data: Any) -> None:
    from xiaoer.commerce.resolve import resolve_lines
    from xiaoer.evals.tau.commerce import domain_order
    from xiaoer.evals.tau.world import TauWorld, fork_db

    base, _ = data
    order = domain_order(TauWorld(fork_db(base)), base["orders"]["#W9667707"])
    given = ["Running Shoes (size 9, color white, material mesh)", "e-reader", "E001"]
    assert resolve_lines(order, given) == ["9635758562", "7609274509", "E001"]
