"""The shopper widget (顾客聊天窗): one `<script>` tag on any page, served by the API app.

    <script src="https://客服.example.com/widget.js" data-token="<shopper token>"></script>

The merchant's own server signs its shopper in and mints the token (`POST /v1/shopper-tokens`
with the shop's key); the widget then talks to the shopper endpoints of this API — SSE for the
reply, the confirm/decline buttons of pending actions, the conversation for history after a
reload. A page on another origin needs that origin in `XIAOER_WIDGET_ORIGINS` (CORS).

`GET /demo/{shop_id}` (only with `XIAOER_DEMO_PAGES=1`, which `xiaoer demo` sets) is a product
page of the shop with the widget on it, signed in as one of the shop's shoppers: a local demo,
never for a public server (anyone who opens it chats as that shopper).
"""

import html
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from string import Template
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response
from sse_starlette import ServerSentEvent

from xiaoer.api.auth import ShopperClaims, sign_shopper_token
from xiaoer.config import Settings
from xiaoer.domain.errors import NotFound
from xiaoer.domain.models import Product
from xiaoer.runtime import Runtime
from xiaoer.services.signals import conversation_topic
from xiaoer.services.streams import comment, frame, respond
from xiaoer.store.repositories import (
    CatalogRepository,
    ConversationRepository,
    ShopperRepository,
    ShopRepository,
)

POLL_S = 2.0
"""Without Redis the stream also reads every this many seconds (a write by another process);
a commit in this process wakes it at once (`services.signals`)."""
POLL_REDIS_S = 15.0
"""With Redis every commit anywhere wakes it; this is for a signal lost on the way."""
LIFETIME_S = 30 * 60.0
SHOWN_ROLES = ("shopper", "assistant", "agent")
"""What the shopper's window shows: never the merchant's whispers to the AI."""

DEMO_TOKEN_TTL = 12 * 3600


def _static(name: str) -> str:
    return resources.files("xiaoer.api").joinpath("static", name).read_text(encoding="utf-8")


def product_card(product: Product) -> dict[str, Any]:
    """What a product card shows: the title, the price range in yuan and each option with
    whether it can be ordered now — the catalogue's figures, never a model's words."""
    low, high = product.price_range
    return {
        "id": product.id,
        "title": product.title,
        "brand": product.brand,
        "price": [low / 100, high / 100],
        "options": [
            {"options": sku.options, "price": sku.price_fen / 100, "available": sku.available}
            for sku in product.skus
        ],
    }


def _product_html(product: Product | None) -> str:
    if product is None:
        return "<p>这家店还没有商品 / no products yet</p>"
    low, high = product.price_range
    price = f"¥{low / 100:g}" if low == high else f"¥{low / 100:g} – ¥{high / 100:g}"
    rows = "".join(
        f"<li>{html.escape(' / '.join(sku.options.values()) or sku.id)}"
        f" <span>¥{sku.price_fen / 100:g}</span>"
        f" <em>{'有货' if sku.available else '暂无库存'}</em></li>"
        for sku in product.skus
    )
    return (
        f"<h1>{html.escape(product.title)}</h1>"
        f"<p class=brand>{html.escape(' · '.join(x for x in (product.brand, product.category) if x))}</p>"
        f"<p class=price>{price}</p>"
        f"<p>{html.escape(product.description)}</p>"
        f"<ul class=skus>{rows}</ul>"
    )


def widget_router(
    rt: Callable[[], Runtime],
    settings: Settings,
    shopper: Callable[..., Awaitable[ShopperClaims]],
    secret: Callable[[], bytes],
) -> APIRouter:
    router = APIRouter()
    Shopper = Annotated[ShopperClaims, Depends(shopper)]

    @router.get("/widget.js", include_in_schema=False)
    async def widget_js() -> Response:
        return Response(
            _static("widget.js"),
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300"},
        )

    @router.get("/v1/products/{product_id}")
    async def product(product_id: str, claims: Shopper) -> dict[str, Any]:
        """Shopper: a product card (title, prices, which options can be ordered now)."""
        async with rt().sessions() as s:
            found = await CatalogRepository(s, claims.shop_id).get(product_id)
        if found is None:
            raise NotFound(f"product {product_id!r} not found")
        return product_card(found)

    @router.get("/v1/conversations/{conversation_id}/events")
    async def conversation_events(
        conversation_id: str,
        claims: Shopper,
        after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    ) -> Response:
        """Shopper: an SSE stream of the conversation's new messages (after message `after`):
        a human agent's reply reaches the window while it is handed over, without a poll.
        `event: message` frames, a `: ping` every 15 s; once the conversation is back with
        the AI, `event: released` and the end (the replies come with the shopper's messages
        again). It also ends after 30 minutes, when the client goes away and when the server
        stops (the widget reconnects from the last message it has)."""
        async with rt().sessions() as s:
            conv = await ConversationRepository(s, claims.shop_id).get(conversation_id)
        if conv is None or conv.shopper_id != claims.shopper_id:
            raise NotFound(f"conversation {conversation_id!r} not found")

        signals, topic = rt().signals, conversation_topic(conversation_id)
        poll = POLL_REDIS_S if signals.redis_url else POLL_S

        async def frames() -> AsyncIterator[ServerSentEvent]:
            seen, began = after, time.monotonic()
            yield comment("connected")
            while time.monotonic() - began < LIFETIME_S:
                signal = signals.take(topic)  # before the read: a commit after it wakes us
                async with rt().sessions() as s:
                    repo = ConversationRepository(s, claims.shop_id)
                    rows = await repo.messages_after(conversation_id, seen)
                    now = await repo.get(conversation_id)
                for m in rows:
                    seen = m.id
                    if m.role in SHOWN_ROLES:
                        yield frame("message", {"id": m.id, "role": m.role, "text": m.content,
                                                "created_at": m.created_at.isoformat()})  # fmt: skip
                if now is None or now.mode == "ai":
                    yield frame("released", {"mode": "ai"})
                    return
                # wake for a signal, the next poll or the end
                await signals.wait(signal, min(poll, began + LIFETIME_S - time.monotonic()))

        return respond(frames())

    if not settings.demo_pages:
        return router

    @router.get("/demo/{shop_id}", include_in_schema=False)
    async def demo_page(
        shop_id: str,
        product: Annotated[str | None, Query(max_length=64)] = None,
        shopper_id: Annotated[str | None, Query(alias="shopper", max_length=64)] = None,
    ) -> HTMLResponse:
        async with rt().sessions() as s:
            shop = await ShopRepository(s).get(shop_id)
            if shop is None:
                raise NotFound(f"shop {shop_id!r} not found")
            catalog = CatalogRepository(s, shop_id)
            shown = await catalog.get(product) if product else None
            if shown is None:
                shown = next(iter(await catalog.all()), None)
            shoppers = ShopperRepository(s, shop_id)
            who = await shoppers.get(shopper_id) if shopper_id else None
            if who is None:
                who = next(iter(await shoppers.list(limit=1)), None)
        if who is None:
            raise NotFound(f"shop {shop_id!r} has no shoppers to sign in as")
        expires = int(rt().clock().timestamp()) + DEMO_TOKEN_TTL
        token = sign_shopper_token(secret(), shop_id, who.id, expires)
        page = Template(_static("demo.html")).substitute(
            shop=html.escape(shop.name),
            shopper=html.escape(f"{who.name}（{who.id}）"),
            product=_product_html(shown),
            token=html.escape(token),
        )
        return HTMLResponse(page)

    return router
