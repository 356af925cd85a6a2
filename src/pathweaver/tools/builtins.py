"""The built-in tools any node may offer: ``end_call``, ``transfer_call``, ``transfer_to_human``.

They touch nothing outside Pathweaver. Calling one gives the model a short confirmation and
gives the engine a :class:`SessionAction` to carry out after the reply: end the session,
or hand it over (to another line, or to a human agent), with the model's stated reason.
What each means for the session:

* ``end_call``: the conversation is over; the session ends (``end_reason`` ``end_call``);
* ``transfer_call``: the caller is passed to another line; the session ends for this
  agent (``end_reason`` ``transfer_call``), the channel does the transfer;
* ``transfer_to_human``: a human agent takes over (the Chatwoot hand-off); the session
  ends for this agent (``end_reason`` ``transfer_to_human``). Its description is the
  editable "Handoff Description".

The model supplies only a reason; destinations are configuration, never model output.
"""

from __future__ import annotations

import json
from typing import Any

from pathweaver.llm.base import ToolSpec
from pathweaver.tools.result import ActionKind, SessionAction, ToolResult, failure

_REASON = {
    "type": "object",
    "properties": {"reason": {"type": "string", "description": "Why, in one short sentence."}},
    "required": ["reason"],
    "additionalProperties": False,
}

#: name -> (action kind, default description, confirmation for the model)
BUILTINS: dict[str, tuple[ActionKind, str, str]] = {
    "end_call": (
        "end",
        "End the conversation. Call this when the user says goodbye or the task is complete, "
        "after your closing words.",
        "The conversation will end after your reply. Say goodbye briefly.",
    ),
    "transfer_call": (
        "transfer",
        "Transfer the caller to another line when they ask for it or you cannot help further.",
        "The caller will be transferred after your reply. Tell them so in one sentence.",
    ),
    "transfer_to_human": (
        "handoff",
        "Hand the conversation to a human agent when the user asks for a person or the request needs one.",
        "A human agent will take over after your reply. Tell the user so in one sentence.",
    ),
}


def is_builtin(name: str) -> bool:
    return name in BUILTINS


def builtin_spec(name: str, description: str | None = None) -> ToolSpec:
    """The function offered to the model; ``description`` overrides the default text."""
    _, default, _ = BUILTINS[name]
    return ToolSpec(name=name, description=description or default, parameters=_REASON)


def run_builtin(name: str, call_id: str, raw_arguments: str) -> ToolResult:
    """Record the request; the engine ends or hands over the session when the turn commits."""
    kind, _, confirmation = BUILTINS[name]
    record: dict[str, Any] = {"type": "builtin", "name": name}
    try:
        arguments = json.loads(raw_arguments or "{}")
    except json.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        return failure(call_id, name, 'the arguments must be a JSON object like {"reason": "..."}', record)
    reason = str(arguments.get("reason") or "").strip()[:500] or "(no reason given)"
    action = SessionAction(kind=kind, tool=name, reason=reason)
    record.update(status="ok", action=kind, reason=reason)
    return ToolResult(call_id, name, confirmation, False, record, action)
