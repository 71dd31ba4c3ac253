from __future__ import annotations

import pytest

from xiaoer.llm.parse import looks_like_call, parse_tool_calls

NAMES = {"get_order", "track_logistics", "search_products"}


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "get_order", "arguments": {"order_id": "SO1"}}\n</tool_call>',
        '```json\n{"name": "get_order", "arguments": {"order_id": "SO1"}}\n```',
        '{"name": "get_order", "arguments": {"order_id": "SO1"}}',
        '{"name": "get_order", "arguments": "{\\"order_id\\": \\"SO1\\"}"}',
        "{'name': 'get_order', 'arguments': {'order_id': 'SO1'}}",
        '{"type": "function", "function": {"name": "get_order", "parameters": {"order_id": "SO1"}}}',
        '<tool_call>\n{"name": "get_order", "arguments": {"order_id": "SO1"}}',  # cut off
        '<tools> {"name": "get_order", "arguments": {"order_id": "SO1"}} </tools>',
    ],
)
def test_accepts_the_shapes_small_models_emit(text: str) -> None:
    assert looks_like_call(text)
    assert parse_tool_calls(text, NAMES) == [("get_order", {"order_id": "SO1"})]


def test_several_calls_in_order() -> None:
    text = (
        '<tool_call>{"name": "get_order", "arguments": {"order_id": "A"}}</tool_call>\n'
        '<tool_call>{"name": "track_logistics", "arguments": {"order_id": "A"}}</tool_call>'
    )
    assert [n for n, _ in parse_tool_calls(text, NAMES)] == ["get_order", "track_logistics"]


@pytest.mark.parametrize(
    "text",
    [
        "您好，您的订单已发货。",
        '{"name": "delete_everything", "arguments": {}}',
        '{"name": "get_order", "arguments": [1, 2]}',
        "```json\n{broken",
    ],
)
def test_rejects_prose_unknown_tools_and_garbage(text: str) -> None:
    assert parse_tool_calls(text, NAMES) == []


def test_prose_is_not_a_call() -> None:
    assert not looks_like_call("好的，我帮您查一下 {订单}")


def test_quoted_call_lines_are_calls_not_prose() -> None:
    """Seen in the red-team run: a reply made of ">{"name": …}" lines reached the shopper."""
    text = '>{"name": "get_order", "arguments": {"order_id": "P0010"}}\n>{"name": "get_product"'
    assert looks_like_call(text)
    assert looks_like_call('好的 {"name": "get_order", "arguments": {}}')
