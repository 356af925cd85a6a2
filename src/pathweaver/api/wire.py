"""Wire shapes of the runtime API (sessions and chat completions), and their mappings.

Request models validate; response builders turn domain records into the documented JSON.
Unknown OpenAI request fields (``model``, ``temperature``, ``tool_choice`` ...) are accepted
and ignored: the agent's configuration decides those.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from pathweaver.engine.prompt import TRANSITION_TOOL
from pathweaver.engine.state import SessionState, StoredMessage, TurnRecord
from pathweaver.llm.base import Message, ToolCall, ToolSpec

MODEL_NAME = "pathway-default"


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


def addressable(value: str | None) -> str | None:
    """An id that a URL path segment can carry: no "/", and not "." or ".."."""
    if value is not None and ("/" in value or value in (".", "..")):
        raise ValueError('an id may not contain "/" or be "." or ".."')
    return value


AddressableId = Annotated[str, AfterValidator(addressable)]


# Sessions -----------------------------------------------------------------------------


class CreateSessionBody(_In):
    session_id: AddressableId = Field(min_length=1, max_length=200)
    variables: dict[str, Any] | None = None
    provider: str | None = Field(default=None, max_length=64)


class SessionIdBody(_In):
    session_id: str = Field(min_length=1, max_length=200)


class TerminateBody(_In):
    session_id: str | None = Field(default=None, max_length=200)
    phone_number: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, max_length=2000)


class SearchBody(_In):
    search_string: str = Field(min_length=1, max_length=1000)
    limit: StrictInt = Field(default=50, ge=1, le=500)
    offset: StrictInt = Field(default=0, ge=0)


# Chat completions ---------------------------------------------------------------------


class TextPart(_In):
    type: Literal["text"]
    text: str


class FunctionCallIn(_In):
    name: str = Field(min_length=1, max_length=64)
    arguments: str = Field(default="", max_length=100_000)


class ToolCallIn(_In):
    id: str = Field(min_length=1, max_length=200)
    type: Literal["function"] = "function"
    function: FunctionCallIn


class ChatMessageIn(_In):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    tool_calls: list[ToolCallIn] | None = Field(default=None, max_length=64)
    tool_call_id: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _complete(self) -> ChatMessageIn:
        if self.role in ("system", "developer", "user") and self.content is None:
            raise ValueError(f"a {self.role} message needs content")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id of the call it answers")
        if self.role == "assistant" and self.content is None and not self.tool_calls:
            raise ValueError("an assistant message needs content or tool_calls")
        return self

    def text(self) -> str | None:
        if self.content is None or isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)

    def to_message(self) -> Message:
        role = "system" if self.role == "developer" else self.role
        calls = tuple(
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
            for c in self.tool_calls or ()
        )
        return Message(role=role, content=self.text(), tool_calls=calls, tool_call_id=self.tool_call_id)


class FunctionDef(_In):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = Field(default="", max_length=4000)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolDef(_In):
    type: Literal["function"]
    function: FunctionDef


class StreamOptions(_In):
    include_usage: StrictBool = False


class ChatCompletionBody(_In):
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: StrictBool = False
    session_id: Annotated[str | None, AfterValidator(addressable)] = Field(
        default=None, min_length=1, max_length=200
    )
    tools: list[ToolDef] | None = None
    stream_options: StreamOptions | None = None
    model: str | None = None

    @model_validator(mode="after")
    def _reserved_tools(self) -> ChatCompletionBody:
        names = [tool.function.name for tool in self.tools or ()]
        if TRANSITION_TOOL in names:
            raise ValueError(f"the tool name {TRANSITION_TOOL!r} is reserved by Pathweaver; rename your tool")
        if len(names) != len(set(names)):
            raise ValueError("tool names must be unique")
        return self

    def client_tools(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name=t.function.name, description=t.function.description, parameters=t.function.parameters
            )
            for t in self.tools or ()
        ]


# Response shapes (documentation: api/openapi.py answers()) --------------------------


class DeletedOut(BaseModel):
    """What was deleted."""

    id: str
    deleted: Literal[True]


class DeletedEnvelope(BaseModel):
    """Something was deleted (an edge, a tool, a test case or suite)."""

    data: DeletedOut


class UsageOut(BaseModel):
    """Token counts of a turn: -1 each when the model did not report them."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class FunctionCallOut(BaseModel):
    """The function a tool call invokes."""

    name: str
    arguments: str = Field(description="The arguments, as a JSON text")


class ToolCallOut(BaseModel):
    """A call to a tool the client declared (OpenAI shape)."""

    id: str
    type: Literal["function"]
    function: FunctionCallOut


class AssistantMessageOut(BaseModel):
    """The assistant's reply: text, or calls to the client's tools."""

    role: Literal["assistant"]
    content: str | None = Field(description="The reply; null when the answer is only tool calls")
    tool_calls: list[ToolCallOut] = Field(default=[], description="Present only when the reply calls tools")


class ChoiceOut(BaseModel):
    """The one choice of a completion."""

    index: int
    message: AssistantMessageOut
    finish_reason: Literal["stop", "tool_calls"]


class ChatCompletionOut(BaseModel):
    """A chat.completion (OpenAI shape) with the session it belongs to."""

    id: str
    object: Literal["chat.completion"]
    created: int = Field(description="Unix time, in seconds, when the turn started")
    model: str
    choices: list[ChoiceOut]
    usage: UsageOut
    session_id: str


class MessageOut(BaseModel):
    """A stored message of a session, as the client sees it (server-side tool traffic left out)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None
    tool_calls: list[ToolCallOut] = Field(default=[], description="Present only when the message calls tools")
    tool_call_id: str = Field(default="", description="Present only on a tool message: the call it answers")


class SessionDataOut(BaseModel):
    """A session's variables and messages (Pathors' gen 1 ``data``)."""

    variables: dict[str, Any]
    messages: list[MessageOut]


class SessionStateOut(SessionDataOut):
    """A session's integration state (Pathors' gen 2 ``state``)."""

    currentNodeId: str | None
    extractedVariables: dict[str, Any]
    visitedNodeIds: list[str]
    isEnded: bool


class SessionEventOut(BaseModel):
    """One moment of a session's timeline."""

    type: Literal[
        "session.started",
        "session.ended",
        "message.received",
        "message.sent",
        "message",
        "tool.call",
        "tool.result",
        "transition",
        "node.entered",
        "variable.extracted",
    ]
    timestamp: str
    data: dict[str, Any]


class TurnOut(BaseModel):
    """One completed turn of a session, with its trace."""

    seq: int
    status: Literal["completed"]
    nodeBefore: str | None
    nodeAfter: str | None
    startedAt: str
    finishedAt: str
    trace: dict[str, Any] = Field(
        description="What the turn did: nodes entered, transitions, variables, model calls, tool events"
    )


class SessionOut(BaseModel):
    """A session: Pathors' integration state and the dashboard record in one document.

    No top-level ``data``: Pathors' own v1 client unwraps ``json.data ?? json``, so a
    ``data`` key would hide every field below from it (gen 1 paths: :class:`Gen1SessionOut`).
    """

    sessionId: str
    state: SessionStateOut
    currentNodeId: str | None
    extractedVariables: dict[str, Any]
    isEnded: bool
    status: Literal["active", "ended"]
    endReason: str | None
    sessionType: Literal["text"]
    provider: str | None
    pathwayVersion: int
    messageCount: int
    turnCount: int
    marked: bool
    evaluation: dict[str, Any] | None = Field(
        description="The end-of-session evaluation (result and reason, or an error); null when none ran"
    )
    createdAt: str
    updatedAt: str
    startTime: str
    endTime: str | None
    events: list[SessionEventOut]
    turns: list[TurnOut]


class Gen1SessionOut(SessionOut):
    """A session on the gen 1 paths (``/api/project/...``): also the gen 1 ``data`` block."""

    data: SessionDataOut


class SearchResultOut(BaseModel):
    """A session that matched a search."""

    sessionId: str
    data: SessionDataOut
    createdAt: str
    updatedAt: str


# Responses ----------------------------------------------------------------------------


def usage_json(usage: Any) -> dict[str, int]:
    """Real token counts when the model gave them; Pathors' -1 placeholders otherwise."""
    if usage is None:
        return {"prompt_tokens": -1, "completion_tokens": -1, "total_tokens": -1}
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def completion_json(
    *,
    completion_id: str,
    created: int,
    text: str,
    tool_calls: list[dict[str, Any]],
    finish_reason: str,
    usage: Any,
    session_id: str,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not tool_calls else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": MODEL_NAME,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage_json(usage),
        "session_id": session_id,
    }


class ChunkWriter:
    """Encodes ``chat.completion.chunk`` SSE frames; the fixed part is serialised once."""

    def __init__(self, completion_id: str, created: int, session_id: str):
        self._head = (
            'data: {"id":' + json.dumps(completion_id) + ',"object":"chat.completion.chunk","created":'
            f'{created},"model":"{MODEL_NAME}","session_id":' + json.dumps(session_id) + ',"choices":'
        )

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return (self._head + "[" + json.dumps(choice, ensure_ascii=False) + "]}\n\n").encode()

    def content(self, text: str) -> bytes:
        return (
            self._head
            + '[{"index":0,"delta":{"content":'
            + json.dumps(text, ensure_ascii=False)
            + '},"finish_reason":null}]}\n\n'
        ).encode()

    def usage(self, usage: Any) -> bytes:
        return self.usage_json(usage_json(usage))

    def usage_json(self, usage: dict[str, int]) -> bytes:
        return (self._head + '[],"usage":' + json.dumps(usage) + "}\n\n").encode()


def sse_error(message: str, type_: str, code: str | None) -> bytes:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return ("data: " + json.dumps(body, ensure_ascii=False) + "\n\n").encode()


DONE = b"data: [DONE]\n\n"


def message_json(message: StoredMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out


def iso(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.isoformat().replace("+00:00", "Z"))


def session_events(
    session: SessionState, history: list[StoredMessage], turns: list[TurnRecord]
) -> list[dict[str, Any]]:
    """The session's timeline: messages, nodes entered, transitions, variables, start/end."""
    events: list[dict[str, Any]] = [
        {
            "type": "session.started",
            "timestamp": iso(session.created_at),
            "data": {"nodeId": session.visited[0] if session.visited else None},
        }
    ]
    by_turn: dict[int, list[StoredMessage]] = {}
    for message in history:
        by_turn.setdefault(message.turn_seq, []).append(message)
    for message in by_turn.get(0, []):
        events.append(_message_event(message))
    for turn in turns:
        for message in by_turn.get(turn.seq, []):
            if message.role != "assistant":
                events.append(_message_event(message))
        stamp = iso(turn.finished_at)
        trace = turn.trace
        for tool_event in trace.get("toolEvents", []):
            kind = "tool.call" if tool_event["type"] == "tool_call" else "tool.result"
            events.append({"type": kind, "timestamp": stamp, "data": tool_event})
        for transition in trace.get("transitions", []):
            events.append({"type": "transition", "timestamp": stamp, "data": transition})
        for entered in trace.get("entered", []):
            events.append({"type": "node.entered", "timestamp": stamp, "data": entered})
        for key, value in trace.get("variables", {}).get("set", {}).items():
            events.append(
                {"type": "variable.extracted", "timestamp": stamp, "data": {"key": key, "value": value}}
            )
        for message in by_turn.get(turn.seq, []):
            if message.role == "assistant":
                events.append(_message_event(message))
    if session.ended_at is not None:
        events.append(
            {
                "type": "session.ended",
                "timestamp": iso(session.ended_at),
                "data": {"reason": session.end_reason},
            }
        )
    return events


def _message_event(message: StoredMessage) -> dict[str, Any]:
    kind = {"user": "message.received", "assistant": "message.sent", "tool": "tool.result"}.get(
        message.role, "message"
    )
    return {
        "type": kind,
        "timestamp": iso(message.created_at),
        "data": {"message": message_json(message), "nodeId": message.node_id},
    }


def session_json(
    session: SessionState, history: list[StoredMessage], turns: list[TurnRecord], *, gen1: bool = False
) -> dict[str, Any]:
    """GET session: Pathors' integration state (gen 2 ``state``) and the dashboard record
    (timeline, counters) in one document, plus the gen 1 ``data`` block when ``gen1``.
    Server-side tool traffic is in the turns' traces (``toolEvents``), not in the messages."""
    history = [m for m in history if not m.internal]
    messages = [message_json(m) for m in history]
    variables = session.variables
    answer: dict[str, Any] = {
        "sessionId": session.external_id,
        "state": {
            "variables": variables,
            "messages": messages,
            "currentNodeId": session.current_node_id,
            "extractedVariables": session.extracted,
            "visitedNodeIds": list(session.visited),
            "isEnded": session.ended,
        },
        "currentNodeId": session.current_node_id,
        "extractedVariables": session.extracted,
        "isEnded": session.ended,
        "status": session.status,
        "endReason": session.end_reason,
        "sessionType": session.session_type,
        "provider": session.provider,
        "pathwayVersion": session.pathway_version,
        "messageCount": len(history),
        "turnCount": session.turn_count,
        "marked": session.marked,
        "evaluation": session.evaluation,
        "createdAt": iso(session.created_at),
        "updatedAt": iso(session.updated_at),
        "startTime": iso(session.created_at),
        "endTime": iso(session.ended_at),
        "events": session_events(session, history, turns),
        "turns": [
            {
                "seq": t.seq,
                "status": t.status,
                "nodeBefore": t.node_before,
                "nodeAfter": t.node_after,
                "startedAt": iso(t.started_at),
                "finishedAt": iso(t.finished_at),
                "trace": t.trace,
            }
            for t in turns
        ],
    }
    if gen1:
        answer["data"] = {"variables": variables, "messages": messages}
    return answer


def search_result_json(session: SessionState, history: list[StoredMessage]) -> dict[str, Any]:
    return {
        "sessionId": session.external_id,
        "data": {
            "variables": session.variables,
            "messages": [message_json(m) for m in history if not m.internal],
        },
        "createdAt": iso(session.created_at),
        "updatedAt": iso(session.updated_at),
    }
