"""The parts of a llama-cpp-python model that `LlamaLLM` reads besides generation, faked: a
token per four bytes, an end-of-text token 0, every token read back as 好."""

from __future__ import annotations

from typing import Any


class FakeTokens:
    def token_eos(self) -> int:
        return 0

    def tokenize(self, text: bytes, **_kwargs: Any) -> list[int]:
        return [1] * max(1, len(text) // 4)

    def n_ctx(self) -> int:
        return 4096

    def detokenize(self, _ids: list[int], **_kwargs: Any) -> bytes:
        return "好".encode()


class NoSnapshots:
    """No llama.cpp state to keep."""

    def restore(self, _tokens: list[int]) -> int:
        return 0

    def save(self) -> None:
        return None
