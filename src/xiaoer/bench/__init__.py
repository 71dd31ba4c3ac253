"""`xiaoer bench`: speed figures measured in one run, side by side. Prints; never fails on
thresholds.

1. Turn overhead without the LLM: the full HTTP turn (auth, persistence, tool call, SSE-less
   JSON reply) with a fake LLM that sleeps a fixed time per call, less the time its calls
   slept (calls counted), at 1 and at N concurrent conversations; the same load against a
   bare FastAPI echo endpoint, and the ratio; the same for the process's CPU time per turn
   (`ratio_cpu_c…`), which moves less with the machine's neighbours than the wall time.
2. Tool latency: `search_products`, `track_logistics` and `search_knowledge` p50/p95 on the
   demo shop; knowledge retrieval p50/p95 on synthetic catalogs of 1k, 10k and 100k chunks.
3. Console pages: server render time p50/p95 of each page on the demo shop.
4. Catalogue search at catalogue sizes (the demo shop's, then copies of its products added):
   `search_products` on the built-in backend (products ranked, SKUs read for the best-ranked,
   the ranked list kept while the catalogue is unchanged) against matching every product with
   all its SKUs read, as every search did before; the same hits, the ratio. And finding the
   product a question names: prepared once per catalogue (as a shop's index keeps it) against
   prepared for each question, as before.
5. The embedded model: load time, time to first token and generation tokens/s on a fixed
   prompt, and LLM calls / prompt tokens / turn time on three demo questions — asked of a
   fresh model, then three others of the same kinds in other words (`demo_turns_warm`: the
   shop's prompt prefixes cached, each turn's own text not).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import httpx
from fastapi import FastAPI

from xiaoer.agent.events import Event, TextDelta
from xiaoer.api.app import create_app
from xiaoer.api.auth import issue_api_key
from xiaoer.commerce.base import ProductQuery
from xiaoer.commerce.builtin import Catalogs
from xiaoer.commerce.search import search
from xiaoer.config import Settings
from xiaoer.domain.models import Product, Shop
from xiaoer.evals.runner import Workspace
from xiaoer.evals.scenario import ANCHOR
from xiaoer.knowledge import KnowledgeBase
from xiaoer.knowledge.index import ProductName
from xiaoer.knowledge.mining import NamedProducts, mentioned_product
from xiaoer.llm.base import LLM, ChatMessage, Completion, Mode, OnText, ToolCall, ToolSpec
from xiaoer.runtime import Runtime
from xiaoer.store.repositories import CatalogRepository, KnowledgeRepository, ShopRepository
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.registry import BY_NAME

ORDER = "SO2611190048"  # stride U00001's in-transit parcel at the demo anchor


class SleepyLLM:
    """A fake LLM with a fixed latency per call: look up the parcel, then answer. A forced call
    to another tool (the understanding step's form) gets empty arguments, so its defaults
    stand. `calls` counts the calls made, so that the time slept can be taken off a turn."""

    name = "sleepy"

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.calls = 0

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        mode: Mode = "auto",
        max_tokens: int = 384,
        on_text: OnText | None = None,
    ) -> Completion:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if mode == "call" and len(tools) == 1 and tools[0].name != "track_logistics":
            return Completion(content="", tool_calls=[ToolCall("c0", tools[0].name, {})],
                              tokens_in=1, tokens_out=1)  # fmt: skip
        after_tool = len(messages) > 1 and messages[-2].role == "tool"  # the answer note
        if messages[-1].role == "user" and not after_tool:
            call = ToolCall("c1", "track_logistics", {"order_id": ORDER})
            return Completion(content="", tool_calls=[call], tokens_in=1, tokens_out=1)
        return Completion(content="包裹在路上。", tokens_in=1, tokens_out=1)


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50_ms": round(pick(0.5) * 1000, 2), "p95_ms": round(pick(0.95) * 1000, 2)}


async def _load(
    n: int, rounds: int, one: Callable[[int], Awaitable[None]]
) -> tuple[list[float], float]:
    """Each call's wall time, and the process's CPU ms per call (every thread's, SQLite's
    included): the CPU moves less with the machine's neighbours than the wall time does."""
    times: list[float] = []
    cpu = time.process_time()

    async def worker(i: int) -> None:
        for _ in range(rounds):
            t0 = time.perf_counter()
            await one(i)
            times.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker(i) for i in range(n)))
    return times, (time.process_time() - cpu) * 1000 / max(len(times), 1)


def _echo_app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    return app


WARM_TURNS = 10
"""Turns run before `turn_overhead` measures, one conversation, not counted."""


def _rounds(n: int) -> int:
    """Turns each of `n` concurrent conversations sends: 40 for one (a median of 10 moved with
    the machine's neighbours by ±40%), 3 under load."""
    return 3 if n > 1 else 40


async def turn_overhead(
    ws: Workspace, delay_s: float, concurrency: Sequence[int]
) -> dict[str, Any]:
    db = ws.trial_db()
    settings = Settings(
        home=ws.root / "home", database_url=f"sqlite:///{db}", now=ANCHOR, secret_key="b"
    )
    out: dict[str, Any] = {"fake_llm_delay_ms": delay_s * 1000}
    # The echo first, before the runtime opens: no thread of xiaoer's runs beside it to add to
    # the process's CPU; ten times the turns' count of calls, its CPU per call being small.
    echo = httpx.ASGITransport(app=_echo_app())
    async with httpx.AsyncClient(transport=echo, base_url="http://e") as c:
        for n in concurrency:

            async def ping(_i: int) -> None:
                (await c.post("/echo", json={"text": "你好"})).raise_for_status()

            times, cpu_ms = await _load(n, _rounds(n) * 10, ping)
            out[f"echo_c{n}"] = _stats(times)
            out[f"echo_cpu_ms_c{n}"] = round(cpu_ms, 3)
    llm = SleepyLLM(delay_s)
    rt = await Runtime.open(settings, llm=llm)
    app = create_app(settings, runtime=rt)
    async with app.router.lifespan_context(app):
        # One shopper sends every message here, far above a shop's per-shopper rate limit.
        async with rt.sessions() as s:
            shops = ShopRepository(s)
            policy = dict(await shops.policy_data("stride") or {})
            policy["guard"] = {**policy.get("guard", {}), "rate_per_minute": 600}
            await shops.set_policy("stride", policy)
            await s.commit()
        key = await issue_api_key(rt.sessions, "stride")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as c:
            r = await c.post("/v1/shopper-tokens", json={"shopper_id": "U00001"},
                             headers={"Authorization": f"Bearer {key}"})  # fmt: skip
            auth = {"Authorization": f"Bearer {r.json()['token']}"}
            # Warm-up, not counted: the first turns of a process build what later turns reuse
            # (compiled statements, the shop's knowledge index, the policy), which a 10-turn
            # sample's median would otherwise partly show.
            warm = (await c.post("/v1/conversations", headers=auth)).json()["conversation_id"]
            for _ in range(WARM_TURNS):
                resp = await c.post(f"/v1/conversations/{warm}/messages", headers=auth,
                                    json={"text": f"我的订单 {ORDER} 到哪了？"})  # fmt: skip
                resp.raise_for_status()
            for n in concurrency:
                rounds = _rounds(n)
                # a conversation per worker and per 10 of its turns: a chat's usual length, so
                # that a long sample does not measure ever longer histories
                cids = [
                    [
                        (await c.post("/v1/conversations", headers=auth)).json()["conversation_id"]
                        for _ in range(-(-rounds // 10))
                    ]
                    for _ in range(n)
                ]
                done = [0] * n

                async def turn(
                    i: int, cids: list[list[str]] = cids, done: list[int] = done
                ) -> None:
                    cid = cids[i][done[i] // 10]
                    done[i] += 1
                    body = {"text": f"我的订单 {ORDER} 到哪了？"}
                    resp = await c.post(f"/v1/conversations/{cid}/messages", json=body,
                                        headers=auth)  # fmt: skip
                    resp.raise_for_status()

                calls = llm.calls
                times, cpu_ms = await _load(n, rounds, turn)
                per_turn = (llm.calls - calls) / len(times)  # the same in every turn here
                out["llm_calls_per_turn"] = round(per_turn, 2)
                overhead = [t - per_turn * delay_s for t in times]
                out[f"xiaoer_turn_minus_llm_c{n}"] = _stats(overhead)
                out[f"xiaoer_turn_cpu_ms_c{n}"] = round(cpu_ms, 2)  # the fake model's: none
    for n in concurrency:
        mine, base = out[f"xiaoer_turn_minus_llm_c{n}"], out[f"echo_c{n}"]
        out[f"ratio_p50_c{n}"] = round(mine["p50_ms"] / max(base["p50_ms"], 1e-6), 1)
        ratio = out[f"xiaoer_turn_cpu_ms_c{n}"] / max(out[f"echo_cpu_ms_c{n}"], 1e-6)
        out[f"ratio_cpu_c{n}"] = round(ratio, 1)
    await rt.close()
    return out


CONSOLE_PAGES = (
    "/console/login", "/console/stride/", "/console/stride/conversations",
    "/console/stride/conversations/{cid}", "/console/stride/queue",
    "/console/stride/knowledge", "/console/stride/policy", "/console/stride/inspection",
    "/console/stride/settings",
)  # fmt: skip


async def console_render(ws: Workspace, conversations: int = 60, n: int = 30) -> dict[str, Any]:
    """Server render time of each console page (in-process ASGI, no network), p50/p95 over `n`
    requests, on the demo shop after `conversations` two-turn conversations."""
    from xiaoer.services import accounts as accounts_service

    db = ws.trial_db()
    settings = Settings(
        home=ws.root / "home", database_url=f"sqlite:///{db}", now=ANCHOR, secret_key="b"
    )
    rt = await Runtime.open(settings, llm=SleepyLLM(0))
    app = create_app(settings, runtime=rt)
    out: dict[str, Any] = {"conversations": conversations, "requests_per_page": n}
    async with app.router.lifespan_context(app):
        assistant = rt.assistant()
        cid = ""
        for i in range(conversations):
            shopper = f"U{i % 50 + 1:05d}"
            first = await assistant.turn("stride", shopper, f"我的订单 {ORDER} 到哪了？")
            cid = first.conversation_id
            await assistant.turn("stride", shopper, "好的谢谢", conversation_id=cid)
        async with rt.sessions() as s:
            await accounts_service.add(s, "bench", "bench-password", "owner", ["stride"],
                                       rt.clock())  # fmt: skip
            await s.commit()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as c:
            login = await c.get("/console/login")
            token = login.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            signed = await c.post("/console/login", data={"name": "bench", "password":
                                  "bench-password", "csrf": token})  # fmt: skip
            if signed.status_code != 303:
                raise RuntimeError(f"console sign-in failed: {signed.status_code}")
            for page in CONSOLE_PAGES:
                url = page.format(cid=cid)
                times: list[float] = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    r = await c.get(url)
                    times.append(time.perf_counter() - t0)
                    if r.status_code != 200:
                        raise RuntimeError(f"{url}: HTTP {r.status_code}")
                out[page.replace("{cid}", "<id>")] = _stats(times)
    await rt.close()
    return out


async def tool_latency(ws: Workspace, n: int = 200) -> dict[str, Any]:
    db = ws.trial_db()
    settings = Settings(home=ws.root / "home", database_url=f"sqlite:///{db}", now=ANCHOR)
    rt = await Runtime.open(settings, llm=SleepyLLM(0))
    commerce = rt.commerce("stride")
    shopper = await commerce.get_shopper("U00001")
    assert shopper is not None
    deps = TurnDeps(Shop("stride", "stride"), shopper, commerce, ANCHOR,
                    said=[f"{ORDER} 有没有 42 码的跑鞋，300 元以内"])  # fmt: skip
    out: dict[str, Any] = {}
    for name, fn, args in (
        (
            "search_products",
            BY_NAME["search_products"].run,
            {"keyword": "跑鞋", "size": "42", "max_price": 300},
        ),
        ("track_logistics", BY_NAME["track_logistics"].run, {"order_id": ORDER}),
    ):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            await fn(deps, args)
            times.append(time.perf_counter() - t0)
        out[name] = _stats(times)
    await rt.close()
    return out


CATALOG_QUERIES = (
    ProductQuery(keyword="跑鞋", size="42", max_price_fen=30000),
    ProductQuery(keyword="帆布鞋", color="白"),
    ProductQuery(keyword="", max_price_fen=10000),
    ProductQuery(keyword="羽绒服"),
)


async def catalog_search(ws: Workspace, added: Sequence[int], runs: int = 3) -> dict[str, Any]:
    """Median ms per search over `CATALOG_QUERIES` at each size: the backend's search (its
    first, which reads the ranked list, then the later ones) and a read of every product with
    its SKUs matched in Python, side by side. Every run checks that both find the same."""
    db = ws.trial_db()
    settings = Settings(home=ws.root / "home", database_url=f"sqlite:///{db}", now=ANCHOR)
    rt = await Runtime.open(settings, llm=SleepyLLM(0))
    out: dict[str, Any] = {}
    try:
        async with rt.reads() as s:
            demo = await CatalogRepository(s, "stride").all()
        copies = copied_skus = 0
        for extra in added:
            made = [_copy(demo[i % len(demo)], i) for i in range(copies, extra)]
            async with rt.sessions() as s:
                await CatalogRepository(s, "stride").upsert(made)
                await s.commit()
            copies = max(copies, extra)
            copied_skus += sum(len(p.skus) for p in made)
            first, later, whole = [], [], []
            for _ in range(runs):
                rt.catalogs = Catalogs()  # a process that has not searched this shop yet
                for n, query in enumerate(CATALOG_QUERIES):
                    t0 = time.perf_counter()
                    hits = await rt.commerce("stride").search_products(query)
                    (later if n else first).append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    async with rt.reads() as s:
                        everything = await CatalogRepository(s, "stride").all()
                    expected = search(everything, query)
                    whole.append(time.perf_counter() - t0)
                    if [(h.product.id, h.matching_sku_ids) for h in hits] != [
                        (h.product.id, h.matching_sku_ids) for h in expected
                    ]:
                        raise RuntimeError(f"the searches differ on {query}")
            search_ms = statistics.median(first + later) * 1000
            whole_ms = statistics.median(whole) * 1000
            names = [ProductName(p.id, p.title) for p in everything]
            prepared = NamedProducts(names)
            each = _timed(lambda n=names: [mentioned_product(q, n) for q in NAMED_QUESTIONS], runs)
            once = _timed(lambda m=prepared: [m.find(q) for q in NAMED_QUESTIONS], runs)
            out[str(len(demo) + copies)] = {
                "skus": sum(len(p.skus) for p in demo) + copied_skus,
                "search_first_ms": round(statistics.median(first) * 1000, 2),
                "search_later_ms": round(statistics.median(later) * 1000, 2),
                "every_sku_read_ms": round(whole_ms, 2),
                "ratio": round(whole_ms / max(search_ms, 1e-6), 1),
                "product_named_ms": round(once / len(NAMED_QUESTIONS), 3),
                "product_named_prepared_per_question_ms": round(each / len(NAMED_QUESTIONS), 3),
            }
    finally:
        await rt.close()
    return out


NAMED_QUESTIONS = ("疾风 3 男子缓震跑鞋黑色 43 码还有货吗", "夜跑者反光跑鞋多少钱", "你们几点发货")


def _timed(work: Callable[[], object], runs: int) -> float:
    """Median ms of `runs` calls of `work`."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def _copy(product: Product, n: int) -> Product:
    pid = f"{product.id}C{n}"
    skus = tuple(replace(s, id=f"{s.id}C{n}", product_id=pid) for s in product.skus)
    return replace(product, id=pid, title=f"{product.title} {n} 号", skus=skus)


async def model_speed(llm: LLM) -> dict[str, Any]:
    """TTFT and generation speed on a fixed prompt, cold and then warm (prefix cached)."""
    msgs = [
        ChatMessage("system", "你是网店客服。"),
        ChatMessage("user", "用三句话介绍一下跑鞋的缓震。"),
    ]
    out: dict[str, Any] = {}
    for label in ("cold", "warm"):
        first: list[float] = []
        t0 = time.perf_counter()

        async def on_text(_piece: str, first: list[float] = first) -> None:
            if not first:
                first.append(time.perf_counter())

        c = await llm.complete(msgs, [], mode="text", max_tokens=96, on_text=on_text)
        end = time.perf_counter()
        ttft = (first[0] - t0) if first else end - t0
        gen_s = max(end - (first[0] if first else t0), 1e-6)
        out[label] = {"prompt_tokens": c.tokens_in, "cached_tokens": c.cached_tokens,
                      "ttft_ms": round(ttft * 1000), "tokens_out": c.tokens_out,
                      "gen_tokens_per_s": round(c.tokens_out / gen_s, 1)}  # fmt: skip
        if label == "cold":
            msgs = [*msgs[:1], ChatMessage("user", "用三句话介绍一下篮球鞋的支撑。")]
    return out


async def knowledge_latency(ws: Workspace, sizes: tuple[int, ...]) -> dict[str, Any]:
    """Hybrid search on the demo shop (its own FAQ questions), then the synthetic sizes."""
    from xiaoer.knowledge.bench import measure
    from xiaoer.knowledge.embed import E5Embedder

    db = ws.trial_db()
    settings = Settings(home=ws.root / "home", database_url=f"sqlite:///{db}", now=ANCHOR)
    rt = await Runtime.open(settings, llm=SleepyLLM(0))
    try:
        kb = rt.knowledge()
        index = await kb.index("stride")  # built once, as a server does on its first question
        faq = [p for p in index.passages if p.kind == "faq"][:40]
        times = []
        for p in faq:
            t0 = time.perf_counter()
            await kb.search("stride", p.title)
            times.append(time.perf_counter() - t0)
        demo = {"chunks": len(index), "queries": len(times), **_stats(times),
                **await _index_ready(kb, "stride")}  # fmt: skip
    finally:
        await rt.close()
    synthetic = await asyncio.to_thread(measure, E5Embedder(), sizes)
    return {"demo_shop_hybrid": demo, "synthetic": synthetic}


async def _index_ready(kb: KnowledgeBase, shop_id: str, runs: int = 5) -> dict[str, Any]:
    """A shop's index made ready by a process that finds no saved BM25 index (it tokenizes
    every passage) and by one that loads the saved one, side by side: median of `runs`."""
    async with kb.sessions() as s:
        rows = await KnowledgeRepository(s, shop_id).chunks()
    saved = kb.saved
    out: dict[str, Any] = {}
    for label, using in (("index_built_ms", None), ("index_loaded_ms", saved)):
        kb.saved = using
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            await asyncio.to_thread(kb._build, shop_id, rows)
            times.append((time.perf_counter() - t0) * 1000)
        out[label] = round(statistics.median(times), 1)
    kb.saved = saved
    return out


DEMO_QUESTIONS = (
    f"我的订单 {ORDER} 到哪了？",
    "有没有 42 码的跑鞋，300 元以内",
    "我最近买了什么？",
)
WARM_QUESTIONS = ("SO2611190049 发货了吗？", "有没有 41 码的跑鞋，400 元以内", "我下过哪些订单？")
"""Asked right after `DEMO_QUESTIONS`, in another conversation: the same kinds in other words.
The shop's prompt prefixes (instructions and each tool set) are in the model's cache; each
turn's own message, history and results are not — a warm turn, not a replayed one (asking the
same questions again finds whole prompts cached)."""


async def demo_turns(
    ws: Workspace, llm: LLM, questions: Sequence[str] = DEMO_QUESTIONS
) -> dict[str, Any]:
    db = ws.trial_db()
    settings = Settings(home=ws.root / "home", database_url=f"sqlite:///{db}", now=ANCHOR)
    rt = await Runtime.open(settings, llm=llm)
    rows = []
    for q in questions:
        t0 = time.perf_counter()
        shown: list[float] = []

        async def seen(event: Event, shown: list[float] = shown) -> None:
            if isinstance(event, TextDelta) and not shown:  # what the widget shows first
                shown.append(time.perf_counter())

        r = await rt.assistant().turn("stride", "U00001", q, emit=seen)
        first = round((shown[0] - t0) * 1000) if shown else None
        rows.append({"question": q, "llm_calls": r.llm_calls, "prompt_tokens": r.tokens_in,
                     "cached_tokens": r.cached_tokens, "tokens_out": r.tokens_out,
                     "ttft_ms": r.ttft_ms, "first_text_ms": first,
                     "guard": settings.guard,
                     "turn_s": round(time.perf_counter() - t0, 2)})  # fmt: skip
    await rt.close()
    return {
        "turns": rows,
        "median_llm_calls": statistics.median(x["llm_calls"] for x in rows),
        "median_prompt_tokens": statistics.median(x["prompt_tokens"] for x in rows),
        "median_turn_s": statistics.median(x["turn_s"] for x in rows),
        # from the message to the first text the shopper sees (with the guard on: the first
        # sentence that passed it), against the whole turn
        "median_first_text_s": statistics.median(
            (x["first_text_ms"] or x["turn_s"] * 1000) / 1000 for x in rows
        ),
    }


async def run_bench(
    llm_factory: Callable[[], LLM] | None,
    *,
    concurrency: Sequence[int] = (1, 100),
    retrieval_sizes: tuple[int, ...] = (1000, 10000, 100000),
    catalog_added: tuple[int, ...] = (0, 1000, 5000),
    console: tuple[int, int] = (60, 30),
) -> dict[str, Any]:
    """All figures in one run. `llm_factory` None skips the embedded-model section."""
    ws = Workspace()
    try:
        await ws.prepare(SleepyLLM(0))
        result: dict[str, Any] = {
            "turn_overhead": await turn_overhead(ws, 0.05, concurrency),
            "console_render": await console_render(ws, *console),
            "tool_latency": await tool_latency(ws),
            "knowledge_retrieval": await knowledge_latency(ws, retrieval_sizes),
            "catalog_search": await catalog_search(ws, catalog_added),
        }
        if llm_factory is not None:
            t0 = time.perf_counter()
            llm = llm_factory()
            result["model"] = {"load_s": round(time.perf_counter() - t0, 2), "name": llm.name}
            result["model"] |= await model_speed(llm)
            result["demo_turns"] = await demo_turns(ws, llm)  # the first turns of a fresh model
            result["demo_turns_warm"] = await demo_turns(ws, llm, WARM_QUESTIONS)
        return result
    finally:
        ws.close()
