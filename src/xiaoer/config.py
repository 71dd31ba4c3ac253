"""Settings: the only place environment variables are read (by the CLI and `create_app`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".xiaoer"


class Plan(BaseModel):
    """A paid plan above the free tier (`services/usage.py`): the busiest day it covers."""

    name: str = Field(min_length=1, max_length=40)
    max_daily_uv: int = Field(gt=0)
    yuan_per_month: float | None = Field(default=None, ge=0)


DEFAULT_PLANS = [
    Plan(name="基础套餐", max_daily_uv=10_000),
    Plan(name="专业套餐", max_daily_uv=50_000),
]
"""Without `XIAOER_PLANS`: two tiers and no prices (the operator sets theirs)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XIAOER_", env_file=".env", extra="ignore")

    home: Path = _default_home()
    """Data folder: the SQLite database, the signing secret, generated demo bundles."""
    database_url: str = ""
    """SQLAlchemy URL; empty means `sqlite:///<home>/xiaoer.db`. PostgreSQL: `postgresql://…`."""
    db_pool: int = Field(default=20, ge=1, le=500)
    """PostgreSQL connections each process keeps open, and never more: past them a session
    waits for one. The server must allow (processes × this) connections (its default
    `max_connections` is 100: four processes at 20). Connections opened for a busy moment and
    closed after it (10 kept and 10 more, before) cost the server a process each and the
    client its prepared statements: at 1,000 conversations 130–150 were opened, and the
    overhead p99 went from 3.2 s to 3.4–6.2 s (`xiaoer loadtest`)."""
    model_cache: Path = Path.home() / ".cache" / "xiaoer" / "models"
    embedding_cache: Path | None = Path.home() / ".cache" / "xiaoer" / "embeddings.sqlite"
    """Passage vectors already computed on this machine (a shop imported again is not embedded
    again); empty turns it off."""
    saved_indexes: bool = True
    """Keep each shop's BM25 index in `<home>/indexes`, so that restarts and the other processes
    on this machine load it instead of tokenizing the shop's passages again (about 0.1 s of CPU
    per 500 passages); false builds it in every process."""
    llm_base_url: str = ""
    """Set to use an OpenAI-compatible endpoint instead of the embedded model."""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 30.0
    """Seconds one call to the OpenAI-compatible endpoint may take, connecting and reading its
    whole stream included (`llm/openai_compat.SSEChat`); the turn deadline bounds the whole
    turn."""
    turn_deadline: float | None = None
    """Seconds a shopper waits at most for a reply; past it they get an apology and a human
    (`agent/bounded.py`). Default: 30 on an endpoint; 180 with the embedded model, where a turn
    takes 6–16 s alone on 2 cores (README) but waits its turn behind the other conversations'
    model calls. 0 turns the deadline off."""
    llm_slots: int = 0
    """Model calls one process makes at a time; the others wait in line and their shoppers are
    told their place in it (`llm/gate.py`). 0: the model's own figure, 1 for the embedded model
    (it serves one call at a time); for an endpoint 32, a quarter fewer each round of calls it
    answers 429 / 503 or times out, and back one a round as it answers again (`llm/limit.py`,
    at least 4). A number fixes them: what the endpoint serves at once, divided by the
    processes that call it."""
    turn_slots: int = Field(default=0, ge=0)
    """Turns one process works on at once, each from when its message is stored; the others
    wait in line, told their place, with the deadline stopped (`agent/bounded.py`). Past what
    the CPU serves, more at once only make every turn slower. 0: as many as the process makes
    model calls at once (`llm_slots`), at least 16 — a turn waiting for a turn slot cannot use
    a free model slot: with an endpoint's 32 model slots and 16 turn slots, half of them stayed
    idle while shoppers were held (`xiaoer loadtest`, 1,000 conversations: answer p95 31–34 s,
    1,100 messages held; at 32 turn slots 2.4–3.9 s, none held)."""
    hold_after: float = 3.0
    """Seconds a JSON request waits in line for the model before it is answered with the
    holding reply and its place in line (202); the turn goes on and a resend with the same
    `client_key` gets its answer. SSE streams stay open and are told the place in line."""
    llm_threads: int = 2
    llm_ctx: int = 4096
    llm_snapshots: int = Field(default=20, ge=0)
    """Saved model states (KV caches) of earlier prompts the embedded model switches back to
    (`llm/snapshots.py`): each shop's instructions with each tool set, the understanding step,
    the guard's judge. About 28 KB a token, 60 MB a state of 2,000 tokens."""
    embeddings: bool = True
    """Dense retrieval with the packaged e5-small model; False = BM25 only."""
    guard: bool = True
    """Check every model-written reply before it is sent (`XIAOER_GUARD=0` turns it off)."""
    understand: Literal["cascade", "model", "keywords"] = "cascade"
    """How each shopper message is read before the turn is routed (`xiaoer eval understand`
    compares them): `cascade` the model with the keyword checks as a pre-filter, `model` the
    model alone, `keywords` the keyword checks alone (no extra LLM call)."""
    redis_url: str = ""
    """Redis for what API workers must share (the per-shopper rate limit); empty = in-process."""
    queue: Literal["inline", "redis"] = "inline"
    """Where shopper turns run: `inline` in the API process (the embedded default), or `redis`:
    queued on `XIAOER_REDIS_URL` and run by `xiaoer worker` processes (`workers/turns.py`)."""
    worker_jobs: int = 0
    """Turns one `xiaoer worker` runs at a time. 0: 64 on an endpoint (a turn mostly waits for
    it, and the model slots, `XIAOER_LLM_SLOTS`, keep the calls beyond them in line, where the
    shopper is told their place), 4 with the embedded model."""
    free_daily_uv: int = Field(default=2000, ge=0)
    """A shop is free while its busiest day has at most this many unique shoppers."""
    plans: list[Plan] = DEFAULT_PLANS
    """The plans above the free tier, JSON: `[{"name": "基础套餐", "max_daily_uv": 10000,
    "yuan_per_month": 299}, …]`."""
    now: datetime | None = None
    """Freeze the clock (ISO 8601 with offset), e.g. for evals and tests."""
    secret_key: str = ""
    """Signs shopper tokens; empty means a random key kept in `<home>/secret.key`."""
    shopper_token_ttl: int = 3600
    new_password: str = ""
    """The password for `xiaoer account add` (else it asks with hidden input); nothing else
    reads it."""
    otel_endpoint: str = ""
    """OTLP/HTTP traces endpoint (e.g. `http://collector:4318/v1/traces`): a span per turn with
    its model calls, tools and guard checks (`observability/tracing.py`). Empty: off."""
    otel_service: str = "xiaoer"
    """The `service.name` of the exported spans."""
    metrics_token: str = ""
    """When set, `GET /metrics` needs `Authorization: Bearer <token>`; empty: open (the server
    listens on loopback unless `XIAOER_HOST` says otherwise)."""
    host: str = "127.0.0.1"
    port: int = 8000
    widget_origins: str = ""
    """Origins (comma-separated, or `*`) whose pages may call the shopper API from a browser:
    the pages the widget is embedded on (CORS). Empty: only pages served by xiaoer itself."""
    demo_pages: bool = False
    """Serve `/demo/{shop_id}`, a product page with the widget signed in as one of the shop's
    shoppers. A local demo only (`xiaoer demo` turns it on): anyone who opens it chats as them."""

    @field_validator("embedding_cache", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("now")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("XIAOER_NOW needs an offset, e.g. 2026-11-20T14:00:00+08:00")
        return value

    @property
    def deadline_s(self) -> float | None:
        """`turn_deadline` with its default filled in (None: no deadline)."""
        if self.turn_deadline is None:
            return 30.0 if self.llm_base_url else 180.0
        return self.turn_deadline or None

    @property
    def jobs(self) -> int:
        """`worker_jobs` with its default filled in."""
        return self.worker_jobs or (64 if self.llm_base_url else 4)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'xiaoer.db'}"

    def signing_key(self) -> bytes:
        if self.secret_key:
            return self.secret_key.encode()
        path = self.home / "secret.key"
        if not path.exists():
            import secrets

            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip().encode()
