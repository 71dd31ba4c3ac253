"""`xiaoer loadtest`: many concurrent shopper conversations against real `xiaoer serve` (and
`xiaoer worker`) processes on loopback, with an LLM stub of fixed latency (`stub_llm.py`), so
that what the figures show is xiaoer's own cost — and what a fault costs.

A setup is a store and a process layout:
- `sqlite`: one `xiaoer serve`, turns run in it;
- `postgres`: a private PostgreSQL and Redis, `xiaoer serve --workers N` relaying turns to M
  `xiaoer worker` processes over the Redis queue.

Each conversation is one shopper's: a pre-sales question ("有没有…"), a parcel question, or a
cancellation and its "确认", then a thank-you. Every message carries a `client_key`; a client
retries a failed send (connection error, 409, 429, 5xx) with the same key, as the widget does,
and a share of messages is resent on purpose while the first copy is being answered.

Afterwards the database is read directly: every message the clients sent must be stored once
with exactly one reply (else lost or doubled), every executed action executed once. Faults
(`--fault`) are applied a few seconds into the load: kill -9 a turn worker (or the API process
with SQLite, then start it again), restart PostgreSQL or Redis, or make the LLM hang, fail or
answer garbage for a while; the recovery time is how long after the fault ends a new
conversation gets a normal answer again.

The overhead (an answer's latency less the stub's time for its model calls) is also given less
the time its turn waited in line for a turn slot and the model's slots (its `waited_ms`): with
more calls wanted at once than the model's slots (`--slots`) allow, shoppers wait for the
model's capacity, which is the shop's to size; the rest is xiaoer's own. That rest is split
again, from each answer's own figures: the time on the Redis queue until a turn worker took
the message (`queued_ms`), the model calls' time beyond the stub's (`model_ms` less the stub's
latency for each call: the stub and the worker reading its stream, slowed when the cores are
busy), and what is left — the turn's own work, its reads and writes, tools, guard and relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from xiaoer.bench.servers import LocalPostgres, LocalRedis, free_port, wait_for_port
from xiaoer.config import Settings
from xiaoer.demo import write_demo_bundles
from xiaoer.evals.scenario import ANCHOR
from xiaoer.llm.gate import SLOTS

FAULTS = (
    "none", "kill-worker", "restart-postgres", "restart-redis", "llm-hang", "llm-error",
    "llm-garbage",
)  # fmt: skip
RETRY_STATUS = {409, 429, 500, 502, 503, 504}
PER_CLIENT = 50
"""Conversations per HTTP client of the load, each client with its own connection pool (room
for two requests at once per conversation: a message and its resend)."""
GOODS = {"stride": ("跑鞋", "袜子", "运动鞋"), "volt": ("耳机", "充电宝", "手机")}
"""What the demo shops' shoppers ask for in the pre-sales conversations (the load test's data,
not the product's)."""


@dataclass
class Setup:
    store: str = "sqlite"
    """sqlite | postgres (PostgreSQL + Redis queue)"""
    api_workers: int = 1
    turn_workers: int = 0
    conversations: int = 100
    stub_latency: float = 0.3
    stub_capacity: int = 0
    """Calls the stub serves at once, answering 429 beyond them, as a rate-limited endpoint
    does (0: any number)."""
    resend_share: float = 0.1
    think: float = 15.0
    """Seconds a shopper takes to read a reply and type the next message (±50%); the
    conversations also start spread over this long. 0: every message at once (a burst)."""
    fault: str = "none"
    fault_at: float = 3.0
    fault_for: float = 5.0
    deadline: float = 30.0
    slots: int = 0
    """`XIAOER_LLM_SLOTS` for the serving processes (0: their default, 32 on an endpoint). The
    stub serves any number of calls at once: with more slots than calls in flight, no turn
    waits in line for the model and the overhead is xiaoer's alone."""
    hold_after: float = 3.0

    @property
    def label(self) -> str:
        if self.store == "sqlite":
            return f"sqlite · {self.api_workers} API worker"
        return f"postgres+redis · {self.api_workers} API + {self.turn_workers} turn workers"


@dataclass
class Sent:
    conversation: str
    key: str
    text: str
    status: int = 0
    seconds: float = 0.0
    llm_calls: int = 0
    waited: float = 0.0
    """Of its answer's time, seconds its turn waited for a turn slot and the model's slots
    (the answer's `waited_ms`)."""
    queued: float = 0.0
    """… seconds it waited on the Redis queue for a turn worker (`queued_ms`)."""
    model: float = 0.0
    """… seconds its model calls took once in their slots (`model_ms`)."""
    fallback: bool = False
    attempts: int = 0
    resend: bool = False
    first_s: float = 0.0
    """Seconds to the first answer: the reply, or the holding reply (202) while in line."""
    held: bool = False
    at: float = 0.0
    """When it was first sent (monotonic)."""


@dataclass
class Run:
    setup: Setup
    sent: list[Sent] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    rss_peak_mb: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds each role used during the load (the load client, stub, API, …)."""
    wall_s: float = 0.0
    recovery_s: float | None = None
    db_connections: int | None = None
    """PostgreSQL connections the serving processes opened during the load (None: SQLite)."""
    started: float = 0.0
    """When the load began (monotonic)."""


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _percentiles(values: list[float]) -> dict[str, int]:
    """p50, p95 and p99 of `values` (seconds) in whole milliseconds."""
    return {
        q: round(_pct(values, v) * 1000) for q, v in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    }


def _tree(pids: list[int]) -> list[int]:
    """These processes and their descendants that are alive (from /proc)."""
    seen: list[int] = []
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        seen.append(pid)
        todo.extend(int(c) for c in children)
    return seen


def _rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes and their children, in MB (from /proc)."""
    total = 0
    for pid in _tree(pids):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) these processes and their descendants have used, counting
    the children they have already reaped (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _tree(pids):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / tick


class Cluster:
    """The processes of one setup: the LLM stub, the database and Redis, the API and the turn
    workers."""

    def __init__(self, setup: Setup, root: Path) -> None:
        self.setup = setup
        self.root = root
        self.pg: LocalPostgres | None = None
        self.redis: LocalRedis | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.spent: dict[str, float] = {}
        """CPU seconds, by role, of the processes a fault stopped (`retire`)."""
        self.stub_port = free_port()
        self.api_port = free_port()
        self.database_url = f"sqlite:///{root / 'load.db'}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            XIAOER_HOME=str(self.root / "home"),
            XIAOER_DATABASE_URL=self.database_url,
            XIAOER_LLM_BASE_URL=f"http://127.0.0.1:{self.stub_port}/v1",
            XIAOER_LLM_MODEL="stub",
            XIAOER_LLM_TIMEOUT=str(self.setup.deadline),
            XIAOER_TURN_DEADLINE=str(self.setup.deadline),
            XIAOER_NOW=ANCHOR.isoformat(),
            XIAOER_SECRET_KEY="loadtest-secret",
            XIAOER_QUEUE="redis" if self.redis else "inline",
            XIAOER_REDIS_URL=self.redis.url if self.redis else "",
            XIAOER_LLM_SLOTS=str(self.setup.slots),
            XIAOER_HOLD_AFTER=str(self.setup.hold_after),
        )
        return env

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.root / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, *args], env=self.env(), stdout=log, stderr=log, cwd=self.root
        )

    async def start_databases(self) -> None:
        if self.setup.store == "postgres":
            self.pg, self.redis = LocalPostgres(), LocalRedis()
            await asyncio.to_thread(self.pg.start, 300)
            await asyncio.to_thread(self.redis.start)
            self.database_url = self.pg.url

    def start_stub(self) -> None:
        self._spawn("stub", ["-m", "xiaoer.bench.stub_llm", "--port", str(self.stub_port),
                             "--latency", str(self.setup.stub_latency),
                             "--capacity", str(self.setup.stub_capacity)])  # fmt: skip

    def start_api(self) -> None:
        self._spawn("api", ["-m", "xiaoer", "serve", "--port", str(self.api_port),
                            "--workers", str(self.setup.api_workers)])  # fmt: skip

    def start_turn_worker(self, n: int) -> None:
        self._spawn(f"worker{n}", ["-m", "xiaoer", "worker"])

    async def ready(self, wait_s: float = 180.0) -> None:
        await asyncio.to_thread(wait_for_port, self.stub_port, timeout=wait_s)
        deadline = time.monotonic() + wait_s
        async with httpx.AsyncClient(trust_env=False) as c:
            while True:
                try:
                    if (await c.get(f"{self.api}/readyz", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                api = self.procs["api"]
                if api.poll() is not None or time.monotonic() > deadline:
                    log = (self.root / "api.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the API did not become ready:\n{log}")
                await asyncio.sleep(0.3)

    def pids(self) -> list[int]:
        return [p.pid for name, p in self.procs.items() if name != "stub" and p.poll() is None]

    def roles(self) -> dict[str, list[int]]:
        """The processes by what they do, for the CPU breakdown (the load client is this one)."""
        alive = {n: p.pid for n, p in self.procs.items() if p.poll() is None}
        roles = {
            "stub": [alive["stub"]] if "stub" in alive else [],
            "api": [alive["api"]] if "api" in alive else [],
            "turn workers": [pid for n, pid in alive.items() if n.startswith("worker")],
        }
        if self.pg:
            try:
                roles["postgres"] = [int((self.pg.data / "postmaster.pid").read_text().split()[0])]
            except (OSError, ValueError, IndexError):
                roles["postgres"] = []
        if self.redis and self.redis.proc:
            roles["redis"] = [self.redis.proc.pid]
        return roles

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far, by role: the live processes' and those a fault stopped
        (`retire`; one started in a stopped one's place counts from its own start)."""
        used = {role: _cpu_s(pids) + self.spent.get(role, 0.0)
                for role, pids in self.roles().items()}  # fmt: skip
        return {"load client": time.process_time(), **used}

    def retire(self, role: str, pids: list[int] | None = None) -> None:
        """Keep the CPU time of the role's processes (or of `pids` among them) before a fault
        stops them: once they are gone /proc has nothing of them, and a run's CPU per answer
        would lose what they used — less than nothing, when the process started in their place
        has used less by the end than they had by the start."""
        self.spent[role] = self.spent.get(role, 0.0) + _cpu_s(
            self.roles().get(role, []) if pids is None else pids
        )

    def close(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.redis:
            self.redis.close()
        if self.pg:
            self.pg.close()


async def _pg_sessions(database_url: str) -> int | None:
    """Connections PostgreSQL has accepted since it started (`pg_stat_database.sessions`,
    this one included); None on SQLite."""
    if not database_url.startswith("postgresql://"):
        return None
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(
            "SELECT sum(sessions) FROM pg_stat_database WHERE datname IS NOT NULL"))  # fmt: skip
    finally:
        await conn.close()


async def _store(root: Path, database_url: str) -> Any:
    """A runtime on the setup's store (no model: the harness only reads and writes records)."""
    from xiaoer.bench import SleepyLLM
    from xiaoer.runtime import Runtime

    settings = Settings(home=root / "home", database_url=database_url, now=ANCHOR)
    return await Runtime.open(settings, llm=SleepyLLM(0))


async def _prepare(cluster: Cluster) -> dict[str, Any]:
    """The demo shops in the store, a merchant key per shop, a per-shopper rate limit a big
    sale allows, and the shoppers with their orders (cancellable ones apart)."""
    from sqlalchemy import select

    from xiaoer.services.apikeys import issue_api_key
    from xiaoer.store.models import OrderRow
    from xiaoer.store.repositories import ShopRepository

    rt = await _store(cluster.root, cluster.database_url)
    try:
        shops: dict[str, Any] = {}
        for path in write_demo_bundles(cluster.root / "bundles", anchor=ANCHOR):
            shop_id, _ = await rt.import_shop(path)
            shops[shop_id] = {"key": await issue_api_key(rt.sessions, shop_id, rt.clock())}
        async with rt.sessions() as s:
            for shop_id, facts in shops.items():
                repo = ShopRepository(s)
                policy = dict(await repo.policy_data(shop_id) or {})
                policy["guard"] = {**policy.get("guard", {}), "rate_per_minute": 600}
                await repo.set_policy(shop_id, policy)
                rows = (
                    await s.execute(select(OrderRow).where(OrderRow.shop_id == shop_id))
                ).scalars()
                facts["orders"] = [(o.shopper_id, o.id, o.status) for o in rows]
            await s.commit()
    finally:
        await rt.close()
    return shops


def _plans(shops: dict[str, Any], n: int, rng: random.Random) -> list[tuple[str, str, list[str]]]:
    """(shop, shopper, messages) for each conversation: half pre-sales, the rest parcels and
    cancellations (each cancellable order used once)."""
    cancellable = {
        s: [o for o in f["orders"] if o[2] in ("待付款", "待发货")] for s, f in shops.items()
    }
    shipped = {s: [o for o in f["orders"] if o[2] == "已发货"] for s, f in shops.items()}
    anyone = {s: list(f["orders"]) for s, f in shops.items()}
    names = sorted(shops)
    plans = []
    for i in range(n):
        shop = names[i % len(names)]
        kind = rng.random()
        if kind < 0.2 and cancellable[shop]:
            shopper, oid, _ = cancellable[shop].pop()
            plans.append((shop, shopper, [f"帮我取消订单 {oid}", "确认", "好的谢谢"]))
        elif kind < 0.5 and shipped[shop]:
            shopper, oid, _ = rng.choice(shipped[shop])
            plans.append((shop, shopper, [f"我的订单 {oid} 到哪了？", "好的谢谢"]))
        else:
            shopper = rng.choice(anyone[shop])[0]
            plans.append((shop, shopper, [f"有没有{rng.choice(GOODS.get(shop, ('商品',)))}？",
                                          "好的谢谢"]))  # fmt: skip
    return plans


async def _send(c: httpx.AsyncClient, base: str, auth: dict[str, str], sent: Sent,
                give_up: float) -> None:  # fmt: skip
    """Post one message until it is answered or `give_up` (monotonic): a failed send is
    retried with the same key, and a held one (202: the holding reply, the message in line for
    the model) is asked for again with the same key after its `Retry-After`."""
    started = sent.at = time.monotonic()
    body = {"text": sent.text, "client_key": sent.key}
    while True:
        sent.attempts += 1
        try:
            r = await c.post(f"{base}/v1/conversations/{sent.conversation}/messages", json=body,
                             headers=auth)  # fmt: skip
            status = r.status_code
        except httpx.HTTPError:
            status = 0
        if status in (200, 202) and not sent.first_s:
            sent.first_s = time.monotonic() - started
        if status == 202:
            sent.held = True
        if status == 200:
            data = r.json()
            sent.llm_calls, sent.fallback = data.get("llm_calls", 0), data.get("fallback", False)
            sent.waited = data.get("waited_ms", 0) / 1000
            sent.queued = data.get("queued_ms", 0) / 1000
            sent.model = data.get("model_ms", 0) / 1000
        done = status not in RETRY_STATUS and status not in (0, 202)
        if done or time.monotonic() > give_up:
            sent.status = status
            sent.seconds = time.monotonic() - started
            return
        await asyncio.sleep(_retry_after(r if status else None))


def _retry_after(r: httpx.Response | None) -> float:
    """As a client should: the server's `Retry-After` (a held message's estimate of when its
    turn comes), else 0.5–1.5 s."""
    given = r.headers.get("Retry-After", "") if r is not None else ""
    return float(given) if given.isdigit() else 0.5 + random.random()


async def _conversation(
    c: httpx.AsyncClient, run: Run, base: str, token: str, plan: list[str], rng: random.Random,
    give_up: float,
) -> None:  # fmt: skip
    auth = {"Authorization": f"Bearer {token}"}
    think = run.setup.think
    await asyncio.sleep(rng.random() * think)  # shoppers arrive over the first `think` s
    for _ in range(20):
        try:
            r = await c.post(f"{base}/v1/conversations", headers=auth)
            if r.status_code == 201:
                break
            run.statuses[f"open {r.status_code}"] += 1
        except httpx.HTTPError:
            run.statuses["open connection error"] += 1
        await asyncio.sleep(1)
    else:
        return
    cid = r.json()["conversation_id"]
    for n, text in enumerate(plan):
        if n and think:
            await asyncio.sleep(think * (0.5 + rng.random()))  # reading, then typing
        sent = Sent(cid, uuid.uuid4().hex, text)
        run.sent.append(sent)
        jobs = [_send(c, base, auth, sent, give_up)]
        if rng.random() < run.setup.resend_share:
            again = Sent(cid, sent.key, text, resend=True)
            run.sent.append(again)

            async def later(again: Sent = again) -> None:
                await asyncio.sleep(0.3)
                await _send(c, base, auth, again, give_up)

            jobs.append(later())
        await asyncio.gather(*jobs)


async def _fault(cluster: Cluster) -> float:
    """Apply the setup's fault `fault_at` s into the load; returns when it ended (monotonic)."""
    setup = cluster.setup
    await asyncio.sleep(setup.fault_at)
    stub = f"http://127.0.0.1:{cluster.stub_port}/fault"
    if setup.fault.startswith("llm-"):
        async with httpx.AsyncClient(trust_env=False) as c:
            await c.post(stub, json={"mode": setup.fault.removeprefix("llm-")})
            await asyncio.sleep(setup.fault_for)
            await c.post(stub, json={"mode": "none"})
    elif setup.fault == "kill-worker":
        name = "worker0" if "worker0" in cluster.procs else "api"
        cluster.retire("api" if name == "api" else "turn workers", [cluster.procs[name].pid])
        os.kill(cluster.procs[name].pid, signal.SIGKILL)
        cluster.procs[name].wait()
        await asyncio.sleep(1)
        if name == "api":
            cluster.start_api()
            await cluster.ready()
        else:
            cluster.start_turn_worker(0)
    elif setup.fault == "restart-postgres" and cluster.pg:
        cluster.retire("postgres")
        await asyncio.to_thread(cluster.pg.stop, "fast")
        await asyncio.sleep(2)
        await asyncio.to_thread(cluster.pg.start, 300)
    elif setup.fault == "restart-redis" and cluster.redis:
        cluster.retire("redis")
        await asyncio.to_thread(cluster.redis.stop)
        await asyncio.sleep(2)
        await asyncio.to_thread(cluster.redis.start)
    return time.monotonic()


async def _recovery(cluster: Cluster, c: httpx.AsyncClient, token: str) -> float:
    """The fault, then the seconds from its end until a new conversation is answered."""
    ended = await _fault(cluster)
    return await _recovered(c, cluster.api, token, ended)


async def _recovered(c: httpx.AsyncClient, base: str, token: str, since: float) -> float:
    """Seconds from `since` until a new conversation gets a normal (non-fallback) answer; a
    held answer (202) is asked for again with its key, after its `Retry-After`."""
    auth = {"Authorization": f"Bearer {token}"}
    while time.monotonic() - since < 300:
        try:
            r = await c.post(f"{base}/v1/conversations", headers=auth)
            if r.status_code == 201:
                url = f"{base}/v1/conversations/{r.json()['conversation_id']}/messages"
                body = {"text": "你好", "client_key": uuid.uuid4().hex}
                m = await c.post(url, headers=auth, json=body)
                while m.status_code == 202 and time.monotonic() - since < 300:
                    await asyncio.sleep(_retry_after(m))
                    m = await c.post(url, headers=auth, json=body)
                if m.status_code == 200 and not m.json().get("fallback"):
                    return time.monotonic() - since
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.5)
    return float("inf")


async def _audit(database_url: str, root: Path, sent: list[Sent]) -> dict[str, Any]:
    """What the store says: each sent message stored once with one reply; actions once."""
    from sqlalchemy import func, select

    from xiaoer.store.models import AuditRow, MessageRow, ServiceRecordRow

    rt = await _store(root, database_url)
    try:
        async with rt.sessions() as s:
            rows = (await s.execute(select(MessageRow.id, MessageRow.conversation_id,
                                           MessageRow.client_key, MessageRow.role,
                                           MessageRow.reply_to))).all()  # fmt: skip
            executed = (await s.execute(
                select(AuditRow.action_id, func.count()).where(AuditRow.event == "executed")
                .group_by(AuditRow.action_id))).all()  # fmt: skip
            records = (await s.execute(
                # per shop: the demo shops share order numbers (SO… ids are per shop)
                select(ServiceRecordRow.order_id, ServiceRecordRow.kind, func.count())
                .group_by(ServiceRecordRow.shop_id, ServiceRecordRow.order_id,
                          ServiceRecordRow.kind))).all()  # fmt: skip
    finally:
        await rt.close()
    stored = Counter((r.conversation_id, r.client_key) for r in rows if r.role == "shopper")
    ids = {(r.conversation_id, r.client_key): r.id for r in rows if r.role == "shopper"}
    replies = Counter(r.reply_to for r in rows if r.role == "assistant" and r.reply_to)
    wanted = {(m.conversation, m.key) for m in sent}
    return {
        "messages": len(wanted),
        "lost": sum(1 for k in wanted if k not in ids or replies[ids[k]] == 0),
        "stored_twice": sum(1 for k in wanted if stored[k] > 1),
        "answered_twice": sum(1 for k in wanted if k in ids and replies[ids[k]] > 1),
        "actions_executed": len(executed),
        "actions_executed_twice": sum(1 for _, n in executed if n > 1),
        "orders_changed_twice": sum(1 for o, _, n in records if o and n > 1),
    }


async def run_setup(
    setup: Setup, progress: Callable[[str], None] = lambda _m: None
) -> dict[str, Any]:
    rng = random.Random(7)
    root = Path(tempfile.mkdtemp(prefix="xiaoer-load-"))
    cluster = Cluster(setup, root)
    run = Run(setup)
    try:
        progress(f"{setup.label}: starting")
        await cluster.start_databases()
        shops = await _prepare(cluster)
        cluster.start_stub()
        cluster.start_api()
        for n in range(setup.turn_workers):
            cluster.start_turn_worker(n)
        await cluster.ready()
        plans = _plans(shops, setup.conversations, rng)
        timeout = httpx.Timeout(setup.deadline * 2 + 30)
        async with contextlib.AsyncExitStack() as stack:
            c = await stack.enter_async_context(httpx.AsyncClient(timeout=timeout, trust_env=False))
            tokens: dict[tuple[str, str], str] = {}
            for shop, shopper, _ in plans:
                if (shop, shopper) not in tokens:
                    r = await c.post(f"{cluster.api}/v1/shopper-tokens",
                                     json={"shopper_id": shopper},
                                     headers={"Authorization": f"Bearer {shops[shop]['key']}"})  # fmt: skip
                    r.raise_for_status()
                    tokens[(shop, shopper)] = r.json()["token"]
            progress(f"{setup.label}: {setup.conversations} conversations")
            started = run.started = time.monotonic()
            give_up = started + 600
            sampler_done = asyncio.Event()

            async def sample() -> None:
                while not sampler_done.is_set():
                    run.rss_peak_mb = max(run.rss_peak_mb, _rss_mb(cluster.pids()))
                    await asyncio.sleep(0.5)

            cpu_before = cluster.cpu()
            sessions_before = await _pg_sessions(cluster.database_url)
            sampler = asyncio.create_task(sample())
            recovery = None
            if setup.fault != "none":  # probed from the moment the fault ends, beside the load
                probe = tokens[(plans[0][0], plans[0][1])]
                recovery = asyncio.create_task(_recovery(cluster, c, probe))
            # a client per `PER_CLIENT` conversations: one pool of thousands of connections
            # costs the harness more CPU per request than the API it measures (httpx looks
            # through its whole pool on each request), on the machine it measures
            limits = httpx.Limits(max_connections=PER_CLIENT * 2 + 10,
                                  max_keepalive_connections=PER_CLIENT * 2 + 10)  # fmt: skip
            clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False)
                )
                for _ in range(0, len(plans), PER_CLIENT)
            ]
            await asyncio.gather(*(
                _conversation(clients[n // PER_CLIENT], run, cluster.api,
                              tokens[(shop, shopper)], msgs, rng, give_up)
                for n, (shop, shopper, msgs) in enumerate(plans)
            ))  # fmt: skip
            run.wall_s = time.monotonic() - started
            cpu_after = cluster.cpu()
            run.cpu_s = {r: max(0.0, cpu_after.get(r, 0.0) - v) for r, v in cpu_before.items()}
            sessions_after = await _pg_sessions(cluster.database_url)
            if sessions_before is not None and sessions_after is not None:
                run.db_connections = sessions_after - sessions_before - 1  # less the count's own
            if recovery is not None:
                run.recovery_s = await recovery
            sampler_done.set()
            await sampler
        audit = await _audit(cluster.database_url, root, run.sent)
        return _report(run, audit)
    finally:
        cluster.close()
        if os.environ.get("XIAOER_LOADTEST_KEEP"):
            progress(f"kept {root}")
        else:
            import shutil

            shutil.rmtree(root, ignore_errors=True)


def _report(run: Run, audit: dict[str, Any]) -> dict[str, Any]:
    setup = run.setup
    answered = [m for m in run.sent if m.status == 200]
    seconds = [m.seconds for m in answered]
    # a held message's answer is asked for again every 0.5–1.5 s: the last poll's wait is the
    # client's, not the server's, so its overhead counts from its first answer (the holding
    # reply) only when it was not held
    unheld = [(m, m.seconds - m.llm_calls * setup.stub_latency) for m in answered if not m.held]
    overhead = [o for _, o in unheld]
    own = [o - m.waited for m, o in unheld]
    beyond = [max(m.model - m.llm_calls * setup.stub_latency, 0.0) for m, _ in unheld]
    work = [o - m.queued - b for (m, _), o, b in zip(unheld, own, beyond, strict=True)]
    first = [m.first_s for m in run.sent if m.first_s]
    statuses = Counter(str(m.status or "connection error") for m in run.sent) + run.statuses
    ms = lambda v: round(v * 1000)  # noqa: E731
    return {
        "setup": setup.label,
        "fault": setup.fault,
        "conversations": setup.conversations,
        "messages_sent": len(run.sent),
        "cancellations": sum(m.text.startswith("帮我取消订单") for m in run.sent if not m.resend),
        "resends": sum(m.resend for m in run.sent),
        "stub_latency_ms": ms(setup.stub_latency),
        "stub_capacity": setup.stub_capacity,
        "wall_s": round(run.wall_s, 1),
        "throughput_msgs_per_s": round(len(answered) / max(run.wall_s, 1e-6), 1),
        "llm_calls_per_answer": round(
            sum(m.llm_calls for m in answered) / max(len(answered), 1), 2
        ),
        "slots": setup.slots or SLOTS,
        "latency_ms": _percentiles(seconds),
        "overhead_ms": _percentiles(overhead),
        "overhead_less_waits_ms": _percentiles(own),
        "waited_ms": _percentiles([m.waited for m, _ in unheld]),
        "queued_ms": _percentiles([m.queued for m, _ in unheld]),
        "model_beyond_stub_ms": _percentiles(beyond),
        "own_work_ms": _percentiles(work),
        "overhead_split_ms": _split(run, unheld),
        "first_answer_ms": _percentiles(first),
        "held": sum(m.held for m in run.sent),
        "think_s": setup.think,
        "statuses": dict(statuses),
        "retried_sends": sum(m.attempts > 1 for m in run.sent),
        "apologies": sum(m.fallback for m in answered),
        "rss_peak_mb": round(run.rss_peak_mb),
        "db_connections_opened": run.db_connections,
        "cpu_s": {role: round(v, 1) for role, v in run.cpu_s.items()},
        "cpu_ms_per_answer": {
            role: round(1000 * v / max(len(answered), 1), 1) for role, v in run.cpu_s.items()
        },
        "server_cpu_per_stub_cpu": _per_stub(run.cpu_s),
        "recovery_s": None if run.recovery_s is None else round(run.recovery_s, 1),
        **audit,
    }


def _kind(text: str) -> str:
    """Which of the harness's own messages (`_plans`) this is."""
    if text.startswith("帮我取消订单"):
        return "cancel"
    if text == "确认":
        return "confirm"
    if text.startswith("我的订单"):
        return "parcel"
    if text.startswith("有没有"):
        return "pre-sales"
    return "thanks"


def _split(run: Run, unheld: list[tuple[Sent, float]]) -> dict[str, dict[str, dict[str, int]]]:
    """The overhead of the messages that were not held (`_report`'s, with each message), by kind
    of message and by when it was sent (while the conversations were still arriving, the first
    `think` seconds, or after): where a tail comes from."""

    def stats(values: list[float]) -> dict[str, int]:
        ms = {q: round(_pct(values, v) * 1000) for q, v in (("p50", 0.5), ("p95", 0.95))}
        return {"n": len(values), **ms}

    by_kind: dict[str, list[float]] = {}
    by_when: dict[str, list[float]] = {}
    for m, overhead in unheld:
        by_kind.setdefault(_kind(m.text), []).append(overhead)
        arriving = m.at - run.started < run.setup.think
        by_when.setdefault("arriving" if arriving else "after", []).append(overhead)
    return {
        "by_kind": {k: stats(v) for k, v in sorted(by_kind.items())},
        "by_when": {k: stats(v) for k, v in sorted(by_when.items())},
    }


def _per_stub(cpu_s: dict[str, float]) -> float | None:
    """The serving processes' CPU (every role of `Cluster.cpu` but the load client and the
    stub) in units of the stub's. The stub does the same work per answer in every run, so
    this compares runs made while the machine ran at different speeds (on the 2-core build
    machine the stub's own CPU per answer moved by 40% between runs minutes apart); None
    without stub time to compare with."""
    stub = cpu_s.get("stub", 0.0)
    if stub <= 0:
        return None
    served = sum(v for role, v in cpu_s.items() if role not in ("load client", "stub"))
    return round(served / stub, 1)


SIDE_BY_SIDE = (
    Setup(store="sqlite", api_workers=1),
    Setup(store="postgres", api_workers=2, turn_workers=2),
)
