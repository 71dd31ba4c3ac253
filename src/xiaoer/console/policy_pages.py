"""The policy page (店铺策略), owner only: the policy in force as it was written, in an editor;
检查 (check) validates a draft and shows each problem with its line, or what it changes field by
field, and — when asked — the dry run (试运行): the shop's recorded decisions re-decided under
the draft (`Runtime.replay_policy`, nothing written); 发布 (publish) makes it the new version;
every earlier version can be read and rolled back to (as a new version that says so).

- `/console/{shop}/policy` (GET) the editor and the versions
- `/console/{shop}/policy/check` (POST) the same page with the draft checked
- `/console/{shop}/policy/publish` (POST) → redirect with `?done=policy_published`
- `/console/{shop}/policy/versions/{n}` (GET) one version; `…/versions/{n}/rollback` (POST)
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from xiaoer.agent.replay_report import counts
from xiaoer.agent.replay_report import render as render_replay
from xiaoer.console.pages import Pages
from xiaoer.domain.errors import BadInput
from xiaoer.policy.diff import render as render_diff
from xiaoer.services import policies as policies_service

__all__ = ["add_policy_pages"]


def add_policy_pages(app: FastAPI, pages: Pages) -> None:
    rt, base, page_ctx, posted, render = (
        pages.rt, pages.base, pages.page_ctx, pages.posted, pages.render
    )  # fmt: skip

    def url(shop_id: str) -> str:
        return f"{base}/{shop_id}/policy"

    async def page(request: Request, ctx: dict[str, Any], text: str, **more: Any) -> Response:
        async with rt().sessions() as s:
            history = await policies_service.history(s, ctx["shop"])
        return render(request, "policy.html", text=text, history=history, **more, **ctx)

    @app.get("/{shop_id}/policy")
    async def policy(request: Request, shop_id: str) -> Response:
        ctx = await page_ctx(request, shop_id, owner=True)
        async with rt().sessions() as s:
            text = await policies_service.draft_text(s, shop_id)
        return await page(request, ctx, text)

    @app.post("/{shop_id}/policy/check")
    async def check(request: Request, shop_id: str) -> Response:
        ctx, fields = await posted(request, shop_id, owner=True)
        text, runtime = fields.get("text", ""), rt()
        async with runtime.sessions() as s:
            draft = await policies_service.check(s, shop_id, text)
        replay: list[str] | None = None
        tally: dict[str, int] | None = None
        if draft.valid and draft.policy is not None and fields.get("replay"):
            items = await runtime.replay_policy(shop_id, draft.policy)
            replay, tally = render_replay(items, shop_id, "draft"), counts(items)
        diff = render_diff(draft.changes, "in force", "draft") if draft.valid else []
        return await page(request, ctx, text, draft=draft, diff=diff, replay=replay, tally=tally)

    @app.post("/{shop_id}/policy/publish")
    async def publish(request: Request, shop_id: str) -> Response:
        ctx, fields = await posted(request, shop_id, owner=True)
        runtime = rt()
        async with runtime.sessions() as s:
            _, new = await policies_service.publish(
                s, shop_id, fields.get("text", ""), runtime.clock(),
                f"console by {ctx['account'].name}",
            )  # fmt: skip
            await s.commit()
        done = "policy_published" if new else "policy_unchanged"
        return RedirectResponse(f"{url(shop_id)}?done={done}", status_code=303)

    @app.get("/{shop_id}/policy/versions/{number}")
    async def one_version(request: Request, shop_id: str, number: str) -> Response:
        ctx = await page_ctx(request, shop_id, owner=True)
        async with rt().sessions() as s:
            history = await policies_service.history(s, shop_id)
        shown = next((v for v in history if str(v.number) == number), None)
        if shown is None:
            raise BadInput(f"no version {number!r} of this shop's policy")
        return render(request, "policy_version.html", version=shown, latest=history[0], **ctx)

    @app.post("/{shop_id}/policy/versions/{number}/rollback")
    async def rollback(request: Request, shop_id: str, number: int) -> Response:
        ctx, _ = await posted(request, shop_id, owner=True)
        runtime = rt()
        async with runtime.sessions() as s:
            _, new = await policies_service.rollback(
                s, shop_id, number, runtime.clock(), ctx["account"].name
            )
            await s.commit()
        done = "policy_rolled_back" if new else "policy_unchanged"
        return RedirectResponse(f"{url(shop_id)}?done={done}", status_code=303)
