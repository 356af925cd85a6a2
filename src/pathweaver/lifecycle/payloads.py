"""Webhook event payloads, exactly as pathors-api.md section 2.11 documents them.

Every event has ``event``, ``sessionId`` and ``timestamp`` (ISO 8601, UTC). Call fields
(``callStatus``, ``callDuration``) are omitted, not null, for text sessions. ``evaluation``
on ``session.finalized`` is a Pathweaver extension (absent when no evaluation ran).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pathweaver.engine.state import SessionState

#: The event names a subscription may list, as Pathors names them. ``call.ended`` and
#: ``recording.ready`` come from voice channels, which Pathweaver does not have yet: they are
#: accepted (a subscription written for Pathors is valid here) and never sent until one does.
EVENTS = ("session.started", "session.ended", "call.ended", "session.finalized", "recording.ready")
DEFAULT_EVENTS = ("session.ended",)
#: Delivered at most once per session (never resent when a send's outcome is unknown).
AT_MOST_ONCE = frozenset({"session.finalized"})


def timestamp(moment: datetime | None = None) -> str:
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def session_started(
    project_id: str, session_id: str, provider: str | None, variables: dict[str, Any]
) -> dict[str, Any]:
    return {
        "event": "session.started",
        "sessionId": session_id,
        "timestamp": timestamp(),
        "projectId": project_id,
        "provider": provider,
        "variables": variables,
    }


def session_ended(session: SessionState) -> dict[str, Any]:
    return {
        "event": "session.ended",
        "sessionId": session.external_id,
        "timestamp": timestamp(session.ended_at),
        "currentNodeId": session.current_node_id,
        "messagesCount": session.message_count,
        "extractedVariables": session.extracted,
        "reason": "session_ended",
    }


def session_finalized(session: SessionState, evaluation: Any = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event": "session.finalized",
        "sessionId": session.external_id,
        "timestamp": timestamp(),
        "projectId": session.project_id,
        "currentNodeId": session.current_node_id,
        "messagesCount": session.message_count,
        "extractedVariables": session.extracted,
    }
    if evaluation is not None:
        payload["evaluation"] = evaluation
    return payload
