"""A scripted LLM for unit tests only: replies come from a list or a function."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from xiaoer.llm.base import ChatMessage, Completion, Mode, OnText, ToolCall, ToolSpec

type Script = Callable[[Sequence[ChatMessage], Sequence[ToolSpec], Mode], Completion]


def call(name: str, **arguments: object) -> Completion:
    return Completion(content="", tool_calls=[ToolCall(f"call_{name}", name, dict(arguments))])


def say(text: str) -> Completion:
    return Completion(content=text, raw=text)


@dataclass
class ScriptedLLM:
    """Returns `steps` in order (or asks `script`); records every call it received."""

    steps: list[Completion] = field(default_factory=list)
    script: Script | None = None
    name: str = "scripted"
    calls: list[tuple[list[ChatMessage], Mode]] = field(default_factory=list)

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        mode: Mode = "auto",
        max_tokens: int = 384,
        on_text: OnText | None = None,
    ) -> Completion:
        self.calls.append((list(messages), mode))
        if self.script is not None:
            result = self.script(messages, tools, mode)
        elif self.steps:
            result = self.steps.pop(0)
        else:
            raise AssertionError("ScriptedLLM ran out of scripted steps")
        if result.content and on_text is not None and not result.tool_calls:
            await on_text(result.content)
            result.ttft_ms = 0
        return result
