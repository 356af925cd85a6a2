"""Running the labelled conversations in-process, as ``pathweaver test`` runs scripted cases.

Each agent file becomes a throwaway project (``temporary_project``), once per execution
mode; each conversation is one case run by :class:`pathweaver.testing.runner.Runner` through
the real :class:`~pathweaver.conversations.Conversations` service: the same engine, history
and trace as a channel. The only addition is a clock around each turn
(:class:`TimedConversations`). The agents hold no tools, so no tool port is given.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from bench.routing.dataset import PathwaySet
from bench.routing.scoring import ConversationScore, TurnSeen, score_conversation
from bench.routing.usage import turn_usage
from pathweaver.config import Settings
from pathweaver.conversations import Conversations, TurnResult
from pathweaver.llm.base import Model
from pathweaver.llm.registry import Models
from pathweaver.testing.results import CaseResult
from pathweaver.testing.runner import Runner, temporary_project

ModelKind = Literal["fake", "local", "upstream"]
DEFAULT_LOCAL_MODEL = "qwen2.5-coder-1.5b"
#: The label of a run that keeps each agent's own executionMode.
AGENT_MODE = "agent"


@dataclass(frozen=True)
class ModelSpec:
    kind: ModelKind
    local_model: str = DEFAULT_LOCAL_MODEL

    def settings(self, base: Settings) -> Settings:
        if self.kind == "fake":
            return base.model_copy(update={"fake_model": True})
        if self.kind == "local":
            return base.model_copy(
                update={"fake_model": False, "llm_base_url": None, "local_model": self.local_model}
            )
        if not base.llm_base_url:
            raise ValueError("--model upstream needs PATHWEAVER_LLM_BASE_URL (and PATHWEAVER_LLM_MODEL)")
        return base.model_copy(update={"fake_model": False})

    def label(self, base: Settings) -> str:
        if self.kind == "local":
            return f"local:{self.local_model}"
        if self.kind == "upstream":
            return f"upstream:{base.llm_model}"
        return "fake"


@asynccontextmanager
async def opened_models(spec: ModelSpec, base: Settings) -> AsyncIterator[tuple[Models, Settings]]:
    """The model registry for ``spec`` (loaded or checked once), closed after."""
    from pathweaver.llm.factory import build_model, prepare_model
    from pathweaver.llm.scripted import ScriptedModel

    settings = spec.settings(base)
    model: Model = ScriptedModel() if spec.kind == "fake" else build_model(settings)
    await prepare_model(model)
    models = Models.from_settings(settings, model)
    try:
        yield models, settings
    finally:
        await models.aclose()
        await model.aclose()


class TimedConversations(Conversations):
    """The conversation service, with the wall time of every turn kept per session."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seconds: dict[str, list[float]] = {}

    async def chat(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        began = time.perf_counter()
        async for event in super().chat(*args, **kwargs):
            if isinstance(event, TurnResult):
                elapsed = time.perf_counter() - began
                self.seconds.setdefault(event.session.external_id, []).append(elapsed)
            yield event


@dataclass(frozen=True)
class RunScores:
    """One model in one mode over the selected conversations."""

    model: str
    mode: str
    conversations: tuple[ConversationScore, ...]
    seconds: float


OnConversation = Callable[[str, str, ConversationScore], None]


async def run(
    spec: ModelSpec,
    modes: Sequence[str | None],
    sets: Sequence[PathwaySet],
    base: Settings,
    on_conversation: OnConversation | None = None,
) -> list[RunScores]:
    """Every conversation of ``sets`` with one model, once per mode (None: each agent's own)."""
    label = spec.label(base)
    results = []
    async with opened_models(spec, base) as (models, settings):
        for mode in modes:
            began = time.perf_counter()
            mode_label = mode or AGENT_MODE
            scores: list[ConversationScore] = []
            for item in sets:
                for score in await run_set(models, settings, item, mode):
                    scores.append(score)
                    if on_conversation is not None:
                        on_conversation(label, mode_label, score)
            results.append(RunScores(label, mode_label, tuple(scores), time.perf_counter() - began))
    return results


async def run_set(
    models: Models, settings: Settings, item: PathwaySet, mode: str | None
) -> list[ConversationScore]:
    """The conversations of one agent file, against a throwaway project of it."""
    agent = item.agent if mode is None else item.agent.model_copy(update={"execution_mode": mode})
    start = item.pathway.start_node()
    start_id = start.id if start is not None else ""
    declared = {config.key for config in item.agent.variable_configs or ()}
    scores = []
    async with temporary_project(agent, item.pathway, settings) as (store, project_id, local):
        conversations = TimedConversations(store, models, local)
        runner = Runner(conversations)
        for conversation in item.conversations:
            try:
                result = await runner.run_case(project_id, conversation.case, source=str(conversation.source))
            except Exception as exc:  # an engine bug costs this conversation, not the whole run
                traceback.print_exc(file=sys.stderr)
                error = f"{type(exc).__name__}: {exc}"
                scores.append(score_conversation(conversation, start_id, declared, [], error))
                continue
            seen = seen_turns(result, conversations.seconds.get(result.session_id or "", []))
            scores.append(score_conversation(conversation, start_id, declared, seen, result.error))
    return scores


def seen_turns(result: CaseResult, seconds: Sequence[float]) -> list[TurnSeen | None]:
    """What each sent turn of a case left behind, in order, with its wall time."""
    return [
        TurnSeen(
            node=log.node_after,
            variables=dict(log.variables),
            reply=log.reply,
            usage=turn_usage(log.trace),
            seconds=seconds[index] if index < len(seconds) else None,
        )
        for index, log in enumerate(result.transcript)
    ]
