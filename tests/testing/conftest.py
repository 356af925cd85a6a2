"""Shared pieces of the conversation-test tests: a small agent, a throwaway project, models."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.pathway import Pathway
from pathweaver.config import Settings
from pathweaver.conversations import Conversations
from pathweaver.llm.base import ChatRequest, Model, StructuredRequest
from pathweaver.llm.scripted import Reply, ScriptedModel, default_reply, default_structured
from pathweaver.testing.runner import temporary_project

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

AGENT = AgentConfig(
    name="Bistro",
    variable_configs=[{"key": "customer_name", "description": "The name of the booking"}],
)
PATHWAY = Pathway.model_validate(
    {
        "nodes": [
            {"id": "greeting", "data": {"type": "start", "title": "Greeting", "prompt": "Greet the caller."}},
            {
                "id": "ask_name",
                "data": {
                    "type": "prompt",
                    "title": "Ask the name",
                    "prompt": "Ask for the name.",
                    "variableKeys": ["customer_name"],
                },
            },
            {"id": "done", "data": {"type": "end", "title": "Done", "prompt": "Thank {{customer_name}}."}},
        ],
        "edges": [
            {
                "id": "e1",
                "source": "greeting",
                "target": "ask_name",
                "data": {"condition": "The user wants to book a table"},
            },
            {
                "id": "e2",
                "source": "ask_name",
                "target": "done",
                "data": {"condition": "The user has given their name"},
            },
        ],
    }
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, fake_model=True)


@pytest.fixture
async def project(settings: Settings) -> AsyncIterator[tuple[Any, str, Settings]]:
    async with temporary_project(AGENT, PATHWAY, settings) as opened:
        yield opened


def conversations(opened: tuple[Any, str, Settings], model: Model) -> Conversations:
    store, _, local = opened
    return Conversations(store, model, local)


def by_purpose(
    user_lines: list[str] | None = None,
    verdicts: list[Mapping[str, Any] | Exception] | None = None,
) -> ScriptedModel:
    """A scripted model whose simulated user says ``user_lines`` in order and whose judge
    answers ``verdicts`` in order; every other call gets the built-in behaviour."""
    lines = list(user_lines or [])
    answers = list(verdicts or [])

    def reply(request: ChatRequest) -> Reply:
        if request.purpose == "simulate-user":
            return Reply(text=lines.pop(0) if lines else "[DONE]")
        return default_reply(request)

    def structured(request: StructuredRequest) -> Mapping[str, Any]:
        if request.purpose == "judge":
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return default_structured(request)

    replies: list[Callable[[ChatRequest], Reply]] = [reply] * 200
    return ScriptedModel(replies=replies, structured_answers=[structured] * 200)
