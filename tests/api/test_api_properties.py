"""Property-based: requests generated from the app's own OpenAPI schema (Hypothesis; `values`
turns the JSON schemas FastAPI writes into strategies) — valid ones, near-valid ones and plain
garbage, as a merchant, as a shopper and as nobody — sent to the app served by uvicorn on a
loopback port, on SQLite and on PostgreSQL. Whatever comes in: never a 5xx, and every 4xx in
the documented `{"error": {"type", "message"}}` shape. A failure is shrunk to the smallest
request that shows it. Under `CI=true` the examples are derandomized (the same every run)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from browser_fixture import Served
from minishop import write_bundle
from pg_fixture import fresh_database
from xiaoer.api.app import create_app
from xiaoer.api.auth import issue_api_key
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM, say
from xiaoer.runtime import Runtime

EXAMPLES = 300
"""Requests per store (each a few ms to a few tens of ms on the served app)."""

PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],  # fmt: skip
)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=8,
)


class Api:
    """The served app, its OpenAPI schema, and the credentials and ids worth aiming at."""

    def __init__(self, url: str, spec: dict[str, Any], merchant: str, shopper: str,
                 conversation: str) -> None:  # fmt: skip
        self.url, self.spec = url, spec
        self.auths = {
            "merchant": {"Authorization": f"Bearer {merchant}"},
            "shopper": {"Authorization": f"Bearer {shopper}"},
            "nobody": {},
            "garbage": {"Authorization": "Bearer x.y.z"},
        }
        self.ids = [conversation, "P1", "SO1001", "1", "0", "-1"]
        self.operations = [
            (method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()
        ]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])  # fmt: skip
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from conftest import NOW

    root = tmp_path_factory.mktemp(f"properties-{request.param}")
    base = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    box: dict[str, Any] = {}

    async def make() -> Any:
        url = await fresh_database(base, root.name) if base else ""
        config = Settings(home=root / "home", database_url=url, now=NOW, secret_key="p",
                          guard=False, embeddings=False)  # fmt: skip
        llm = ScriptedLLM(script=lambda *_args: say("您好，请问有什么可以帮您？"))
        rt = box["rt"] = await Runtime.open(config, llm=llm)
        await rt.import_shop(write_bundle(root / "bundle"))
        box["key"] = await issue_api_key(rt.sessions, "mini")
        return create_app(config, runtime=rt)

    async def cleanup() -> None:
        if "rt" in box:
            await box["rt"].close()

    with Served(make, cleanup) as served, httpx.Client(base_url=served.url, timeout=60) as c:
        merchant = {"Authorization": f"Bearer {box['key']}"}
        token = c.post("/v1/shopper-tokens", json={"shopper_id": "U1"}, headers=merchant)
        shopper = token.json()["token"]
        opened = c.post("/v1/conversations", headers={"Authorization": f"Bearer {shopper}"})
        spec = c.get("/openapi.json").json()
        yield Api(served.url, spec, box["key"], shopper, opened.json()["conversation_id"])


SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "boolean": st.booleans(),
    "null": st.none(),
    "number": st.floats(allow_nan=False, allow_infinity=False),
}


def values(schema: dict[str, Any], spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid under `schema`, for the keywords FastAPI's schemas use (`$ref` into the
    spec's components, `anyOf`, `enum`, `type` with its length and range bounds, `properties`
    with `required`, `items`). A keyword it does not know is left out, so some values may be
    invalid: the app must answer those with a 4xx all the same."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return st.deferred(lambda: values(spec["components"]["schemas"][name], spec))
    if "anyOf" in schema:
        return st.one_of([values(option, spec) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        return st.text(
            min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 80), 80)
        )
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "array":
        return st.lists(values(schema.get("items", {}), spec), max_size=3)
    if kind == "object" or "properties" in schema:
        fields = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: values(v, spec) for k, v in fields.items() if k in required},
            optional={k: values(v, spec) for k, v in fields.items() if k not in required},
        )
    return SCALARS.get(kind, JSON) if isinstance(kind, str) else JSON


@st.composite
def requests(draw: st.DrawFn, api: Api) -> dict[str, Any]:
    method, path, op = draw(st.sampled_from(api.operations))
    url = path
    for name in re.findall(r"\{([^}]+)\}", path):
        value = draw(st.sampled_from(api.ids) | st.text(max_size=40))
        url = url.replace("{" + name + "}", quote(value, safe="") or "x")
    params: dict[str, Any] = {}
    for p in op.get("parameters", []):
        if p["in"] != "query" or not draw(st.booleans()):
            continue
        value = draw(values(p.get("schema", {}), api.spec) | st.text(max_size=60))
        if value is not None:  # null: the parameter left out
            params[p["name"]] = value if isinstance(value, str | int | float) else str(value)
    body: dict[str, Any] = {}
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if content is not None:
        valid = values(content["schema"], api.spec)
        which = draw(st.sampled_from(["valid", "json", "bytes"]))
        if which == "valid":
            body["json"] = draw(valid)
        elif which == "json":
            body["json"] = draw(JSON)
        else:
            body["content"] = draw(st.binary(max_size=200))
            body["headers"] = {"Content-Type": "application/json"}
    # mostly the caller the route is for (shoppers talk, merchants run the shop), else another
    right = "shopper" if path.startswith("/v1/conversations") else "merchant"
    auth = draw(st.sampled_from([right] * 6 + sorted(set(api.auths) - {right})))
    headers = api.auths[auth] | body.pop("headers", {})
    return {"method": method.upper(), "url": url, "params": params, "headers": headers} | body


def test_generated_requests_never_get_a_5xx_and_every_4xx_has_the_error_shape(api: Api) -> None:
    with httpx.Client(base_url=api.url, timeout=60) as c:

        @PROFILE
        @given(st.data())
        def check(data: st.DataObject) -> None:
            request = data.draw(requests(api), label="request")
            with c.stream(**request) as r:
                if r.headers.get("content-type", "").startswith("text/event-stream"):
                    assert r.status_code == 200  # a live stream: its opening is the answer
                    return
                r.read()
            assert r.status_code < 500, (r.status_code, r.text[:300])
            if r.status_code >= 400:
                body = r.json()
                assert set(body) == {"error"}, body
                assert body["error"]["type"] and body["error"]["message"], body

        check()
