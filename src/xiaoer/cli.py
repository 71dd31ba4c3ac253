"""The `xiaoer` command line: a thin layer over the same runtime as the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xiaoer.config import Settings
from xiaoer.domain.errors import BadInput, XiaoerError
from xiaoer.inbox import Inbox
from xiaoer.policy import ShopPolicy
from xiaoer.policy.load import PolicyProblem
from xiaoer.runtime import Runtime

app = typer.Typer(
    help="店小二 xiaoer — agent-native customer service for online shops.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
shop_app = typer.Typer(help="Import and manage shops (店铺).", no_args_is_help=True)
app.add_typer(shop_app, name="shop")
eval_app = typer.Typer(
    help="Evaluate the agent (评测): scenarios and τ-retail.", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")
actions_app = typer.Typer(
    help="Actions (操作) the agent proposed: list, approve or reject those above the limits.",
    no_args_is_help=True,
)
app.add_typer(actions_app, name="actions")
policy_app = typer.Typer(
    help="Shop policy (售后策略): check, show, versions, diff, and replay (试运行) a new one.",
    no_args_is_help=True,
)
app.add_typer(policy_app, name="policy")
ingest_app = typer.Typer(
    help="Teach a shop (学习资料): catalog, documents, past chats, merchant facts.",
    no_args_is_help=True,
)
app.add_typer(ingest_app, name="ingest")
knowledge_app = typer.Typer(
    help="The shop's knowledge (知识库): search, sources, mined candidates to review.",
    no_args_is_help=True,
)
app.add_typer(knowledge_app, name="knowledge")
inbox_app = typer.Typer(
    help="Humans in the loop (人工): handoff queue, takeover, whisper, reply, release, "
    "approvals, suggested replies.",
    no_args_is_help=True,
)
app.add_typer(inbox_app, name="inbox")
account_app = typer.Typer(
    help="Merchant console accounts (控制台账号): add, list.", no_args_is_help=True
)
app.add_typer(account_app, name="account")
out = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError text names the bad variable
        err.print(f"[red]配置错误 / bad setting:[/red] {exc}")
        raise typer.Exit(2) from exc


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (as uvicorn picks it for `serve`): a turn
    worker spends a third of its CPU in the loop itself on asyncio's."""
    try:
        import uvloop
    except ImportError:  # not on Windows
        return None
    return uvloop.new_event_loop


def command[**P](fn: Callable[P, Awaitable[Any]]) -> Callable[P, None]:
    """Run an async command; turn xiaoer errors into a clear message and exit code 1. Ctrl-C
    and SIGTERM (a supervisor's stop, `timeout`, `kill`) both stop it the same way: the
    command is cancelled and its clean-up runs (`xiaoer loadtest` stopped by SIGTERM left its
    PostgreSQL, Redis, stub, API and workers running, and their folders behind); after a
    SIGTERM the process then ends by it, as before. (`serve` and a running `worker` handle
    SIGTERM themselves, as uvicorn and arq do.)"""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        with _terminated_as_interrupted() as terminated:
            try:
                asyncio.run(fn(*args, **kwargs), loop_factory=_loop_factory())
            except XiaoerError as exc:
                err.print(f"[red]错误 / error:[/red] {exc.message}")
                raise typer.Exit(1) from exc
            except KeyboardInterrupt:
                if not terminated:
                    raise typer.Exit(130) from None
        if terminated:  # cleaned up: end as SIGTERM ends a process (a supervisor reads that)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.raise_signal(signal.SIGTERM)

    return wrapper


@contextlib.contextmanager
def _terminated_as_interrupted() -> Iterator[list[int]]:
    """While in it, SIGTERM does what Ctrl-C does: asyncio's own handler of SIGINT while a
    loop runs (the main task cancelled, its `finally`s run, then KeyboardInterrupt), or
    KeyboardInterrupt where there is none (SIGINT ignored, as in a background job). Yields a
    list that holds the signal once one came. Outside the main thread: nothing changes."""
    came: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield came
        return

    def on_term(signum: int, frame: Any) -> None:
        came.append(signum)
        interrupt = signal.getsignal(signal.SIGINT)  # asyncio's cancels the main task
        if not callable(interrupt):  # ignored, or the default action
            raise KeyboardInterrupt
        interrupt(signal.SIGINT, frame)

    before = signal.signal(signal.SIGTERM, on_term)
    try:
        yield came
    finally:
        signal.signal(signal.SIGTERM, before)


def _model_progress() -> tuple[Progress, Callable[[int, int], None]]:
    progress = Progress(
        TextColumn("[bold]首次运行：拼接模型文件 / joining model parts"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task("join", total=None)

    def update(done: int, total: int) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.update(task, completed=done, total=total)

    return progress, update


def load_llm(rt: Runtime) -> None:
    progress, update = _model_progress()
    try:
        with err.status("加载模型 / loading the model…", spinner="dots"):
            rt.llm(update)
    finally:
        if progress.live.is_started:
            progress.stop()


@app.command()
@command
async def migrate() -> None:
    """Create or upgrade the database schema."""
    rt = await Runtime.open(_settings())
    await rt.close()
    out.print("数据库已是最新 / database is up to date")


@shop_app.command("import")
@command
async def shop_import(path: Annotated[Path, typer.Argument(help="shop bundle folder")]) -> None:
    """Validate a shop bundle and import it (all or nothing). Format: docs/shop-bundle.md."""
    rt = await Runtime.open(_settings())
    try:
        with err.status(f"校验并导入 / validating and importing {path} …"):
            shop_id, counts = await rt.import_shop(path)
    finally:
        await rt.close()
    summary = ", ".join(f"{k} {v}" for k, v in counts.items())
    out.print(f"[green]已导入 / imported[/green] {shop_id}: {summary}")
    if closed := counts.get("handoffs_closed"):
        out.print(
            f"[yellow]已关闭 {closed} 个转人工会话[/yellow]：重新导入替换了店铺的会话（审计日志"
            f" handoff_closed）/ closed {closed} handoffs: the re-import replaced their conversations"
        )


@shop_app.command("key")
@command
async def shop_key(
    shop: Annotated[str, typer.Argument(help="shop id")],
    rotate: Annotated[
        bool, typer.Option("--rotate", help="issue a new key (printed once); the old one stops")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a shop's merchant API key: its hint, fingerprint and issue time (the key itself is
    not stored). `--rotate` issues a new key and prints it once; the old key stops working."""
    from xiaoer.api.auth import api_key_status, issue_api_key

    rt = await Runtime.open(_settings())
    try:
        key = await issue_api_key(rt.sessions, shop, rt.clock()) if rotate else None
        status = await api_key_status(rt.sessions, shop)
    finally:
        await rt.close()
    facts = {
        "shop": shop,
        "hint": status.hint or None,
        "fingerprint": f"sha256:{status.fingerprint}" if status.exists else None,
        "issued_at": status.issued_at.isoformat() if status.issued_at else None,
    }
    if as_json:
        out.print_json(json.dumps(facts | ({"key": key} if key else {}), ensure_ascii=False))
    elif key:
        out.print(key, markup=False, highlight=False, soft_wrap=True)
        err.print(
            "新密钥只显示这一次，旧密钥已失效 / the new key is shown once; the old one stopped"
        )
    elif not status.exists:
        out.print(f"{shop} 还没有 API key / no API key yet: `xiaoer shop key {shop} --rotate`")
    else:
        unknown = "（未记录 / not recorded）"
        rows = [
            f"{shop} 的 API key / API key of {shop}",
            f"  提示 / hint         {status.hint or unknown}",
            f"  指纹 / fingerprint  {facts['fingerprint']}",
            f"  签发 / issued       {facts['issued_at'] or unknown}",
        ]
        out.print("\n".join(rows), markup=False, highlight=False, soft_wrap=True)


@app.command()
@command
async def shops(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the shops."""
    from xiaoer.store.repositories import ShopRepository

    rt = await Runtime.open(_settings())
    try:
        async with rt.sessions() as s:
            rows = await ShopRepository(s).list()
            counts = {shop.id: await ShopRepository(s).counts(shop.id) for shop in rows}
    finally:
        await rt.close()
    if as_json:
        data = [{"id": r.id, "name": r.name, **counts[r.id]} for r in rows]
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    if not rows:
        out.print("还没有店铺。运行 `xiaoer demo` 或 `xiaoer shop import PATH`。")
        return
    table = Table("id", "name", "products", "skus", "shoppers", "orders")
    for r in rows:
        c = counts[r.id]
        table.add_row(
            r.id, r.name, *(str(c[k]) for k in ("products", "skus", "shoppers", "orders"))
        )
    out.print(table)


@app.command()
@command
async def shoppers(
    shop: Annotated[str, typer.Option(help="shop id")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 20,
) -> None:
    """List a shop's shoppers, so you can pick one to chat as."""
    from xiaoer.domain.errors import NotFound
    from xiaoer.store.repositories import ShopperRepository, ShopRepository

    rt = await Runtime.open(_settings())
    try:
        async with rt.sessions() as s:
            if await ShopRepository(s).get(shop) is None:
                raise NotFound(f"shop {shop!r} not found; `xiaoer shops` lists the shops")
            rows = await ShopperRepository(s, shop).list(limit=limit)
    finally:
        await rt.close()
    if as_json:
        data = [{"id": r.id, "name": r.name, "level": r.level, "extras": r.extras} for r in rows]
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    table = Table("id", "name", "level", "phone", "extras")
    for r in rows:
        extras = json.dumps(r.extras, ensure_ascii=False) if r.extras else ""
        table.add_row(r.id, r.name, r.level, f"*******{r.phone_tail}", escape(_clip(extras, 60)))
    out.print(table)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@app.command()
@command
async def ask(
    message: Annotated[str, typer.Argument(help="the shopper's message")],
    shop: Annotated[str, typer.Option(help="shop id")],
    shopper: Annotated[str, typer.Option(help="shopper id")],
    conversation: Annotated[str | None, typer.Option(help="continue this conversation")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Send one message as a shopper and print the reply."""
    rt = await Runtime.open(_settings())
    try:
        load_llm(rt)
        result = await rt.assistant().turn(shop, shopper, message, conversation_id=conversation)
        views = await rt.assistant().action_views(shop, result.conversation_id)
    finally:
        await rt.close()
    if as_json:
        data = result.full()
        keep = ("reply", "conversation_id", "tool_calls", "llm_calls", "tokens_in", "tokens_out")
        payload: dict[str, Any] = {k: data[k] for k in keep}
        payload |= {"latency_ms": data["latency_ms"], "ttft_ms": data["ttft_ms"]}
        payload["tool_calls"] = [
            {"name": c["name"], "arguments": c["arguments"], "result": c["result"]}
            for c in data["tool_calls"]
        ]
        payload["citations"] = data["citations"]
        payload["guard"] = data["guard"]
        payload["guard_ms"] = data["guard_ms"]
        payload["handoff"] = data["handoff"]
        payload["pending_actions"] = [v.as_dict() for v in views if v.status == "pending"]
        payload["executed_actions"] = [v.as_dict() for v in views if v.status == "executed"]
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    out.print(result.reply or "[dim]（人工客服处理中 / a human has this conversation）[/dim]")
    if result.handoff:
        out.print(f"[yellow]转人工 / handoff[/yellow] {result.handoff['id']}: "
                  f"{result.handoff['reason_text']}")  # fmt: skip
    out.print(f"[dim]conversation {result.conversation_id}[/dim]")


@app.command()
@command
async def chat(
    shop: Annotated[str, typer.Option(help="shop id")],
    shopper: Annotated[str, typer.Option(help="shopper id")],
    conversation: Annotated[str | None, typer.Option(help="continue this conversation")] = None,
) -> None:
    """Chat as a shopper in the terminal (streaming). /new starts over, /quit leaves."""
    from xiaoer.chat_repl import repl

    rt = await Runtime.open(_settings())
    try:
        await repl(rt, out, shop, shopper, conversation, load_llm)
    finally:
        await rt.close()


@app.command()
@command
async def demo(
    shop: Annotated[
        str, typer.Option(help="stride 运动鞋服 | volt 数码家电 | orchard 生鲜 (held out)")
    ] = "stride",
    shopper: Annotated[str, typer.Option(help="shopper id to chat as")] = "U00001",
    regenerate: Annotated[bool, typer.Option(help="rebuild the demo data")] = False,
    web: Annotated[
        bool, typer.Option(help="also serve the console and a demo product page with the widget")
    ] = True,
) -> None:
    """Load the demo shops (first run) and open a chat with one of them — and, while it runs,
    the merchant console and a product page with the shopper widget, in the same process."""
    from xiaoer.api.app import create_app
    from xiaoer.api.serving import served
    from xiaoer.chat_repl import repl
    from xiaoer.demo_setup import ensure_demo, print_web

    settings = _settings().model_copy(update={"demo_pages": True})
    rt = await Runtime.open(settings)
    try:
        await ensure_demo(rt, out, regenerate=regenerate)
        if not web:
            await repl(rt, out, shop, shopper, None, load_llm)
            return
        load_llm(rt)  # with its progress bar, before the server's startup asks for it
        # the chat warms the shop it talks to; the server warming every shop too would make
        # that shop's prefixes wait behind another's: demo turns asked 90 s after start took
        # 24.1 / 40.6 / 22.8 s with both warm-ups, 20.4 / 35.7 / 22.0 s with the chat's alone
        app = create_app(settings, runtime=rt, warm=())
        async with served(app, settings.host, settings.port) as failed:
            print_web(out, f"http://{settings.host}:{settings.port}", shop, shopper, failed)
            await repl(rt, out, shop, shopper, None, load_llm)
    finally:
        await rt.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="API processes (with XIAOER_QUEUE=redis they only relay turns)"
        ),
    ] = 1,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs; the console at /console)."""
    import uvicorn

    from xiaoer.api.app import create_app

    settings = _settings()
    where = {"host": host or settings.host, "port": port or settings.port}
    if workers == 1:
        uvicorn.run(create_app(settings), workers=1, **where)
        return
    if settings.queue != "redis" and not settings.llm_base_url:
        err.print(
            "[yellow]注意 / note:[/yellow] each API worker would load its own embedded model; "
            "use XIAOER_QUEUE=redis with `xiaoer worker`, or an LLM endpoint (XIAOER_LLM_BASE_URL)"
        )
    # Workers are separate processes: each builds the app from the same environment.
    uvicorn.run("xiaoer.api.app:app_from_env", factory=True, workers=workers, **where)


@app.command()
@command
async def worker(
    jobs: Annotated[int | None, typer.Option(min=1, max=256, help="turns at a time")] = None,
) -> None:
    """Run shopper turns from the Redis queue (XIAOER_QUEUE=redis, XIAOER_REDIS_URL); as many
    workers as the machine's model capacity allows, on any machine that reaches Redis and the
    database."""
    from xiaoer.workers.turns import run_worker

    settings = _settings()
    err.print(
        f"turn worker: {settings.redis_url or '(no XIAOER_REDIS_URL)'} · jobs {jobs or settings.jobs}"
    )
    await run_worker(settings, jobs=jobs or settings.jobs)


@eval_app.command("run")
@command
async def eval_run(
    target: Annotated[str, typer.Argument(help="suite name, YAML file or folder")] = "all",
    user: Annotated[str, typer.Option(help="scripted | llm")] = "scripted",
    trials: Annotated[int, typer.Option(min=1, max=20)] = 1,
    limit: Annotated[int | None, typer.Option(min=1, help="first N scenarios")] = None,
    category: Annotated[str | None, typer.Option(help="only this category")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the report here")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="write an HTML report")] = None,
    keep: Annotated[
        Path | None,
        typer.Option(help="keep each trial's database (its recorded conversations) here"),
    ] = None,
) -> None:
    """Run scenarios against the real agent with a simulated shopper; report pass^k."""
    from xiaoer.evals.cli import run_scenarios

    await run_scenarios(
        _settings(),
        out,
        err,
        target,
        user=user,
        trials=trials,
        limit=limit,
        category=category,
        json_out=json_out,
        html_out=html_out,
        load_llm=load_llm,
        keep=keep,
    )


@eval_app.command("compare")
@command
async def eval_compare(
    a: Annotated[Path, typer.Argument(help="the earlier report (eval run --json)")],
    b: Annotated[Path, typer.Argument(help="the later report")],
    json_out: Annotated[Path | None, typer.Option("--json", help="write the diff here")] = None,
) -> None:
    """Per-scenario pass/fail changes and metric deltas between two `eval run --json` reports."""
    from xiaoer.evals.cli import compare_reports

    compare_reports(out, a, b, json_out=json_out)


@eval_app.command("tau-retail")
@command
async def eval_tau(
    tasks: Annotated[Path, typer.Option(help="the tau_retail data folder")] = Path(
        "../shared/benchmarks/tau_retail"
    ),
    agent: Annotated[
        str, typer.Option(help="xiaoer | baseline | xiaoer,baseline (side by side) | replay | noop")
    ] = "replay",
    user: Annotated[str, typer.Option(help="scripted | llm")] = "scripted",
    trials: Annotated[int, typer.Option(min=1, max=20)] = 1,
    subset: Annotated[
        int | None, typer.Option(min=1, help="N train tasks spread evenly (50 = every 10th)")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="first N of the selected tasks")] = None,
    skip: Annotated[int, typer.Option(min=0, help="leave out the first N selected tasks")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json")] = None,
) -> None:
    """Score τ-retail train tasks as the benchmark does (final db hash + required outputs)."""
    from xiaoer.evals.cli import run_tau

    await run_tau(
        _settings(), out, err, tasks, agent=agent, user=user, trials=trials, limit=limit,
        skip=skip, size=subset, json_out=json_out, load_llm=load_llm,
    )  # fmt: skip


@app.command()
@command
async def bench(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    model: Annotated[bool, typer.Option(help="also measure the configured LLM")] = True,
) -> None:
    """Speed figures measured side by side in one run (prints; never fails on thresholds)."""
    from xiaoer.bench import run_bench
    from xiaoer.runtime import build_llm

    settings = _settings()
    with err.status("测量中 / measuring… (a few minutes with the model)"):
        result = await run_bench((lambda: build_llm(settings)) if model else None)
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    else:
        out.print_json(json.dumps(result, ensure_ascii=False))


@app.command()
@command
async def loadtest(
    conversations: Annotated[
        int, typer.Option(min=1, max=5000, help="concurrent conversations")
    ] = 1000,
    store: Annotated[
        str, typer.Option(help="both (side by side) | sqlite | postgres (+ Redis queue)")
    ] = "both",
    fault: Annotated[
        str,
        typer.Option(
            help="none | kill-worker | restart-postgres | restart-redis | llm-hang | llm-error "
            "| llm-garbage | all (each fault in turn, on postgres+redis)"
        ),
    ] = "none",
    latency: Annotated[float, typer.Option(min=0, max=10, help="LLM stub seconds per call")] = 0.3,
    capacity: Annotated[
        int,
        typer.Option(
            min=0,
            max=100000,
            help="calls the LLM stub serves at once, answering 429 beyond them (0: any number)",
        ),
    ] = 0,
    think: Annotated[
        float,
        typer.Option(
            min=0,
            max=600,
            help="seconds a shopper reads and types between messages (±50%); 0: all at once",
        ),
    ] = 15.0,
    slots: Annotated[
        int,
        typer.Option(
            min=0,
            max=10000,
            help="model calls at once per serving process (XIAOER_LLM_SLOTS; 0: their default, 32)",
        ),
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Concurrent conversations against real serve/worker processes on loopback with an LLM
    stub: throughput, latency and xiaoer's overhead, errors, lost and doubled messages and
    actions, memory; with --fault, what a fault costs and how long recovery takes. Needs
    postgresql-15 and redis-server for the postgres setup (`scripts/bootstrap.sh test`)."""
    from dataclasses import replace

    from xiaoer.bench.load import FAULTS, SIDE_BY_SIDE, run_setup
    from xiaoer.bench.servers import ServerMissing

    if store not in ("both", "sqlite", "postgres"):
        raise BadInput(f"--store must be both, sqlite or postgres, not {store!r}")
    if fault not in (*FAULTS, "all"):
        raise BadInput(f"--fault must be one of {', '.join(FAULTS)} or all, not {fault!r}")
    setups = [s for s in SIDE_BY_SIDE if store in ("both", s.store)]
    if fault == "all":
        faults = [f for f in FAULTS if f != "none"]
        base = SIDE_BY_SIDE[1] if store != "sqlite" else SIDE_BY_SIDE[0]
        setups = [replace(base, fault=f, deadline=10.0) for f in faults]
    elif fault != "none":
        setups = [replace(s, fault=fault, deadline=10.0) for s in setups]
    setups = [
        replace(
            s,
            conversations=conversations,
            stub_latency=latency,
            stub_capacity=capacity,
            think=think,
            slots=slots,
        )  # fmt: skip
        for s in setups
    ]
    results = []
    for setup in setups:
        try:
            results.append(await run_setup(setup, progress=lambda m: err.print(f"· {m}")))
        except ServerMissing as exc:
            raise BadInput(str(exc)) from exc
    if as_json:
        sys.stdout.write(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title="xiaoer loadtest（LLM 桩 / stub，回环 / loopback）")
    table.add_column("")
    for r in results:
        table.add_column(f"{r['setup']}\n{r['fault']}")
    rows = [
        ("conversations (think s)", lambda r: f"{r['conversations']} ({r['think_s']:g})"),
        ("messages (resends)", lambda r: f"{r['messages_sent']} ({r['resends']})"),
        ("msgs/s", lambda r: r["throughput_msgs_per_s"]),
        ("LLM calls per answer (slots)", lambda r: f"{r['llm_calls_per_answer']} ({r['slots']})"),
        ("latency p50/p95/p99 ms", _percentile_cell("latency_ms")),
        ("overhead p50/p95/p99 ms", _percentile_cell("overhead_ms")),
        ("… waiting for slots p50/p95/p99 ms", _percentile_cell("waited_ms")),
        ("… the rest p50/p95/p99 ms", _percentile_cell("overhead_less_waits_ms")),
        ("… … on the Redis queue p50/p95/p99 ms", _percentile_cell("queued_ms")),
        (
            "… … model calls past the stub's time p50/p95/p99 ms",
            _percentile_cell("model_beyond_stub_ms"),
        ),
        ("… … the turns' own work p50/p95/p99 ms", _percentile_cell("own_work_ms")),
        ("first answer p50/p95/p99 ms", _percentile_cell("first_answer_ms")),
        ("overhead p95 ms by message", lambda r: _split_cell(r["overhead_split_ms"]["by_kind"])),
        (
            "overhead p95 ms: arriving / after",
            lambda r: _split_cell(r["overhead_split_ms"]["by_when"]),
        ),
        ("held (202)", lambda r: r["held"]),
        ("statuses", lambda r: ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))),
        ("apologies", lambda r: r["apologies"]),
        ("lost / answered twice", lambda r: f"{r['lost']} / {r['answered_twice']}"),
        (
            "actions executed (twice)",
            lambda r: f"{r['actions_executed']} ({r['actions_executed_twice']})",
        ),
        ("RSS peak MB", lambda r: r["rss_peak_mb"]),
        ("PostgreSQL connections opened", lambda r: _dash(r["db_connections_opened"])),
        (
            "CPU ms per answer, by process",
            lambda r: ", ".join(f"{k} {v:g}" for k, v in r["cpu_ms_per_answer"].items()),
        ),
        (
            "server CPU ÷ stub CPU",
            lambda r: r["server_cpu_per_stub_cpu"] if r["server_cpu_per_stub_cpu"] else "–",
        ),
        ("recovery s", lambda r: _dash(r["recovery_s"])),
    ]
    for name, cell in rows:
        table.add_row(name, *(str(cell(r)) for r in results))
    out.print(table)


def _percentile_cell(key: str) -> Callable[[dict[str, Any]], str]:
    """A load-test table cell: the result's p50/p95/p99 of `key`, as "p50/p95/p99"."""
    return lambda r: "/".join(str(v) for v in r[key].values())


def _split_cell(parts: dict[str, dict[str, int]]) -> str:
    return ", ".join(f"{k} {v['p95']} ({v['n']})" for k, v in parts.items())


def _dash(value: object) -> object:
    return "–" if value is None else value


def _new_password() -> str:
    """From `XIAOER_NEW_PASSWORD`, else asked twice with hidden input on a terminal."""
    if given := _settings().new_password:
        return given
    if not sys.stdin.isatty():
        raise BadInput(
            "no password: set XIAOER_NEW_PASSWORD or run in a terminal to be asked for one"
        )
    return typer.prompt("密码 / password", hide_input=True, confirmation_prompt=True)


@account_app.command("add")
@command
async def account_add(
    name: Annotated[str, typer.Argument(help="login name (or email)")],
    shop: Annotated[list[str], typer.Option(help="a shop it may see; repeat for several")],
    role: Annotated[str, typer.Option(help="owner | agent")] = "agent",
) -> None:
    """Add a console account. The password comes from XIAOER_NEW_PASSWORD or a hidden prompt."""
    from xiaoer.services import accounts as accounts_service

    password = _new_password()
    rt = await Runtime.open(_settings())
    try:
        async with rt.sessions() as s:
            account = await accounts_service.add(s, name, password, role, shop, rt.clock())
            await s.commit()
    finally:
        await rt.close()
    out.print(f"[green]✓[/green] {account.name} ({account.role}): {', '.join(account.shops)}")


@account_app.command("list")
@command
async def account_list() -> None:
    """The console accounts, their roles and shops (never their passwords)."""
    from xiaoer.services import accounts as accounts_service

    rt = await Runtime.open(_settings())
    try:
        async with rt.sessions() as s:
            accounts = await accounts_service.all_accounts(s)
    finally:
        await rt.close()
    table = Table("name", "role", "shops")
    for a in accounts:
        table.add_row(escape(a.name), a.role, escape(", ".join(a.shops)))
    out.print(table if accounts else "[dim]（没有账号 / no accounts: xiaoer account add）[/dim]")


def main() -> None:
    from xiaoer.guard.pii import configure_logging

    configure_logging()
    app()


async def _ingest(kind: str, shop: str, path: Path) -> None:
    from xiaoer.knowledge.ingest import ingest

    rt = await Runtime.open(_settings())
    progress = Progress(
        TextColumn("[bold]学习 / ingesting"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[name]}"), TimeElapsedColumn(), console=err,
    )  # fmt: skip
    try:
        with progress:
            task = progress.add_task("ingest", total=None, name="")

            def step(name: str, done: int, total: int) -> None:
                progress.update(task, completed=done, total=total, name=name)

            reports = await ingest(rt.knowledge(), rt.sessions, kind, shop, path, step=step)
    finally:
        await rt.close()
    table = Table("来源 source", "结果 status", "片段 chunks", "说明 detail")
    for r in reports:
        detail = r.detail or (
            f"{r.extra['candidates']} candidates" if "candidates" in r.extra else ""
        )
        colour = {"failed": "red", "unchanged": "dim"}.get(r.status, "green")
        table.add_row(r.source_id, f"[{colour}]{r.status}[/{colour}]", str(r.chunks), detail)
    out.print(table)
    if kind == "chats":
        out.print(f"审核候选问答 / review: xiaoer knowledge candidates --shop {shop}")
    if any(r.status == "failed" for r in reports):
        raise typer.Exit(1)


INGEST_HELP = {
    "docs": "Markdown / HTML / DOCX / PDF / TXT documents (a folder is read recursively).",
    "catalog": "A catalog file (CSV / JSON / JSONL / XLSX), one row per SKU; unknown columns are kept.",
    "chats": "Past human-agent chats (JSONL or CSV), mined for FAQ candidates to review.",
    "facts": "Merchant facts: one per line, optionally `| 到期 2026-12-31`; they outrank the rest.",
}


def _ingest_command(kind: str) -> None:
    def run(
        shop: Annotated[str, typer.Option(help="shop id")],
        path: Annotated[Path, typer.Argument(help="a file or a folder")],
    ) -> None:
        command(_ingest)(kind, shop, path)

    run.__doc__ = INGEST_HELP[kind]
    ingest_app.command(kind)(run)


for _kind in INGEST_HELP:
    _ingest_command(_kind)


@knowledge_app.command("search")
@command
async def knowledge_search(
    query: Annotated[str, typer.Argument(help="a shopper's question")],
    shop: Annotated[str, typer.Option(help="shop id")],
    k: Annotated[int, typer.Option(min=1, max=50)] = 5,
    method: Annotated[str, typer.Option(help="hybrid | bm25 | dense")] = "hybrid",
    product: Annotated[str | None, typer.Option(help="only this product's facts")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Search the shop's knowledge; every snippet carries its source id."""
    from xiaoer.knowledge import cite

    rt = await Runtime.open(_settings())
    try:
        hits = await rt.knowledge().search(shop, query, k=k, method=method, product_id=product)
    finally:
        await rt.close()
    rows = [cite(h).as_dict() for h in hits]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table("source_id", "kind", "title", "snippet")
    for r in rows:
        table.add_row(r["source_id"], r["kind"], r["title"][:30], r["snippet"][:80])
    out.print(table if rows else "没有找到 / nothing found")


@knowledge_app.command("sources")
@command
async def knowledge_sources(shop: Annotated[str, typer.Option(help="shop id")]) -> None:
    """What the shop's knowledge was learned from."""
    rt = await Runtime.open(_settings())
    try:
        rows = await rt.knowledge().sources(shop)
    finally:
        await rt.close()
    table = Table("source", "kind", "chunks", "ingested")
    for r in rows:
        table.add_row(r.id, r.kind, str(r.chunks), r.ingested_at.isoformat(timespec="seconds"))
    out.print(table if rows else "还没有资料 / no knowledge yet: xiaoer ingest --help")


@knowledge_app.command("candidates")
@command
async def knowledge_candidates(
    shop: Annotated[str, typer.Option(help="shop id")],
    status: Annotated[str, typer.Option(help="pending | approved | rejected | all")] = "pending",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """FAQ answers mined from past chats, waiting for review (with the chats they came from)."""
    rt = await Runtime.open(_settings())
    try:
        rows = await rt.knowledge().candidates(shop, None if status == "all" else status)
    finally:
        await rt.close()
    data = [
        {"id": r.id, "status": r.status, "question": r.question, "variants": r.variants,
         "answer": r.answer, "chat_ids": r.chat_ids, "score": r.score}
        for r in rows
    ]  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table("id", "问 question", "答 answer", "来自 chats", "status")
    for d in data:
        chats = ",".join(d["chat_ids"][:3]) + ("…" if len(d["chat_ids"]) > 3 else "")
        table.add_row(d["id"], d["question"][:30], d["answer"][:60], chats, d["status"])
    out.print(table if data else f"没有 {status} 候选 / no {status} candidates")


@knowledge_app.command("approve")
@command
async def knowledge_approve(
    candidate: Annotated[str, typer.Argument(help="candidate id")],
    shop: Annotated[str, typer.Option(help="shop id")],
    answer: Annotated[str | None, typer.Option(help="an edited answer")] = None,
    question: Annotated[str | None, typer.Option(help="an edited question")] = None,
) -> None:
    """Approve a mined answer (optionally edited); the bot can use it from now on."""
    rt = await Runtime.open(_settings())
    try:
        chunk = await rt.knowledge().approve(shop, candidate, answer=answer, question=question)
    finally:
        await rt.close()
    out.print(f"[green]✓[/green] {candidate} approved → {chunk}")


@knowledge_app.command("reject")
@command
async def knowledge_reject(
    candidate: Annotated[str, typer.Argument(help="candidate id")],
    shop: Annotated[str, typer.Option(help="shop id")],
    note: Annotated[str, typer.Option(help="why")] = "",
) -> None:
    """Reject a mined answer; it is never used (and re-mining keeps it rejected)."""
    rt = await Runtime.open(_settings())
    try:
        await rt.knowledge().reject(shop, candidate, note=note)
    finally:
        await rt.close()
    out.print(f"{candidate} rejected")


@knowledge_app.command("add-fact")
@command
async def knowledge_add_fact(
    text: Annotated[str, typer.Argument(help="e.g. 本周六不发货")],
    shop: Annotated[str, typer.Option(help="shop id")],
    expires: Annotated[str, typer.Option(help="2026-12-31 or an ISO time")] = "",
) -> None:
    """Add one merchant fact; it outranks everything else until it expires."""
    from xiaoer.domain.errors import BadInput
    from xiaoer.knowledge.ingest import parse_expiry

    try:
        when = parse_expiry(expires)
    except ValueError as exc:
        raise BadInput(f"bad --expires {expires!r} (use 2026-12-31)") from exc
    rt = await Runtime.open(_settings())
    try:
        fact_id = await rt.knowledge().add_fact(shop, text, expires_at=when)
    finally:
        await rt.close()
    out.print(f"[green]✓[/green] {fact_id}")


@knowledge_app.command("mine-products")
@command
async def knowledge_mine_products(
    shop: Annotated[str, typer.Option(help="shop id")],
    limit: Annotated[int | None, typer.Option(min=1, help="only the first N products")] = None,
) -> None:
    """Let the LLM list the facts in product descriptions (offline; kept only when the
    description says them). About 10 s a product on the embedded model."""
    rt = await Runtime.open(_settings())
    progress = Progress(
        TextColumn("[bold]mining"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err,
    )  # fmt: skip
    try:
        load_llm(rt)
        with progress:
            task = progress.add_task("mine", total=None)
            report, mined = await rt.knowledge().mine_products(
                shop, rt.ask_llm, limit=limit,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )  # fmt: skip
    finally:
        await rt.close()
    out.print(
        f"{report.status}: {mined.products} products, {mined.proposed} facts proposed, "
        f"{mined.kept} kept (found in the description), {len(mined.dropped)} dropped"
    )
    for line in mined.dropped[:10]:
        out.print(f"[dim]dropped: {line}[/dim]")


@knowledge_app.command("remove")
@command
async def knowledge_remove(
    source: Annotated[str, typer.Argument(help="source id (see `knowledge sources`)")],
    shop: Annotated[str, typer.Option(help="shop id")],
) -> None:
    """Remove a source (a document, a fact) and its chunks."""
    rt = await Runtime.open(_settings())
    try:
        await rt.knowledge().remove(shop, source)
    finally:
        await rt.close()
    out.print(f"{source} removed")


@eval_app.command("understand")
@command
async def eval_understand(
    readers: Annotated[
        str,
        typer.Option(
            help="keywords | model | cascade, comma-separated; the cascade (the default reader) "
            "also reports the model's own reading from the same calls"
        ),
    ] = "keywords,cascade",
    split: Annotated[str, typer.Option(help="dev | heldout | all")] = "all",
    labelled: Annotated[Path | None, typer.Option(help="the labelled set (YAML)")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="N messages spread evenly")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the report here")] = None,
) -> None:
    """Per-field accuracy, precision and recall of the understanding step vs the keyword checks
    on the labelled shopper messages (dev = tuned shops, heldout = only measured)."""
    from xiaoer.agent.understanding import CascadeReader, KeywordReader, ModelReader, Reader
    from xiaoer.domain.errors import BadInput
    from xiaoer.evals.understanding import DEFAULT_FILE, FIELDS, STARTS, evaluate, load_items

    names = [n.strip() for n in readers.split(",") if n.strip()]
    if not names or set(names) - {"model", "keywords", "cascade"}:
        raise BadInput(f"--readers takes keywords, model and/or cascade, not {readers!r}")
    if split not in ("dev", "heldout", "all"):
        raise BadInput(f"--split is dev, heldout or all, not {split!r}")
    items = [i for i in load_items(labelled or DEFAULT_FILE) if split in ("all", i.split)]
    if limit and limit < len(items):
        items = [items[i * len(items) // limit] for i in range(limit)]
    if not items:
        raise BadInput("no labelled messages selected")
    rt = await Runtime.open(_settings())
    try:
        chosen: list[Reader] = []
        for name in names:
            if name == "keywords":
                chosen.append(KeywordReader())
                continue
            load_llm(rt)
            model = ModelReader(rt.llm())
            chosen.append(model if name == "model" else CascadeReader(model))
        progress = Progress(
            TextColumn("[bold]understand"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(), console=err,
        )  # fmt: skip
        with progress:
            task = progress.add_task("m", total=None)
            report = await evaluate(
                chosen, items,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )  # fmt: skip
    finally:
        await rt.close()
    splits = sorted({i.split for i in items}) + (["all"] if split == "all" else [])
    names = [n for n in ("keywords", "model", "cascade") if n in report["readers"]]
    table = Table("field", "split", *[f"{n} acc" for n in names], *[f"{n} P/R" for n in names],
                  "n", title="xiaoer eval understand")  # fmt: skip
    for name in (*FIELDS, STARTS):
        for sp in splits:
            cells = [report["readers"][n]["fields"].get(f"{sp}/{name}") for n in names]
            if not any(cells):
                continue
            n = next(c["n"] for c in cells if c)
            acc = [f"{c['accuracy']:.3f}" if c else "—" for c in cells]
            pr = [
                f"{c['macro_precision']:.2f}/{c['macro_recall']:.2f}" if c else "—" for c in cells
            ]
            table.add_row(name, sp, *acc, *pr, str(n))
    out.print(table)
    for n in names:
        r = report["readers"][n]
        if r.get("seconds_p50") is None:
            continue
        out.print(f"{n}: p50 {r['seconds_p50']} s, p95 {r['seconds_p95']} s, tokens in "
                  f"{r['tokens_in_mean']} / out {r['tokens_out_mean']}, unreadable {r['unreadable']}")  # fmt: skip
    if json_out is not None:
        json_out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")


@eval_app.command("retrieval")
@command
async def eval_retrieval(
    sets: Annotated[Path | None, typer.Option(help="folder of <shop>.yaml question sets")] = None,
    k: Annotated[int, typer.Option(min=1, max=10)] = 5,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the report here")] = None,
) -> None:
    """Recall@k and MRR of BM25, dense and hybrid retrieval on the held-out question sets."""
    from xiaoer.evals.retrieval import DEFAULT_DIR, evaluate

    progress = Progress(
        TextColumn("[bold]retrieval"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err,
    )  # fmt: skip
    with progress:
        task = progress.add_task("q", total=None)
        report = await evaluate(
            sets or DEFAULT_DIR, k=k,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )  # fmt: skip
    table = Table("shop", "method", f"recall@{k}", "MRR", "n", title="xiaoer eval retrieval")
    for shop, methods in report["by_shop"].items():
        for method, r in methods.items():
            table.add_row(shop, method, f"{r['recall']:.3f}", f"{r['mrr']:.3f}", str(r["n"]))
    out.print(table)
    if json_out is not None:
        json_out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")


@actions_app.command("list")
@command
async def actions_list(
    shop: Annotated[str, typer.Option(help="shop id")],
    status: Annotated[
        str | None, typer.Option(help="pending, awaiting_approval, executed, declined, …")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List a shop's actions, newest first (e.g. --status awaiting_approval for the queue)."""
    from xiaoer.agent.actions import ActionView
    from xiaoer.store.repositories import ActionRepository

    rt = await Runtime.open(_settings())
    try:
        async with rt.sessions() as s:
            rows = await ActionRepository(s, shop).list(status=status, limit=limit)
    finally:
        await rt.close()
    views = [ActionView.of(r).as_dict() | {"conversation_id": r.conversation_id} for r in rows]
    if as_json:
        sys.stdout.write(json.dumps(views, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table("id", "状态 status", "操作 tool", "金额", "摘要 summary")
    for v in views:
        table.add_row(v["id"], v["status"], v["tool"], v["amount"], v["summary"][:60])
    out.print(table if views else "没有操作 / no actions")


async def _review(shop: str, action_id: str, approve: bool, note: str) -> None:
    rt = await Runtime.open(_settings())
    try:
        outcome = await rt.review_action(shop, action_id, approve=approve, note=note)
    finally:
        await rt.close()
    out.print(f"{outcome.action.id}: [bold]{outcome.action.status}[/bold] — {outcome.reply}")


@actions_app.command("approve")
@command
async def actions_approve(
    action_id: Annotated[str, typer.Argument(help="action id (act_…)")],
    shop: Annotated[str, typer.Option(help="shop id")],
    note: Annotated[str, typer.Option(help="note for the audit log")] = "",
) -> None:
    """Approve an action waiting above the shop's limit; it executes now (policy re-checked)."""
    await _review(shop, action_id, True, note)


@actions_app.command("reject")
@command
async def actions_reject(
    action_id: Annotated[str, typer.Argument(help="action id (act_…)")],
    shop: Annotated[str, typer.Option(help="shop id")],
    note: Annotated[str, typer.Option(help="the reason, shown to the shopper")] = "",
) -> None:
    """Reject an action waiting for approval; the shopper's conversation is told why."""
    await _review(shop, action_id, False, note)


@policy_app.command("check")
def policy_check(path: Annotated[Path, typer.Argument(help="a policy.yaml file")]) -> None:
    """Validate a policy file; every problem is printed with its field."""
    from xiaoer.policy.load import check_policy

    if not path.is_file():
        err.print(f"[red]错误 / error:[/red] no such file: {path}")
        raise typer.Exit(1)
    policy, problems = check_policy(path.read_text(encoding="utf-8", errors="replace"))
    _print_problems(path, problems)
    if policy is None:
        raise typer.Exit(1)
    out.print(f"[green]OK[/green] {path}")


def _print_problems(path: Path, problems: Sequence[PolicyProblem]) -> None:
    for p in problems:
        where = f"{path}:{p.line}" if p.line else str(path)
        line = f"{where}: {p.field + ': ' if p.field else ''}{p.message}"
        err.print(line, markup=False, highlight=False, soft_wrap=True)


@policy_app.command("show")
@command
async def policy_show(
    shop: Annotated[str, typer.Option(help="shop id")],
    version: Annotated[
        int | None, typer.Option(help="an earlier version, as it was written (policy versions)")
    ] = None,
) -> None:
    """Print the policy a shop runs on (amounts in 元), as YAML; or one of its versions."""
    import yaml

    rt = await Runtime.open(_settings())
    try:
        if version is not None:
            sys.stdout.write((await rt.policy_version(shop, version)).text)
            return
        policy = await rt.policy(shop)
    finally:
        await rt.close()
    data = policy.model_dump(mode="json")
    sys.stdout.write(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


@policy_app.command("versions")
@command
async def policy_versions(
    shop: Annotated[str, typer.Argument(help="shop id")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the versions of a shop's policy, oldest first (each import that changed it adds
    one); read one with `policy show --shop SHOP --version N`, compare two with
    `policy diff SHOP@1 SHOP@2`."""
    rt = await Runtime.open(_settings())
    try:
        rows = await rt.policy_versions(shop)
    finally:
        await rt.close()
    if as_json:
        keys = ("number", "content_hash", "source", "created_at")
        _print_json([{k: str(getattr(v, k)) for k in keys} | {"number": v.number} for v in rows])
        return
    if not rows:
        out.print(f"{shop} 还没有策略版本 / no policy versions yet (xiaoer shop import)")
        return
    table = Table("版本 version", "时间 created (UTC)", "内容哈希 hash", "来源 source")
    for v in rows:
        mark = " ← 当前 / current" if v is rows[-1] else ""
        table.add_row(f"{v.ref}{mark}", f"{v.created_at:%Y-%m-%d %H:%M}", v.content_hash[:12],
                      escape(v.source))  # fmt: skip
    out.print(table)


async def _policy_arg(arg: str) -> tuple[ShopPolicy | None, str]:
    """A policy file, validated (its problems printed as `policy check` prints them; None when
    invalid), or a recorded version `SHOP@N` / `SHOP@latest`."""
    from xiaoer.policy.versions import bad_ref, parse_ref

    if (checked := _policy_file(Path(arg))) is not None:
        return checked
    ref = parse_ref(arg)
    if ref is None:
        raise bad_ref(arg)
    rt = await Runtime.open(_settings())
    try:
        found = await rt.policy_version(*ref)
    finally:
        await rt.close()
    return found.policy(), found.ref


def _policy_file(path: Path) -> tuple[ShopPolicy | None, str] | None:
    """A policy file validated, its problems printed; None when there is no such file."""
    from xiaoer.policy.load import check_policy

    if not path.is_file():
        return None
    policy, problems = check_policy(path.read_text(encoding="utf-8", errors="replace"))
    _print_problems(path, problems)
    return policy, str(path)


@policy_app.command("diff")
@command
async def policy_diff(
    old: Annotated[str, typer.Argument(help="policy file, or SHOP@VERSION")],
    new: Annotated[str, typer.Argument(help="policy file, or SHOP@VERSION")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What changed between two policies, field by field (amounts in 元). Both are validated
    first; exit 1 when either is invalid."""
    from xiaoer.policy.diff import diff_policies, render

    (before, old_name), (after, new_name) = [await _policy_arg(a) for a in (old, new)]
    if before is None or after is None:
        raise typer.Exit(1)
    changes = diff_policies(before, after)
    if as_json:
        _print_json({"old": old_name, "new": new_name, "changes": [c.as_dict() for c in changes]})
        return
    _print_lines(render(changes, old_name, new_name))


@policy_app.command("replay")
@command
async def policy_replay(
    new: Annotated[str, typer.Argument(help="the new policy file, or SHOP@VERSION")],
    shop: Annotated[str, typer.Option(help="shop id")],
    since: Annotated[
        str | None, typer.Option(help="from this day on (YYYY-MM-DD, the shop's timezone)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Dry run (试运行): re-decide the shop's recorded actions and refused proposals under NEW
    and list every decision that would change, before publishing it. Changes nothing."""
    from datetime import date

    from xiaoer.agent.replay_report import as_json as report_json
    from xiaoer.agent.replay_report import render

    try:
        day = date.fromisoformat(since) if since else None
    except ValueError:
        raise BadInput(f"--since {since!r}: not a date, write it as YYYY-MM-DD") from None
    policy, name = await _policy_arg(new)
    if policy is None:
        raise typer.Exit(1)
    rt = await Runtime.open(_settings())
    progress = Progress(
        TextColumn("重放 / re-deciding"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err, transient=True,
    )  # fmt: skip
    task = progress.add_task("replay", total=None)
    try:
        with progress:
            items = await rt.replay_policy(
                shop, policy, since=day,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )  # fmt: skip
    finally:
        await rt.close()
    if as_json:
        _print_json(report_json(items, shop, name))
        return
    _print_lines(render(items, shop, name))


@policy_app.command("publish")
@command
async def policy_publish(
    path: Annotated[Path, typer.Argument(help="the new policy.yaml")],
    shop: Annotated[str, typer.Option(help="shop id")],
) -> None:
    """Make a policy file the shop's policy, as a new version (validated first: nothing changes
    when it has a problem). Check it with `policy diff` and `policy replay` before."""
    from xiaoer.services import policies

    checked = _policy_file(path)
    if checked is None:
        raise BadInput(f"no such file: {path}")
    if checked[0] is None:
        raise typer.Exit(1)
    rt = await Runtime.open(_settings())
    try:
        async with rt.sessions() as s:
            version, new = await policies.publish(
                s, shop, path.read_text(encoding="utf-8", errors="replace"), rt.clock(),
                f"cli {path.name}",
            )  # fmt: skip
            await s.commit()
    finally:
        await rt.close()
    if new:
        out.print(f"已发布 / published: {version.ref}")
    else:
        out.print(f"与当前版本相同，未新增版本 / unchanged: {version.ref} is in force")


@policy_app.command("rollback")
@command
async def policy_rollback(
    ref: Annotated[str, typer.Argument(help="SHOP@VERSION to go back to (policy versions)")],
) -> None:
    """Publish an earlier version again, as it was written (a new version that says so)."""
    from xiaoer.policy.versions import bad_ref, parse_ref
    from xiaoer.services import policies

    parsed = parse_ref(ref)
    if parsed is None or parsed[1] is None:
        raise bad_ref(ref)
    shop, number = parsed
    rt = await Runtime.open(_settings())
    try:
        async with rt.sessions() as s:
            version, new = await policies.rollback(s, shop, number, rt.clock(), "cli")
            await s.commit()
    finally:
        await rt.close()
    if new:
        out.print(f"已回滚 / rolled back: {version.ref} = {shop}@{number}")
    else:
        out.print(f"与当前版本相同，未新增版本 / unchanged: {version.ref} is in force")


@policy_app.command("assist")
@command
async def policy_assist(
    state: Annotated[str, typer.Argument(help="on | off")],
    shop: Annotated[str, typer.Option(help="shop id")],
) -> None:
    """智能辅助 on or off: every conversation goes to a human agent and the AI only drafts
    (`xiaoer inbox suggest`, the console's workbench). A new policy version with
    `handoff.assist` changed; the rest of the policy stays as written."""
    from xiaoer.services import policies

    if state not in ("on", "off"):
        raise BadInput(f"say on or off, not {state!r}")
    rt = await Runtime.open(_settings())
    try:
        async with rt.sessions() as s:
            version, new = await policies.set_assist(s, shop, state == "on", rt.clock(), "cli")
            await s.commit()
    finally:
        await rt.close()
    said = "开启 / on" if state == "on" else "关闭 / off"
    if new:
        out.print(f"智能辅助已{said}: {version.ref}")
    else:
        out.print(f"智能辅助本来就是{said}，未新增版本 / unchanged: {version.ref} is in force")


def _print_lines(lines: Sequence[str]) -> None:
    out.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


async def _inbox[T](call: Callable[[Inbox], Awaitable[T]]) -> T:
    rt = await Runtime.open(_settings())
    try:
        return await call(rt.inbox())
    finally:
        await rt.close()


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


@inbox_app.command("list")
@command
async def inbox_list(
    shop: Annotated[str, typer.Option(help="shop id")],
    status: Annotated[str, typer.Option(help="comma-separated: queued, taken, closed")] = (
        "queued,taken"
    ),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The handoff queue, most urgent then oldest first, with the AI's summary."""
    rows = await _inbox(
        lambda ib: ib.queue(shop, [x.strip() for x in status.split(",") if x.strip()])
    )
    if as_json:
        _print_json(rows)
        return
    table = Table(
        "handoff", "conversation", "顾客", "原因 reason", "优先", "状态", "等待(分)", "诉求 need"
    )
    for r in rows:
        table.add_row(r["id"], r["conversation_id"], r["shopper_id"], r["reason_text"],
                      str(r["priority"]), r["status"] + (f" ({r['agent']})" if r["agent"] else ""),
                      str(r.get("waiting_minutes", "")), str(r["summary"].get("need", ""))[:40])  # fmt: skip
    out.print(table if rows else "队列为空 / the queue is empty")


@inbox_app.command("show")
@command
async def inbox_show(
    conversation: Annotated[str, typer.Argument(help="conversation id (cv_…)")],
    shop: Annotated[str, typer.Option(help="shop id")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A conversation as a human sees it: messages, whispers, the handoff summary, actions."""
    data = await _inbox(lambda ib: ib.conversation(shop, conversation))
    if as_json:
        _print_json(data)
        return
    names = {"shopper": "顾客", "assistant": "店小二", "agent": "人工", "whisper": "悄悄话"}
    out.print(f"[bold]{conversation}[/bold] 顾客 {data['shopper_id']} · mode {data['mode']}")
    if data["handoff"]:
        h = data["handoff"]
        out.print(f"[yellow]转人工[/yellow] {h['reason_text']} {h['detail']} · 摘要 "
                  + json.dumps(h["summary"], ensure_ascii=False))  # fmt: skip
    for m in data["messages"]:
        who = names.get(m["role"], m["role"]) + (f"({m['agent']})" if m["agent"] else "")
        out.print(f"[dim]{m['at'][11:19]}[/dim] [bold]{who}[/bold]: ", end="")
        out.print(m["content"], markup=False, highlight=False)
    for a in data["actions"]:
        out.print(f"[cyan]{a['id']}[/cyan] {a['status']} {a['summary']}", markup=False)


@inbox_app.command("takeover")
@command
async def inbox_takeover(
    conversation: Annotated[str, typer.Argument(help="conversation id (cv_…)")],
    shop: Annotated[str, typer.Option(help="shop id")],
    agent: Annotated[str, typer.Option(help="the human agent's name")],
) -> None:
    """Take a conversation over: the AI stays silent until `inbox release`."""
    view = await _inbox(lambda ib: ib.takeover(shop, conversation, agent))
    out.print(f"{agent} 已接管 {conversation}（{view['reason_text']}）")


@inbox_app.command("reply")
@command
async def inbox_reply(
    conversation: Annotated[str, typer.Argument(help="conversation id (cv_…)")],
    text: Annotated[str, typer.Argument(help="the message to the shopper")],
    shop: Annotated[str, typer.Option(help="shop id")],
    agent: Annotated[str, typer.Option(help="the human agent's name")],
) -> None:
    """Answer the shopper as a human agent (a queued conversation is taken over first)."""
    await _inbox(lambda ib: ib.reply(shop, conversation, text, agent))
    out.print(f"已发送 / sent ({agent})")


@inbox_app.command("whisper")
@command
async def inbox_whisper(
    conversation: Annotated[str, typer.Argument(help="conversation id (cv_…)")],
    text: Annotated[str, typer.Argument(help="the instruction for the AI")],
    shop: Annotated[str, typer.Option(help="shop id")],
    by: Annotated[str, typer.Option(help="who gives it")] = "merchant",
) -> None:
    """Tell the AI something it follows from its next turn; the shopper never sees it."""
    await _inbox(lambda ib: ib.whisper(shop, conversation, text, by))
    out.print("已记下 / noted: the AI follows it from its next turn")


@inbox_app.command("release")
@command
async def inbox_release(
    conversation: Annotated[str, typer.Argument(help="conversation id (cv_…)")],
    shop: Annotated[str, typer.Option(help="shop id")],
) -> None:
    """Give the conversation back to the AI (the human's replies stay as context)."""
    await _inbox(lambda ib: ib.release(shop, conversation))
    out.print(f"{conversation} 已交回店小二 / back with the AI")


@inbox_app.command("learn")
@command
async def inbox_learn(shop: Annotated[str, typer.Option(help="shop id")]) -> None:
    """Mine human agents' replies for FAQ candidates (review: `xiaoer knowledge candidates`)."""
    report = await _inbox(lambda ib: ib.learn(shop))
    out.print(f"{report['conversations']} 个人工会话 / conversations · {report['status']} · "
              f"{report['candidates']} 条候选 / candidates")  # fmt: skip


inbox_app.command("approve", help="Approve an action waiting above the shop's limit.")(
    actions_approve
)
inbox_app.command("reject", help="Reject an action waiting for approval.")(actions_reject)


@inbox_app.command("suggest")
@command
async def inbox_suggest(
    conversation: Annotated[str, typer.Argument(help="conversation id (cv_…)")],
    shop: Annotated[str, typer.Option(help="shop id")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A suggested reply to the shopper's last message, with its sources (nothing is sent)."""
    rt = await Runtime.open(_settings())
    try:
        load_llm(rt)
        data = await rt.inbox().suggest(shop, conversation)
    finally:
        await rt.close()
    if as_json:
        _print_json(data)
        return
    out.print("[bold]建议回复 / suggestion:[/bold]")
    out.print(data["reply"], markup=False, highlight=False)
    for c in data["citations"]:
        out.print(f"· {c['kind']} {c['title']}", style="dim", markup=False)
    for f in data["facts"]:
        args = json.dumps(f["arguments"], ensure_ascii=False)
        out.print(f"· {f['tool']} {args}", style="dim", markup=False)


Since = Annotated[str | None, typer.Option(help="first day, YYYY-MM-DD in the shop's timezone")]
Until = Annotated[
    str | None, typer.Option(help="last day (included); default today, 30 days in all")
]


@app.command()
@command
async def kpi(
    shop: Annotated[str, typer.Option(help="shop id")],
    since: Since = None,
    until: Until = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Service KPIs (客服考核指标): 淘宝/京东/抖店 response rates by each platform's rule,
    response time, handoffs, latency and tokens, with a daily series. See docs/kpis.md."""
    from xiaoer.services import kpis as kpis_service

    rt = await Runtime.open(_settings())
    try:
        async with rt.sessions() as s:
            report = await kpis_service.compute_for_dates(s, shop, since, until, rt.clock())
    finally:
        await rt.close()
    if as_json:
        _print_json(report.as_dict())
        return
    _print_kpis(report)


@app.command()
@command
async def usage(
    shop: Annotated[str, typer.Option(help="shop id")],
    since: Since = None,
    until: Until = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Metering 用量: unique shoppers per day (日 UV), the busiest day, and the plan it needs
    (free up to XIAOER_FREE_DAILY_UV a day; plans from XIAOER_PLANS)."""
    from xiaoer.services.usage import usage_for_dates

    settings = _settings()
    rt = await Runtime.open(settings)
    try:
        async with rt.sessions() as s:
            report = await usage_for_dates(
                s, shop, since, until, rt.clock(),
                free_daily_uv=settings.free_daily_uv, plans=settings.plans,
            )  # fmt: skip
    finally:
        await rt.close()
    data = report.as_dict()
    if as_json:
        _print_json(data)
        return
    table = Table(title=f"{shop} 日 UV / daily unique shoppers · {data['since']} – {data['until']}")
    table.add_column("day")
    table.add_column("UV", justify="right")
    for d in data["days"]:
        over = d["uv"] > data["free_daily_uv"]
        table.add_row(d["day"], f"[bold red]{d['uv']}[/]" if over else str(d["uv"]))
    out.print(table)
    needed = data["plan_needed"] or "none large enough: ask the operator / 请联系服务商"
    out.print(
        f"busiest day {data['peak_day'] or '–'}: {data['peak_uv']} · free up to "
        f"{data['free_daily_uv']} a day · days over: {data['days_over_free']} · plan: {needed}",
        markup=False,
    )


def _print_kpis(report: Any) -> None:
    """The `services.kpis.KpiReport` as three tables: figures, handoff reasons, per day."""
    from datetime import timedelta

    from xiaoer.agent.handoff import REASONS
    from xiaoer.services.kpis import LABELS

    last = report.until - timedelta(seconds=1)
    out.print(f"[bold]{report.shop_id}[/bold] {report.since:%Y-%m-%d} ~ {last:%Y-%m-%d} "
              f"({report.timezone}, 人工时间 working hours {report.working_hours})")  # fmt: skip
    table = Table("指标 KPI", "值 value", "计数 count", "说明 note")
    for f in report.figures:
        zh, en = LABELS[f.key]
        count = f"{f.hits}/{f.total}" if f.unit == "rate" and f.total else ""
        table.add_row(f"{zh}\n[dim]{en}[/dim]", _kpi_value(f.value, f.unit), count,
                      escape(f.reason))  # fmt: skip
    out.print(table)
    if report.handoff_reasons:
        reasons = Table("转人工原因 reason", "次数 count")
        for reason, n in report.handoff_reasons.items():
            reasons.add_row(REASONS.get(reason, reason), str(n))
        out.print(reasons)
    keys = ("conversations", "taobao_3min_response_rate", "jd_30s_answer_rate",
            "jd_message_left_rate", "douyin_3min_human_reply_rate", "avg_response_seconds")  # fmt: skip
    daily = Table("日期 day", *(LABELS[k][0] for k in keys))
    for d in report.daily:
        by_key = {f.key: f for f in d.figures}
        daily.add_row(f"{d.day}", *(_kpi_value(by_key[k].value, by_key[k].unit) for k in keys))
    out.print(daily)


def _kpi_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "rate":
        return f"{value:.1%}"
    return f"{value:.0f}" if unit in ("count", "ms", "tokens") else f"{value:.1f}"
