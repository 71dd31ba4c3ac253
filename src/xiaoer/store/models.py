"""SQLAlchemy table models.

Order lines, addresses and shipments are JSON columns on their parent rows: they are read
and written whole with the order, and the bundle format describes them that way. Times are
stored as UTC and always come back tz-aware (`UTCDateTime`), on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A tz-aware datetime stored as naive UTC (SQLite keeps no offsets)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; xiaoer stores tz-aware times only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


class ShopRow(Base):
    __tablename__ = "shops"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    persona: Mapped[str] = mapped_column(Text, default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    working_hours: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    policy_md: Mapped[str] = mapped_column(Text, default="")
    api_key_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """SHA-256 of the merchant's API key (the key itself is shown once and never stored)."""
    api_key_hint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The key with all but its shop prefix and last characters elided, to tell keys apart."""
    api_key_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The shop's policy (see `xiaoer.policy`), as validated data; None = the defaults."""
    imported_at: Mapped[datetime]
    catalog_stamp: Mapped[str] = mapped_column(String(32), default="")
    """Changed with every write of the shop's products (`new_stamp`): a process keeps the
    product list it read for searches while the stamp it read with it holds."""


class PolicyVersionRow(Base):
    """One numbered version of a shop's policy, recorded each time the policy is set.

    `content_hash` is over the validated policy (defaults filled in), so a file that only
    changes comments or layout is the same version; `text` is the YAML as the merchant wrote it.
    No foreign key to `shops`: re-importing a bundle replaces the shop row, and its history of
    policies must survive that.
    """

    __tablename__ = "policy_versions"

    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(300), default="")
    """Where it came from, e.g. `import bundle-folder`."""
    created_at: Mapped[datetime]
    __table_args__ = (Index("ix_policy_versions_hash", "shop_id", "content_hash"),)


class ProductRow(Base):
    __tablename__ = "products"

    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(64), index=True)
    brand: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    __table_args__ = (ForeignKeyConstraint(["shop_id"], ["shops.id"], ondelete="CASCADE"),)


class SkuRow(Base):
    __tablename__ = "skus"

    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    price_fen: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="on_sale")
    """`domain.models.SkuStatus`."""
    restock_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    __table_args__ = (
        ForeignKeyConstraint(
            ["shop_id", "product_id"], ["products.shop_id", "products.id"], ondelete="CASCADE"
        ),
        Index("ix_skus_product", "shop_id", "product_id"),
    )


class ShopperRow(Base):
    __tablename__ = "shoppers"

    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(64), default="")
    addresses: Mapped[list[Any]] = mapped_column(default=list)
    extras: Mapped[dict[str, Any]] = mapped_column(default=dict)
    __table_args__ = (ForeignKeyConstraint(["shop_id"], ["shops.id"], ondelete="CASCADE"),)


class OrderRow(Base):
    __tablename__ = "orders"

    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    shopper_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    lines: Mapped[list[Any]] = mapped_column(default=list)
    total_fen: Mapped[int] = mapped_column(Integer)
    shipping_fee_fen: Mapped[int] = mapped_column(Integer, default=0)
    discount_fen: Mapped[int] = mapped_column(Integer, default=0)
    pay_fen: Mapped[int] = mapped_column(Integer)
    payment_method: Mapped[str] = mapped_column(String(32), default="")
    address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    shipment: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    remark: Mapped[str] = mapped_column(Text, default="")
    extras: Mapped[dict[str, Any]] = mapped_column(default=dict)
    __table_args__ = (
        ForeignKeyConstraint(
            ["shop_id", "shopper_id"], ["shoppers.shop_id", "shoppers.id"], ondelete="CASCADE"
        ),
        Index("ix_orders_shopper", "shop_id", "shopper_id", "created_at"),
    )


class FaqRow(Base):
    __tablename__ = "faq"

    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    __table_args__ = (ForeignKeyConstraint(["shop_id"], ["shops.id"], ondelete="CASCADE"),)


class ChatTranscriptRow(Base):
    """A historical human-agent chat, kept verbatim for knowledge mining."""

    __tablename__ = "chat_transcripts"

    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    shopper_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    agent: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    messages: Mapped[list[Any]] = mapped_column(default=list)
    __table_args__ = (ForeignKeyConstraint(["shop_id"], ["shops.id"], ondelete="CASCADE"),)


class ConversationRow(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    shop_id: Mapped[str] = mapped_column(String(64), index=True)
    shopper_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32), default="api")
    mode: Mapped[str] = mapped_column(String(16), default="ai")
    """`ai` answers; `queued` waits for a human (AI paused); `human` a human has taken over."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    __table_args__ = (ForeignKeyConstraint(["shop_id"], ["shops.id"], ondelete="CASCADE"),)


class MessageRow(Base):
    """One message of a conversation. Append-only.

    `role` is `shopper`, `assistant` (the bot), `agent` (a human agent, `meta.agent`) or
    `whisper` (the merchant's instruction to the bot; the shopper never sees it). An assistant
    row records what the turn cost (`meta`: llm_calls, tokens_in, tokens_out, latency_ms,
    ttft_ms, status) and the guard's verdicts (`meta.guard`).
    """

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(64))
    shop_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    client_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reply_to: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime]
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    __table_args__ = (
        ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        Index("ix_messages_conversation", "conversation_id", "id"),
        Index("uq_messages_client_key", "conversation_id", "client_key", unique=True),
    )


class ToolCallRow(Base):
    """A tool the model called during a turn, with its arguments and what it returned."""

    __tablename__ = "tool_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(Integer)
    conversation_id: Mapped[str] = mapped_column(String(64))
    shop_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[str] = mapped_column(Text)
    ok: Mapped[bool]
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (
        ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        Index("ix_tool_calls_message", "message_id"),
    )


class ActionRow(Base):
    """A change the model proposed. It executes only after the shopper confirms it (and, above
    the merchant's limits, the merchant approves it), and only if the policy still allows it.

    Status: pending → confirmed → executed | awaiting_approval → executed | rejected;
    pending → declined | expired | superseded; confirmed → blocked (policy said no at execution).
    The action id is the idempotency key of its effect.
    """

    __tablename__ = "actions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    shop_id: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[str] = mapped_column(String(64))
    shopper_id: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tool: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    summary: Mapped[str] = mapped_column(Text)
    amount_fen: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(24))
    policy_verdict: Mapped[dict[str, Any]] = mapped_column(default=dict)
    policy_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The number of the shop's policy version the proposal was decided under (`PolicyVersionRow`);
    None when no recorded version matches that policy (e.g. proposed before versions existed)."""
    proposed_message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    confirm_message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    __table_args__ = (
        ForeignKeyConstraint(["shop_id"], ["shops.id"], ondelete="CASCADE"),
        Index("ix_actions_conversation", "shop_id", "conversation_id", "created_at"),
        Index("ix_actions_shopper", "shop_id", "shopper_id"),
        Index("ix_actions_status", "shop_id", "status"),
    )


class ServiceRecordRow(Base):
    """The shop's after-sales ledger: every applied change, unique per idempotency key."""

    __tablename__ = "service_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shop_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    shopper_id: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    amount_fen: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(32), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    __table_args__ = (
        ForeignKeyConstraint(["shop_id"], ["shops.id"], ondelete="CASCADE"),
        Index("uq_service_records_key", "shop_id", "key", unique=True),
        Index("ix_service_records_shopper", "shop_id", "shopper_id"),
    )


class AuditRow(Base):
    """Append-only audit log of actions: proposals, verdicts, confirmations, executions."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shop_id: Mapped[str] = mapped_column(String(64))
    action_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    conversation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    event: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime]
    __table_args__ = (Index("ix_audit_action", "shop_id", "action_id"),)


class KnowledgeSourceRow(Base):
    """One ingested source (a document, the catalog, the FAQ, a chat log, the merchant's facts).

    No foreign key to `shops`: re-importing a shop bundle replaces the shop row, and what the
    merchant added or reviewed must survive that. `content_hash` makes re-ingestion incremental.
    """

    __tablename__ = "knowledge_sources"

    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(300))
    content_hash: Mapped[str] = mapped_column(String(64))
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ingested_at: Mapped[datetime]


class KnowledgeChunkRow(Base):
    """A retrievable passage with its provenance (`source_id`, `title`, `page`, `field`)."""

    __tablename__ = "knowledge_chunks"

    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(240), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    product_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    page: Mapped[int | None] = mapped_column(Integer, nullable=True)
    field: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """For mined product facts: the catalog field the fact was read from."""
    priority: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    embed_model: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    __table_args__ = (Index("ix_knowledge_chunks_source", "shop_id", "source_id"),)


class KnowledgeCandidateRow(Base):
    """A FAQ answer mined from past human chats, waiting for the merchant's review."""

    __tablename__ = "knowledge_candidates"

    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    variants: Mapped[list[Any]] = mapped_column(default=list)
    answer: Mapped[str] = mapped_column(Text)
    chat_ids: Mapped[list[Any]] = mapped_column(default=list)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    flags: Mapped[list[Any]] = mapped_column(default=list)
    """Why an answer was held back (e.g. a low-rated chat, a reply that only deflects)."""
    status: Mapped[str] = mapped_column(String(16), default="pending")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    __table_args__ = (Index("ix_knowledge_candidates_status", "shop_id", "status"),)


class HandoffRow(Base):
    """A conversation handed to a human: why, how urgent, and the AI's summary for them.

    Status: queued → taken → closed (released back to the AI); queued → closed.
    """

    __tablename__ = "handoffs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    shop_id: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[str] = mapped_column(String(64))
    shopper_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[int] = mapped_column(Integer, default=2)
    """1 urgent, 2 normal, 3 low."""
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    agent: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    taken_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (
        ForeignKeyConstraint(["shop_id"], ["shops.id"], ondelete="CASCADE"),
        Index("ix_handoffs_queue", "shop_id", "status", "priority", "created_at"),
        Index("ix_handoffs_conversation", "shop_id", "conversation_id"),
    )


class ConsoleAccountRow(Base):
    """A person who signs in to the merchant console: an `owner` (everything) or an `agent`
    (conversations and the queue), for one shop or several (`shops`, a list of shop ids).

    No foreign key to `shops`: re-importing a bundle replaces the shop row, and the accounts
    must survive that. `password_hash` is `scrypt$n$r$p$salt$hash` (hex), never the password.
    """

    __tablename__ = "console_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(16))
    shops: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]


class InspectionReviewRow(Base):
    """A merchant's verdict on one 质检 finding (`services/inspection.py`): `confirmed` (it was
    negative service) or `dismissed` (it was not). Findings themselves are computed from the
    conversation each time; `finding` is their stable key: `conversation:message:pattern`."""

    __tablename__ = "inspection_reviews"

    shop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    finding: Mapped[str] = mapped_column(String(200), primary_key=True)
    verdict: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    reviewer: Mapped[str] = mapped_column(String(100))
    reviewed_at: Mapped[datetime]


class RatingRow(Base):
    """The shopper's rating of a conversation (满意度评价): 1–5, with an optional comment. One
    per conversation; rating it again replaces the score (`rated_at` moves)."""

    __tablename__ = "conversation_ratings"

    conversation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    shop_id: Mapped[str] = mapped_column(String(64), index=True)
    shopper_id: Mapped[str] = mapped_column(String(64))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    rated_at: Mapped[datetime]
    __table_args__ = (
        ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
    )
