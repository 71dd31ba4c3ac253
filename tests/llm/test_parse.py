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


# Broken tool calls as small models write them: each well-formed call below, broken each of
# these ways, must parse to the same call. (Before json-repair, 17 of these 48 parsed.)
CALLS = [
    ("get_order", {"order_id": "SO2611190048"}),
    ("track_logistics", {"order_id": "SO2611190048"}),
    ("search_products", {"query": "跑鞋", "max_price": 400, "in_stock": True}),
    ("get_order", {"order_id": "SO1", "shopper_note": "加急"}),
    ("search_products", {"query": "耳机 降噪", "limit": 3}),
    ("track_logistics", {"order_id": "SO7"}),
]


def _unquoted(s: str) -> str:
    import re

    return re.sub(r'"(\w+)":', r"\1:", s)


BREAKS = {
    "last brace missing": lambda s: s[:-1],
    "two braces missing": lambda s: s[:-2],
    "trailing comma": lambda s: s[:-2] + ",}}",
    "keys unquoted": _unquoted,
    "python literals": lambda s: s.replace("true", "True"),
    "no comma between members": lambda s: s.replace('", "arguments"', '" "arguments"'),
    "arguments as an unescaped string": lambda s: s.replace(': {"', ': "{"').replace("}}", '}"}'),
    "prose around it": lambda s: f"好的，我查一下：{s} 请稍等",
}


@pytest.mark.parametrize("broken", list(BREAKS))
@pytest.mark.parametrize("call", range(len(CALLS)))
def test_broken_json_is_repaired(call: int, broken: str) -> None:
    import json

    name, args = CALLS[call]
    text = BREAKS[broken](json.dumps({"name": name, "arguments": args}, ensure_ascii=False))
    assert parse_tool_calls(f"<tool_call>\n{text}", NAMES) == [(name, args)], text


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "get_order", "arguments": {"order_id": "SO26111',  # the id itself cut off
        '{"name": "search_products", "arguments": {"query": "跑',
    ],
)
def test_a_call_cut_off_inside_a_value_is_not_guessed(text: str) -> None:
    """A value cut off mid-string may be a wrong one (SO26111 for SO2611190048): no call."""
    assert parse_tool_calls(text, NAMES) == []
