"""The tool port: built-ins, names the node does not offer, config validation, the fake."""

from __future__ import annotations

import json

import pytest

from pathweaver.errors import UserError
from pathweaver.llm.base import ToolCall
from pathweaver.tools.config import parse_tool, type_catalogue
from pathweaver.tools.outbound import OutboundClient
from pathweaver.tools.runner import ToolRunner
from pathweaver.tools.scripted import ScriptedTools


@pytest.fixture
async def runner() -> ToolRunner:
    return ToolRunner(OutboundClient())


@pytest.mark.parametrize(
    ("name", "kind"), [("end_call", "end"), ("transfer_call", "transfer"), ("transfer_to_human", "handoff")]
)
async def test_builtins_ask_the_engine_to_end_or_hand_over(runner: ToolRunner, name: str, kind: str) -> None:
    offer = await runner.offer(
        [], builtins=[name], descriptions={"transfer_to_human": "When they ask for Bob"}
    )
    spec = offer.specs[0]
    assert spec.name == name and spec.parameters["required"] == ["reason"]
    if name == "transfer_to_human":
        assert spec.description == "When they ask for Bob"
    result = await runner.run(offer, ToolCall("c1", name, json.dumps({"reason": "user said bye"})), {})
    assert not result.is_error
    assert (
        result.action is not None and result.action.kind == kind and result.action.reason == "user said bye"
    )
    assert result.record["action"] == kind and result.record["callId"] == "c1"


async def test_a_name_not_offered_is_refused(runner: ToolRunner) -> None:
    offer = await runner.offer([], builtins=["end_call"])
    result = await runner.run(offer, ToolCall("c1", "transfer_call", "{}"), {})
    assert result.is_error and "no tool named 'transfer_call'" in result.content
    assert result.action is None


async def test_builtin_arguments_that_are_not_an_object_are_an_error(runner: ToolRunner) -> None:
    offer = await runner.offer([], builtins=["end_call"])
    result = await runner.run(offer, ToolCall("c1", "end_call", "[]"), {})
    assert result.is_error and result.action is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "smtp", "metadata": {}}, "type: 'smtp' is not a supported tool type"),
        ({"metadata": {}}, "type is required"),
        ({"type": "restful", "name": "t", "metadata": {}}, "metadata.url: is required"),
        (
            {"type": "restful", "name": "t", "metadata": {"url": "http://x", "method": "TRACE"}},
            "metadata.method",
        ),
        (
            {"type": "restful", "name": "bad\nname", "metadata": {"url": "http://x"}},
            "name: has a control character",
        ),
        (
            {"type": "restful", "name": "end call", "metadata": {"url": "http://x"}},
            "name: 'end call' (the model would call it 'end_call') is the name of a built-in",
        ),
        (
            {"type": "restful", "name": "end_call", "metadata": {"url": "http://x"}},
            "name: 'end_call' is the name of a built-in",
        ),
        (
            {
                "type": "restful",
                "name": "t",
                "metadata": {"url": "http://x"},
                "inputSchema": {"type": "string"},
            },
            'inputSchema: must be a JSON Schema with "type": "object"',
        ),
        (
            {
                "type": "restful",
                "name": "t",
                "metadata": {"url": "http://x"},
                "inputSchema": {"type": "object", "properties": 3},
            },
            "inputSchema: is not a valid JSON Schema",
        ),
        (
            {
                "type": "restful",
                "name": "t",
                "metadata": {"url": "http://x", "headers": {"X-A": "a\r\nEvil: 1"}},
            },
            "metadata.headers: Value error, the value of header 'X-A' has a line break".replace(
                "Value error, ", ""
            ),
        ),
        ({"type": "mcp", "name": "t", "metadata": {"url": "http://x"}}, "metadata.serverUrl: is required"),
    ],
)
def test_tool_validation_names_the_field(body: dict[str, object], message: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_tool({"id": "tool_1", **body})
    assert message in caught.value.message


def test_a_tool_round_trips_in_the_pathors_shape() -> None:
    raw = {
        "id": "tool_1",
        "type": "restful",
        "name": "lookup",
        "description": "d",
        "metadata": {
            "url": "https://api.example.com/{{id}}",
            "method": "post",
            "headers": {},
            "body": {"a": "{{id}}"},
        },
        "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}},
        "placeholderMessages": {"messages": {"en": ["One moment"]}, "defaultLanguage": "en"},
    }
    tool = parse_tool(raw)
    assert tool.to_json() == {**raw, "metadata": {**raw["metadata"], "method": "POST"}}  # type: ignore[dict-item]
    assert tool.placeholder_messages is not None
    assert tool.placeholder_messages.for_language("fr") == ["One moment"]


def test_the_type_catalogue_describes_metadata() -> None:
    types = {t["type"]: t for t in type_catalogue()}
    assert set(types) == {"restful", "mcp"}
    assert "url" in types["restful"]["metadataSchema"]["properties"]
    assert "serverUrl" in types["mcp"]["metadataSchema"]["properties"]


@pytest.mark.parametrize(
    ("name", "called"),
    [
        ("lookup_customer", "lookup_customer"),
        ("Look up customer", "Look_up_customer"),
        ("查詢 customer 資料", "customer"),
        ("查詢客戶", "tool_ustomer1"),
    ],
)
async def test_a_tool_name_with_spaces_is_offered_as_a_function_name(
    runner: ToolRunner, name: str, called: str
) -> None:
    config = parse_tool(
        {"id": "tool_customer1", "type": "restful", "name": name, "metadata": {"url": "https://x.example"}}
    )
    assert config.name == name
    offer = await runner.offer([config])
    assert [tool.spec.name for tool in offer.tools] == [called]


async def test_the_scripted_fake_answers_and_records() -> None:
    tools = ScriptedTools(answers={"lookup": lambda args: f"found {args['id']}"}, errors={"broken": "down"})
    lookup = parse_tool({"id": "t1", "type": "restful", "name": "lookup", "metadata": {"url": "http://x"}})
    broken = parse_tool({"id": "t2", "type": "restful", "name": "broken", "metadata": {"url": "http://x"}})
    offer = await tools.offer([lookup, broken], builtins=["end_call"])
    ok = await tools.run(offer, ToolCall("c1", "lookup", '{"id": 7}'), {})
    bad = await tools.run(offer, ToolCall("c2", "broken", "{}"), {})
    end = await tools.run(offer, ToolCall("c3", "end_call", '{"reason": "done"}'), {})
    assert "found 7" in ok.content and bad.is_error and end.action is not None
    assert [c.name for c in tools.calls] == ["lookup", "broken", "end_call"]


async def test_an_offered_tool_carries_its_placeholder_messages(runner: ToolRunner) -> None:
    config = parse_tool(
        {
            "id": "t1",
            "type": "restful",
            "name": "lookup",
            "metadata": {"url": "https://api.example.com"},
            "placeholderMessages": {
                "messages": {"en": ["One moment"], "fr": ["Un instant"]},
                "defaultLanguage": "en",
            },
        }
    )
    offer = await runner.offer([config], builtins=["end_call"])
    lookup, end = offer.get("lookup"), offer.get("end_call")
    assert lookup is not None and end is not None
    messages = lookup.placeholder_messages()
    assert (
        messages is not None
        and messages.for_language("fr") == ["Un instant"]
        and messages.for_language(None) == ["One moment"]
    )
    assert end.placeholder_messages() is None
