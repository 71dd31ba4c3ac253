"""OpenTelemetry: with `XIAOER_OTEL_ENDPOINT` set, a turn is exported over OTLP/HTTP as one
`xiaoer.turn` span with its model calls, tool and guard check as children — ids, names,
counts and timings, never the shopper's words. A real OTLP/HTTP receiver on loopback decodes
what arrived."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider

from conftest import NOW
from minishop import write_bundle
from xiaoer.api.app import create_app
from xiaoer.api.auth import issue_api_key
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM, call, say
from xiaoer.runtime import Runtime

SECRET_WORDS = "我的快递SO1001到哪儿啦"


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", bodies
    server.shutdown()
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()  # later tests' spans are dropped, not sent to a closed port


async def test_a_turn_is_one_trace_with_its_model_calls_tool_and_guard(
    tmp_path: Path, receiver: tuple[str, list[bytes]]
) -> None:
    endpoint, bodies = receiver
    llm = ScriptedLLM(steps=[call("track_logistics", order_id="SO1001"), say("到杭州了。")])
    settings = Settings(home=tmp_path / "home", now=NOW, secret_key="s", embeddings=False,
                        understand="keywords", otel_endpoint=endpoint, guard=True)  # fmt: skip
    rt = await Runtime.open(settings, llm=llm)
    await rt.import_shop(write_bundle(tmp_path / "bundle"))
    app = create_app(settings, runtime=rt)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as c:  # fmt: skip
            key = await issue_api_key(rt.sessions, "mini")
            token = (await c.post("/v1/shopper-tokens", json={"shopper_id": "U1"},
                                  headers={"Authorization": f"Bearer {key}"})).json()["token"]  # fmt: skip
            auth = {"Authorization": f"Bearer {token}"}
            cid = (await c.post("/v1/conversations", headers=auth)).json()["conversation_id"]
            r = await c.post(f"/v1/conversations/{cid}/messages", headers=auth,
                             json={"text": SECRET_WORDS})  # fmt: skip
            assert r.status_code == 200, r.text
    await rt.close()  # leaving the lifespan flushed the spans
    assert bodies, "nothing was exported"
    spans = []
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}
            assert service["service.name"] == "xiaoer"
            for scope in resource.scope_spans:
                spans.extend(scope.spans)
    by_name: dict[str, list] = {}
    for s in spans:
        by_name.setdefault(s.name, []).append(s)
    (turn,) = by_name["xiaoer.turn"]
    attrs = {a.key: a.value for a in turn.attributes}
    assert attrs["conversation.id"].string_value == cid and attrs["turn.llm_calls"].int_value >= 2
    assert len(by_name["xiaoer.llm"]) >= 2
    (tool,) = by_name["xiaoer.tool"]
    assert {a.key: a.value for a in tool.attributes}["tool.name"].string_value == "track_logistics"
    assert by_name["xiaoer.guard"]
    children = [*by_name["xiaoer.llm"], tool, *by_name["xiaoer.guard"]]
    assert all(s.trace_id == turn.trace_id for s in children)
    assert all(s.parent_span_id == turn.span_id for s in children)  # directly under the turn
    raw = b"".join(bodies)
    assert SECRET_WORDS.encode() not in raw and "到杭州了".encode() not in raw
