"""Runtime records: a session's state and its stored messages, as plain frozen data.

The store reads and writes these; the engine reads them and returns a :class:`TurnOutcome`
that the store commits atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pathweaver.llm.base import Message, ToolCall, Usage


@dataclass(frozen=True, slots=True)
class SessionState:
    pk: int
    project_id: str
    external_id: str
    pathway_version: int
    provider: str | None
    session_type: str
    status: str
    end_reason: str | None
    variables: dict[str, Any]
    extracted: dict[str, Any]
    current_node_id: str | None
    visited: tuple[str, ...]
    turn_count: int
    message_count: int
    marked: bool
    evaluation: Any
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None

    @property
    def ended(self) -> bool:
        return self.status == "ended"


@dataclass(frozen=True, slots=True)
class StoredMessage:
    seq: int
    turn_seq: int
    role: str
    content: str | None
    tool_calls: tuple[ToolCall, ...]
    tool_call_id: str | None
    node_id: str | None
    created_at: datetime
    internal: bool = False

    def as_model_message(self) -> Message:
        return Message(
            role=self.role,  # type: ignore[arg-type]
            content=self.content,
            tool_calls=self.tool_calls,
            tool_call_id=self.tool_call_id,
        )


@dataclass(frozen=True, slots=True)
class TurnRecord:
    seq: int
    status: str
    node_before: str | None
    node_after: str | None
    response: dict[str, Any] | None
    trace: dict[str, Any]
    error: str | None
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store with a turn; ``node_id`` is the node that said it (assistant)."""

    message: Message
    node_id: str | None = None
    #: Server-side tool traffic: part of the model's context, never of the client's history.
    internal: bool = False


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    """Everything a turn changes, committed together or not at all."""

    messages: tuple[NewMessage, ...]
    text: str
    client_tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    usage: Usage | None
    node_before: str | None
    node_after: str | None
    visited: tuple[str, ...]
    extracted: dict[str, Any]
    ended: bool
    end_reason: str | None
    trace: dict[str, Any] = field(default_factory=dict)
