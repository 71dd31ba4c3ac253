"""An OpenAI-compatible endpoint gets the client timeout from settings (the `openai` SDK's
default was 600 s), and a turn's deadline has a default for each kind of model."""

from __future__ import annotations

from pathlib import Path

from xiaoer.config import Settings
from xiaoer.llm.openai_compat import OpenAICompatLLM, SSEChat
from xiaoer.runtime import build_llm


def test_the_endpoint_client_gets_the_timeout_from_settings(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, llm_base_url="http://127.0.0.1:9/v1", llm_timeout=7.5)
    llm = build_llm(settings)
    assert isinstance(llm, OpenAICompatLLM)
    assert isinstance(llm.client, SSEChat)
    assert llm.client.timeout == 7.5 and llm.client.retries == 1
    default = build_llm(Settings(home=tmp_path, llm_base_url="http://127.0.0.1:9/v1"))
    assert isinstance(default, OpenAICompatLLM) and isinstance(default.client, SSEChat)
    assert default.client.timeout == 30.0


def test_the_turn_deadline_defaults_by_model(tmp_path: Path) -> None:
    assert Settings(home=tmp_path, llm_base_url="http://x/v1").deadline_s == 30.0
    assert Settings(home=tmp_path).deadline_s == 180.0  # the embedded model queues its calls
    assert Settings(home=tmp_path, turn_deadline=12).deadline_s == 12.0
    assert Settings(home=tmp_path, turn_deadline=0).deadline_s is None
