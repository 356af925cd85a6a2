"""A deterministic model for tests, demos and ``pathweaver serve --fake``.

Two ways to drive it:

* a script: ``ScriptedModel([Reply("hi"), Reply(calls=[...]), ...])`` answers ``stream``
  calls in order, and ``structured=[{...}, ...]`` answers ``structured`` calls in order
  (two queues, because extraction may run beside a reply and their order is not fixed);
  a callable in either queue receives the request and returns the answer;
* the built-in behaviour, used when a queue is empty, which needs no script at all:

  - after a tool result it says what the tool returned;
  - a user message ``/tool NAME {json}`` makes it call the offered tool NAME;
  - a tool whose only parameter is a choice (``oneOf`` of ``const`` values with
    descriptions, like the pathway transition tool) is called with the option whose
    description shares the most words with the last user message;
  - otherwise it replies ``You said: <last user message>``, streamed word by word;
  - a routing choice (``StructuredRequest.options``) picks the statement that shares the
    most words with the user's last message, or 0 (none of them);
  - ``structured`` fills ``email`` and ``number`` fields found in the user's messages, a
    ``name`` field from "my name is X" / "I'm X", a choice by word overlap, else null.

Every call is recorded in ``calls`` so tests can assert how many model calls a turn cost.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pathweaver.errors import LLMError
from pathweaver.llm.base import (
    ChatEvent,
    ChatRequest,
    Finish,
    Message,
    StructuredRequest,
    StructuredResult,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
)


@dataclass(frozen=True)
class Reply:
    """A scripted answer to one ``stream`` call: text, tool calls, or both."""

    text: str = ""
    calls: Sequence[ToolCall] = ()
    #: Raise this instead of answering (to script upstream failures).
    error: Exception | None = None


ReplyScript = Reply | Callable[[ChatRequest], Reply]
StructuredScript = Mapping[str, Any] | Callable[[StructuredRequest], Mapping[str, Any]] | Exception


@dataclass
class ScriptedModel:
    replies: Iterable[ReplyScript] = ()
    structured_answers: Iterable[StructuredScript] = ()
    name: str = "scripted"
    calls: list[ChatRequest | StructuredRequest] = field(default_factory=list)
    _replies: deque[ReplyScript] = field(init=False)
    _structured: deque[StructuredScript] = field(init=False)

    def __post_init__(self) -> None:
        self._replies = deque(self.replies)
        self._structured = deque(self.structured_answers)

    def push(self, *replies: ReplyScript) -> None:
        self._replies.extend(replies)

    def push_structured(self, *answers: StructuredScript) -> None:
        self._structured.extend(answers)

    def count(self, purpose: str | None = None) -> int:
        """How many calls were made (for one purpose, or in all)."""
        return sum(1 for c in self.calls if purpose is None or c.purpose == purpose)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        self.calls.append(request)
        script = self._replies.popleft() if self._replies else default_reply
        reply = script(request) if callable(script) else script
        if reply.error is not None:
            raise reply.error
        words = re.findall(r"\S+\s*", reply.text)
        for word in words:
            yield TextDelta(word)
        for index, call in enumerate(reply.calls):
            half = len(call.arguments) // 2
            yield ToolCallDelta(index=index, id=call.id, name=call.name, arguments=call.arguments[:half])
            yield ToolCallDelta(index=index, arguments=call.arguments[half:])
        prompt = sum(len(m.content or "") for m in request.messages) // 4
        yield Finish(
            reason="tool_calls" if reply.calls else "stop",
            usage=Usage(prompt_tokens=prompt, completion_tokens=len(words) + len(reply.calls)),
        )

    async def structured(self, request: StructuredRequest) -> StructuredResult:
        self.calls.append(request)
        script = self._structured.popleft() if self._structured else default_structured
        if isinstance(script, Exception):
            raise script
        value = script(request) if callable(script) else script
        if not isinstance(value, Mapping):
            raise LLMError("scripted structured answer is not an object")
        return StructuredResult(value=dict(value), usage=Usage(0, 0))

    async def aclose(self) -> None:
        return None


# The built-in behaviour ----------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "to",
        "of",
        "and",
        "or",
        "is",
        "are",
        "be",
        "i",
        "me",
        "my",
        "we",
        "you",
        "your",
        "it",
        "this",
        "that",
        "user",
        "wants",
        "want",
        "would",
        "like",
        "with",
        "for",
        "in",
        "on",
        "at",
        "about",
        "asks",
        "ask",
        "says",
        "say",
        "if",
        "when",
        "has",
        "have",
        "do",
        "does",
        "not",
        "no",
        "yes",
    ]
)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def _last_user(messages: Sequence[Message]) -> str:
    for message in reversed(messages):
        if message.role == "user":
            return message.content or ""
    return ""


def _choice_options(tool: ToolSpec) -> tuple[str, list[tuple[str, str]]] | None:
    """(parameter, [(value, description)]) when the tool's only parameter is a choice."""
    properties = tool.parameters.get("properties") or {}
    if len(properties) != 1:
        return None
    ((param, schema),) = properties.items()
    options = schema.get("oneOf") or schema.get("anyOf")
    if not options or not all("const" in o for o in options):
        return None
    return param, [(str(o["const"]), str(o.get("description", o["const"]))) for o in options]


def best_option(text: str, options: Sequence[tuple[str, str]]) -> str | None:
    """The option whose description shares the most words with ``text`` (ties: first)."""
    said = _words(text)
    best, best_score = None, 0
    for value, description in options:
        score = len(said & _words(description))
        if score > best_score:
            best, best_score = value, score
    return best


def default_reply(request: ChatRequest) -> Reply:
    messages = request.messages
    if messages and messages[-1].role == "tool":
        return Reply(text=f"The tool returned: {messages[-1].content}")
    said = _last_user(messages)
    offered = {tool.name: tool for tool in request.tools}
    directive = re.match(r"\s*/tool\s+(\S+)\s*(.*)$", said, re.S)
    if directive and directive.group(1) in offered:
        arguments = directive.group(2).strip() or "{}"
        return Reply(
            calls=[ToolCall(id=f"call_{len(messages)}", name=directive.group(1), arguments=arguments)]
        )
    for tool in request.tools:
        choice = _choice_options(tool)
        if choice is None:
            continue
        param, options = choice
        picked = best_option(said, options)
        if picked is not None:
            call = ToolCall(id=f"call_{len(messages)}", name=tool.name, arguments=json.dumps({param: picked}))
            return Reply(calls=[call])
    return Reply(text=f"You said: {said}" if said else "Hello! How can I help you today?")


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_NAME = re.compile(r"(?:my name is|i am|i'm|this is)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)?)", re.I)


def default_structured(request: StructuredRequest) -> dict[str, Any]:
    if request.options:
        # A routing choice: the question is the last message; the user's reply is before it.
        reply = _last_user(request.messages[:-1])
        numbered = [(str(i), text) for i, text in enumerate(request.options) if i > 0]
        picked = best_option(reply, numbered)
        return {"choice": int(picked) if picked is not None else 0}
    said = " ".join(m.content or "" for m in request.messages if m.role == "user")
    properties: Mapping[str, Any] = request.schema.get("properties") or {}
    value: dict[str, Any] = {}
    for key, schema in properties.items():
        options = schema.get("oneOf") or schema.get("anyOf") or []
        consts = [(str(o["const"]), str(o.get("description", o["const"]))) for o in options if "const" in o]
        kinds = schema.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        description = str(schema.get("description", "")).lower()
        if consts:
            value[key] = best_option(said, consts)
        elif schema.get("format") == "email" or "email" in key.lower():
            found = _EMAIL.findall(said)
            value[key] = found[-1] if found else None
        elif "number" in kinds or "integer" in kinds:
            found = _NUMBER.findall(_EMAIL.sub(" ", said))
            value[key] = (
                (int(float(found[-1])) if "integer" in kinds else float(found[-1])) if found else None
            )
        elif "name" in key.lower() or "name" in description:
            found = _NAME.findall(said)
            value[key] = found[-1].strip() if found else None
        else:
            value[key] = None
    return value
