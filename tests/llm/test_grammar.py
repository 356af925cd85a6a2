"""The GBNF grammars built for the embedded model (their behaviour on the real model is in
test_local_model.py)."""

from __future__ import annotations

from pathweaver.llm.base import ToolSpec
from pathweaver.llm.grammar import json_grammar, tool_call_grammar

CHOICE_TOOL = ToolSpec(
    "go_to",
    "Move on.",
    {
        "type": "object",
        "properties": {"choice": {"oneOf": [{"const": "billing", "description": "x"}, {"const": "faq"}]}},
        "required": ["choice"],
    },
)


def rules(grammar: str) -> dict[str, str]:
    return dict(line.split(" ::= ", 1) for line in grammar.strip().splitlines())


def test_a_choice_admits_exactly_its_values() -> None:
    grammar = rules(tool_call_grammar([CHOICE_TOOL]))

    assert grammar["root"] == "tool-call | plain-text"
    assert grammar["tool-call"] == '"<tool_call>" "\\n"? call "\\n"? "</tool_call>" | call'
    assert '"\\"go_to\\"" ws "," ws "\\"arguments\\"" ws ":" ws' in grammar["call"]
    assert '"\\"choice\\"" ws ":" ws ("\\"billing\\"" | "\\"faq\\"")' in grammar["call"]


def test_plain_text_cannot_start_a_tool_call() -> None:
    text = rules(tool_call_grammar([CHOICE_TOOL]))["plain-text"]

    assert text.startswith("([^<{ \\t\\r\\n] | ")  # neither a tag, nor a bare call, nor blank
    assert '"<tool_cal" [^l]' in text and '"<tool_call" [^>]' in text
    assert text.endswith(") plain-char*")


def test_several_tools_are_alternatives() -> None:
    other = ToolSpec("lookup", parameters={"type": "object", "properties": {"q": {"type": "string"}}})
    call = rules(tool_call_grammar([CHOICE_TOOL, other]))["call"]

    assert '"\\"go_to\\""' in call and '"\\"lookup\\""' in call
    assert '("\\"q\\"" ws ":" ws "\\"" char{0,300} "\\"")?' in call


def test_strings_are_bounded_and_nullable_unions_kept() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": ["string", "null"], "maxLength": 40},
            "email": {"type": ["string", "null"], "format": "email"},
            "count": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}, "maxItems": 3},
        },
        "required": ["name", "email", "count", "tags"],
    }
    grammar = rules(json_grammar(schema, max_string=99))

    root = grammar["root"]
    assert '("\\"" char{0,40} "\\"" | "null")' in root
    assert '(email | "null")' in root
    assert '"[" ws ("\\"" char{0,5} "\\"" (ws "," ws "\\"" char{0,5} "\\""){0,2})? ws "]"' in root
    assert set(grammar) == {"root", "char", "email", "integer", "ws"}
    assert "\\x00-\\x1F" in grammar["char"]  # no raw control characters inside strings


def test_optional_properties_without_required_ones() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "boolean"}, "b": {"type": "null"}}}

    root = rules(json_grammar(schema))["root"]

    assert root == (
        '"{" ws ("\\"a\\"" ws ":" ws ("true" | "false") (ws "," ws "\\"b\\"" ws ":" ws "null")? '
        '| "\\"b\\"" ws ":" ws "null")? ws "}" ws'
    )


def test_free_form_values_use_the_generic_json_rules() -> None:
    grammar = rules(json_grammar({"type": "object"}, max_string=7))

    assert grammar["root"] == "object ws"
    assert grammar["string"] == '"\\"" char{0,7} "\\""'
    assert {"value", "array", "number", "boolean", "null"} <= set(grammar)
