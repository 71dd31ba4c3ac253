"""Merchant knowledge endpoints: documents, facts, search with sources, candidate review."""

from __future__ import annotations

import httpx


async def test_documents_facts_and_search(merchant: httpx.AsyncClient) -> None:
    doc = {"name": "延保.md", "content": "# 延保\n\n## 价格\n\n两年延保 299 元。\n"}
    r = await merchant.post("/v1/knowledge/documents", json=doc)
    assert r.status_code == 201 and r.json() == {
        "source_id": "doc:延保.md",
        "status": "added",
        "chunks": 1,
    }
    assert (await merchant.post("/v1/knowledge/documents", json=doc)).json()[
        "status"
    ] == "unchanged"
    fact = {"text": "本周六仓库盘点不发货", "expires_at": "2026-11-28T23:59:59+08:00"}
    fact_id = (await merchant.post("/v1/knowledge/facts", json=fact)).json()["id"]
    top = (await merchant.get("/v1/knowledge/search", params={"q": "两年延保多少钱"})).json()
    assert top["citations"][0]["source_id"] == "doc:延保.md#1"
    top = (await merchant.get("/v1/knowledge/search", params={"q": "周六发货吗"})).json()
    assert top["citations"][0]["source_id"] == fact_id
    sources = {s["id"] for s in (await merchant.get("/v1/knowledge/sources")).json()["sources"]}
    assert {"doc:延保.md", fact_id, "catalog", "faq"} <= sources
    assert (await merchant.delete(f"/v1/knowledge/sources/{fact_id}")).status_code == 200
    top = (await merchant.get("/v1/knowledge/search", params={"q": "周六发货吗"})).json()
    assert fact_id not in [c["source_id"] for c in top["citations"]]


async def test_bad_requests_are_clear(merchant: httpx.AsyncClient) -> None:
    r = await merchant.post("/v1/knowledge/documents", json={"name": "x.exe", "content": "hi"})
    assert r.status_code == 400 and "name must end in" in r.json()["error"]["message"]
    r = await merchant.post("/v1/knowledge/candidates/nope/approve", json={})
    assert r.status_code == 404
    r = await merchant.get("/v1/knowledge/search", params={"q": " "})
    assert r.status_code == 400
    r = await merchant.get("/v1/knowledge/sources", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
