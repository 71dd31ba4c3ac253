"""An OpenAI-compatible endpoint gets the client timeout from settings (the `openai` SDK's
default was 600 s), and a turn's deadline has a default for each kind of model."""

from __future__ import annotations

from pathlib import Path

from xiaoer.config import Settings
from xiaoer.llm.openai_compat import OpenAICompatLLM, SSEChat
from xiaoer.llm.scripted import ScriptedLLM
from xiaoer.runtime import Runtime, build_llm


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


class OneAtATime(ScriptedLLM):
    serves_at_once = 1


async def test_a_process_works_on_as_many_turns_as_it_has_model_slots(tmp_path: Path) -> None:
    """Fewer turn slots than model slots would leave model slots idle while shoppers wait."""

    async def slots(llm: object = None, **more: object) -> int:
        rt = await Runtime.open(Settings(home=tmp_path, **more), llm=llm)  # type: ignore[arg-type]
        try:
            gate = rt.turns().gate
            assert gate is not None
            return gate.slots
        finally:
            await rt.close()

    endpoint = {"llm_base_url": "http://127.0.0.1:9/v1"}
    assert await slots(**endpoint) == 32  # an endpoint's model slots
    assert await slots(**endpoint, llm_slots=48) == 48
    assert await slots(**endpoint, llm_slots=4) == 16  # never fewer than 16
    assert await slots(**endpoint, turn_slots=5) == 5  # the merchant's own figure
    assert await slots(OneAtATime()) == 16  # the embedded model serves one call at a time
