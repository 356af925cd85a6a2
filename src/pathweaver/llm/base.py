"""The model port: the one small interface the engine talks to.

Every model call Pathweaver makes goes through :class:`Model`, so calls can be counted,
traced, recorded and replayed. Three implementations live beside this module:
``openai_compat`` (any OpenAI-compatible HTTP endpoint), ``local`` (the embedded
llama.cpp default) and ``scripted`` (a deterministic fake for tests and ``--fake``).

Data here is plain and frozen; wire shapes (OpenAI JSON) are built by the implementations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call requested by the model. ``arguments`` is the raw JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message as the model sees it."""

    role: Role
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call; ``parameters`` is a JSON Schema object."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What the engine asks of a model for one call.

    ``purpose`` names why the call is made (``reply``, ``extract``, ``decide`` ...); it is
    used by traces, counters and scripted models, never sent upstream.

    ``stream``: whether anyone reads the reply as it comes. False (a client that asked for
    one JSON answer) lets a model answer in one piece: an HTTP upstream is then asked
    without streaming, which spares parsing a server-sent event per token.
    """

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int | None = None
    temperature: float | None = None
    purpose: str = "reply"
    stream: bool = True


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    #: Of ``prompt_tokens``, those the model served from its cache (llama.cpp's evaluated
    #: prefix; an upstream's ``prompt_tokens_details.cached_tokens``); 0 when unknown.
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


# Streamed events ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A fragment of the assistant's visible reply."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a tool call, in OpenAI's delta format.

    ``index`` is on every delta; ``id`` and ``name`` come on the first delta of a call;
    ``arguments`` carries the next fragment of the JSON argument text (possibly empty).
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


FinishReason = Literal["stop", "length", "tool_calls"]


@dataclass(frozen=True, slots=True)
class Finish:
    """The last event of every successful stream."""

    reason: FinishReason
    usage: Usage | None = None


ChatEvent = TextDelta | ToolCallDelta | Finish


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A whole reply, assembled from a stream."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: FinishReason
    usage: Usage | None


@dataclass(frozen=True, slots=True)
class StructuredRequest:
    """Ask for one JSON object that validates against ``schema`` (a JSON Schema object).

    Implementations constrain decoding where they can (grammar, ``json_schema`` response
    format, a forced tool call) and always validate the result; text that is not valid
    JSON for the schema, or that was cut off by ``max_tokens``, raises
    :class:`pathweaver.errors.ModelOutputError`, never returns as data.
    """

    messages: tuple[Message, ...]
    schema: Mapping[str, Any]
    name: str = "answer"
    max_tokens: int = 256
    purpose: str = "structured"
    #: A single choice: the statements offered, numbered from 0 in the prompt, and the
    #: answer is ``{"choice": <index>}`` (``schema`` says the same). A model that can read
    #: its own scores (the embedded one) answers by scoring the numbers instead of writing
    #: JSON, and returns the scores; the others decode the schema as usual.
    options: tuple[str, ...] = ()
    #: For a choice: (what the assistant last said, what the user replied). A model that
    #: keeps a separate context for side questions (the embedded one) asks the choice from
    #: these alone, away from the conversation's cache; the others read ``messages``.
    exchange: tuple[str, str] | None = None
    #: Tools described in the prompt but not offered for calling, so that the prompt starts
    #: exactly as the reply's does (the embedded model then reuses its evaluated prefix).
    context_tools: tuple[ToolSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class StructuredResult:
    value: dict[str, Any]
    usage: Usage | None = None
    #: For a choice: each option's probability, where the model gives them.
    scores: tuple[float, ...] | None = None
    #: For a choice: the probability the model gave to "yes" when asked whether the option
    #: it picked is true, where it was asked (the embedded model); below 0.5 it stays.
    check: float | None = None
    #: For a choice: how close the user's words are to each option's statement (cosine;
    #: 0 for "none"), where the model weighed them in (the embedded model).
    similarities: tuple[float, ...] | None = None


def _through_wrappers(model: object, attribute: str) -> Any:
    """The first value of ``attribute`` that is not None on ``model`` or the models it wraps
    (``inner``, at most 8 deep); None if none has it."""
    seen = 0
    while model is not None and seen < 8:
        found = getattr(model, attribute, None)
        if found is not None:
            return found
        model = getattr(model, "inner", None)
        seen += 1
    return None


def step_last(model: object) -> bool:
    """Whether ``model`` wants the current step's instructions after the history (through
    wrappers): the embedded model, whose cache then keeps the rest of the prompt between
    calls (:func:`pathweaver.engine.prompt.context`). HTTP upstreams get one leading system
    message, which every chat template accepts."""
    return bool(_through_wrappers(model, "prompt_step_last"))


def matcher_of(model: object) -> Any:
    """The sentence matcher a model weighs its routing choices with (the embedded model's,
    :mod:`pathweaver.llm.similarity`), through wrappers; None for the others."""
    return _through_wrappers(model, "matcher")


def serial(model: object) -> bool:
    """Whether ``model`` runs one call at a time (the embedded model), through wrappers.

    Such a model gains nothing from calls started together: the engine then orders its
    calls so that the reply waits for as few of them as possible.
    """
    return bool(_through_wrappers(model, "serial_calls"))


@runtime_checkable
class Model(Protocol):
    """A chat model. Implementations must be safe to call from concurrent tasks."""

    name: str

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """Yield text and tool-call deltas as the model produces them, then one Finish.

        Errors raise :class:`pathweaver.errors.LLMError` (or a subclass); cancelling the
        consumer cancels the upstream call.
        """
        ...

    async def structured(self, request: StructuredRequest) -> StructuredResult:
        """Return one object valid for ``request.schema``."""
        ...

    async def aclose(self) -> None:
        """Release connections, threads or loaded weights."""
        ...


async def collect(events: AsyncIterator[ChatEvent]) -> ChatResult:
    """Assemble a stream into a :class:`ChatResult` (used for non-streaming replies)."""
    text: list[str] = []
    calls: dict[int, list[str]] = {}
    ids: dict[int, str] = {}
    names: dict[int, str] = {}
    finish: Finish | None = None
    async for event in events:
        match event:
            case TextDelta(text=fragment):
                text.append(fragment)
            case ToolCallDelta(index=index, id=call_id, name=name, arguments=arguments):
                calls.setdefault(index, []).append(arguments)
                if call_id:
                    ids[index] = call_id
                if name:
                    names[index] = name
            case Finish():
                finish = event
    tool_calls = tuple(
        ToolCall(id=ids.get(i, f"call_{i}"), name=names.get(i, ""), arguments="".join(parts))
        for i, parts in sorted(calls.items())
    )
    reason: FinishReason = finish.reason if finish else ("tool_calls" if tool_calls else "stop")
    return ChatResult(
        text="".join(text),
        tool_calls=tool_calls,
        finish_reason=reason,
        usage=finish.usage if finish else None,
    )
