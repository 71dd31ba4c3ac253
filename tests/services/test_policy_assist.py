"""Switching 智能辅助 (`handoff.assist`) publishes a new policy version that changes that one
setting: the merchant's text — comments, order, other settings — stays as written where the
YAML is block style; a flow-style `handoff` section is rewritten with its values kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from xiaoer.runtime import Runtime
from xiaoer.services.policies import draft_text, publish, set_assist

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)

WRITTEN = """# 店铺策略
confirm:
  ttl_minutes: 45   # 待确认的操作 45 分钟后失效
handoff:
  minutes_each: 5   # 每位约 5 分钟
guard:
  judge: true
"""


async def _published(runtime: Runtime, text: str) -> None:
    async with runtime.sessions() as s:
        await publish(s, "mini", text, NOW, "test")
        await s.commit()


async def _switch(runtime: Runtime, on: bool) -> tuple[str, bool]:
    async with runtime.sessions() as s:
        _, new = await set_assist(s, "mini", on, NOW, "boss")
        await s.commit()
        return await draft_text(s, "mini"), new


@pytest.mark.parametrize(
    "text", [WRITTEN, WRITTEN.replace("handoff:\n  minutes_each: 5   # 每位约 5 分钟\n", "")]
)
async def test_one_line_changes_and_the_rest_stays_as_written(runtime: Runtime, text: str) -> None:
    await _published(runtime, text)
    after, new = await _switch(runtime, True)
    assert new and "  assist: true" in after
    assert [line for line in after.splitlines() if "assist" not in line and line != "handoff:"] == [
        line for line in text.splitlines() if line != "handoff:"
    ]  # every other line, comments too, as written
    policy = await runtime.policy("mini")
    assert policy.handoff.assist and policy.confirm.ttl_minutes == 45
    off, new = await _switch(runtime, False)
    assert new and "  assist: false" in off and not (await runtime.policy("mini")).handoff.assist
    _, new = await _switch(runtime, False)
    assert not new  # already off: no new version


async def test_a_flow_style_section_is_rewritten_with_its_values(runtime: Runtime) -> None:
    await _published(runtime, "handoff: {minutes_each: 7}\n")
    after, _ = await _switch(runtime, True)
    policy = await runtime.policy("mini")
    assert policy.handoff.assist and policy.handoff.minutes_each == 7
    assert after.count("handoff:") == 1
