"""τ-bench retail world (train split): tools, scorer and baseline agents.

Implemented from the data README in `shared/benchmarks/tau_retail/README.md`.
"""

from xiaoer.evals.tau.agents import AGENTS, run_tasks, summary
from xiaoer.evals.tau.score import TaskScore, db_hash, score_task
from xiaoer.evals.tau.world import TOOL_NAMES, TauWorld, fork_db, load_db, load_tasks

__all__ = [
    "AGENTS",
    "TOOL_NAMES",
    "TaskScore",
    "TauWorld",
    "db_hash",
    "fork_db",
    "load_db",
    "load_tasks",
    "run_tasks",
    "score_task",
    "summary",
]
