"""The one `LLM` port (OpenAI chat-completions shapes) and its implementations.

- `LlamaLLM` (`llama.py`): the embedded default, Qwen2.5-Coder-1.5B-Instruct Q4_K_M on CPU.
- `OpenAICompatLLM` (`openai_compat.py`): any OpenAI-compatible endpoint, streaming.
- `ScriptedLLM` (`scripted.py`): unit tests only.
"""

from xiaoer.llm.base import LLM, ChatMessage, Completion, ToolCall, ToolSpec

__all__ = ["LLM", "ChatMessage", "Completion", "ToolCall", "ToolSpec"]
