"""The composition root shared by the CLI and the HTTP app: settings → engine, LLM, assistant.

Nothing below this module reads settings; it passes plain values down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from xiaoer.agent.actions import Outcome
from xiaoer.agent.turn import Assistant
from xiaoer.commerce.builtin import BuiltinCommerce
from xiaoer.commerce.bundle import import_bundle, load_bundle
from xiaoer.config import Settings
from xiaoer.llm.base import LLM
from xiaoer.policy import ShopPolicy, parse_policy
from xiaoer.store.db import make_engine, migrate, sessionmaker
from xiaoer.store.repositories import ShopRepository

log = logging.getLogger(__name__)


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
        )
    from xiaoer.llm.llama import LlamaLLM
    from xiaoer.llm.model_files import ensure_gguf

    path = ensure_gguf(settings.model_cache, progress=progress)
    return LlamaLLM.load(path, n_ctx=settings.llm_ctx, threads=settings.llm_threads)


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Callable[[], datetime]
    _llm: LLM | None = None
    _assistant: Assistant | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    async def open(cls, settings: Settings, *, llm: LLM | None = None) -> Runtime:
        engine = make_engine(settings.db_url)
        await migrate(engine)
        return cls(settings, engine, sessionmaker(engine), make_clock(settings.now), llm)

    def llm(self, progress: Callable[[int, int], None] | None = None) -> LLM:
        if self._llm is None:
            started = time.perf_counter()
            self._llm = build_llm(self.settings, progress)
            self.timings["llm_load_s"] = time.perf_counter() - started
        return self._llm

    def commerce(self, shop_id: str) -> BuiltinCommerce:
        return BuiltinCommerce(self.sessions, shop_id, self.clock)

    async def policy(self, shop_id: str) -> ShopPolicy:
        """The shop's policy as imported (validated then; the defaults when it brought none)."""
        async with self.sessions() as s:
            data = await ShopRepository(s).policy_data(shop_id)
        return parse_policy(data, source=f"shop {shop_id} policy")

    def assistant(self) -> Assistant:
        if self._assistant is None:
            self._assistant = Assistant(
                self.sessions, self.llm(), self.commerce, self.clock, policy_for=self.policy
            )
        return self._assistant

    async def review_action(
        self, shop_id: str, action_id: str, *, approve: bool, note: str = ""
    ) -> Outcome:
        """The merchant's decision on an action waiting for approval (above the shop's limit)."""
        return await self.assistant().review(shop_id, action_id, approve=approve, note=note)

    async def import_shop(self, path: Path) -> tuple[str, dict[str, int]]:
        """Validate a whole bundle, then import it in one transaction."""
        bundle = load_bundle(path)
        async with self.sessions() as s:
            counts = await import_bundle(s, bundle, self.clock())
            await s.commit()
        return bundle.shop.id, counts

    async def close(self) -> None:
        await self.engine.dispose()
