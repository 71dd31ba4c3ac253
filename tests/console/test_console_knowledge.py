"""The knowledge page: chat-mined candidates with their source chat, approved (as mined or
edited) or rejected by the owner, and the merchant's facts with their expiry."""

from __future__ import annotations

import httpx

from console_fixture import NOW, csrf_of, login
from xiaoer.runtime import Runtime
from xiaoer.store.models import KnowledgeCandidateRow
from xiaoer.store.repositories import ConversationRepository, KnowledgeRepository

KB = "/console/mini/knowledge"


async def _candidates(runtime: Runtime) -> None:
    """k1 and k2 mined from the bundle's chat C1; k3 from a conversation the agents answered."""
    async with runtime.sessions() as s:
        repo = ConversationRepository(s, "mini")
        await repo.create("h1", "U2", "api", NOW)
        await repo.add_message("h1", "shopper", "可以开发票吗", NOW)
        await repo.add_message("h1", "agent", "可以的亲，下单备注抬头", NOW, meta={"agent": "li"})
        for cid, question, answer, chat in (
            ("k1", "到哪了", "亲，已到杭州转运中心", "C1"),
            ("k2", "什么时候发货", "48小时内发货", "C1"),
            ("k3", "可以开发票吗", "可以的亲", "h1"),
        ):
            s.add(
                KnowledgeCandidateRow(
                    shop_id="mini", id=cid, source_id="chats:test.jsonl", question=question,
                    variants=[], answer=answer, chat_ids=[chat], score=0.9, flags=[],
                    status="pending", note="", created_at=NOW,
                )
            )  # fmt: skip
        await s.commit()


async def _candidate(runtime: Runtime, cid: str) -> KnowledgeCandidateRow:
    async with runtime.sessions() as s:
        row = await KnowledgeRepository(s, "mini").candidate(cid)
        assert row is not None
        return row


async def test_the_owner_approves_edits_and_rejects_candidates(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await _candidates(runtime)
    await login(console, "boss")
    page = (await console.get(KB)).text
    assert all(f'data-id="{c}"' in page for c in ("k1", "k2", "k3"))
    assert "亲，已到杭州转运中心" in page  # the bundle chat's excerpt
    assert "下单备注抬头" in page  # the conversation's excerpt
    assert '<label for="a-k2">' in page and '<label for="note-k3">' in page
    token = csrf_of(page)

    r = await console.post(f"{KB}/candidates/k1/approve", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == f"{KB}?done=kn_approved"
    edited = {"csrf": token, "question": "几天发货", "answer": "付款后48小时内发货"}
    assert (await console.post(f"{KB}/candidates/k2/approve", data=edited)).status_code == 303
    r = await console.post(f"{KB}/candidates/k3/reject", data={"csrf": token, "note": "不准确"})
    assert r.headers["location"] == f"{KB}?done=kn_rejected"

    k1, k2, k3 = [await _candidate(runtime, c) for c in ("k1", "k2", "k3")]
    assert (k1.status, k2.status, k3.status) == ("approved", "approved", "rejected")
    assert (k2.question, k2.answer, k2.note) == ("几天发货", "付款后48小时内发货", "edited")
    assert k3.note == "不准确"
    async with runtime.sessions() as s:
        chunk = await KnowledgeRepository(s, "mini").chunk("chat:k2")
        assert chunk is not None and "付款后48小时内发货" in chunk.text
    shown = (await console.get(f"{KB}?done=kn_rejected")).text
    assert "已拒绝该候选" in shown and "没有待审核的问答" in shown


async def test_the_owner_adds_facts_with_and_without_expiry(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await login(console, "boss")
    token = csrf_of((await console.get(KB)).text)
    dated = {"csrf": token, "text": "本周六不发货", "expires": "2026-11-22"}
    r = await console.post(f"{KB}/facts", data=dated)
    assert r.status_code == 303 and r.headers["location"] == f"{KB}?done=fact_added"
    r = await console.post(f"{KB}/facts", data={"csrf": token, "text": "顺丰包邮", "expires": ""})
    assert r.status_code == 303
    page = (await console.get(f"{KB}?done=fact_added")).text
    assert "已添加商家补充" in page
    table = page[page.index('<table id="facts">') :]
    # the end of 22 Nov in the shop's timezone (Asia/Shanghai) is 16:00 UTC that day
    assert "本周六不发货" in table and "2026-11-22 16:00 UTC" in table
    assert "顺丰包邮" in table and "长期有效" in table
    hits = await runtime.knowledge().search("mini", "周六发货吗", method="bm25")
    assert any("本周六不发货" in h.passage.text for h in hits)


async def test_bad_knowledge_input_is_a_clear_message(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await _candidates(runtime)
    await login(console, "boss")
    token = csrf_of((await console.get(KB)).text)
    empty = await console.post(f"{KB}/facts", data={"csrf": token, "text": " "})
    assert empty.status_code == 400 and "the fact is empty" in empty.text
    bad_day = await console.post(
        f"{KB}/facts", data={"csrf": token, "text": "x", "expires": "周六"}
    )
    assert bad_day.status_code == 400 and "YYYY-MM-DD" in bad_day.text
    past = await console.post(
        f"{KB}/facts", data={"csrf": token, "text": "x", "expires": "2026-01-01"}
    )
    assert past.status_code == 400 and "already over" in past.text
    unknown = await console.post(f"{KB}/candidates/nope/approve", data={"csrf": token})
    assert unknown.status_code == 404 and "no candidate" in unknown.text
    verb = await console.post(f"{KB}/candidates/k1/maybe", data={"csrf": token})
    assert verb.status_code == 400 and "unknown decision" in verb.text
    blank = {"csrf": token, "question": "到哪了", "answer": "  "}
    r = await console.post(f"{KB}/candidates/k1/approve", data=blank)
    assert r.status_code == 400 and "the answer is empty" in r.text
    assert (await _candidate(runtime, "k1")).status == "pending"
    async with runtime.sessions() as s:
        assert not [c for c in await KnowledgeRepository(s, "mini").chunks() if c.kind == "fact"]


async def test_knowledge_csrf_roles_and_shops(console: httpx.AsyncClient, runtime: Runtime) -> None:
    await _candidates(runtime)
    await login(console, "li")
    page = (await console.get(KB)).text
    assert page.count('data-id="k') == 3 and "只有店主可以批准" in page  # read-only for agents
    assert f'action="{KB}/candidates/k1/approve"' not in page and f'action="{KB}/facts"' not in page
    token = csrf_of(page)
    r = await console.post(f"{KB}/candidates/k1/approve", data={"csrf": token})
    assert r.status_code == 403
    r = await console.post(f"{KB}/facts", data={"csrf": token, "text": "客服加的"})
    assert r.status_code == 403
    await console.post("/console/logout", data={"csrf": token})

    await login(console, "boss")
    token = csrf_of((await console.get(KB)).text)
    no_token = await console.post(f"{KB}/candidates/k1/approve", data={"answer": "x"})
    assert no_token.status_code == 403
    r = await console.post(f"{KB}/facts", data={"csrf": "forged", "text": "x"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = await console.post("/console/other/knowledge/facts", data={"csrf": token, "text": "x"})
    assert r.status_code == 404
    assert (await console.get("/console/other/knowledge")).status_code == 404
    assert (await _candidate(runtime, "k1")).status == "pending"
    async with runtime.sessions() as s:
        assert not [c for c in await KnowledgeRepository(s, "mini").chunks() if c.kind == "fact"]


async def test_the_test_box_shows_what_the_bot_would_find(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await login(console, "li")  # agents may ask too
    page = await console.get(KB, params={"ask": "支持七天无理由吗"})
    assert page.status_code == 200
    found = page.text.split('<section id="found"', 1)[1].split("</section>", 1)[0]
    assert "支持，定制款除外。" in found  # the bundle's FAQ entry
    empty = await console.get(KB, params={"ask": "   "})
    assert 'id="found"' not in empty.text


async def test_the_owner_imports_a_document_and_watches_its_progress(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await login(console, "boss")
    page = (await console.get(KB)).text
    assert 'enctype="multipart/form-data"' in page and '<label for="import-file">' in page
    token = csrf_of(page)
    doc = "# 保养指南\n\n鞋面用软毛刷蘸清水轻刷，阴干，不要暴晒，不要机洗。\n"
    r = await console.post(
        f"{KB}/documents", data={"csrf": token}, files={"file": ("保养指南.md", doc.encode())}
    )
    assert r.status_code == 200 and r.headers["content-security-policy"].startswith("default-src")
    assert "<progress" in r.text and 'id="import-done"' in r.text
    assert "保养指南.md：1 段（新增）" in r.text and r.text.rstrip().endswith("</html>")
    # the bot's knowledge search finds it; sent again unchanged, nothing changes
    found = (await console.get(KB, params={"ask": "鞋子怎么保养"})).text
    assert "不要机洗" in found
    again = await console.post(
        f"{KB}/documents", data={"csrf": token}, files={"file": ("保养指南.md", doc.encode())}
    )
    assert "内容没有变化" in again.text


async def test_a_bad_import_is_a_clear_message_not_a_traceback(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await login(console, "boss")
    token = csrf_of((await console.get(KB)).text)
    upload = {"file": ("notes.exe", b"MZ")}
    r = await console.post(f"{KB}/documents", data={"csrf": token}, files=upload)
    assert r.status_code == 400 and ".md" in r.text
    r = await console.post(f"{KB}/documents", data={"csrf": "forged"},
                           files={"file": ("a.md", b"# a\n\ntext\n")})  # fmt: skip
    assert r.status_code == 403
    r = await console.post(f"{KB}/documents", data={"csrf": token})  # no file
    assert r.status_code == 400
    r = await console.post(f"{KB}/documents", data={"csrf": token},
                           files={"file": ("broken.pdf", b"not a pdf at all")})  # fmt: skip
    assert r.status_code == 200 and 'id="import-failed"' in r.text and "Traceback" not in r.text
    r = await console.post(f"{KB}/documents", data={"csrf": token},
                           files={"file": ("empty.md", b"   \n")})  # fmt: skip
    assert 'id="import-failed"' in r.text
    # an agent may not import
    await console.post("/console/logout", data={"csrf": token})
    await login(console, "li")
    token = csrf_of((await console.get(KB)).text)
    r = await console.post(f"{KB}/documents", data={"csrf": token},
                           files={"file": ("a.md", b"# a\n\ntext\n")})  # fmt: skip
    assert r.status_code == 403
