"""A shop that lists cancel reasons: the cancel tool passes the shopper's reason to the rule."""

from __future__ import annotations

from datetime import UTC, datetime

from xiaoer.commerce.fake import FakeCommerce
from xiaoer.domain.models import Address, Order, OrderLine, OrderStatus, Shop, Shopper
from xiaoer.policy import load_policy
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.registry import BY_NAME

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
LINE = OrderLine("K1", "P1", "保温杯", {"颜色": "白色"}, 5900, 1)
ORDER = Order(
    "SO9", "U1", OrderStatus.PENDING_SHIPMENT, NOW, (LINE,), 5900, 5900,
    Address("王芳", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 100 号"),
)  # fmt: skip
cancel_order = BY_NAME["cancel_order"].run
POLICY = load_policy("cancel: {reasons: [不想要了, 拍错了]}\nretention: {enabled: false}")


def _deps(said: str) -> TurnDeps:
    shopper = Shopper("U1", "王芳", "13812345678")
    commerce = FakeCommerce(orders=[ORDER], shoppers=[shopper])
    return TurnDeps(Shop("s", "店"), shopper, commerce, NOW, said=[f"SO9 {said}"], policy=POLICY)


async def test_a_listed_reason_is_proposed_in_the_shops_words() -> None:
    result = await cancel_order(_deps("拍错了，想重新拍"), {"order_id": "SO9", "reason": "拍错了"})
    assert result.proposal is not None and result.proposal.verdict.allowed


async def test_another_reason_gets_the_listed_ones() -> None:
    result = await cancel_order(_deps("太贵了"), {"order_id": "SO9", "reason": "太贵了"})
    assert result.proposal is None
    assert result.data["verdict"]["rule"] == "cancel.reasons"
    assert result.reply is not None and "拍错了" in result.reply
