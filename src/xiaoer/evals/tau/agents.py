"""Trivial baseline agents that prove the scorer, and the batch runner."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from math import comb
from pathlib import Path
from typing import Any

from xiaoer.evals.tau.score import TaskScore, score_task
from xiaoer.evals.tau.world import TauWorld, fork_db, load_db, load_tasks

Agent = Callable[[dict[str, Any], TauWorld], list[str]]


def replay_agent(task: dict[str, Any], world: TauWorld) -> list[str]:
    """Execute the task's reference actions; say the required outputs."""
    for action in task.get("actions", []):
        world.call(action["name"], action.get("kwargs", {}))
    return list(task.get("outputs", []))


def noop_agent(task: dict[str, Any], world: TauWorld) -> list[str]:
    """Do nothing and say nothing."""
    return []


AGENTS: dict[str, Agent] = {"replay": replay_agent, "noop": noop_agent}


def run_tasks(
    folder: Path,
    tasks: list[dict[str, Any]] | None,
    agent_name: str,
    *,
    limit: int | None = None,
) -> list[TaskScore]:
    """Run `agent_name` once on each task (all train tasks when `tasks` is None)."""
    agent = AGENTS.get(agent_name)
    if agent is None:
        raise ValueError(f"unknown agent {agent_name!r}; known: {sorted(AGENTS)}")
    base = load_db(folder)
    if tasks is None:
        tasks = load_tasks(folder)
    if limit is not None:
        tasks = tasks[:limit]
    scores: list[TaskScore] = []
    for index, task in enumerate(tasks):
        world = TauWorld(fork_db(base))
        said = agent(task, world)
        scores.append(score_task(task, world.db, said, base, task_index=index))
    return scores


def summary(scores: list[TaskScore], n_trials: int = 1) -> dict[str, Any]:
    """Aggregate scores of `n_trials` runs per task into pass^k for k = 1..n_trials."""
    if n_trials < 1:
        raise ValueError("n_trials must be >= 1")
    by_task: dict[int, list[bool]] = defaultdict(list)
    for score in scores:
        by_task[score.task_index].append(score.passed)
    short = sorted(i for i, runs in by_task.items() if len(runs) < n_trials)
    if short:
        raise ValueError(f"tasks with fewer than {n_trials} trials: {short[:10]}")
    pass_hat_k: dict[str, float] = {}
    for k in range(1, n_trials + 1):
        rates = [comb(sum(runs), k) / comb(len(runs), k) for runs in by_task.values()]
        pass_hat_k[str(k)] = sum(rates) / len(rates) if rates else 0.0
    passed = sum(s.passed for s in scores)
    return {
        "n_tasks": len(by_task),
        "trials": n_trials,
        "episodes": len(scores),
        "passed": passed,
        "avg_reward": passed / len(scores) if scores else 0.0,
        "pass_hat_k": pass_hat_k,
        "db_match": sum(s.db_match for s in scores),
        "tasks_with_reference_errors": sum(bool(s.reference_errors) for s in scores),
    }
