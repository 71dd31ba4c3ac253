"""Run scenarios against the real agent: a fresh copy of the demo data per trial.

The demo shops are generated once at the suite anchor and imported into a template SQLite
file; every trial copies that file, so trials never see each other's changes. Trials run one
after another: the embedded model serves one call at a time anyway.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import or_, select

from xiaoer.config import Settings
from xiaoer.demo import write_demo_bundles
from xiaoer.domain.models import Order
from xiaoer.evals.facts import World
from xiaoer.evals.scenario import ANCHOR, Scenario
from xiaoer.evals.scoring import Trial, Turn, score
from xiaoer.evals.shoppers import LLMShopper, ScriptedShopper, Shopper
from xiaoer.llm.base import LLM
from xiaoer.runtime import Runtime
from xiaoer.store.convert import order_from_row, product_from_rows
from xiaoer.store.models import ActionRow, AuditRow, OrderRow, ProductRow, ShopRow, SkuRow
from xiaoer.tools.registry import MUTATING


class Workspace:
    """A temp folder with the template database; `trial_db()` hands out fresh copies."""

    def __init__(self, keep: Path | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="xiaoer-eval-"))
        self.template = self.root / "template.db"
        self.keep = keep
        """Where each trial's database is kept (`<scenario>-<trial>.db`); None: deleted."""
        self._n = 0

    async def prepare(self, llm: LLM, shops: Sequence[str] = ()) -> float:
        """Import the demo shops, and warm the model's cache with the prompt prefixes of the
        shops the scenarios use, as a server does when it starts (`Runtime.warm`): the turns
        measured are warm turns. Returns the warm-up's seconds."""
        bundles = write_demo_bundles(self.root / "bundles", anchor=ANCHOR)
        settings = Settings(home=self.root / "home", database_url=f"sqlite:///{self.template}")
        rt = await Runtime.open(settings, llm=llm)
        try:
            for path in bundles:
                await rt.import_shop(path)
            if shops:
                await rt.warm(shops)
            return rt.timings.get("warm_s", 0.0)
        finally:
            await rt.close()

    def trial_db(self) -> Path:
        self._n += 1
        path = self.root / f"trial-{self._n}.db"
        shutil.copyfile(self.template, path)
        return path

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def done(self, db: Path, scenario: Scenario, trial_no: int) -> None:
        """A trial's database, once its trial is over: kept for a later look (the dry run of a
        policy change replays its conversations), or deleted."""
        if self.keep is None:
            db.unlink(missing_ok=True)
            return
        self.keep.mkdir(parents=True, exist_ok=True)
        shutil.move(db, self.keep / f"{scenario.id}-{trial_no}.db")


async def _orders_hash(rt: Runtime, shop_id: str) -> str:
    async with rt.sessions() as s:
        rows = await s.scalars(
            select(OrderRow).where(OrderRow.shop_id == shop_id).order_by(OrderRow.id)
        )
        blob = json.dumps(
            [[r.id, r.status, r.address, r.extras, r.lines, r.pay_fen] for r in rows],
            ensure_ascii=False,
            sort_keys=True,
        )
    return hashlib.sha256(blob.encode()).hexdigest()


_ID_LIKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{5,63}")
MAX_IDS = 400


async def capture_world(rt: Runtime, scenario: Scenario) -> World:
    """The shop's catalog and the shopper's orders at the start of a trial."""
    async with rt.sessions() as s:
        shop = await s.get(ShopRow, scenario.shop)
        rows = list(await s.scalars(select(ProductRow).where(ProductRow.shop_id == scenario.shop)))
        skus: dict[str, list[SkuRow]] = {}
        for sku in await s.scalars(select(SkuRow).where(SkuRow.shop_id == scenario.shop)):
            skus.setdefault(sku.product_id, []).append(sku)
    products = tuple(product_from_rows(r, skus.get(r.id, [])) for r in rows)
    orders = await touched_orders(rt, scenario, scenario.opening)
    return World(products, orders, shop.timezone if shop else "Asia/Shanghai")


async def touched_orders(rt: Runtime, scenario: Scenario, text: str) -> dict[str, Order]:
    """The shopper's own orders, and any other order of the shop whose id the conversation
    (`text`: messages, tool arguments and results) has named."""
    ids = list(dict.fromkeys(_ID_LIKE.findall(text)))[:MAX_IDS]
    async with rt.sessions() as s:
        rows = await s.scalars(
            select(OrderRow).where(
                OrderRow.shop_id == scenario.shop,
                or_(OrderRow.shopper_id == scenario.shopper, OrderRow.id.in_(ids)),
            )
        )
        return {r.id: order_from_row(r) for r in rows}


def _said(turn: Turn) -> str:
    calls = " ".join(f"{c['arguments']} {c['result']}" for c in turn.tool_calls)
    return f"{turn.shopper}\n{turn.reply}\n{calls}"


async def run_trial(
    scenario: Scenario, trial_no: int, ws: Workspace, llm: LLM, shopper_llm: LLM | None
) -> Trial:
    trial = Trial(scenario, trial_no)
    db = ws.trial_db()
    settings = Settings(home=ws.root / "home", database_url=f"sqlite:///{db}", now=scenario.now)
    rt = await Runtime.open(settings, llm=llm)
    shopper: Shopper = (
        LLMShopper(scenario, shopper_llm) if shopper_llm else ScriptedShopper(scenario)
    )
    try:
        before = await _orders_hash(rt, scenario.shop)
        trial.world = await capture_world(rt, scenario)
        await _converse(rt, scenario, shopper, trial)
        changed = await _orders_hash(rt, scenario.shop) != before
        trial.policy_violations = await audit_violations(rt, scenario.shop)
    except Exception as exc:  # a harness or agent crash fails the trial, with the reason kept
        trial.error = f"{type(exc).__name__}: {exc}"
        changed = False
    finally:
        await rt.close()
        ws.done(db, scenario, trial_no)
    score(trial, set(MUTATING), changed)
    return trial


async def audit_violations(rt: Runtime, shop_id: str, shopper_id: str | None = None) -> list[str]:
    """Executed actions (of one shopper, if given) whose audit trail is not proposed → confirmed
    (by the shopper, or approved by the merchant) → executed, or whose stored verdict did not
    allow them."""
    query = select(ActionRow).where(ActionRow.shop_id == shop_id, ActionRow.status == "executed")
    if shopper_id is not None:
        query = query.where(ActionRow.shopper_id == shopper_id)
    async with rt.sessions() as s:
        actions = list(await s.scalars(query))
        bad: list[str] = []
        for action in actions:
            events = [
                (a.event, a.actor)
                for a in await s.scalars(
                    select(AuditRow)
                    .where(AuditRow.shop_id == shop_id, AuditRow.action_id == action.id)
                    .order_by(AuditRow.id)
                )
            ]
            names = [e for e, _ in events]
            confirmed = ("confirmed", "shopper") in events or ("approved", "merchant") in events
            in_order = names[:1] == ["proposed"] and names[-1:] == ["executed"]
            if not (confirmed and in_order and action.policy_verdict.get("allowed")):
                bad.append(f"{action.tool}:{action.id}")
    return bad


async def _converse(rt: Runtime, scenario: Scenario, shopper: Shopper, trial: Trial) -> None:
    message: str | None = scenario.opening
    conversation: str | None = None
    said = scenario.opening
    for _ in range(scenario.max_turns):
        if message is None:
            break
        r = await rt.assistant().turn(
            scenario.shop, scenario.shopper, message, conversation_id=conversation
        )
        conversation = r.conversation_id
        trial.turns.append(
            Turn(
                shopper=message,
                reply=r.reply,
                tool_calls=[
                    {"name": c.name, "arguments": c.arguments, "result": c.result, "ok": c.ok}
                    for c in r.tool_calls
                ],
                llm_calls=r.llm_calls,
                tokens_in=r.tokens_in,
                tokens_out=r.tokens_out,
                latency_ms=r.latency_ms,
                ttft_ms=r.ttft_ms,
                fallback=r.fallback,
                actions=r.actions,
                guard=r.guard,
                guard_ms=r.guard_ms,
                cached_tokens=r.cached_tokens,
                handoff=r.handoff,
            )
        )
        said += _said(trial.turns[-1])
        trial.turns[-1].orders = await touched_orders(rt, scenario, said)
        message = await shopper.reply(r.reply)


async def run_suite(
    scenarios: list[Scenario],
    llm: LLM,
    *,
    trials: int = 1,
    shopper_llm: LLM | None = None,
    on_trial: Callable[[Trial], None] | None = None,
    keep: Path | None = None,
) -> tuple[list[Trial], float]:
    """Every scenario `trials` times; returns the trials and the wall time in seconds."""
    ws = Workspace(keep)
    started = time.perf_counter()
    try:
        await ws.prepare(llm, list(dict.fromkeys(s.shop for s in scenarios)))
        out: list[Trial] = []
        for scenario in scenarios:
            for k in range(trials):
                trial = await run_trial(scenario, k, ws, llm, shopper_llm)
                out.append(trial)
                if on_trial:
                    on_trial(trial)
    finally:
        ws.close()
    return out, time.perf_counter() - started
