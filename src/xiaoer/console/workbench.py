"""The human workbench (人工工作台) on a transcript page, and the knowledge review page.

Every form posts (with the session's CSRF token) to one of the routes below, which calls the
same operation the JSON API calls, then redirects back to the page it came from with `?done=`
naming the flash message (POST-redirect-GET). A bad input or a conflict (an empty reply, an
unknown action, a conversation another agent holds) is the error page with the reason.

- `/console/{shop}/conversations/{id}/takeover|reply|whisper|release` → `Inbox` (as
  `/v1/inbox/{id}/…`); the human agent is the signed-in account.
- `/console/{shop}/conversations/{id}/actions/{action}/approve|reject` → `Runtime.review_action`
  (as `/v1/actions/{action}/approve|reject`).
- `/console/{shop}/knowledge` (GET) the pending candidates with their source chat, and the
  merchant's facts; `…/knowledge/candidates/{id}/approve|reject`, `…/knowledge/facts` →
  `KnowledgeBase` (as `/v1/knowledge/…`).

Roles: owner and agent both take over, reply, whisper, release and review a conversation's
actions (the work of the queue). Knowledge changes what the bot tells every shopper, so only
the owner approves, rejects or adds; an agent sees the page read-only.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from xiaoer.console.pages import Pages
from xiaoer.domain.errors import BadInput
from xiaoer.knowledge import cite
from xiaoer.services import knowledge as knowledge_service

__all__ = ["add_knowledge_pages", "add_workbench"]

NOTE_CHARS = 500
ASK_CHARS = 200
DECISIONS = ("approve", "reject")


def _back(url: str, done: str) -> Response:
    return RedirectResponse(f"{url}?done={done}", status_code=303)


def _decision(decision: str) -> bool:
    if decision not in DECISIONS:
        raise BadInput(f"unknown decision {decision!r}; use approve or reject")
    return decision == "approve"


def _note(fields: dict[str, str]) -> str:
    note = fields.get("note", "").strip()
    if len(note) > NOTE_CHARS:
        raise BadInput(f"the note is {len(note)} characters; the limit is {NOTE_CHARS}")
    return note


def add_workbench(app: FastAPI, pages: Pages) -> None:
    """The transcript page's forms: take over, reply, whisper, release, review an action."""
    rt, base, posted = pages.rt, pages.base, pages.posted

    def url(shop_id: str, conversation_id: str) -> str:
        return f"{base}/{shop_id}/conversations/{conversation_id}"

    @app.post("/{shop_id}/conversations/{conversation_id}/takeover")
    async def takeover(request: Request, shop_id: str, conversation_id: str) -> Response:
        ctx, _ = await posted(request, shop_id)
        await rt().inbox().takeover(shop_id, conversation_id, ctx["account"].name[:64])
        return _back(url(shop_id, conversation_id), "taken")

    @app.post("/{shop_id}/conversations/{conversation_id}/reply")
    async def reply(request: Request, shop_id: str, conversation_id: str) -> Response:
        ctx, fields = await posted(request, shop_id)
        agent = ctx["account"].name[:64]
        await rt().inbox().reply(shop_id, conversation_id, fields.get("text", ""), agent)
        return _back(url(shop_id, conversation_id), "replied")

    @app.post("/{shop_id}/conversations/{conversation_id}/whisper")
    async def whisper(request: Request, shop_id: str, conversation_id: str) -> Response:
        ctx, fields = await posted(request, shop_id)
        by = ctx["account"].name[:64]
        await rt().inbox().whisper(shop_id, conversation_id, fields.get("text", ""), by)
        return _back(url(shop_id, conversation_id), "whispered")

    @app.post("/{shop_id}/conversations/{conversation_id}/release")
    async def release(request: Request, shop_id: str, conversation_id: str) -> Response:
        await posted(request, shop_id)
        await rt().inbox().release(shop_id, conversation_id)
        return _back(url(shop_id, conversation_id), "released")

    @app.post("/{shop_id}/conversations/{conversation_id}/actions/{action_id}/{decision}")
    async def review(
        request: Request, shop_id: str, conversation_id: str, action_id: str, decision: str
    ) -> Response:
        _, fields = await posted(request, shop_id)
        approve = _decision(decision)
        await rt().review_action(shop_id, action_id, approve=approve, note=_note(fields))
        return _back(url(shop_id, conversation_id), "approved" if approve else "rejected")


def add_knowledge_pages(app: FastAPI, pages: Pages) -> None:
    """The knowledge review page and its owner-only forms."""
    rt, base, page_ctx, posted, render = (
        pages.rt, pages.base, pages.page_ctx, pages.posted, pages.render
    )  # fmt: skip

    @app.get("/{shop_id}/knowledge")
    async def knowledge(request: Request, shop_id: str, ask: str = "") -> Response:
        """The review page; `?ask=` is its test box: what the bot's knowledge search finds for
        a shopper's question (the snippets the model is shown), best first."""
        ctx = await page_ctx(request, shop_id)
        runtime = rt()
        async with runtime.sessions() as s:
            candidates = await knowledge_service.pending(s, shop_id)
            facts = await knowledge_service.facts(s, shop_id, runtime.clock())
        ask = ask.strip()[:ASK_CHARS]
        found = (
            [cite(h) for h in await runtime.knowledge().search(shop_id, ask, k=5)] if ask else []
        )
        return render(request, "knowledge.html", candidates=candidates, facts=facts, ask=ask,
                      found=found, **ctx)  # fmt: skip

    @app.post("/{shop_id}/knowledge/candidates/{candidate_id}/{decision}")
    async def review(request: Request, shop_id: str, candidate_id: str, decision: str) -> Response:
        _, fields = await posted(request, shop_id, owner=True)
        kb = rt().knowledge()
        if _decision(decision):
            answer, question = fields.get("answer"), fields.get("question")
            if answer is not None and not answer.strip():
                raise BadInput("the answer is empty; write one or reject the candidate")
            limits = knowledge_service.ANSWER_CHARS, knowledge_service.QUESTION_CHARS
            if len(answer or "") > limits[0] or len(question or "") > limits[1]:
                raise BadInput(
                    f"an answer is at most {limits[0]} characters, a question {limits[1]}"
                )
            await kb.approve(shop_id, candidate_id, answer=answer, question=question)
            return _back(f"{base}/{shop_id}/knowledge", "kn_approved")
        await kb.reject(shop_id, candidate_id, note=_note(fields))
        return _back(f"{base}/{shop_id}/knowledge", "kn_rejected")

    @app.post("/{shop_id}/knowledge/facts")
    async def add_fact(request: Request, shop_id: str) -> Response:
        _, fields = await posted(request, shop_id, owner=True)
        runtime, day = rt(), fields.get("expires", "")
        async with runtime.sessions() as s:
            expires = await knowledge_service.fact_expiry(s, shop_id, day, runtime.clock())
        await runtime.knowledge().add_fact(shop_id, fields.get("text", ""), expires_at=expires)
        return _back(f"{base}/{shop_id}/knowledge", "fact_added")
