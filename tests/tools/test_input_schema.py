"""Tool input schemas never fetch anything and never run away (issue 20, defect 1).

A schema is refused when a tool is saved if it refers outside itself, uses a pattern RE2
cannot run, or could switch jsonschema to an unguarded validator; a schema stored before
those rules is refused when the tool is called (an error result), and nothing is fetched.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pathweaver.errors import UserError
from pathweaver.llm.base import ToolCall
from pathweaver.tools import input_schema
from pathweaver.tools.config import RestfulTool, parse_tool
from pathweaver.tools.outbound import AllowList, OutboundClient, OutboundPolicy
from pathweaver.tools.restful import parse_arguments
from pathweaver.tools.runner import ToolRunner
from tests.tools.servers import Target, restful_target


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    async with restful_target() as running:
        yield running


@pytest.fixture
async def runner() -> AsyncIterator[ToolRunner]:
    client = OutboundClient(OutboundPolicy(allow=AllowList.parse("127.0.0.1/32")))
    yield ToolRunner(client)
    await client.aclose()


def tool(url: str, schema: dict[str, Any]) -> RestfulTool:
    config = parse_tool({"id": "t1", "type": "restful", "name": "lookup", "metadata": {"url": url}})
    assert isinstance(config, RestfulTool)
    # As a tool stored before the rules: the schema is not checked again when it is loaded.
    return config.model_copy(update={"input_schema": schema})


async def call(runner: ToolRunner, config: RestfulTool, arguments: dict[str, Any]) -> Any:
    offer = await runner.offer([config])
    return await runner.run(offer, ToolCall("c1", config.name, json.dumps(arguments)), {})


def refusal(schema: dict[str, Any]) -> str:
    with pytest.raises(UserError) as caught:
        parse_tool(
            {
                "type": "restful",
                "id": "t",
                "name": "t",
                "metadata": {"url": "https://x.example"},
                "inputSchema": schema,
            }
        )
    return caught.value.message


async def test_a_remote_ref_stored_before_the_rule_is_refused_at_run_time_not_fetched(
    runner: ToolRunner, target: Target
) -> None:
    schema = {"type": "object", "properties": {"id": {"$ref": target.url("/echo/schema")}}}
    result = await call(runner, tool(target.url("/echo/x"), schema), {"id": "c1"})
    assert target.requests == [], "the $ref was fetched"
    assert result.is_error and "never fetched" in result.content
    assert result.record["sent"] is False and result.record["schemaRefused"] is True


@pytest.mark.parametrize(
    "reference", ["http://169.254.169.254/latest/meta-data", "file:///etc/hostname", "other.json#/a"]
)
def test_a_ref_outside_the_schema_is_refused_when_saved(reference: str) -> None:
    message = refusal({"type": "object", "properties": {"a": {"$ref": reference}}})
    assert message.startswith(f"inputSchema: $ref {reference!r} is not part of this schema")
    assert "at properties/a/$ref" in message and '"#/$defs/name"' in message


def test_local_refs_are_kept_and_must_point_somewhere() -> None:
    good = {
        "type": "object",
        "$defs": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
        "properties": {"home": {"$ref": "#/$defs/zip"}, "work": {"$ref": "#/$defs/zip"}},
    }
    input_schema.check(good)
    assert parse_arguments('{"home": "12345"}', good) == {"home": "12345"}
    with pytest.raises(ValueError, match="does not match"):
        parse_arguments('{"work": "1234x"}', good)
    message = refusal({"type": "object", "properties": {"a": {"$ref": "#/$defs/nope"}}})
    assert "$ref '#/$defs/nope' points at nothing in this schema" in message


def test_a_catastrophic_pattern_runs_in_linear_time() -> None:
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}
    began = time.perf_counter()
    with pytest.raises(ValueError, match="does not match"):
        parse_arguments(json.dumps({"code": "a" * 27 + "!"}), schema)  # ~6 s on Python's re
    with pytest.raises(ValueError, match="does not match"):
        parse_arguments(json.dumps({"code": "a" * 100_000 + "!"}), schema)
    assert time.perf_counter() - began < 0.5


def test_pattern_properties_and_additional_properties_use_re2_too() -> None:
    schema = {
        "type": "object",
        "patternProperties": {"^(x+)+$": {"type": "integer"}},
        "additionalProperties": False,
    }
    began = time.perf_counter()
    assert parse_arguments('{"xxx": 1}', schema) == {"xxx": 1}
    with pytest.raises(ValueError, match="do not match any of the patterns"):
        parse_arguments(json.dumps({"x" * 30 + "!": 1}), schema)
    assert time.perf_counter() - began < 0.5


@pytest.mark.parametrize("pattern", ["^(?=a)b", r"(a)\1", r"abc\Z"])
def test_a_pattern_re2_cannot_run_is_refused_when_saved(pattern: str) -> None:
    message = refusal({"type": "object", "properties": {"a": {"type": "string", "pattern": pattern}}})
    assert message.startswith(f"inputSchema: the regular expression {pattern!r} cannot be used")
    assert "RE2" in message and "at properties/a" in message


def test_a_schema_that_expands_exponentially_is_cut_short() -> None:
    levels = 22  # 4 million checks unguarded: many seconds
    defs: dict[str, Any] = {
        f"d{i}": {"allOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]}
        for i in range(levels)
    }
    defs[f"d{levels}"] = {"type": "string"}
    schema = {"type": "object", "$defs": defs, "properties": {"a": {"$ref": "#/$defs/d0"}}}
    began = time.perf_counter()
    with pytest.raises(input_schema.TooManyChecks, match="send fewer or smaller values"):
        parse_arguments('{"a": "x"}', schema)
    assert time.perf_counter() - began < 0.5


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (
            {"type": "object", "$defs": {"x": {"$schema": "http://json-schema.org/draft-07/schema#"}}},
            "$schema is allowed only at the top of the schema (at $defs/x)",
        ),
        (
            {"type": "object", "properties": {"a": {"$id": "https://x.example/a"}}},
            "$id is allowed only at the top of the schema (at properties/a)",
        ),
        (
            {"type": "object", "patternProperties": {"^a": {}}, "unevaluatedProperties": False},
            "unevaluatedProperties cannot be combined with patternProperties",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "nope"}}},
            "is not a valid JSON Schema at properties/a/type",
        ),
    ],
)
def test_what_would_unguard_the_validator_is_refused(schema: dict[str, Any], expected: str) -> None:
    assert expected in refusal(schema)


def test_a_ref_into_a_nested_schema_declaration_is_refused_at_run_time() -> None:
    # A $schema reached only through $ref (outside the keywords a walk would read) would
    # make jsonschema swap in a stock draft-07 validator, with Python's re.
    schema = {
        "type": "object",
        "components": {"x": {"$schema": "http://json-schema.org/draft-07/schema#", "pattern": "^(a+)+$"}},
        "properties": {"a": {"$ref": "#/components/x"}},
    }
    with pytest.raises(input_schema.SchemaRefused, match=r"\$schema is allowed only at the top"):
        parse_arguments(json.dumps({"a": "a" * 30 + "!"}), schema)


def test_a_top_level_schema_declaration_is_accepted() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"a": {"$ref": "#"}},
    }
    input_schema.check(schema)
    assert parse_arguments('{"a": {"a": {}}}', schema) == {"a": {"a": {}}}


def test_size_and_depth_are_bounded() -> None:
    wide = {
        "type": "object",
        "properties": {f"p{i}": {"type": "string", "description": "x" * 100} for i in range(700)},
    }
    assert "characters of JSON; at most 65,536 are allowed" in refusal(wide)
    deep: dict[str, Any] = {"type": "object"}
    for _ in range(100):
        deep = {"type": "object", "properties": {"a": deep}}
    assert "nests more than 64 levels deep" in refusal(deep)


def test_unique_items_is_linear_and_keeps_json_equality() -> None:
    schema = {"type": "object", "properties": {"xs": {"type": "array", "uniqueItems": True}}}
    with pytest.raises(ValueError, match="non-unique"):
        parse_arguments('{"xs": [1, 1.0]}', schema)
    assert parse_arguments('{"xs": [1, true, {"a": 1}, {"a": 2}]}', schema)
    many = json.dumps({"xs": [{"n": i} for i in range(5000)]})
    began = time.perf_counter()
    assert parse_arguments(many, schema)
    assert time.perf_counter() - began < 0.5
