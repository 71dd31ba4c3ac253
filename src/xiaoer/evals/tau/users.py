"""Simulated τ-retail users: scripted (deterministic, from the templated train instruction) and
LLM-played (any model reads the instruction and plays the user).

Train instructions are templated: "Your name is A B and your zip code is Z (or: your email is
E). You are <traits>. <requests>", where each request is one of

    Return #W… via <payment>: Item; Item;
    For #W…, exchange Product {old options} to {new options}; …; via <payment>.
    For #W…, modify Product {old options} to {new options}; …; via <payment>.
    Cancel order #W… because <reason>.
    For #W…, change payment to <payment>.
    For #W…, change address to {address fields} (same as #W…).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any, Protocol

from xiaoer.llm.base import LLM, ChatMessage

STOP = "###STOP###"
GREETING = "Hi! How can I help you today?"

_NAME = re.compile(r"Your name is (\S+) (\S+?)(?: and|\.)")
_ZIP = re.compile(r"zip code is (\d{5})")
_EMAIL = re.compile(r"email is (\S+@\S+?)\.(?:\s|$)")
_PAIR = re.compile(r"([A-Z][\w' -]*?) (\{[^{}]*\}) to (\{[^{}]*\})")
_REQUESTS = [
    ("return", re.compile(r"Return (#W\d+) via (\S+): (.*?)(?=$| (?:Return|For|Cancel) )")),
    ("exchange", re.compile(r"For (#W\d+), exchange (.*?); via (\S+?)\.(?:\s|$)")),
    ("modify", re.compile(r"For (#W\d+), modify (.*?); via (\S+?)\.(?:\s|$)")),
    ("cancel", re.compile(r"Cancel order (#W\d+) because (.*?)\.(?:\s|$)")),
    ("payment", re.compile(r"For (#W\d+), change payment to (\S+?)\.(?:\s|$)")),
    ("address", re.compile(r"For (#W\d+), change address to (\{[^{}]*\})")),
]
_ASKS_CONFIRM = re.compile(
    r"\bconfirm|proceed|go ahead|shall i|should i|would you like me to|do you want me to|"
    r"reply .?yes|is (this|that) (correct|right)|\(yes/no\)",
    re.I,
)
_ASKS_IDENTITY = re.compile(r"e-?mail|zip|full name|first and last name|authenticat|verify", re.I)
MAX_REPEATS = 2


def _options(text: str) -> str:
    """`{'color': 'black', 'size': 'M'}` → `color black, size M` ("the same options" if empty)."""
    values: dict[str, Any] = ast.literal_eval(text)
    return ", ".join(f"{k} {v}" for k, v in values.items()) or "the same options"


def _swaps(text: str) -> str:
    parts = [
        f"the {name} ({_options(old)}) to {_options(new)}" for name, old, new in _PAIR.findall(text)
    ]
    return "; ".join(parts)


def _render(kind: str, groups: tuple[str, ...]) -> str:
    if kind == "return":
        order, method, items = groups
        names = ", ".join(i.strip() for i in items.split(";") if i.strip())
        return f"I want to return the {names} from order {order}. Please refund to {method}."
    if kind in ("exchange", "modify"):
        order, pairs, method = groups
        state = "delivered" if kind == "exchange" else "pending"
        verb = "exchange" if kind == "exchange" else "change"
        return (
            f"For my {state} order {order}, I want to {verb} {_swaps(pairs)}. "
            f"Use {method} for any price difference."
        )
    if kind == "cancel":
        order, reason = groups
        return f"Please cancel order {order}; the reason is: {reason}."
    if kind == "payment":
        order, method = groups
        return f"For order {order}, please change the payment method to {method}."
    order, fields = groups
    address: dict[str, str] = ast.literal_eval(fields)
    keys = ("address1", "address2", "city", "state", "country", "zip")
    line = ", ".join(address[k] for k in keys if address.get(k))
    return f"For order {order}, please change the shipping address to {line}."


@dataclass(frozen=True, slots=True)
class Request:
    text: str
    kind: str
    order_id: str

    def matches(self, question: str) -> bool:
        """Whether a confirmation question is about this request: its order and its kind of
        change (a user says no to a change they did not ask for)."""
        words = _KIND_WORDS[self.kind]
        return self.order_id in question and re.search(words, question, re.I) is not None


_KIND_WORDS = {
    "return": r"return",
    "exchange": r"exchang",
    "modify": r"chang|modif|swap",
    "cancel": r"cancel",
    "payment": r"pay",
    "address": r"address",
}


@dataclass(frozen=True, slots=True)
class Script:
    identity: str
    requests: tuple[Request, ...]


def parse_instruction(instruction: str) -> Script:
    """The identity line and the requests, in the order the instruction gives them."""
    name = _NAME.search(instruction)
    who = f"{name.group(1)} {name.group(2)}" if name else "a customer"
    if email := _EMAIL.search(instruction):
        identity = f"I'm {who}, my email is {email.group(1)}."
    elif zip_code := _ZIP.search(instruction):
        identity = f"I'm {who}, and my zip code is {zip_code.group(1)}."
    else:
        identity = f"I'm {who}."
    found: list[tuple[int, Request]] = []
    for kind, pattern in _REQUESTS:
        for m in pattern.finditer(instruction):
            found.append((m.start(), Request(_render(kind, m.groups()), kind, m.group(1))))
    return Script(identity, tuple(r for _, r in sorted(found, key=lambda f: f[0])))


class TauUser(Protocol):
    async def first(self) -> str: ...

    async def reply(self, agent_text: str) -> str | None:
        """The user's next message, or None when the user is done."""
        ...


class ScriptedTauUser:
    """Says who it is and the first request; answers "yes" to a confirmation question about that
    request (its order and kind of change) and "no" to one about anything else; after the
    agent's reply to the "yes", moves to the next request; repeats a request (at most twice)
    when the agent asks something else; stops when the requests run out."""

    def __init__(self, instruction: str) -> None:
        self.script = parse_instruction(instruction)
        self.index = 0
        self.confirmed = False
        self.repeats = 0

    async def first(self) -> str:
        if not self.script.requests:
            return f"Hi. {self.script.identity}"
        return f"Hi. {self.script.identity} {self.script.requests[0].text}"

    async def reply(self, agent_text: str) -> str | None:
        if self.index >= len(self.script.requests):
            return None
        request = self.script.requests[self.index]
        if not self.confirmed:
            if _ASKS_IDENTITY.search(agent_text) and not _ASKS_CONFIRM.search(agent_text):
                return self.script.identity
            if _ASKS_CONFIRM.search(agent_text) and request.matches(agent_text):
                self.confirmed = True
                return "Yes, please go ahead."
            if self.repeats < MAX_REPEATS:
                self.repeats += 1
                if _ASKS_CONFIRM.search(agent_text):
                    return f"No, that is not what I asked for. {request.text}"
                return f"To be clear: {request.text}"
        self.index += 1
        self.confirmed = False
        self.repeats = 0
        if self.index >= len(self.script.requests):
            return None
        return self.script.requests[self.index].text


LLM_USER = """You are a shopper chatting with an online shop's customer-service agent. Play this
person and follow their instruction:

{instruction}

Write one or two short sentences per message, as a real customer would. Give details only when
the agent asks for them, and never invent ids or details the instruction does not give. When
everything in the instruction is done, or cannot be done, reply only {stop}."""


class LLMTauUser:
    """A model plays the user from the instruction (for real runs; quality depends on the model)."""

    def __init__(self, instruction: str, llm: LLM) -> None:
        self.llm = llm
        self.messages = [ChatMessage("system", LLM_USER.format(instruction=instruction, stop=STOP))]

    async def _say(self, agent_text: str) -> str | None:
        self.messages.append(ChatMessage("user", agent_text))
        out = await self.llm.complete(self.messages, [], mode="text", max_tokens=120)
        text = out.content.strip()
        self.messages.append(ChatMessage("assistant", text))
        return None if not text or STOP in text else text

    async def first(self) -> str:
        return await self._say(GREETING) or "Hi."

    async def reply(self, agent_text: str) -> str | None:
        return await self._say(agent_text)
