"""Shopper turns on a Redis queue: the API enqueues, `xiaoer worker` runs, events come back.

With `XIAOER_QUEUE=redis` (and `XIAOER_REDIS_URL`) an API worker does not run turns itself.
`QueuedTurns.turn` — the same call the API makes on `BoundedTurns` in one process — puts the
turn on an **arq** queue and relays its events back from a Redis pub/sub channel of its own
(`Subscriber`: one connection per API process for all of them):
`accepted`, `queued` (in line for the worker's model slots), `tool_call`, `tool_result`,
`delta`, then `done` with the result, or `error` with the refusal (a `XiaoerError` by name,
with its message; the API answers it with the same 4xx as in one process). The API's
latency then no longer depends on how many turns are in flight, and any number of API workers
share the turn workers.

arq, because it is asyncio-native like the rest of xiaoer, small (one dependency: redis-py,
already ours), and keeps a job in its queue until a worker finished it: a worker killed
mid-turn leaves the job to be run again by another once its in-progress mark expires, and a
job id is taken once (a resend does not enqueue a second copy). arq would set that mark for
the job's whole timeout (`JOB_TIMEOUT_S`, minutes); `TurnWorker` sets it to a short lease from
the moment it takes a job (`LEASE_S`, renewed while the turn runs), so a worker killed at any
moment leaves its turn to another within seconds.
A turn run again after a crash is answered once all the same: every queued turn carries a
`client_key` (the shopper's, or the job's own), and `Assistant.turn` stores one message and
one reply per key.

`xiaoer worker` (`run_worker`) opens the runtime (the model, when embedded, loads once per
worker) and runs up to `XIAOER_WORKER_JOBS` turns at a time, each under the turn deadline
(`BoundedTurns`). The embedded mode stays one process with no Redis: `XIAOER_QUEUE=inline`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
import uuid
import warnings
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix
from arq.jobs import Job, JobStatus
from arq.worker import Worker
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from xiaoer.agent.bounded import holding
from xiaoer.agent.events import (
    Accepted,
    Emit,
    Event,
    Queued,
    TextDelta,
    ToolCallRecord,
    ToolFinished,
    ToolStarted,
    TurnResult,
    ignore,
)
from xiaoer.agent.instructions import english
from xiaoer.config import Settings
from xiaoer.domain import errors
from xiaoer.domain.errors import Unavailable, XiaoerError
from xiaoer.observability.tracing import setup_tracing
from xiaoer.runtime import Runtime

__all__ = [
    "QueuedTurns",
    "TurnWorker",
    "close_worker",
    "run_turn",
    "run_worker",
    "worker_settings",
]

log = logging.getLogger(__name__)

QUEUE = "xiaoer:turns"
CHANNEL = "xiaoer:turn:{job}"
JOB_TIMEOUT_S = 300
"""The longest a turn may hold a worker (well above any turn deadline); past it, and after a
worker died, the job is run again by another."""
TAKEN = "xiaoer:turns:taken"
"""The jobs workers are running, scored as in the queue (their enqueue time, ms): a waiting
turn's place in the line is its rank less the taken ones before it. A worker killed mid-turn
leaves its job here until another finishes it; what is older than `TAKEN_KEPT_S` goes."""
TAKEN_KEPT_S = 2 * JOB_TIMEOUT_S
LEASE_S = 20.0
"""A running turn's in-progress mark lasts this long unless renewed (every `LEASE_S / 5` s):
after a worker died, its turn is run again by another this many seconds later at most."""
ELSEWHERE_S = 1.0
"""A turn seen running on another worker is not asked about again for this long (a worker
that died leaves its turn to the others once its lease lapses, `LEASE_S`, far longer)."""
RECONNECT_S = (1.0, 10.0)
"""A worker that lost Redis tries again after the first, doubling up to the second."""
RELAY_MARGIN_S = 30.0
"""How much longer than the turn deadline the API waits for a queued turn's answer."""
FINISHED = "xiaoer:turns:finished"
"""How many turns the workers have finished, ever: the line's pace comes from it."""
PACE_WINDOW_S = (3.0, 60.0)
"""The pace is measured over the oldest count at least the first and at most the second
this many seconds old."""
WATCHED = (ToolStarted, ToolFinished, TextDelta)
"""The events a stream shows as the turn happens, and a JSON request does not wait for."""
_EVENTS: dict[str, type[Any]] = {
    "accepted": Accepted,
    "queued": Queued,
    "tool_call": ToolStarted,
    "tool_result": ToolFinished,
    "delta": TextDelta,
}


_RESULT_FIELDS = frozenset(f.name for f in fields(TurnResult))


def _result(data: dict[str, Any]) -> TurnResult:
    """The `done` event's result. A field this API process does not know (a newer worker's,
    while a deployment rolls over) is left out rather than failing the shopper's turn."""
    calls = [ToolCallRecord(**c) for c in data.get("tool_calls", [])]
    known = {k: v for k, v in data.items() if k in _RESULT_FIELDS}
    return TurnResult(**(known | {"tool_calls": calls}))


def _refusal(data: dict[str, Any]) -> XiaoerError:
    kind = getattr(errors, str(data.get("type", "")), None)
    message = str(data.get("message", ""))
    if isinstance(kind, type) and issubclass(kind, XiaoerError):
        return kind(message)
    return XiaoerError("内部错误，请稍后再试 / internal error, please try again later")


def _job_id(shop_id: str, conversation_id: str, client_key: str) -> str:
    """One job per message: a resend of it finds the job it is already in."""
    return hashlib.sha256(f"{shop_id}\n{conversation_id}\n{client_key}".encode()).hexdigest()[:32]


class Pace:
    """Turns finished per second across the workers, from the `FINISHED` count as this API
    worker reads it now and then: the estimate a held shopper is told (`Retry-After`)."""

    def __init__(self) -> None:
        self._seen: deque[tuple[float, int]] = deque()

    def observe(self, now: float, finished: int) -> float | None:
        """Record the count read at `now`; the pace since the oldest reading in the window,
        or None before there is one (or when nothing finished: no estimate to give)."""
        low, high = PACE_WINDOW_S
        while self._seen and now - self._seen[0][0] > high:
            self._seen.popleft()
        if not self._seen or now - self._seen[-1][0] >= 1.0:
            self._seen.append((now, finished))
        then, before = self._seen[0]
        if now - then < low or finished <= before:
            return None
        return (finished - before) / (now - then)


class Subscriber:
    """The turns' event channels an API process waits on, over one Redis pub/sub connection.

    A turn subscribes its job's channel and unsubscribes once it has its answer: two commands
    on a connection kept open. A pub/sub of its own per turn opened a connection and closed it
    again each time (with its handshake: three more round trips). One reader dispatches what
    arrives to the turns waiting on its channel (a resend that joins a job waits on the same
    one). A lost connection fails every turn waiting on it, as connections of their own would
    have failed them (the shopper's resend with the same `client_key` gets the answer), and
    the next turn opens another."""

    def __init__(self, redis: Callable[[], Awaitable[ArqRedis]]) -> None:
        self._redis = redis
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[str, list[asyncio.Queue[Any]]] = {}
        self._opening = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def channel(self, name: str) -> AsyncIterator[asyncio.Queue[Any]]:
        """The queue `name`'s messages arrive on (their data), subscribed before it is given;
        a `_Lost` in it when the connection went."""
        pubsub = self._pubsub or await self._open()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        waiting = self._waiting.setdefault(name, [])
        waiting.append(queue)
        try:
            if len(waiting) == 1:
                try:
                    await pubsub.subscribe(name)
                except (RedisError, OSError) as exc:
                    await self._lost(pubsub, exc)
                    raise
            yield queue
        finally:
            waiting.remove(queue)
            if not waiting and self._waiting.get(name) is waiting:
                del self._waiting[name]
                if self._pubsub is pubsub:
                    with contextlib.suppress(RedisError, OSError):  # the reader hears of it
                        await pubsub.unsubscribe(name)

    async def _open(self) -> PubSub:
        """The connection, opened once (turns arriving together would each open one, and
        subscribe on whichever was opened last) with its reader."""
        async with self._opening:
            if self._pubsub is None:
                pubsub = (await self._redis()).pubsub()
                try:
                    await pubsub.connect()
                except BaseException:
                    with contextlib.suppress(Exception):  # its connection back to the pool
                        await pubsub.aclose()
                    raise
                self._pubsub = pubsub
                self._reader = asyncio.create_task(self._read(pubsub))
            return self._pubsub

    async def _read(self, pubsub: PubSub) -> None:
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                if message is None:
                    continue
                channel = message["channel"]
                name = channel.decode() if isinstance(channel, bytes) else str(channel)
                for queue in self._waiting.get(name, ()):
                    queue.put_nowait(message["data"])
        except Exception as exc:  # the connection went (or the server said something odd)
            await self._lost(pubsub, exc)

    async def _lost(self, pubsub: PubSub, exc: BaseException) -> None:
        if self._pubsub is not pubsub:
            return  # already replaced
        log.warning("lost the turns' event channel: %s", exc)
        self._pubsub, self._reader = None, None
        waiting, self._waiting = self._waiting, {}
        for queues in waiting.values():
            for queue in queues:
                queue.put_nowait(_Lost(str(exc)))
        with contextlib.suppress(Exception):
            await pubsub.aclose()

    async def close(self) -> None:
        reader, pubsub = self._reader, self._pubsub
        self._pubsub, self._reader = None, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()


@dataclass(frozen=True)
class _Lost:
    """In a turn's queue: the connection its events came on is gone."""

    why: str


class QueuedTurns:
    """The API's side: `turn` with the signature of `BoundedTurns.turn`, run by a worker.

    A message's job id is derived from its `client_key`, so a resend while the job waits or
    runs joins it (its answer is `replayed`) instead of queueing a second copy; a resend after
    it finished gets a fresh job, which answers from the stored reply. A job that no worker has
    taken `hold_after` seconds after it was queued is told its place in the queue (`Queued`,
    the holding reply), as a turn waiting for the model in one process is."""

    def __init__(self, redis_url: str, deadline_s: float | None, hold_after: float = 3.0) -> None:
        self.redis_url = redis_url
        self.wait_s = (deadline_s or 180.0) + RELAY_MARGIN_S
        self.hold_after = hold_after
        self.pace = Pace()
        self._pool: ArqRedis | None = None
        self.events = Subscriber(self.pool)

    async def pool(self) -> ArqRedis:
        if self._pool is None:
            self._pool = await create_pool(
                RedisSettings.from_dsn(self.redis_url), default_queue_name=QUEUE
            )
        return self._pool

    async def depth(self) -> int:
        """Turns on the queue, waiting for a worker or running (the `/metrics` queue depth)."""
        return int(await (await self.pool()).zcard(QUEUE))

    async def close(self) -> None:
        await self.events.close()
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    async def turn(
        self,
        shop_id: str,
        shopper_id: str,
        text: str,
        *,
        conversation_id: str,
        client_key: str | None = None,
        emit: Emit = ignore,
        watching: bool = True,
    ) -> TurnResult:
        """`watching` False: the caller waits for the answer only (a JSON request), and the
        worker relays the message's place in line and the answer, not each tool call and piece
        of text (`WATCHED`), which a stream shows as they happen."""
        pool = await self.pool()
        key = client_key or f"job:{uuid.uuid4().hex}"
        job = _job_id(shop_id, conversation_id, key)
        payload = {
            "shop_id": shop_id, "shopper_id": shopper_id, "text": text,
            "conversation_id": conversation_id, "client_key": key, "job": job,
            "watched": watching,
        }  # fmt: skip
        async with self.events.channel(CHANNEL.format(job=job)) as heard:  # before it publishes
            if await pool.enqueue_job("run_turn", payload, _job_id=job) is not None:
                return await self._relay(pool, heard, job, english(text), emit)
            status = await Job(job, pool, _queue_name=QUEUE).status()
            if status in (JobStatus.queued, JobStatus.deferred, JobStatus.in_progress):
                # the same message, waiting or being answered: its answer, replayed
                result = await self._relay(pool, heard, job, english(text), emit)
                return replace(result, replayed=True)
        # answered a moment ago (its result kept): a fresh job replays it
        job = payload["job"] = f"{job}:{uuid.uuid4().hex[:8]}"
        async with self.events.channel(CHANNEL.format(job=job)) as heard:
            if await pool.enqueue_job("run_turn", payload, _job_id=job) is None:
                raise Unavailable("the turn could not be queued; send it again")
            return await self._relay(pool, heard, job, english(text), emit)

    async def _relay(
        self, pool: ArqRedis, events: asyncio.Queue[Any], job: str, en: bool, emit: Emit
    ) -> TurnResult:
        loop = asyncio.get_running_loop()
        since = loop.time()
        give_up = since + self.wait_s
        heard = told = False
        while (left := give_up - loop.time()) > 0:
            wait = (
                left if heard or told else min(left, max(since + self.hold_after - loop.time(), 0))
            )
            message = await _next(events, wait)
            if isinstance(message, _Lost):
                raise RedisConnectionError(f"lost the turn's events: {message.why}")
            if message is None:
                if not heard and not told and loop.time() - since >= self.hold_after:
                    ahead = await self._ahead(pool, job)
                    await emit(holding(ahead, en=en, eta_s=await self._eta(pool, ahead)))
                    told = True
                continue
            heard = True
            event = json.loads(message)
            kind, data = event["type"], event["data"]
            if kind == "done":
                result = _result(data)
                await emit(result)  # the stream's `done`, as in one process
                return result
            if kind == "error":
                raise _refusal(data)
            if (cls := _EVENTS.get(kind)) is not None:
                await emit(cls(**data))
        raise Unavailable("no turn worker answered in time; send it again")

    async def _eta(self, pool: ArqRedis, ahead: int) -> float | None:
        """Seconds until a turn with `ahead` turns before it is taken, at the line's pace."""
        finished = int(await pool.get(FINISHED) or 0)
        pace = self.pace.observe(asyncio.get_running_loop().time(), finished)
        return None if pace is None else (ahead + 1) / pace

    @staticmethod
    async def _ahead(pool: ArqRedis, job: str) -> int:
        """Jobs queued before this one that no worker has taken yet: its rank in the queue
        less the taken ones queued before it (`TAKEN`). Three commands however long the line
        is; it looked up every job before it, 37% of an API process's CPU when a thousand
        shoppers were held at once."""
        async with pool.pipeline(transaction=False) as pipe:
            pipe.zrank(QUEUE, job)
            pipe.zscore(QUEUE, job)
            rank, score = await pipe.execute()
        if not rank or score is None:
            return 0
        taken = await pool.zcount(TAKEN, "-inf", f"({score}")
        return max(rank - taken, 0)


async def _next(events: asyncio.Queue[Any], wait: float) -> Any:
    """The next item on `events`, or None after `wait` seconds without one."""
    if not events.empty():
        return events.get_nowait()
    try:
        async with asyncio.timeout(wait):
            return await events.get()
    except TimeoutError:
        return None


async def run_turn(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    """A worker's job: the turn, its events published as they happen."""
    rt: Runtime = ctx["rt"]
    redis: ArqRedis = ctx["redis"]
    channel = CHANNEL.format(job=payload["job"])

    async def publish(kind: str, data: dict[str, Any], *, last: bool = False) -> None:
        """`last`: the turn's answer or refusal, published as the turn is counted finished."""
        message = json.dumps({"type": kind, "data": data}, ensure_ascii=False)
        try:
            if last:
                await _finished(redis, ctx.get("job_id"), channel, message)
            else:
                await redis.publish(channel, message)
        except (RedisError, OSError) as exc:  # Redis away for a moment: the turn goes on and
            # stores its reply, which the shopper's resend with the same key gets
            log.warning("turn job %s: event %s not relayed: %s", payload["job"], kind, exc)

    watched = payload.get("watched", True)

    async def emit(event: Event) -> None:
        if isinstance(event, TurnResult):
            return  # `done` carries it, with the shop's own fields
        if not watched and isinstance(event, WATCHED):
            return  # nobody watches the turn happen: one publish less for each
        data = asdict(event)
        kind = data.pop("type")
        await publish(kind, data)

    took = time.time()
    await _take(redis, ctx.get("job_id"), ctx.get("score"))
    lease = asyncio.create_task(_keep_lease(redis, ctx.get("job_id")))
    try:
        result = await rt.turns().turn(
            payload["shop_id"], payload["shopper_id"], payload["text"],
            conversation_id=payload["conversation_id"], client_key=payload["client_key"],
            emit=emit,
        )  # fmt: skip
    except XiaoerError as exc:
        await publish("error", {"type": type(exc).__name__, "message": exc.message}, last=True)
        return
    except Exception as exc:  # the API must hear of it, never wait out its deadline
        log.error("turn job failed", exc_info=exc)
        await publish("error", {"type": "InternalError", "message": ""}, last=True)
        return
    finally:
        lease.cancel()
    if (enqueued := ctx.get("enqueue_time")) is not None:  # arq's, by the enqueuing API's clock
        result.queued_ms = max(round((took - enqueued.timestamp()) * 1000), 0)
    await publish("done", result.full(), last=True)


async def _take(redis: ArqRedis, job_id: str | None, score: int | None) -> None:
    """This job is being run (`TAKEN`, the places in the line of the ones still waiting)."""
    if job_id is None or score is None:
        return
    with contextlib.suppress(RedisError, OSError):  # Redis away: places count it as waiting
        await redis.zadd(TAKEN, {job_id: score})


async def _finished(redis: ArqRedis, job_id: str | None, channel: str, message: str) -> None:
    """One more turn finished (the line's pace, `QueuedTurns._eta`), no longer taken, and its
    last event published: one round trip (they were two), the count first, so that an API
    process that hears the event finds the turn counted. Raises what Redis raises."""
    stale = int((time.time() - TAKEN_KEPT_S) * 1000)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.incr(FINISHED)
        if job_id is not None:
            pipe.zrem(TAKEN, job_id)
        pipe.zremrangebyscore(TAKEN, "-inf", stale)
        pipe.publish(channel, message)
        await pipe.execute()


async def _keep_lease(redis: ArqRedis, job_id: str | None) -> None:
    """Hold the job's in-progress mark to `LEASE_S` ahead, renewed every fifth of it while the
    turn runs: a worker that dies stops renewing it, and another worker runs the turn once it
    lapses. The mark was set to the lease as the job was taken (`TurnWorker`), so the first
    renewal is a fifth of a lease later — most turns end before it (at t=0 it was one Redis
    command more per turn, 1.6% of a turn worker's CPU under load)."""
    if job_id is None:
        return
    key, ms = in_progress_key_prefix + job_id, int(LEASE_S * 1000)
    while True:
        await asyncio.sleep(LEASE_S / 5)
        try:
            await redis.pexpire(key, ms)
        except Exception as exc:  # Redis away for a moment: the mark holds until the lease ends
            log.warning("could not renew the lease of turn job %s: %s", job_id, exc)


class TurnWorker(Worker):
    """arq's worker, looking past the turns being run without a transaction each.

    arq keeps a running job in its queue until it finishes, and checks each job id a poll
    reads (five times `jobs`, at least 100, every `poll_delay`) with three commands in a WATCH
    before it starts one. Under load the head of the line is the turns the workers are
    running, so a worker with a free slot walked past each of them, four round trips apiece,
    for every turn it took. Here its own turns are known without asking, the others' are
    looked up together in one round trip and remembered for `ELSEWHERE_S`, and arq's check
    runs only on the turns that wait. A job it takes is marked in progress for the lease
    (`LEASE_S`), not for arq's job timeout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The mark a job gets when taken: the lease, not arq's job timeout and 10 s. Renewed by
        # the turn once it runs (`_keep_lease`); a worker killed after taking the job and before
        # that first renewal left it for 310 s (seen in the kill-worker load test: a shopper
        # held for minutes).
        self.in_progress_timeout_s = LEASE_S
        self._elsewhere: dict[bytes, float] = {}
        """Job ids another worker runs, until when that is taken as still so (monotonic)."""

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        now = time.monotonic()
        self._elsewhere = {j: until for j, until in self._elsewhere.items() if until > now}
        ask = [j for j in job_ids if j.decode() not in self.tasks and j not in self._elsewhere]
        if ask:
            async with self.pool.pipeline(transaction=False) as pipe:
                for job_id in ask:
                    pipe.exists(in_progress_key_prefix + job_id.decode())
                running = await pipe.execute()
            for job_id, taken in zip(ask, running, strict=True):
                if taken:
                    self._elsewhere[job_id] = now + ELSEWHERE_S
        waiting = [j for j in job_ids if j.decode() not in self.tasks and j not in self._elsewhere]
        await super().start_jobs(waiting)


def worker_settings(
    settings: Settings, runtime: Callable[[], Any] | None = None, *, jobs: int = 4
) -> dict[str, Any]:
    """arq's worker settings: the runtime opened at start-up (or `runtime()` in tests)."""

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["tracing"] = setup_tracing(settings)
        ctx["rt"] = runtime() if runtime is not None else await Runtime.open(settings)
        ctx["owned"] = runtime is None
        if ctx["owned"]:
            ctx["rt"].llm()  # load the model before the first job waits for it

    async def shutdown(ctx: dict[str, Any]) -> None:
        if ctx.get("owned"):
            await ctx["rt"].close()
        if ctx.get("tracing") is not None:
            await asyncio.to_thread(ctx["tracing"].force_flush, 5000)

    return {
        "functions": [run_turn],
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": QUEUE,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "max_jobs": jobs,
        "job_timeout": JOB_TIMEOUT_S,
        "max_tries": 3,
        "keep_result": 60,
        "poll_delay": 0.05,
        "handle_signals": False,
    }


async def run_worker(settings: Settings, *, jobs: int = 4) -> None:
    """`xiaoer worker`: consume turns until stopped (Ctrl-C / SIGTERM). Redis going away (a
    restart, a failover) does not stop it: it connects again, waiting 1 s, then up to 10 s
    between tries, and goes on with the queue as Redis has it. The runtime (and the model,
    when embedded) is opened once and kept across reconnections."""
    if not settings.redis_url:
        raise errors.BadInput("xiaoer worker needs XIAOER_REDIS_URL (the queue is on Redis)")
    rt = await Runtime.open(settings)
    rt.llm()  # load the model before the first job waits for it
    pause = RECONNECT_S[0]
    try:
        async with rt.warming():  # the shops' prompt prefixes; gives way to turns
            while True:
                worker = TurnWorker(**(worker_settings(settings, lambda: rt, jobs=jobs)
                                   | {"handle_signals": True}))  # fmt: skip
                began = time.monotonic()
                try:
                    await worker.async_run()
                    return
                except (RedisError, OSError) as exc:
                    if time.monotonic() - began > RECONNECT_S[1]:
                        pause = RECONNECT_S[0]  # it had been up a while: a fresh outage
                    log.warning("lost Redis (%s); connecting again in %.0f s", exc, pause)
                finally:
                    await close_worker(worker)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECONNECT_S[1])
    finally:
        await rt.close()


async def close_worker(worker: Worker) -> None:
    """Stop a worker: its running turns end, then `on_shutdown` (arq's own `close` calls a
    redis-py method deprecated since 5.0.1; the warning says nothing about xiaoer). With Redis
    gone, a turn that cannot record its end is left to its lease (another worker runs it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            await worker.close()
        except (RedisError, OSError) as exc:
            log.warning("closing the turn worker without Redis: %s", exc)
        except asyncio.CancelledError:
            if (me := asyncio.current_task()) is not None and me.cancelling():
                raise  # this task is being cancelled: let it
            # a job stopped with the worker's main loop as it was recording its end: its
            # outcome is stored (or its lease lapses and another worker runs it)
            log.info("a turn job was cancelled while its worker closed")
