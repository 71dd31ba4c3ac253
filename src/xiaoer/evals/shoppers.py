"""Simulated shoppers: scripted (deterministic, for CI) and LLM-driven (for real runs)."""

from __future__ import annotations

import re
from typing import Protocol

from xiaoer.evals.scenario import Scenario
from xiaoer.llm.base import LLM, ChatMessage

END = "###END###"

_ASKS = [
    (re.compile(r"订单号|哪一个|哪个订单|哪一单"), "order_id", "订单号是 {}"),
    (re.compile(r"手机|电话|尾号"), "phone_tail", "手机尾号 {}"),
    (re.compile(r"身高"), "height_cm", "身高 {} 厘米"),
    (re.compile(r"体重"), "weight_kg", "体重 {} 公斤"),
    (re.compile(r"尺码|码数|多大码|穿多大"), "size", "平时穿 {} 码"),
    (re.compile(r"地址"), "address", "新地址是 {}"),
    (re.compile(r"原因|为什么"), "reason", "{}"),
    (re.compile(r"姓名|名字|收货人"), "name", "{}"),
]
_CONFIRM = re.compile(r"确认|是否|要不要|需要我|可以吗|好吗|同意吗|确定")
_REQUEST = re.compile(
    r"(提供|告诉|发一下|发给我|说一下|报一下|输入).{0,8}(订单号|手机|电话|尾号|地址|尺码|身高|体重|姓名)"
)
"""A request for information: "请提供订单号，以便我查询并确认订单状态" asks for the order number,
whatever else it says (seen: read as a request to confirm, so the real one went unanswered)."""
_PROPOSES = {
    "cancel_order": ("取消订单",),
    "change_address": ("收货地址",),
    "request_refund": ("仅退款",),
    "request_return": ("退货退款",),
    "request_exchange": ("换同型号", "换成"),
    "offer_retention": ("补偿",),
}
"""How the action desk words each proposal, to tell whether it is the one the shopper wants."""


class Shopper(Protocol):
    async def reply(self, agent_text: str) -> str | None:
        """The shopper's next message, or None when the conversation is over."""
        ...


class ScriptedShopper:
    """Deterministic replies derived from the scenario.

    In order of precedence: a request for confirmation is answered per `confirm` (and declined
    when it proposes another action than the scenario's); a question
    about something in `knows` is answered from it (each key once); a question about anything
    else the shopper was asked for gets 不知道 once; then the `followups`, in order; then the end.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.followups = list(scenario.followups)
        self.given: set[str] = set()
        self.confirmed = False

    async def reply(self, agent_text: str) -> str | None:
        knows = self.scenario.knows
        asking = _REQUEST.search(agent_text) is not None
        if (
            _CONFIRM.search(agent_text)
            and not asking
            and not self.confirmed
            and self._action_expected()
        ):
            self.confirmed = True
            wanted = self.scenario.confirm and self._wanted(agent_text)
            return "确认，就这样办。" if wanted else "不用了，先不要。"
        for pattern, key, template in _ASKS:
            if pattern.search(agent_text) and key not in self.given:
                self.given.add(key)
                if key in knows:
                    return template.format(knows[key])
                if agent_text.rstrip().endswith(("？", "?")):
                    return "这个我不知道。"
        if self.followups:
            return self.followups.pop(0)
        return None

    def _wanted(self, proposal: str) -> bool:
        """Whether the proposal is one of the actions the shopper came for (a refund offered to
        a shopper who wants an exchange is declined, as the issue's shopper would)."""
        words = [w for a in self.scenario.expect.actions for w in _PROPOSES.get(a.name, ())]
        return not words or any(w in proposal for w in words)

    def _action_expected(self) -> bool:
        return bool(self.scenario.expect.actions) or self.scenario.confirm


LLM_SHOPPER = """你在扮演一位网购顾客，和店铺客服聊天。
你的身份：{persona}
你的目的：{goal}
你知道的信息：{knows}
规则：每次只说一两句话，像真人顾客一样口语化；客服问你不知道的信息就说不知道；
目的达到或客服无法帮忙时，只回复 {end}。"""


class LLMShopper:
    """Any configured LLM plays the persona (for real runs, not CI)."""

    def __init__(self, scenario: Scenario, llm: LLM) -> None:
        self.scenario = scenario
        self.llm = llm
        knows = "；".join(f"{k}={v}" for k, v in scenario.knows.items()) or "无"
        system = LLM_SHOPPER.format(
            persona=scenario.persona or "普通顾客", goal=scenario.goal, knows=knows, end=END
        )
        self.messages = [ChatMessage("system", system), ChatMessage("assistant", scenario.opening)]

    async def reply(self, agent_text: str) -> str | None:
        self.messages.append(ChatMessage("user", agent_text))
        out = await self.llm.complete(self.messages, [], mode="text", max_tokens=80)
        text = out.content.strip()
        self.messages.append(ChatMessage("assistant", text))
        if not text or END in text:
            return None
        return text
