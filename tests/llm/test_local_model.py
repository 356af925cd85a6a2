"""The embedded model for real (Qwen2.5-Coder-1.5B-Instruct by default): what constrained
decoding guarantees, plus easy semantics. Needs llama-cpp-python and the weights packages
(``python -m pathweaver.llm.weights requirements``); the weights are assembled once into
pytest's cache directory."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from pathweaver.config import Settings
from pathweaver.llm.base import ChatRequest, Finish, Message, StructuredRequest, TextDelta, ToolSpec, collect
from pathweaver.llm.local import LocalModel
from pathweaver.llm.weights import resolve_model_path

pytestmark = [pytest.mark.local_model, pytest.mark.slow]

DESK = Message(
    "system",
    "You are the front desk of Lumen Bank. When the customer's request matches one of the steps, "
    "call go_to with that step.",
)
ROUTE = ToolSpec(
    "go_to",
    "Move the conversation to the step that fits what the customer wants.",
    {
        "type": "object",
        "properties": {
            "choice": {
                "oneOf": [
                    {"const": "loans", "description": "mortgages and personal loans"},
                    {"const": "cards", "description": "lost, stolen or blocked bank cards"},
                    {"const": "stay", "description": "anything else: keep talking here"},
                ]
            }
        },
        "required": ["choice"],
    },
)


@pytest.fixture(scope="module")
def model(request: pytest.FixtureRequest) -> Iterator[LocalModel]:
    settings = Settings(data_dir=request.config.cache.mkdir("pathweaver-models"))
    local = LocalModel.from_path(resolve_model_path(settings), context_size=2048)
    yield local
    asyncio.run(local.aclose())


async def test_a_clear_routing_case_lands_on_the_right_option(model: LocalModel) -> None:
    said = Message("user", "Hello, I think my credit card was stolen this morning, what do I do?")

    result = await collect(model.stream(ChatRequest(messages=(DESK, said), tools=(ROUTE,), temperature=0.0)))

    assert result.finish_reason == "tool_calls", result.text
    (call,) = result.tool_calls
    assert call.name == "go_to"
    assert json.loads(call.arguments) == {"choice": "cards"}


async def test_a_name_and_a_phone_number_are_extracted(model: LocalModel) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": ["string", "null"], "maxLength": 80, "description": "the customer's full name"},
            "phone": {
                "type": ["string", "null"],
                "maxLength": 30,
                "description": "the customer's phone number",
            },
        },
        "required": ["name", "phone"],
    }
    said = Message("user", "Hi, this is Maria Lopez, you can reach me at +34 612 345 678.")

    result = await model.structured(StructuredRequest(messages=(DESK, said), schema=schema, max_tokens=64))

    assert result.value["name"] == "Maria Lopez"
    assert "".join(c for c in result.value["phone"] if c.isdigit()).endswith("612345678")
    assert result.usage is not None and 0 < result.usage.completion_tokens < 64


async def test_a_plain_reply_streams_in_several_deltas(model: LocalModel) -> None:
    said = Message("user", "Say hello to a new customer in one short sentence.")

    events = [event async for event in model.stream(ChatRequest(messages=(DESK, said), max_tokens=40))]

    deltas = [event for event in events if isinstance(event, TextDelta)]
    # One delta per token as it is generated (even "Hello!" is two), never one lump at the end.
    assert len(deltas) >= 2 and all(d.text for d in deltas)
    assert "".join(d.text for d in deltas).strip()
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.usage is not None
    assert finish.usage.completion_tokens >= len(deltas)
