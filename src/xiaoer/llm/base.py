"""Message and tool shapes shared by every LLM backend, and the `LLM` protocol."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]
Mode = Literal["auto", "text", "call"]
"""`auto`: the model chooses text or a tool call. `text`: a reply only. `call`: a tool call only
(constrained decoding where the backend supports it)."""

OnText = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]

    def openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(slots=True)
class Completion:
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cached_tokens: int = 0
    ttft_ms: int | None = None
    """Milliseconds to the first streamed text token (None when nothing was streamed)."""
    raw: str = ""


class LLM(Protocol):
    name: str

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        mode: Mode = "auto",
        max_tokens: int = 384,
        on_text: OnText | None = None,
    ) -> Completion:
        """One model call. Text replies stream to `on_text` as they are generated."""
        ...


@runtime_checkable
class Warms(Protocol):
    """A model with a prompt cache worth filling ahead of the calls that will need it (the
    embedded model); an endpoint keeps its own prefix cache and has nothing to warm."""

    async def warm(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> int:
        """Read this prompt into the cache; returns the tokens read (0: it was there)."""
        ...


async def warm(llm: LLM, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> int:
    """`Warms.warm` where the model has a cache to fill; 0 where it has none."""
    inner = getattr(llm, "inner", llm)  # a gated model: its cache is the wrapped one's
    return await inner.warm(messages, tools) if isinstance(inner, Warms) else 0
