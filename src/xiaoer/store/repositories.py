"""Repositories: every query is filtered by `shop_id`.

Repositories hold an `AsyncSession` and never commit; the caller (a service, the turn, the
CLI command, the request) owns the transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy import column as sql_column
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.domain.models import (
    Change,
    FaqEntry,
    Order,
    Product,
    ServiceRecord,
    Shop,
    Shopper,
    Sku,
)
from xiaoer.store.convert import (
    faq_from_row,
    order_from_row,
    product_from_rows,
    shop_from_row,
    shopper_from_row,
    sku_from_row,
)
from xiaoer.store.models import (
    ActionRow,
    AuditRow,
    ChatTranscriptRow,
    ConsoleAccountRow,
    ConversationRow,
    FaqRow,
    HandoffRow,
    InspectionReviewRow,
    KnowledgeCandidateRow,
    KnowledgeChunkRow,
    KnowledgeSourceRow,
    MessageRow,
    OrderRow,
    PolicyVersionRow,
    ProductRow,
    RatingRow,
    ServiceRecordRow,
    ShopperRow,
    ShopRow,
    SkuRow,
    ToolCallRow,
)

MESSAGES, TOOL_CALLS = MessageRow.__table__, ToolCallRow.__table__
CONVERSATIONS, SHOPPERS = ConversationRow.__table__, ShopperRow.__table__
ORDERS, PRODUCTS, SKUS = OrderRow.__table__, ProductRow.__table__, SkuRow.__table__
"""What a turn reads every time and only reads (its messages and tool calls, the
order and product a tool looks up) is selected from the tables, not the mapped classes: rows
come back as plain tuples with the same fields, without the ORM building an object per row
and keeping it in the session, which was most of the CPU of these reads (a product with 27
SKUs: 1.4 → 0.9 ms). Such a row cannot be changed through the session; the rows a turn does
change (actions, the conversation) are still read as objects."""

_SHOP, _ID, _OF = bindparam("shop"), bindparam("id"), bindparam("of")
# A turn's statements, built once: building one (its `==`s and `where`s) and walking it for its
# cache key cost more CPU than executing it on SQLite; a statement built once keeps its key.
TURN_ROWS = (
    select(ShopRow, ShopperRow, ConversationRow)
    .select_from(ShopRow)
    .outerjoin(ShopperRow, and_(ShopperRow.shop_id == ShopRow.id,
                                ShopperRow.id == bindparam("shopper")))
    .outerjoin(ConversationRow, and_(ConversationRow.shop_id == ShopRow.id,
                                     ConversationRow.id == bindparam("conversation")))
    .where(ShopRow.id == _SHOP)
)  # fmt: skip
MESSAGES_OF = (
    select(MESSAGES)
    .where(MESSAGES.c.shop_id == _SHOP, MESSAGES.c.conversation_id == _OF)
    .order_by(MESSAGES.c.id)
)
TOOL_CALLS_OF = (
    select(TOOL_CALLS)
    .where(TOOL_CALLS.c.shop_id == _SHOP, TOOL_CALLS.c.conversation_id == _OF)
    .order_by(TOOL_CALLS.c.message_id, TOOL_CALLS.c.seq)
)
ORDER = select(ORDERS).where(ORDERS.c.shop_id == _SHOP, ORDERS.c.id == _ID)
PRODUCT = select(PRODUCTS).where(PRODUCTS.c.shop_id == _SHOP, PRODUCTS.c.id == _ID)
SKUS_OF = select(SKUS).where(SKUS.c.shop_id == _SHOP, SKUS.c.product_id == _OF)
TOUCH = (
    update(ConversationRow)
    .where(ConversationRow.shop_id == _SHOP, ConversationRow.id == _OF)
    .values(updated_at=bindparam("now"))
)
MESSAGE_ADDED = insert(MESSAGES).returning(MESSAGES.c.id)
TOOL_CALLS_ADDED = insert(TOOL_CALLS)
_TOUCHED = TOUCH.cte("touched")
_MESSAGE_FIELDS = ("conversation_id", "shop_id", "role", "content", "client_key", "reply_to",
                   "created_at", "meta")  # fmt: skip
_MESSAGE_NAMED = (
    insert(MESSAGES)
    .values({name: bindparam(f"m_{name}") for name in _MESSAGE_FIELDS})
    .returning(MESSAGES.c.id)
)
MESSAGE_ADDED_TOUCHING = _MESSAGE_NAMED.add_cte(_TOUCHED)
"""PostgreSQL: the message stored and its conversation touched in one statement (a CTE that
updates), one round trip instead of two. SQLite has no data-modifying CTEs: two statements.
Its parameters are named apart (`m_…`): one named for a column of either table would be
taken as a value to set by the other statement as well."""
_CALL_COLUMNS = ("seq", "name", "arguments", "result", "ok", "latency_ms")
_CALL_KINDS = dict(zip(_CALL_COLUMNS, (Integer, String, Text, Text, Boolean, Integer), strict=True))
"""The calls' columns as `REPLY_WITH_CALLS` is given them: `arguments` as JSON text."""
_MADE = (
    func.unnest(*(cast(bindparam(f"c_{n}"), ARRAY(kind)) for n, kind in _CALL_KINDS.items()))
    .table_valued(*(sql_column(n, kind) for n, kind in _CALL_KINDS.items()), name="made")
    .render_derived()  # AS made(seq, name, …)
)
_REPLY = _MESSAGE_NAMED.cte("m")
REPLY_WITH_CALLS = (
    select(_REPLY.c.id)
    .add_cte(_TOUCHED)
    .add_cte(
        insert(TOOL_CALLS)
        .from_select(
            ["message_id", "conversation_id", "shop_id", *_CALL_COLUMNS],
            select(
                _REPLY.c.id, bindparam("m_conversation_id"), bindparam("m_shop_id"),
                *(cast(_MADE.c[name], JSON) if name == "arguments" else _MADE.c[name]
                  for name in _CALL_COLUMNS),
            ).join_from(_REPLY, _MADE, true()),
        )
        .cte("stored")
    )
)  # fmt: skip
"""PostgreSQL: an assistant's reply, its tool calls and its conversation's touch, one
statement built once. The calls come as one array per column (`c_…`, unnested in the
statement), so that the statement's text is the same for any number of calls: compiled once by
SQLAlchemy and prepared once per connection (a VALUES list of the calls was compiled and
prepared anew for every reply: a tenth of a turn worker's CPU under load)."""
CONVERSATION_OPENED = (
    insert(CONVERSATIONS)
    .from_select(
        ["id", "shop_id", "shopper_id", "channel", "created_at", "updated_at"],
        select(
            bindparam("c_id", type_=CONVERSATIONS.c.id.type), SHOPPERS.c.shop_id, SHOPPERS.c.id,
            bindparam("c_channel", type_=CONVERSATIONS.c.channel.type),
            *[bindparam("c_now", type_=CONVERSATIONS.c.created_at.type)] * 2,
        ).where(SHOPPERS.c.shop_id == _SHOP, SHOPPERS.c.id == bindparam("shopper")),
    )
    .returning(CONVERSATIONS.c.id)
)  # fmt: skip
"""A conversation opened for a shopper on record (its shop then is too): one statement,
which stores nothing when there is no such shopper. `mode` takes its default."""
WRITTEN = "xiaoer.messages_written"
"""`session.info` key: the (shop, conversation) of each message stored by a statement of the
session rather than by its flush, for the live streams' wake-ups at commit (services/signals)."""
ACTIONS_OF = (
    select(ActionRow)
    .where(ActionRow.shop_id == _SHOP, ActionRow.shopper_id == _OF)
    .order_by(ActionRow.created_at, ActionRow.id)
)


def _named_message(values: dict[str, Any]) -> dict[str, Any]:
    """A message's fields as `_MESSAGE_NAMED`'s parameters (`m_…`)."""
    return {f"m_{name}": value for name, value in values.items()}


def _call_values(call: dict[str, Any]) -> tuple[Any, ...]:
    """A tool call's `_CALL_COLUMNS` after `seq`."""
    return (call["name"], call["arguments"], call["result"], call["ok"], call.get("latency_ms", 0))


def new_stamp() -> str:
    """A fresh catalogue stamp: random, so a shop imported again never repeats an old one."""
    return uuid.uuid4().hex


def _by_product(skus: Iterable[SkuRow]) -> dict[str, list[SkuRow]]:
    by_product: dict[str, list[SkuRow]] = {}
    for sku in skus:
        by_product.setdefault(sku.product_id, []).append(sku)
    return by_product


IN_LIST = 500
"""The most ids one `IN (…)` list carries (SQLite and PostgreSQL allow far more parameters)."""


class ShopRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, shop_id: str) -> Shop | None:
        row = await self.session.get(ShopRow, shop_id)
        return None if row is None else shop_from_row(row)

    async def policy(self, shop_id: str) -> str:
        row = await self.session.get(ShopRow, shop_id)
        return "" if row is None else row.policy_md

    async def policy_data(self, shop_id: str) -> dict[str, Any] | None:
        """The shop's validated policy as stored (None: the shop uses the defaults)."""
        row = await self.session.get(ShopRow, shop_id)
        return None if row is None else row.policy

    async def set_policy(self, shop_id: str, data: dict[str, Any] | None) -> None:
        row = await self.session.get(ShopRow, shop_id)
        if row is not None:
            row.policy = data
            await self.session.flush()

    async def list(self) -> list[Shop]:
        rows = await self.session.scalars(select(ShopRow).order_by(ShopRow.id))
        return [shop_from_row(r) for r in rows]

    async def counts(self, shop_id: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, model in (
            ("products", ProductRow),
            ("skus", SkuRow),
            ("shoppers", ShopperRow),
            ("orders", OrderRow),
            ("faq", FaqRow),
            ("chats", ChatTranscriptRow),
        ):
            stmt = select(func.count()).select_from(model).where(model.shop_id == shop_id)
            out[name] = (await self.session.scalar(stmt)) or 0
        return out

    async def delete(self, shop_id: str) -> None:
        """Remove a shop and everything it owns (used when re-importing a bundle)."""
        conversation_ids = select(ConversationRow.id).where(ConversationRow.shop_id == shop_id)
        await self.session.execute(delete(ToolCallRow).where(ToolCallRow.shop_id == shop_id))
        await self.session.execute(delete(ActionRow).where(ActionRow.shop_id == shop_id))
        await self.session.execute(
            delete(ServiceRecordRow).where(ServiceRecordRow.shop_id == shop_id)
        )
        await self.session.execute(
            delete(MessageRow).where(MessageRow.conversation_id.in_(conversation_ids))
        )
        for model in (
            HandoffRow,
            ConversationRow,
            ChatTranscriptRow,
            FaqRow,
            OrderRow,
            SkuRow,
            ProductRow,
            ShopperRow,
        ):
            await self.session.execute(delete(model).where(model.shop_id == shop_id))
        await self.session.execute(delete(ShopRow).where(ShopRow.id == shop_id))


class PolicyVersionRepository:
    """A shop's numbered policy versions (1, 2, …), oldest first. Rows are only ever added."""

    def __init__(self, session: AsyncSession, shop_id: str) -> None:
        self.session = session
        self.shop_id = shop_id

    def _select(self) -> Any:
        return select(PolicyVersionRow).where(PolicyVersionRow.shop_id == self.shop_id)

    async def all(self) -> list[PolicyVersionRow]:
        return list(await self.session.scalars(self._select().order_by(PolicyVersionRow.number)))

    async def get(self, number: int) -> PolicyVersionRow | None:
        return await self.session.get(PolicyVersionRow, (self.shop_id, number))

    async def latest(self) -> PolicyVersionRow | None:
        stmt = self._select().order_by(PolicyVersionRow.number.desc()).limit(1)
        return await self.session.scalar(stmt)

    async def number_for(self, content_hash: str) -> int | None:
        """The newest version with this content (a policy set back to an earlier one is the
        newest), or None."""
        stmt = (
            select(func.max(PolicyVersionRow.number))
            .where(PolicyVersionRow.shop_id == self.shop_id)
            .where(PolicyVersionRow.content_hash == content_hash)
        )
        return await self.session.scalar(stmt)

    async def in_force(self, at: datetime) -> PolicyVersionRow | None:
        """The version the shop ran on at `at`: the newest one created by then."""
        stmt = (
            self._select()
            .where(PolicyVersionRow.created_at <= at)
            .order_by(PolicyVersionRow.number.desc())
            .limit(1)
        )
        return await self.session.scalar(stmt)

    async def add(
        self, content_hash: str, text: str, now: datetime, source: str = ""
    ) -> PolicyVersionRow:
        """The next numbered version (the caller checks it differs from the latest)."""
        stmt = select(func.max(PolicyVersionRow.number)).where(
            PolicyVersionRow.shop_id == self.shop_id
        )
        number = ((await self.session.scalar(stmt)) or 0) + 1
        row = PolicyVersionRow(
            shop_id=self.shop_id,
            number=number,
            content_hash=content_hash,
            text=text,
            source=source,
            created_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return row


class CatalogRepository:
    def __init__(self, session: AsyncSession, shop_id: str) -> None:
        self.session = session
        self.shop_id = shop_id

    async def get(self, product_id: str) -> Product | None:
        """The product with its SKUs, read as plain rows (see `MESSAGES`)."""
        row = (
            await self.session.execute(PRODUCT, {"shop": self.shop_id, "id": product_id})
        ).first()
        if row is None:
            return None
        skus = await self.session.execute(SKUS_OF, {"shop": self.shop_id, "of": product_id})
        return product_from_rows(row, list(skus))  # type: ignore[arg-type]

    async def all(self, *, category: str | None = None) -> list[Product]:
        """Every product of the shop with its SKUs (optionally one category)."""
        stmt = select(ProductRow).where(ProductRow.shop_id == self.shop_id)
        if category:
            stmt = stmt.where(ProductRow.category == category)
        rows = list(await self.session.scalars(stmt.order_by(ProductRow.id)))
        sku_rows = await self.session.scalars(select(SkuRow).where(SkuRow.shop_id == self.shop_id))
        by_product = _by_product(sku_rows)
        return [product_from_rows(r, by_product.get(r.id, [])) for r in rows]

    async def stamp(self) -> str:
        """The shop's catalogue stamp (`ShopRow.catalog_stamp`); "" for a shop not found."""
        stmt = select(ShopRow.catalog_stamp).where(ShopRow.id == self.shop_id)
        return (await self.session.scalar(stmt)) or ""

    async def bare(self) -> list[Product]:
        """Every product of the shop without its SKUs (`skus_of` reads those): what a search
        ranks, without reading every SKU of the catalogue."""
        rows = await self.session.scalars(
            select(ProductRow).where(ProductRow.shop_id == self.shop_id).order_by(ProductRow.id)
        )
        return [product_from_rows(r, []) for r in rows]

    async def skus_of(self, product_ids: Sequence[str]) -> dict[str, tuple[Sku, ...]]:
        """The SKUs of these products, by product, in id order (a product with none is left
        out)."""
        rows: list[SkuRow] = []
        for start in range(0, len(product_ids), IN_LIST):
            ids = product_ids[start : start + IN_LIST]
            rows += await self.session.scalars(
                select(SkuRow).where(SkuRow.shop_id == self.shop_id, SkuRow.product_id.in_(ids))
            )
        return {
            pid: tuple(sku_from_row(r) for r in sorted(skus, key=lambda r: r.id))
            for pid, skus in _by_product(rows).items()
        }

    async def upsert(self, products: Sequence[Product]) -> None:
        """Add or replace products with their SKUs (a catalog import); others are kept. The
        shop's catalogue stamp changes with them."""
        await self.session.execute(
            update(ShopRow).where(ShopRow.id == self.shop_id).values(catalog_stamp=new_stamp())
        )
        for p in products:
            await self.session.execute(
                delete(SkuRow).where(SkuRow.shop_id == self.shop_id, SkuRow.product_id == p.id)
            )
            row = await self.session.get(ProductRow, (self.shop_id, p.id))
            if row is None:
                row = ProductRow(shop_id=self.shop_id, id=p.id)
                self.session.add(row)
            row.title, row.category, row.brand = p.title, p.category, p.brand
            row.description, row.attributes, row.tags = p.description, p.attributes, list(p.tags)
            await self.session.flush()
            for sku in p.skus:
                self.session.add(
                    SkuRow(
                        shop_id=self.shop_id,
                        id=sku.id,
                        product_id=p.id,
                        options=sku.options,
                        price_fen=sku.price_fen,
                        stock=sku.stock,
                        status=sku.status.value,
                        restock_date=sku.restock_date,
                    )
                )
        await self.session.flush()

    async def categories(self) -> list[str]:
        stmt = (
            select(ProductRow.category)
            .where(ProductRow.shop_id == self.shop_id)
            .distinct()
            .order_by(ProductRow.category)
        )
        return list(await self.session.scalars(stmt))


class ShopperRepository:
    def __init__(self, session: AsyncSession, shop_id: str) -> None:
        self.session = session
        self.shop_id = shop_id

    async def get(self, shopper_id: str) -> Shopper | None:
        row = await self.session.get(ShopperRow, (self.shop_id, shopper_id))
        return None if row is None else shopper_from_row(row)

    async def list(self, *, limit: int = 50, offset: int = 0) -> list[Shopper]:
        stmt = (
            select(ShopperRow)
            .where(ShopperRow.shop_id == self.shop_id)
            .order_by(ShopperRow.id)
            .limit(limit)
            .offset(offset)
        )
        return [shopper_from_row(r) for r in await self.session.scalars(stmt)]


class OrderRepository:
    def __init__(self, session: AsyncSession, shop_id: str) -> None:
        self.session = session
        self.shop_id = shop_id

    async def get(self, order_id: str) -> Order | None:
        """Read as a plain row (see `MESSAGES`)."""
        row = (await self.session.execute(ORDER, {"shop": self.shop_id, "id": order_id})).first()
        return None if row is None else order_from_row(row)  # type: ignore[arg-type]

    async def for_shopper(
        self, shopper_id: str, *, limit: int = 10, status: str | None = None
    ) -> list[Order]:
        stmt = select(OrderRow).where(
            OrderRow.shop_id == self.shop_id, OrderRow.shopper_id == shopper_id
        )
        if status:
            stmt = stmt.where(OrderRow.status == status)
        stmt = stmt.order_by(OrderRow.created_at.desc(), OrderRow.id.desc()).limit(limit)
        return [order_from_row(r) for r in await self.session.scalars(stmt)]


class FaqRepository:
    def __init__(self, session: AsyncSession, shop_id: str) -> None:
        self.session = session
        self.shop_id = shop_id

    async def all(self) -> list[FaqEntry]:
        stmt = select(FaqRow).where(FaqRow.shop_id == self.shop_id).order_by(FaqRow.id)
        return [faq_from_row(r) for r in await self.session.scalars(stmt)]


class ConversationRepository:
    def __init__(self, session: AsyncSession, shop_id: str) -> None:
        self.session = session
        self.shop_id = shop_id
        self._one_trip = session.get_bind().dialect.name == "postgresql"
        """Writes that SQLite takes in several statements are one on PostgreSQL (CTEs)."""

    async def create(
        self, conversation_id: str, shopper_id: str, channel: str, now: datetime
    ) -> None:
        self.session.add(
            ConversationRow(
                id=conversation_id,
                shop_id=self.shop_id,
                shopper_id=shopper_id,
                channel=channel,
                created_at=now,
                updated_at=now,
            )
        )
        await self.session.flush()

    async def open(
        self, conversation_id: str, shopper_id: str, channel: str, now: datetime
    ) -> bool:
        """`create` for a shopper of the shop on record, in one statement, whatever else the
        session holds; False (nothing stored) when there is no such shopper (nor shop)."""
        where = {"shop": self.shop_id, "shopper": shopper_id}
        given = {"c_id": conversation_id, "c_channel": channel, "c_now": now}
        opened = await self.session.execute(CONVERSATION_OPENED, where | given)
        return opened.first() is not None

    async def rate(
        self, conversation: ConversationRow, score: int, comment: str, now: datetime
    ) -> RatingRow:
        """The shopper's rating of the conversation; a second one replaces the first."""
        row = await self.rating(conversation.id)
        if row is None:
            row = RatingRow(
                conversation_id=conversation.id, shop_id=self.shop_id,
                shopper_id=conversation.shopper_id, score=score, comment=comment, rated_at=now,
            )  # fmt: skip
            self.session.add(row)
        else:
            row.score, row.comment, row.rated_at = score, comment, now
        await self.session.flush()
        return row

    async def rating(self, conversation_id: str) -> RatingRow | None:
        row = await self.session.get(RatingRow, conversation_id)
        return row if row is not None and row.shop_id == self.shop_id else None

    async def load_for_turn(self, shopper_id: str, conversation_id: str) -> tuple[Any, ...]:
        """The shop's, the shopper's and the conversation's rows read into the session in one
        statement, so that its `get`s of them read nothing more (a turn's first three
        statements were these three). Hold what it returns while they are used: the session
        keeps a row only while something refers to it. A missing one is None (the shop's
        too), as is a conversation of another shop; `get` then looks as before."""
        where = {"shop": self.shop_id, "shopper": shopper_id, "conversation": conversation_id}
        row = (await self.session.execute(TURN_ROWS, where)).first()
        return (None, None, None) if row is None else tuple(row)

    async def get(self, conversation_id: str) -> ConversationRow | None:
        # by primary key: a row this session already holds is not read again
        row = await self.session.get(ConversationRow, conversation_id)
        return row if row is not None and row.shop_id == self.shop_id else None

    async def add_message(
        self,
        conversation_id: str,
        role: str,
        content: str,
        now: datetime,
        *,
        client_key: str | None = None,
        reply_to: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> MessageRow:
        """Store a message (one INSERT … RETURNING, not the ORM's flush) and touch its
        conversation; the commit wakes the streams watching it (`WRITTEN`). What it returns
        is not in the session: only its fields are read."""
        values = {
            "conversation_id": conversation_id,
            "shop_id": self.shop_id,
            "role": role,
            "content": content,
            "client_key": client_key,
            "reply_to": reply_to,
            "created_at": now,
            "meta": meta or {},
        }
        new_id = await self._insert_touching(values, now)
        return MessageRow(id=new_id, **values)

    async def add_reply(
        self,
        conversation_id: str,
        content: str,
        now: datetime,
        *,
        reply_to: int,
        meta: dict[str, Any],
        calls: Sequence[dict[str, Any]],
    ) -> int:
        """The assistant's reply to `reply_to` with the tool calls made for it (`add_message`
        then `add_tool_calls`); returns its id. On PostgreSQL one statement, so that it can
        run on its own, without a transaction around it (`store.db.at_once`): the reply, its
        calls and the conversation's touch are stored together or not at all."""
        if not (self._one_trip and calls):
            row = await self.add_message(conversation_id, "assistant", content, now,
                                         reply_to=reply_to, meta=meta)  # fmt: skip
            await self.add_tool_calls(row.id, conversation_id, calls)
            return row.id
        values = {
            "conversation_id": conversation_id, "shop_id": self.shop_id, "role": "assistant",
            "content": content, "client_key": None, "reply_to": reply_to, "created_at": now,
            "meta": meta,
        }  # fmt: skip
        named = _named_message(values)
        columns = zip(*((seq, *_call_values(call)) for seq, call in enumerate(calls)), strict=True)
        given = {
            f"c_{name}": list(column) for name, column in zip(_CALL_COLUMNS, columns, strict=True)
        }
        given["c_arguments"] = [json.dumps(a) for a in given["c_arguments"]]
        touch = {"shop": self.shop_id, "of": conversation_id, "now": now}
        new_id = (await self.session.execute(REPLY_WITH_CALLS, named | given | touch)).scalar_one()
        self._wrote(conversation_id)
        return new_id

    async def _insert_touching(self, values: dict[str, Any], now: datetime) -> int:
        conversation_id = values["conversation_id"]
        touch = {"shop": self.shop_id, "of": conversation_id, "now": now}
        if self._one_trip:
            named = _named_message(values)
            stored = await self.session.execute(MESSAGE_ADDED_TOUCHING, named | touch)
            new_id = stored.scalar_one()
        else:
            new_id = (await self.session.execute(MESSAGE_ADDED, values)).scalar_one()
            # one statement: the conversation's row is not read to be touched
            await self.session.execute(TOUCH, touch)
        self._wrote(conversation_id)
        return new_id

    def _wrote(self, conversation_id: str) -> None:
        """After a message is stored: its conversation's streams are woken at the commit."""
        self.session.info.setdefault(WRITTEN, set()).add((self.shop_id, conversation_id))

    async def reply_to(self, message_id: int) -> MessageRow | None:
        stmt = select(MessageRow).where(
            MessageRow.shop_id == self.shop_id, MessageRow.reply_to == message_id
        )
        return await self.session.scalar(stmt)

    async def messages(self, conversation_id: str) -> Sequence[MessageRow]:
        """The conversation's messages in order, as plain rows with `MessageRow`'s fields
        (see `MESSAGES`): read, never changed through the session."""
        where = {"shop": self.shop_id, "of": conversation_id}
        return list(await self.session.execute(MESSAGES_OF, where))  # type: ignore[arg-type]

    async def messages_after(self, conversation_id: str, after_id: int) -> Sequence[MessageRow]:
        """The conversation's messages newer than `after_id`, in order (a live stream's poll)."""
        stmt = (
            select(MessageRow)
            .where(
                MessageRow.shop_id == self.shop_id,
                MessageRow.conversation_id == conversation_id,
                MessageRow.id > after_id,
            )
            .order_by(MessageRow.id)
        )
        return list(await self.session.scalars(stmt))

    async def shopper_messages_since(self, shopper_id: str, since: datetime) -> int:
        """How many messages the shopper sent in this shop since `since` (the rate limit)."""
        stmt = (
            select(func.count())
            .select_from(MessageRow)
            .join(ConversationRow, ConversationRow.id == MessageRow.conversation_id)
            .where(
                MessageRow.shop_id == self.shop_id,
                ConversationRow.shopper_id == shopper_id,
                MessageRow.role == "shopper",
                MessageRow.created_at >= since,
            )
        )
        return int(await self.session.scalar(stmt) or 0)

    async def with_role(self, role: str) -> list[str]:
        """Ids of the conversations that have a message from `role` (e.g. `agent`)."""
        stmt = (
            select(MessageRow.conversation_id)
            .where(MessageRow.shop_id == self.shop_id, MessageRow.role == role)
            .distinct()
            .order_by(MessageRow.conversation_id)
        )
        return list(await self.session.scalars(stmt))

    async def set_mode(self, conversation_id: str, mode: str) -> None:
        conversation = await self.get(conversation_id)
        if conversation is not None:
            conversation.mode = mode
            await self.session.flush()

    async def add_tool_calls(
        self, message_id: int, conversation_id: str, calls: Sequence[dict[str, Any]]
    ) -> None:
        rows = [
            {
                "message_id": message_id,
                "conversation_id": conversation_id,
                "shop_id": self.shop_id,
                **dict(zip(_CALL_COLUMNS, (seq, *_call_values(call)), strict=True)),
            }
            for seq, call in enumerate(calls)
        ]
        if rows:
            await self.session.execute(TOOL_CALLS_ADDED, rows)

    async def calls_named(
        self, names: Sequence[str], since: datetime | None = None
    ) -> list[tuple[ToolCallRow, MessageRow]]:
        """The shop's calls of these tools, each with the reply it was made for (at or after
        `since` when given), oldest first."""
        stmt = (
            select(ToolCallRow, MessageRow)
            .join(MessageRow, MessageRow.id == ToolCallRow.message_id)
            .where(ToolCallRow.shop_id == self.shop_id, ToolCallRow.name.in_(names))
        )
        if since is not None:
            stmt = stmt.where(MessageRow.created_at >= since)
        rows = await self.session.execute(stmt.order_by(ToolCallRow.message_id, ToolCallRow.seq))
        return [(call, message) for call, message in rows]

    async def tool_calls(self, conversation_id: str) -> Sequence[ToolCallRow]:
        """The conversation's tool calls in order, as plain rows with `ToolCallRow`'s fields
        (see `MESSAGES`)."""
        where = {"shop": self.shop_id, "of": conversation_id}
        return list(await self.session.execute(TOOL_CALLS_OF, where))  # type: ignore[arg-type]

    async def recent(self, *, text: str | None = None, limit: int = 200) -> list[ConversationRow]:
        """The shop's conversations, most recently active first; with `text`, those whose id,
        shopper id or a shopper/assistant/agent message contains it (whispers are not searched)."""
        stmt = select(ConversationRow).where(ConversationRow.shop_id == self.shop_id)
        if text:
            said = select(MessageRow.conversation_id).where(
                MessageRow.shop_id == self.shop_id,
                MessageRow.role != "whisper",
                MessageRow.content.contains(text, autoescape=True),
            )
            stmt = stmt.where(
                ConversationRow.id.in_(said)
                | ConversationRow.id.contains(text, autoescape=True)
                | ConversationRow.shopper_id.contains(text, autoescape=True)
            )
        stmt = stmt.order_by(ConversationRow.updated_at.desc(), ConversationRow.id).limit(limit)
        return list(await self.session.scalars(stmt))

    async def scores_of(self, conversation_ids: Sequence[str]) -> dict[str, int]:
        """The shopper's rating of each of these conversations that has one."""
        stmt = select(RatingRow.conversation_id, RatingRow.score).where(
            RatingRow.shop_id == self.shop_id, RatingRow.conversation_id.in_(conversation_ids)
        )
        return {str(cid): int(score) for cid, score in await self.session.execute(stmt)}

    async def messages_of(self, conversation_ids: Sequence[str]) -> list[MessageRow]:
        """The messages of several conversations, in order."""
        stmt = (
            select(MessageRow)
            .where(
                MessageRow.shop_id == self.shop_id, MessageRow.conversation_id.in_(conversation_ids)
            )
            .order_by(MessageRow.id)
        )
        return list(await self.session.scalars(stmt))


class HandoffRepository:
    def __init__(self, session: AsyncSession, shop_id: str) -> None:
        self.session = session
        self.shop_id = shop_id

    async def open(
        self,
        conversation_id: str,
        shopper_id: str,
        reason: str,
        *,
        detail: str,
        priority: int,
        summary: dict[str, Any],
        now: datetime,
    ) -> HandoffRow:
        """A new queued handoff for the conversation."""
        row = HandoffRow(
            id=f"hf_{uuid.uuid4().hex[:12]}",
            shop_id=self.shop_id,
            conversation_id=conversation_id,
            shopper_id=shopper_id,
            reason=reason,
            detail=detail,
            priority=priority,
            summary=summary,
            status="queued",
            agent="",
            created_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def ahead_of(self, row: HandoffRow) -> int:
        """How many queued handoffs come before this one (the order of `listed`)."""
        stmt = (
            select(func.count())
            .select_from(HandoffRow)
            .where(
                HandoffRow.shop_id == self.shop_id,
                HandoffRow.status == "queued",
                HandoffRow.id != row.id,
                (HandoffRow.priority < row.priority)
                | (
                    (HandoffRow.priority == row.priority)
                    & (HandoffRow.created_at <= row.created_at)
                ),
            )
        )
        return int(await self.session.scalar(stmt) or 0)

    async def get(self, handoff_id: str) -> HandoffRow | None:
        stmt = select(HandoffRow).where(
            HandoffRow.shop_id == self.shop_id, HandoffRow.id == handoff_id
        )
        return await self.session.scalar(stmt)

    async def open_for(self, conversation_id: str) -> HandoffRow | None:
        """The conversation's handoff that is not closed yet, if any."""
        stmt = select(HandoffRow).where(
            HandoffRow.shop_id == self.shop_id,
            HandoffRow.conversation_id == conversation_id,
            HandoffRow.status != "closed",
        )
        return await self.session.scalar(stmt)

    async def listed(self, statuses: Sequence[str]) -> Sequence[HandoffRow]:
        """In queue order: most urgent first, then oldest first."""
        stmt = (
            select(HandoffRow)
            .where(HandoffRow.shop_id == self.shop_id, HandoffRow.status.in_(statuses))
            .order_by(HandoffRow.priority, HandoffRow.created_at)
        )
        return list(await self.session.scalars(stmt))

    async def close_open(self, now: datetime) -> list[tuple[HandoffRow, str]]:
        """Close every handoff still queued or taken; each with the status it had."""
        rows = await self.listed(("queued", "taken"))
        closed = [(row, row.status) for row in rows]
        for row in rows:
            row.status, row.closed_at = "closed", now
        await self.session.flush()
        return closed

    async def of_conversations(self, conversation_ids: Sequence[str]) -> list[HandoffRow]:
        stmt = (
            select(HandoffRow)
            .where(
                HandoffRow.shop_id == self.shop_id,
                HandoffRow.conversation_id.in_(conversation_ids),
            )
            .order_by(HandoffRow.created_at, HandoffRow.id)
        )
        return list(await self.session.scalars(stmt))


class ApiKeyRepository:
    """Merchant API keys, stored as SHA-256 hashes on the shop row."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def set_key(self, shop_id: str, key_hash: str, hint: str, issued_at: datetime) -> bool:
        """Replace the shop's key (the old one stops working); False if there is no such shop."""
        row = await self.session.get(ShopRow, shop_id)
        if row is None:
            return False
        row.api_key_hash, row.api_key_hint, row.api_key_issued_at = key_hash, hint, issued_at
        await self.session.flush()
        return True

    async def current(self, shop_id: str) -> tuple[str | None, str | None, datetime | None] | None:
        """The shop's key as stored: (hash, hint, issued at), each None if unknown; None if
        there is no such shop."""
        row = await self.session.get(ShopRow, shop_id)
        return None if row is None else (row.api_key_hash, row.api_key_hint, row.api_key_issued_at)

    async def shop_for_hash(self, key_hash: str) -> str | None:
        stmt = select(ShopRow.id).where(ShopRow.api_key_hash == key_hash)
        return await self.session.scalar(stmt)


def record_from_row(row: ServiceRecordRow) -> ServiceRecord:
    return ServiceRecord(
        id=row.id,
        key=row.key,
        kind=row.kind,
        shopper_id=row.shopper_id,
        order_id=row.order_id,
        amount_fen=row.amount_fen,
        status=row.status,
        detail=dict(row.detail),
        created_at=row.created_at,
    )


class LedgerRepository:
    """The after-sales ledger and the order changes that go with it, applied together."""

    def __init__(self, session: AsyncSession, shop_id: str) -> None:
        self.session = session
        self.shop_id = shop_id

    async def find(self, key: str) -> ServiceRecord | None:
        stmt = select(ServiceRecordRow).where(
            ServiceRecordRow.shop_id == self.shop_id, ServiceRecordRow.key == key
        )
        row = await self.session.scalar(stmt)
        return None if row is None else record_from_row(row)

    async def for_shopper(
        self, shopper_id: str, *, order_id: str | None = None, kind: str | None = None
    ) -> list[ServiceRecord]:
        stmt = select(ServiceRecordRow).where(
            ServiceRecordRow.shop_id == self.shop_id, ServiceRecordRow.shopper_id == shopper_id
        )
        if order_id:
            stmt = stmt.where(ServiceRecordRow.order_id == order_id)
        if kind:
            stmt = stmt.where(ServiceRecordRow.kind == kind)
        return [
            record_from_row(r)
            for r in await self.session.scalars(stmt.order_by(ServiceRecordRow.id))
        ]

    async def apply(self, change: Change, now: datetime) -> ServiceRecordRow:
        """Write the record and its order changes in the caller's transaction (not committed)."""
        if change.order_id:
            order = await self.session.get(OrderRow, (self.shop_id, change.order_id))
            if order is None:
                raise LookupError(f"order {change.order_id} not found")
            if change.order_status is not None:
                order.status = change.order_status.value
                if change.order_status.value == "已取消":
                    order.cancelled_at = now
            if change.address is not None:
                order.address = asdict(change.address)
            if change.order_extras:
                order.extras = {**order.extras, **change.order_extras}
        row = ServiceRecordRow(
            shop_id=self.shop_id,
            key=change.key,
            kind=change.kind,
            shopper_id=change.shopper_id,
            order_id=change.order_id,
            amount_fen=change.amount_fen,
            status=change.status,
            detail=change.detail,
            created_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return row


class ActionRepository:
    def __init__(self, session: AsyncSession, shop_id: str) -> None:
        self.session = session
        self.shop_id = shop_id

    async def get(self, action_id: str) -> ActionRow | None:
        stmt = select(ActionRow).where(ActionRow.shop_id == self.shop_id, ActionRow.id == action_id)
        return await self.session.scalar(stmt)

    async def add(self, row: ActionRow) -> ActionRow:
        self.session.add(row)
        await self.session.flush()
        return row

    async def in_conversation(
        self, conversation_id: str, *, statuses: Sequence[str] | None = None
    ) -> list[ActionRow]:
        stmt = select(ActionRow).where(
            ActionRow.shop_id == self.shop_id, ActionRow.conversation_id == conversation_id
        )
        if statuses:
            stmt = stmt.where(ActionRow.status.in_(statuses))
        return list(await self.session.scalars(stmt.order_by(ActionRow.created_at, ActionRow.id)))

    async def for_shopper(self, shopper_id: str) -> list[ActionRow]:
        return list(
            await self.session.scalars(ACTIONS_OF, {"shop": self.shop_id, "of": shopper_id})
        )

    async def move(
        self, action_id: str, before: str, after: str, now: datetime, **values: Any
    ) -> bool:
        """Set the status to `after` only if it is still `before` (compare-and-set, one UPDATE);
        False when another hand moved it first. Call it first in its transaction, so that on
        SQLite it takes the write lock before reading anything."""
        stmt = (
            update(ActionRow)
            .where(
                ActionRow.shop_id == self.shop_id,
                ActionRow.id == action_id,
                ActionRow.status == before,
            )
            .values(status=after, updated_at=now, **values)
            .execution_options(synchronize_session="fetch")
        )
        result = await self.session.execute(stmt)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def confirmed_by(self, message_id: int) -> list[ActionRow]:
        stmt = select(ActionRow).where(
            ActionRow.shop_id == self.shop_id, ActionRow.confirm_message_id == message_id
        )
        return list(await self.session.scalars(stmt))

    async def since(self, since: datetime | None = None) -> list[ActionRow]:
        """Every action of the shop proposed at or after `since` (all when None), oldest first."""
        stmt = select(ActionRow).where(ActionRow.shop_id == self.shop_id)
        if since is not None:
            stmt = stmt.where(ActionRow.created_at >= since)
        return list(await self.session.scalars(stmt.order_by(ActionRow.created_at, ActionRow.id)))

    async def list(self, *, status: str | None = None, limit: int = 100) -> list[ActionRow]:
        stmt = select(ActionRow).where(ActionRow.shop_id == self.shop_id)
        if status:
            stmt = stmt.where(ActionRow.status == status)
        stmt = stmt.order_by(ActionRow.created_at.desc()).limit(limit)
        return list(await self.session.scalars(stmt))

    async def of_conversations(self, conversation_ids: Sequence[str]) -> list[ActionRow]:
        stmt = (
            select(ActionRow)
            .where(
                ActionRow.shop_id == self.shop_id, ActionRow.conversation_id.in_(conversation_ids)
            )
            .order_by(ActionRow.created_at, ActionRow.id)
        )
        return list(await self.session.scalars(stmt))


class AuditRepository:
    """Append-only: rows are added and read, never changed or removed."""

    def __init__(self, session: AsyncSession, shop_id: str) -> None:
        self.session = session
        self.shop_id = shop_id

    async def append(
        self,
        event: str,
        actor: str,
        now: datetime,
        *,
        action_id: str | None = None,
        conversation_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.session.add(
            AuditRow(
                shop_id=self.shop_id,
                action_id=action_id,
                conversation_id=conversation_id,
                event=event,
                actor=actor,
                detail=detail or {},
                at=now,
            )
        )
        await self.session.flush()

    async def for_action(self, action_id: str) -> list[AuditRow]:
        stmt = select(AuditRow).where(
            AuditRow.shop_id == self.shop_id, AuditRow.action_id == action_id
        )
        return list(await self.session.scalars(stmt.order_by(AuditRow.id)))

    async def all(self) -> list[AuditRow]:
        stmt = select(AuditRow).where(AuditRow.shop_id == self.shop_id).order_by(AuditRow.id)
        return list(await self.session.scalars(stmt))


class KnowledgeRepository:
    """Knowledge sources, chunks and chat-mined candidates of one shop."""

    def __init__(self, session: AsyncSession, shop_id: str) -> None:
        self.session = session
        self.shop_id = shop_id

    async def source(self, source_id: str) -> KnowledgeSourceRow | None:
        return await self.session.get(KnowledgeSourceRow, (self.shop_id, source_id))

    async def sources(self) -> list[KnowledgeSourceRow]:
        stmt = (
            select(KnowledgeSourceRow)
            .where(KnowledgeSourceRow.shop_id == self.shop_id)
            .order_by(KnowledgeSourceRow.kind, KnowledgeSourceRow.id)
        )
        return list(await self.session.scalars(stmt))

    async def replace_source(
        self, source: KnowledgeSourceRow, chunks: Sequence[KnowledgeChunkRow]
    ) -> None:
        """Put a source and its chunks in place of any earlier version of it."""
        await self.delete_source(source.id)
        self.session.add(source)
        self.session.add_all(chunks)
        await self.session.flush()

    async def delete_source(self, source_id: str) -> None:
        await self.session.execute(
            delete(KnowledgeChunkRow).where(
                KnowledgeChunkRow.shop_id == self.shop_id,
                KnowledgeChunkRow.source_id == source_id,
            )
        )
        await self.session.execute(
            delete(KnowledgeSourceRow).where(
                KnowledgeSourceRow.shop_id == self.shop_id, KnowledgeSourceRow.id == source_id
            )
        )

    async def chunks(self, source_id: str | None = None) -> list[KnowledgeChunkRow]:
        stmt = select(KnowledgeChunkRow).where(KnowledgeChunkRow.shop_id == self.shop_id)
        if source_id is not None:
            stmt = stmt.where(KnowledgeChunkRow.source_id == source_id)
        return list(await self.session.scalars(stmt.order_by(KnowledgeChunkRow.id)))

    async def chunk(self, chunk_id: str) -> KnowledgeChunkRow | None:
        return await self.session.get(KnowledgeChunkRow, (self.shop_id, chunk_id))

    async def signature(self) -> str:
        """Changes whenever a source is added, replaced or removed (the cache key of a shop's
        index, valid across processes)."""
        stmt = (
            select(KnowledgeSourceRow.id, KnowledgeSourceRow.content_hash)
            .where(KnowledgeSourceRow.shop_id == self.shop_id)
            .order_by(KnowledgeSourceRow.id)
        )
        rows = (await self.session.execute(stmt)).all()
        return hashlib.sha256(repr(rows).encode()).hexdigest()

    async def candidates(self, status: str | None = None) -> list[KnowledgeCandidateRow]:
        stmt = select(KnowledgeCandidateRow).where(KnowledgeCandidateRow.shop_id == self.shop_id)
        if status is not None:
            stmt = stmt.where(KnowledgeCandidateRow.status == status)
        stmt = stmt.order_by(KnowledgeCandidateRow.score.desc(), KnowledgeCandidateRow.id)
        return list(await self.session.scalars(stmt))

    async def candidate(self, candidate_id: str) -> KnowledgeCandidateRow | None:
        return await self.session.get(KnowledgeCandidateRow, (self.shop_id, candidate_id))

    async def transcripts(self, chat_ids: Sequence[str]) -> list[ChatTranscriptRow]:
        """The kept chat transcripts (imported or ingested) that candidates were mined from."""
        if not chat_ids:
            return []
        stmt = select(ChatTranscriptRow).where(
            ChatTranscriptRow.shop_id == self.shop_id, ChatTranscriptRow.id.in_(list(chat_ids))
        )
        return list(await self.session.scalars(stmt))

    async def replace_pending(self, source_id: str, rows: Sequence[KnowledgeCandidateRow]) -> None:
        """Mined candidates of a chat source replace its earlier *pending* ones; reviewed ones
        (approved, edited, rejected) stay as the merchant left them."""
        await self.session.execute(
            delete(KnowledgeCandidateRow).where(
                KnowledgeCandidateRow.shop_id == self.shop_id,
                KnowledgeCandidateRow.source_id == source_id,
                KnowledgeCandidateRow.status == "pending",
            )
        )
        self.session.add_all(rows)
        await self.session.flush()


class ConsoleAccountRepository:
    """Console sign-in accounts. Not scoped to one shop: an account lists the shops it may see,
    and every console page then reads through the shop-filtered repositories."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_name(self, name: str) -> ConsoleAccountRow | None:
        stmt = select(ConsoleAccountRow).where(ConsoleAccountRow.name == name)
        return await self.session.scalar(stmt)

    async def get(self, account_id: int) -> ConsoleAccountRow | None:
        return await self.session.get(ConsoleAccountRow, account_id)

    async def add(self, row: ConsoleAccountRow) -> ConsoleAccountRow:
        self.session.add(row)
        await self.session.flush()
        return row

    async def all(self) -> list[ConsoleAccountRow]:
        stmt = select(ConsoleAccountRow).order_by(ConsoleAccountRow.name)
        return list(await self.session.scalars(stmt))

    async def set_shops(self, row: ConsoleAccountRow, shops: list[str]) -> None:
        row.shops = list(shops)
        await self.session.flush()

    async def remove(self, row: ConsoleAccountRow) -> None:
        await self.session.delete(row)
        await self.session.flush()


class InspectionReviewRepository:
    """The merchant's verdicts on 质检 findings, by finding key, for one shop."""

    def __init__(self, session: AsyncSession, shop_id: str) -> None:
        self.session = session
        self.shop_id = shop_id

    async def all(self) -> dict[str, InspectionReviewRow]:
        stmt = select(InspectionReviewRow).where(InspectionReviewRow.shop_id == self.shop_id)
        return {r.finding: r for r in await self.session.scalars(stmt)}

    async def set(
        self, finding: str, verdict: str, note: str, reviewer: str, now: datetime
    ) -> InspectionReviewRow:
        """Record (or change) the verdict on a finding."""
        row = await self.session.get(InspectionReviewRow, (self.shop_id, finding))
        if row is None:
            row = InspectionReviewRow(shop_id=self.shop_id, finding=finding)
            self.session.add(row)
        row.verdict, row.note, row.reviewer, row.reviewed_at = verdict, note, reviewer, now
        await self.session.flush()
        return row
