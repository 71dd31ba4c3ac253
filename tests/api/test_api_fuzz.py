"""Every route in the OpenAPI schema, given NUL characters and absurd values in its path,
query and body, with a merchant key and with a shopper token: never a 5xx, and every 4xx in
the documented `{"error": {"type", "message"}}` shape (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from test_api_bounds import both  # noqa: F401  # the fixture: the merchant's client, both stores

ODD_VALUES = ["\x00", "a\x00b", "-5", "0", "9" * 30, "", "x" * 600, "🙂", "'; drop table x;--"]


def _shape_ok(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.request.method, r.request.url, r.status_code, r.text)
    if r.status_code >= 400:
        body = r.json()
        assert set(body) == {"error"} and body["error"]["type"] and body["error"]["message"], (
            r.request.url,
            body,
        )


def _bodies(op: dict[str, Any], spec: dict[str, Any]) -> list[Any]:
    ref = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" not in ref:
        return [None]
    model = spec["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    fields = list(model.get("properties", {}))
    bodies: list[Any] = [{}, [], "text", dict.fromkeys(fields, "\x00"), dict.fromkeys(fields, -1)]
    bodies += [dict.fromkeys(fields, "好" * 3000), dict.fromkeys(fields)]
    return bodies


async def test_every_route_answers_odd_input_with_a_4xx(both: httpx.AsyncClient) -> None:  # noqa: F811
    c = both
    spec = (await c.get("/openapi.json")).json()
    merchant = {"Authorization": c.headers["Authorization"]}
    token = (await c.post("/v1/shopper-tokens", json={"shopper_id": "U1"})).json()["token"]
    shopper = {"Authorization": f"Bearer {token}"}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            for auth in (merchant, shopper):
                for value in ODD_VALUES:
                    url = re.sub(
                        r"\{[^}]+\}", lambda _m, v=value: v.replace("\x00", "%00") or "x", path
                    )
                    query = dict.fromkeys(names, value)
                    r = await c.request(method, url, params=query, headers=auth)
                    _shape_ok(r)
                plain = re.sub(r"\{[^}]+\}", "nope", path)
                for body in _bodies(op, spec):
                    r = await c.request(method, plain, json=body, headers=auth)
                    _shape_ok(r)
