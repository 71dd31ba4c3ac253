"""Prometheus metrics, one registry per app (two apps in one process, as in tests, never share
or collide). The API records them; `GET /metrics` renders them in the text exposition format.

| metric                                   | type      | labels            |
|------------------------------------------|-----------|-------------------|
| `xiaoer_turns_total`                     | counter   | `outcome`         |
| `xiaoer_turn_duration_seconds`           | histogram |                   |
| `xiaoer_turn_waited_seconds`             | histogram |                   |
| `xiaoer_turn_model_seconds`              | histogram |                   |
| `xiaoer_turn_queued_seconds`             | histogram |                   |
| `xiaoer_turns_in_flight`                 | gauge     |                   |
| `xiaoer_llm_prompt_tokens_total`         | counter   |                   |
| `xiaoer_llm_completion_tokens_total`     | counter   |                   |
| `xiaoer_guard_verdicts_total`            | counter   | `layer, verdict`  |
| `xiaoer_handoffs_total`                  | counter   | `reason`          |
| `xiaoer_http_requests_total`             | counter   | `method, route, status` |
| `xiaoer_llm_calls_waiting`               | gauge     |                   |
| `xiaoer_llm_calls_running`               | gauge     |                   |
| `xiaoer_turn_queue_depth`                | gauge     |                   |
| `xiaoer_turns_held_total`                | counter   |                   |

Of a turn's duration, `xiaoer_turn_waited_seconds` is the time it waited in line for a turn
slot and the model's slots (`TurnResult.waited_ms`, measured where the turn ran, a turn worker
included): when it grows while the turns' own time does not, the model's slots are too few
for the traffic (`XIAOER_LLM_SLOTS`, and the endpoint behind them). `xiaoer_turn_model_seconds`
is the time its model calls took once they had their slots (`model_ms`): when it grows with
the traffic, the endpoint itself is slowing down. `xiaoer_turn_queued_seconds` is the time the
message waited on the Redis queue until a turn worker took it (`queued_ms`; with turn workers
only): when it grows, the workers are too few or too busy. What is left of the duration is
xiaoer's own work: the turn's reads and writes, tools, guard and relay.

A turn's `outcome` is `answered`, `handed_over` (its result carries a handoff: one was opened,
or the conversation's open one was told again), `refused` (a 4xx before or during the turn:
the rate limit, another shopper's conversation) or `error` (anything else that raised). A
resend answered from the stored reply (`replayed`) is not a turn and is not counted. `route`
is the route's template (`/v1/conversations/{conversation_id}/messages`), never the raw path,
and `unmatched` when no route served it; `status` is the class (`2xx` … `5xx`).

The queue depth, read when `/metrics` is scraped: in one process, the model calls waiting in
line for a slot and those running, and the slots (`llm/gate.py`; fewer while an endpoint is
overloaded, `llm/limit.py`); with turn workers, the turns on the Redis queue, waiting for a worker or
running (the workers' own lines for the model are theirs). A held turn (a JSON request
answered with the holding reply, 202) is counted in `xiaoer_turns_held_total` when it is held
and by outcome when it ends.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xiaoer.domain.errors import XiaoerError

if TYPE_CHECKING:
    from xiaoer.agent.events import TurnResult

__all__ = ["CONTENT_TYPE", "HttpMetrics", "Metrics", "TURN_BUCKETS"]

TURN_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 16.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0,
                180.0)  # fmt: skip
"""Seconds: an endpoint answers in about a second, the embedded model in 6–16 s alone on 2 cores
and up to the 180 s deadline behind other conversations (README); past 180 is `+Inf`."""


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    queued: bool = False
    """Turn workers answer this process's turns from the Redis queue (`queued_ms` is observed)."""

    def __post_init__(self) -> None:
        r = self.registry
        self.turns = Counter("xiaoer_turns", "Shopper turns by outcome", ["outcome"], registry=r)
        self.turn_seconds = Histogram(
            "xiaoer_turn_duration_seconds", "Wall time of a shopper turn",
            buckets=TURN_BUCKETS, registry=r,
        )  # fmt: skip
        self.turn_waited = Histogram(
            "xiaoer_turn_waited_seconds", "Time a shopper turn waited in line for slots",
            buckets=(0.0, *TURN_BUCKETS), registry=r,
        )  # fmt: skip
        self.turn_model = Histogram(
            "xiaoer_turn_model_seconds", "Time a shopper turn's model calls took, once in a slot",
            buckets=(0.0, *TURN_BUCKETS), registry=r,
        )  # fmt: skip
        self.turn_queued = Histogram(
            "xiaoer_turn_queued_seconds", "Time a shopper turn waited for a turn worker",
            buckets=(0.0, *TURN_BUCKETS), registry=r,
        )  # fmt: skip
        self.in_flight = Gauge("xiaoer_turns_in_flight", "Shopper turns running", registry=r)
        self.prompt_tokens = Counter(
            "xiaoer_llm_prompt_tokens", "LLM prompt tokens of shopper turns", registry=r
        )
        self.completion_tokens = Counter(
            "xiaoer_llm_completion_tokens", "LLM completion tokens of shopper turns", registry=r
        )
        self.guard_verdicts = Counter(
            "xiaoer_guard_verdicts", "Guard verdicts by layer", ["layer", "verdict"], registry=r
        )
        self.handoffs = Counter(
            "xiaoer_handoffs", "Turns that handed the conversation to a human", ["reason"],
            registry=r,
        )  # fmt: skip
        self.http_requests = Counter(
            "xiaoer_http_requests", "HTTP requests by route template and status class",
            ["method", "route", "status"], registry=r,
        )  # fmt: skip
        self.llm_waiting = Gauge(
            "xiaoer_llm_calls_waiting", "Model calls waiting in line for a slot", registry=r
        )
        self.llm_busy = Gauge("xiaoer_llm_calls_running", "Model calls running", registry=r)
        self.llm_slots = Gauge(
            "xiaoer_llm_slots", "Model calls this process makes at once, at most", registry=r
        )
        self.turn_queue = Gauge(
            "xiaoer_turn_queue_depth", "Turns on the Redis queue, waiting or running", registry=r
        )
        self.held = Counter(
            "xiaoer_turns_held", "JSON turns answered with the holding reply first", registry=r
        )
        for outcome in ("answered", "handed_over", "refused", "error"):
            self.turns.labels(outcome)  # shown at 0 before the first turn

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def timed(self, turn: Awaitable[TurnResult]) -> TurnResult:
        """Await one shopper turn, in flight while it runs, and record how it ended (a
        refusal's time is not a turn's, so it is not observed)."""
        self.in_flight.inc()
        started = time.perf_counter()
        try:
            result = await turn
        except XiaoerError as exc:
            refused = exc.status_code < 500
            self.turns.labels("refused" if refused else "error").inc()
            if not refused:
                self.turn_seconds.observe(time.perf_counter() - started)
            raise
        except Exception:
            self.turns.labels("error").inc()
            self.turn_seconds.observe(time.perf_counter() - started)
            raise
        finally:
            self.in_flight.dec()
        self.finished(result, time.perf_counter() - started)
        return result

    def finished(self, result: TurnResult, seconds: float) -> None:
        """A turn that returned: its outcome, time, tokens, guard verdicts and handoff."""
        if result.replayed:
            return
        self.turns.labels("handed_over" if result.handoff else "answered").inc()
        self.turn_seconds.observe(seconds)
        self.turn_waited.observe(max(result.waited_ms, 0) / 1000)
        self.turn_model.observe(max(result.model_ms, 0) / 1000)
        if self.queued:  # turn workers answer this process's turns
            self.turn_queued.observe(max(result.queued_ms, 0) / 1000)
        self.prompt_tokens.inc(max(result.tokens_in, 0))
        self.completion_tokens.inc(max(result.tokens_out, 0))
        for entry in result.guard:
            self.guard_verdicts.labels(*_verdict(entry)).inc()
        if result.handoff:
            self.handoffs.labels(str(result.handoff.get("reason", "unknown"))).inc()


def _verdict(entry: dict[str, Any]) -> tuple[str, str]:
    layer = str(entry.get("layer", "unknown"))
    if layer == "input":
        return layer, "flagged" if entry.get("flags") else "clean"
    if entry.get("fixed"):
        return layer, "fixed"
    return layer, "passed" if entry.get("passed") else "failed"


class HttpMetrics:
    """ASGI middleware: each HTTP request counted by method, route template and status class
    (an exception that escapes the app counts as `5xx`)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = _template(scope, root)
            self.metrics.http_requests.labels(scope["method"], route, f"{status // 100}xx").inc()


def _template(scope: Scope, root: str) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    mounted = scope.get("root_path", "")[len(root) :]
    if isinstance(route, Mount):  # nothing inside the mount matched, or it is not routed
        return f"{mounted}/*"
    return mounted + path
