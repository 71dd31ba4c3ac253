"""Policy versions: numbered on each import that changes the policy, readable afterwards, and
named by every action proposed under them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from minishop import write_bundle
from xiaoer.config import Settings
from xiaoer.domain.errors import NotFound
from xiaoer.llm.scripted import ScriptedLLM, call
from xiaoer.policy import ShopPolicy, load_policy
from xiaoer.policy.versions import parse_ref, policy_hash
from xiaoer.runtime import Runtime
from xiaoer.store.models import ActionRow

STRICT = "# 双十一后收紧\nrefund: {auto_limit: 100}\n"


async def test_each_import_that_changes_the_policy_is_a_new_version(
    runtime: Runtime, tmp_path: Path
) -> None:
    (v1,) = await runtime.policy_versions("mini")
    assert (v1.number, v1.source) == (1, "import bundle")
    assert v1.text.startswith("# 没有 policy.yaml") and v1.policy() == ShopPolicy()

    _, counts = await runtime.import_shop(write_bundle(tmp_path / "b2", policy=STRICT))
    assert counts["policy_version"] == 2
    _, counts = await runtime.import_shop(write_bundle(tmp_path / "b3", policy=STRICT))
    assert counts["policy_version"] == 2  # the same policy again: no new version
    relaid = "refund:\n  auto_limit: 100   # 同上，只改了排版\n"
    _, counts = await runtime.import_shop(write_bundle(tmp_path / "b4", policy=relaid))
    assert counts["policy_version"] == 2  # comments and layout are no change

    versions = await runtime.policy_versions("mini")
    assert [v.number for v in versions] == [1, 2]
    v2 = await runtime.policy_version("mini", 2)
    assert v2.text == STRICT  # as the merchant wrote it
    assert v2.policy().refund.auto_limit == 10000
    assert v2.content_hash == policy_hash(load_policy(STRICT)) != v1.content_hash
    assert (await runtime.policy_version("mini", None)).number == 2

    _, counts = await runtime.import_shop(write_bundle(tmp_path / "b5"))
    assert counts["policy_version"] == 3  # back to the defaults is a change too


async def test_a_missing_version_is_a_clear_error(runtime: Runtime) -> None:
    with pytest.raises(NotFound, match="no policy version 7"):
        await runtime.policy_version("mini", 7)
    with pytest.raises(NotFound, match="no policy versions"):
        await runtime.policy_version("nope", None)


def test_version_references() -> None:
    assert parse_ref("mini@2") == ("mini", 2)
    assert parse_ref("mini@v2") == ("mini", 2)
    assert parse_ref(" shop-a@latest ") == ("shop-a", None)
    assert parse_ref("policy.yaml") is None
    assert parse_ref("mini@two") is None


async def test_every_action_records_the_version_it_was_decided_under(
    settings: Settings, llm: ScriptedLLM, tmp_path: Path
) -> None:
    rt = await Runtime.open(settings, llm=llm)
    try:
        await rt.import_shop(write_bundle(tmp_path / "a"))
        llm.steps = [call("cancel_order", order_id="SO1002", reason="拍错了")]
        await rt.assistant().turn("mini", "U1", "SO1002 拍错了，帮我取消")
        async with rt.sessions() as s:
            first = [(r.tool, r.policy_version) for r in await s.scalars(select(ActionRow))]
        await rt.import_shop(write_bundle(tmp_path / "b", policy=STRICT))
        llm.steps = [call("request_refund", order_id="SO1002")]
        await rt.assistant().turn("mini", "U1", "SO1002 不要了，退款")
        async with rt.sessions() as s:
            rows = list(await s.scalars(select(ActionRow)))
    finally:
        await rt.close()
    assert first == [("cancel_order", 1)]
    # the re-import replaced the shop's conversations; the new one ran on version 2
    assert [(r.tool, r.policy_version) for r in rows] == [("request_refund", 2)]


async def test_an_action_under_a_policy_no_version_holds_records_none(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    async def unrecorded(_shop: str, _session: object = None) -> ShopPolicy:
        return load_policy("refund: {auto_limit: 1}\n")

    assistant = runtime.assistant()
    assistant.policy_for = unrecorded
    llm.steps = [call("cancel_order", order_id="SO1002", reason="拍错了")]
    await assistant.turn("mini", "U1", "SO1002 拍错了，帮我取消")
    async with runtime.sessions() as s:
        (row,) = list(await s.scalars(select(ActionRow)))
    assert row.policy_version is None
