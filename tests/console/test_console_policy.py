"""The policy page: the owner edits the policy, checks it (problems with their lines, or the
changes and a dry run), publishes it as a new version, and rolls back; agents may not."""

from __future__ import annotations

import re

import httpx

from console_fixture import csrf_of, login
from xiaoer.runtime import Runtime

POLICY = "/console/mini/policy"


def _versions(html: str) -> list[str]:
    return re.findall(r'<tr data-number="(\d+)">', html)


async def test_the_owner_checks_publishes_and_rolls_back(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    before = (await runtime.policy("mini")).refund.auto_limit
    # validated once while unchanged (each turn asks), and again once published anew, below
    assert await runtime.policy("mini") is await runtime.policy("mini")
    await login(console, "boss")
    page = await console.get(POLICY)
    assert page.status_code == 200
    assert '<label for="policy-text">' in page.text and _versions(page.text) == ["1"]
    token = csrf_of(page.text)

    bad = await console.post(
        f"{POLICY}/check", data={"csrf": token, "text": "refund:\n  auto_limit: lots\n"}
    )
    assert bad.status_code == 200 and 'id="problems"' in bad.text
    assert "行 2" in bad.text and "refund.auto_limit" in bad.text
    assert f'action="{POLICY}/publish"' not in bad.text  # nothing to publish

    draft = "refund:\n  auto_limit: 100\n"
    checked = await console.post(
        f"{POLICY}/check", data={"csrf": token, "text": draft, "replay": "1"}
    )
    assert checked.status_code == 200 and 'id="problems"' not in checked.text
    assert "refund.auto_limit" in checked.text and 'id="dry-run"' in checked.text
    assert f'action="{POLICY}/publish"' in checked.text

    r = await console.post(
        f"{POLICY}/publish", data={"csrf": token, "text": draft.replace("\n", "\r\n")}
    )
    assert r.status_code == 303 and r.headers["location"] == f"{POLICY}?done=policy_published"
    assert (await runtime.policy("mini")).refund.auto_limit == 100_00  # ¥100, kept in fen
    page = await console.get(r.headers["location"])
    assert "已发布新版本" in page.text and _versions(page.text) == ["2", "1"]
    assert "console by boss" in page.text
    assert (await runtime.policy_version("mini", 2)).text == draft  # kept as written, LF

    again = await console.post(f"{POLICY}/publish", data={"csrf": token, "text": draft})
    assert again.headers["location"] == f"{POLICY}?done=policy_unchanged"
    assert _versions((await console.get(POLICY)).text) == ["2", "1"]

    v1 = await console.get(f"{POLICY}/versions/1")
    assert v1.status_code == 200 and 'id="version-text"' in v1.text
    rolled = await console.post(f"{POLICY}/versions/1/rollback", data={"csrf": token})
    assert rolled.headers["location"] == f"{POLICY}?done=policy_rolled_back"
    assert (await runtime.policy("mini")).refund.auto_limit == before
    page = (await console.get(POLICY)).text
    assert _versions(page) == ["3", "2", "1"] and "rollback to v1 by boss" in page


async def test_bad_requests_get_reasons_and_change_nothing(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await login(console, "boss")
    token = csrf_of((await console.get(POLICY)).text)
    no_csrf = await console.post(f"{POLICY}/publish", data={"text": "refund:\n  auto_limit: 1\n"})
    assert no_csrf.status_code == 403
    invalid = await console.post(
        f"{POLICY}/publish", data={"csrf": token, "text": "refund: [unclosed\n"}
    )
    assert invalid.status_code == 400 and "not valid" in invalid.text
    assert (await console.get(f"{POLICY}/versions/99")).status_code == 400
    assert (
        await console.post(f"{POLICY}/versions/99/rollback", data={"csrf": token})
    ).status_code == 404
    assert len(await runtime.policy_versions("mini")) == 1


async def test_agents_and_other_shops_may_not(console: httpx.AsyncClient) -> None:
    await login(console, "li")  # an agent of mini
    assert (await console.get(POLICY)).status_code == 403
    await login(console, "far")  # the owner of another shop
    assert (await console.get(POLICY)).status_code == 404
