"""The JSON Schema subset every model answer is checked against."""

from __future__ import annotations

from typing import Any

import pytest

from pathweaver.errors import ModelOutputError
from pathweaver.llm.schema import parse_object, validate

CHOICE = {
    "oneOf": [{"const": "billing", "description": "money"}, {"const": "support", "description": "help"}]
}
CONTACT = {
    "type": "object",
    "properties": {
        "name": {"type": ["string", "null"], "maxLength": 10},
        "email": {"type": ["string", "null"], "format": "email"},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "plan": {"enum": ["free", "pro"]},
        "next": CHOICE,
    },
    "required": ["name", "email"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "value",
    [
        {"name": "Ada", "email": "ada@example.org"},
        {"name": None, "email": None, "age": 36, "plan": "pro", "next": "support"},
        {"name": "Ada", "email": None, "age": 36.0},
    ],
)
def test_valid_values(value: dict[str, Any]) -> None:
    assert validate(value, CONTACT) == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"name": "Ada"}, "missing required property 'email'"),
        ({"name": "Ada Lovelace-Byron", "email": None}, "$.name: longer than 10"),
        ({"name": "Ada", "email": "not-an-email"}, "$.email: not an email"),
        ({"name": "Ada", "email": None, "age": -1}, "$.age: less than 0"),
        ({"name": "Ada", "email": None, "age": 1.5}, "$.age: expected integer"),
        ({"name": "Ada", "email": None, "age": True}, "$.age: expected integer, got boolean"),
        ({"name": "Ada", "email": None, "plan": "gold"}, '$.plan: must be one of "free", "pro"'),
        (
            {"name": "Ada", "email": None, "next": "sales"},
            '$.next: must match exactly one of "billing", "support"',
        ),
        ({"name": "Ada", "email": None, "extra": 1}, "unexpected property 'extra'"),
        ({"name": 3, "email": None}, "$.name: expected string or null, got number"),
    ],
)
def test_invalid_values(value: dict[str, Any], problem: str) -> None:
    assert any(problem in found for found in validate(value, CONTACT)), validate(value, CONTACT)


def test_const_compares_as_json() -> None:
    assert validate(1, {"const": 1.0}) == []
    assert validate(True, {"const": 1}) != []
    assert validate([1, 2], {"type": "array", "items": {"type": "integer"}, "maxItems": 1}) == [
        "$: more than 1 items"
    ]


def test_parse_object_accepts_a_fenced_answer() -> None:
    assert parse_object('```json\n{"name": "Ada", "email": null}\n```', CONTACT) == {
        "name": "Ada",
        "email": None,
    }


@pytest.mark.parametrize(
    ("text", "truncated", "message"),
    [
        ('{"name": "Ada", "email": null}', True, "cut off"),
        ('{"name": "Ada", "email": ', False, "not valid JSON"),
        ('["Ada"]', False, "not an object"),
        ('{"name": "Ada"}', False, "does not match the schema"),
    ],
)
def test_parse_object_rejects(text: str, truncated: bool, message: str) -> None:
    with pytest.raises(ModelOutputError, match=message) as raised:
        parse_object(text, CONTACT, truncated=truncated)
    assert raised.value.code == "invalid_model_output"
