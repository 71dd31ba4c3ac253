"""Render chat messages and tool schemas into Qwen's ChatML prompt text.

We render the prompt ourselves instead of using the GGUF's Jinja template so that the
prefix (system text + tool schemas) is byte-identical on every call — the KV cache then
reuses it — and so that tool calls in the history always look the same, whatever shape the
model produced them in (append-only history keeps the cache warm across a conversation).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from xiaoer.llm.base import ChatMessage, ToolSpec

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"

TOOLS_HEADER = "# 工具\n需要查询时调用下列函数之一。函数签名写在 <tools></tools> 里：\n<tools>\n"
TOOLS_FOOTER = (
    "</tools>\n"
    "调用函数时只输出下面的格式，不要加别的文字：\n"
    "<tool_call>\n"
    '{"name": "函数名", "arguments": {"参数名": "参数值"}}\n'
    "</tool_call>"
)


def render_tools(tools: Sequence[ToolSpec]) -> str:
    lines = [json.dumps(t.openai(), ensure_ascii=False, separators=(",", ":")) for t in tools]
    return TOOLS_HEADER + "\n".join(lines) + "\n" + TOOLS_FOOTER


def render_call(name: str, arguments: dict[str, object]) -> str:
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


def render(messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> str:
    """The whole prompt, ending with an open assistant message."""
    out: list[str] = []
    for i, m in enumerate(messages):
        role = m.role
        if role == "user" and i > 0 and messages[i - 1].role == "tool":
            # a note after tool results joins their user turn, after the responses
            out[-1] = out[-1].removesuffix(f"{IM_END}\n") + f"\n{m.content}{IM_END}\n"
            continue
        if role == "tool" and i > 0 and messages[i - 1].role == "tool":
            out[-1] = out[-1].removesuffix(f"{IM_END}\n") + (
                f"\n<tool_response>\n{m.content}\n</tool_response>{IM_END}\n"
            )
            continue
        if role == "system":
            text = m.content
            if i == 0 and tools:
                text = f"{text}\n\n{render_tools(tools)}"
            out.append(f"{IM_START}system\n{text}{IM_END}\n")
        elif role == "user":
            out.append(f"{IM_START}user\n{m.content}{IM_END}\n")
        elif role == "assistant":
            parts = [m.content] if m.content else []
            parts += [render_call(c.name, c.arguments) for c in m.tool_calls]
            out.append(f"{IM_START}assistant\n" + "\n".join(parts) + f"{IM_END}\n")
        else:  # tool results go back as a user turn, the way Qwen was trained
            out.append(f"{IM_START}user\n<tool_response>\n{m.content}\n</tool_response>{IM_END}\n")
    out.append(f"{IM_START}assistant\n")
    return "".join(out)
