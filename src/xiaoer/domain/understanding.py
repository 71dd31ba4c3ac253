"""What a shopper's message was understood to mean (read by `xiaoer.agent.understanding`).

The routing of a turn and the policy engine read this object, never words of the raw text:
the tools get it through `TurnDeps.readings`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

type Want = Literal[
    "order_status", "logistics", "urge", "product", "stock", "size", "coupon", "subsidy",
    "cancel", "address", "refund", "return", "exchange", "price_protection", "invoice",
    "installation", "shop_policy", "complaint", "other",
]  # fmt: skip
type ReasonKind = Literal[
    "none", "defect", "missing_or_wrong", "not_fit", "changed_mind", "price", "late", "other"
]
AFTERSALES = frozenset({"cancel", "refund", "return", "exchange", "complaint", "price_protection"})
"""Wants whose reason the policy reads (a reason read off a question means nothing)."""
type Mood = Literal["calm", "upset", "angry"]
type Answer = Literal["yes", "no", "none"]


class Understanding(BaseModel):
    """One shopper message, understood. Codes here; the model is shown the Chinese labels."""

    want: Want = "other"
    acts: bool = False
    """They ask for it to be done for their own purchase (取消这单、小了能换大一号吗), not
    about the shop's rules in general (支持七天无理由吗): a change request starts an
    after-sales flow only when this is true."""
    order: str = ""
    """The order as the shopper refers to it: an id, or their words ("上周买的那双"); "" if none."""
    product: str = ""
    options: str = ""
    reason: str = ""
    """The shopper's reason in their own words; "" if they gave none."""
    reason_kind: ReasonKind = "none"
    asks_human: bool = False
    mood: Mood = "calm"
    mood_words: str = ""
    """The words that show the mood ("" when calm)."""
    answer: Answer = "none"
    """Yes or no to the action waiting for the shopper; "none" when nothing waits."""

    @property
    def quality(self) -> bool:
        """The shopper states a fault with the goods (the policy's quality-problem terms)."""
        return self.reason_kind in ("defect", "missing_or_wrong")
