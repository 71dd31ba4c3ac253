"""Whole τ-retail conversations with a real model: `xiaoer` (the product's turn loop, action desk,
policy engine with the τ shop's `policy.yaml`, and code-enforced identity over the τ world) and `baseline` (what the benchmark ships: one
tool-calling loop with the policy pasted in the system prompt, tools executed as called).

Both agents get the same model, the same simulated user and the same scorer. An "unconfirmed
mutation" is a change to the world made in a turn whose user message was not an explicit yes —
counted the same way for both.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from xiaoer.agent.actions import is_yes
from xiaoer.agent.turn import Assistant
from xiaoer.config import Settings
from xiaoer.evals.report import percentile
from xiaoer.evals.runner import audit_violations
from xiaoer.evals.tau.checks import tau_policy
from xiaoer.evals.tau.commerce import TauCommerce
from xiaoer.evals.tau.score import TaskScore, score_task
from xiaoer.evals.tau.specs import MUTATING_TAU, TAU_SPECS
from xiaoer.evals.tau.users import GREETING, LLMTauUser, ScriptedTauUser, TauUser
from xiaoer.evals.tau.world import TauWorld, fork_db
from xiaoer.evals.tau.xiaoer_tools import ENGLISH, RESULT_CHARS, TAU_SHOP, tau_tools
from xiaoer.llm.base import LLM, ChatMessage
from xiaoer.policy.schema import ShopPolicy
from xiaoer.runtime import Runtime
from xiaoer.store.models import ShopperRow, ShopRow

MAX_USER_TURNS = 14
BASELINE_STEPS = 8
XIAOER_STEPS = 6


@dataclass
class AgentTurn:
    user: str
    reply: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    llm_calls: int = 0
    tokens_in: int = 0
    latency_ms: int = 0
    changed_world: int = 0
    """Mutations applied to the world during this turn."""


@dataclass
class Episode:
    agent: str
    task_index: int
    trial: int
    turns: list[AgentTurn] = field(default_factory=list)
    score: TaskScore | None = None
    error: str = ""
    policy_violations: list[str] = field(default_factory=list)
    handoff: bool = False

    @property
    def unconfirmed(self) -> int:
        return sum(t.changed_world for t in self.turns if not is_yes(t.user))

    def as_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "task_index": self.task_index,
            "trial": self.trial,
            "passed": bool(self.score and self.score.passed),
            "db_match": bool(self.score and self.score.db_match),
            "error": self.error,
            "handoff": self.handoff,
            "unconfirmed_mutations": self.unconfirmed,
            "policy_violations": self.policy_violations,
            "turns": [t.__dict__ for t in self.turns],
        }


class TauAgent(Protocol):
    async def respond(self, text: str) -> AgentTurn: ...


class BaselineAgent:
    """One tool-calling loop, the benchmark's policy as the system prompt, no other structure."""

    def __init__(self, world: TauWorld, llm: LLM, policy: str) -> None:
        self.world = world
        self.llm = llm
        self.specs = list(TAU_SPECS.values())
        self.messages = [ChatMessage("system", policy), ChatMessage("assistant", GREETING)]

    async def respond(self, text: str) -> AgentTurn:
        turn = AgentTurn(text, "")
        started = time.perf_counter()
        self.messages.append(ChatMessage("user", text))
        for step in range(BASELINE_STEPS):
            mode = "text" if step == BASELINE_STEPS - 1 else "auto"
            c = await self.llm.complete(self.messages, self.specs, mode=mode)
            turn.llm_calls += 1
            turn.tokens_in += c.tokens_in
            if not c.tool_calls:
                turn.reply = c.content.strip()
                self.messages.append(ChatMessage("assistant", turn.reply))
                break
            self.messages.append(ChatMessage("assistant", tool_calls=tuple(c.tool_calls)))
            for call in c.tool_calls:
                result = self.world.call(call.name, call.arguments)
                ok = not result.startswith("Error")
                turn.changed_world += int(ok and call.name in MUTATING_TAU)
                turn.tool_calls.append({"name": call.name, "arguments": call.arguments, "ok": ok})
                self.messages.append(ChatMessage("tool", result, tool_call_id=call.id))
            if self.world.transferred:
                break
        turn.latency_ms = int((time.perf_counter() - started) * 1000)
        return turn


class XiaoerAgent:
    """xiaoer's `Assistant` with the τ tools, the English voice and the action desk."""

    def __init__(self, assistant: Assistant, shopper_id: str) -> None:
        self.assistant = assistant
        self.shopper_id = shopper_id
        self.conversation: str | None = None

    async def respond(self, text: str) -> AgentTurn:
        r = await self.assistant.turn(
            TAU_SHOP.id, self.shopper_id, text[:2000], conversation_id=self.conversation
        )
        self.conversation = r.conversation_id
        executed = [a for a in r.actions if a["status"] == "executed"]
        return AgentTurn(
            user=text,
            reply=r.reply,
            tool_calls=[
                {"name": c.name, "arguments": c.arguments, "ok": c.ok} for c in r.tool_calls
            ],
            llm_calls=r.llm_calls,
            tokens_in=r.tokens_in,
            latency_ms=r.latency_ms,
            changed_world=len(executed),
        )


class TauRun:
    """One store (for xiaoer's conversations and actions) shared by every episode of a run."""

    def __init__(self, folder: Path, llm: LLM, base_db: dict[str, Any]) -> None:
        self.folder = folder
        self.llm = llm
        self.base_db = base_db
        self.policy = (folder / "policy.md").read_text(encoding="utf-8")
        self.shop_policy = tau_policy()
        """What xiaoer's policy engine checks every change against (policy.md as data)."""
        self.root = Path(tempfile.mkdtemp(prefix="xiaoer-tau-"))
        self.rt: Runtime | None = None

    async def open(self) -> None:
        db = self.root / "tau.db"
        settings = Settings(home=self.root / "home", database_url=f"sqlite:///{db}")
        self.rt = await Runtime.open(settings, llm=self.llm)
        async with self.rt.sessions() as s:
            s.add(ShopRow(id=TAU_SHOP.id, name=TAU_SHOP.name, timezone="UTC", imported_at=_now()))
            await s.commit()

    async def close(self) -> None:
        if self.rt is not None:
            await self.rt.close()
        shutil.rmtree(self.root, ignore_errors=True)

    async def episode(
        self, agent_name: str, task: dict[str, Any], index: int, trial: int, user_kind: str
    ) -> Episode:
        ep = Episode(agent_name, index, trial)
        world = TauWorld(fork_db(self.base_db))
        user: TauUser = (
            LLMTauUser(task["instruction"], self.llm)
            if user_kind == "llm"
            else ScriptedTauUser(task["instruction"])
        )
        shopper_id = f"task{index}-t{trial}"
        try:
            agent = await self._agent(agent_name, world, shopper_id)
            message: str | None = await user.first()
            for _ in range(MAX_USER_TURNS):
                if message is None:
                    break
                turn = await agent.respond(message)
                ep.turns.append(turn)
                if world.transferred:
                    break
                message = await user.reply(turn.reply)
            if agent_name == "xiaoer" and self.rt is not None:
                ep.policy_violations = await audit_violations(self.rt, TAU_SHOP.id, shopper_id)
        except Exception as exc:  # an agent or model failure fails the episode, reason kept
            ep.error = f"{type(exc).__name__}: {exc}"
        ep.handoff = world.transferred
        said = [t.reply for t in ep.turns]
        ep.score = score_task(task, world.db, said, self.base_db, task_index=index)
        return ep

    async def _agent(self, name: str, world: TauWorld, shopper_id: str) -> TauAgent:
        if name == "baseline":
            return BaselineAgent(world, self.llm, self.policy)
        assert self.rt is not None
        async with self.rt.sessions() as s:
            s.add(ShopperRow(shop_id=TAU_SHOP.id, id=shopper_id, name="guest", phone=""))
            await s.commit()
        commerce = TauCommerce(world)

        async def policy_for(_shop: str, _session: object = None) -> ShopPolicy:
            return self.shop_policy

        assistant = Assistant(
            self.rt.sessions,
            self.llm,
            lambda _shop: commerce,
            _now,
            policy_for=policy_for,
            tools=tau_tools(world),
            max_steps=XIAOER_STEPS,
            voice=ENGLISH,
            result_chars=RESULT_CHARS,
        )
        return XiaoerAgent(assistant, shopper_id)


def _now() -> datetime:
    return datetime.now(UTC)


async def run_episodes(
    folder: Path,
    llm: LLM,
    tasks: list[tuple[int, dict[str, Any]]],
    agents: list[str],
    base_db: dict[str, Any],
    *,
    trials: int = 1,
    user: str = "scripted",
    on_episode: Callable[[Episode], None] | None = None,
) -> list[Episode]:
    """Every (agent, task, trial), one agent after the other: the agents' prompts differ, and
    switching per episode would make the model prefill the other prompt again each time."""
    run = TauRun(folder, llm, base_db)
    await run.open()
    out: list[Episode] = []
    try:
        for agent in agents:
            for index, task in tasks:
                for trial in range(trials):
                    ep = await run.episode(agent, task, index, trial, user)
                    out.append(ep)
                    if on_episode:
                        on_episode(ep)
    finally:
        await run.close()
    return out


def episode_summary(episodes: list[Episode], trials: int) -> dict[str, Any]:
    """The benchmark's pass^k plus the harness's safety and cost figures, for one agent."""
    from xiaoer.evals.tau.agents import summary

    scores = [e.score for e in episodes if e.score is not None]
    turns = [t for e in episodes for t in e.turns]
    n_turns = max(1, len(turns))
    latencies = [float(t.latency_ms) for t in turns]
    result = summary(scores, n_trials=trials)
    result.update(
        {
            "unconfirmed_mutations": sum(e.unconfirmed for e in episodes),
            "policy_violations": sum(len(e.policy_violations) for e in episodes),
            "ungrounded_claims": None,
            "handoff_rate": round(sum(e.handoff for e in episodes) / max(1, len(episodes)), 4),
            "llm_calls_per_turn": round(sum(t.llm_calls for t in turns) / n_turns, 3),
            "tokens_in_per_turn": round(sum(t.tokens_in for t in turns) / n_turns, 1),
            "turns": len(turns),
            "latency_ms": {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95)},
            "errors": sum(bool(e.error) for e in episodes),
        }
    )
    return result
