"""The interactive test API (pathors-api.md section 2.10, there an MCP tool set), over HTTP.

``POST /v1/projects/{id}/conversations`` starts a conversation, ``POST .../{sessionId}/messages``
sends one user message and answers with the reply, the node reached, the variables, the
tool events and the turn's trace; ``GET .../{sessionId}`` reads the state (no model call);
``POST .../{sessionId}/end`` ends it (idempotent, answers ``alreadyEnded``). These
conversations are sessions with provider ``test``: a session opened by a real channel is
refused ("Not an interactive conversation"), and a conversation has at most 50 user turns.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pathweaver.api import limits, ratelimit
from pathweaver.api.auth import Caller, project_caller
from pathweaver.api.openapi import answers
from pathweaver.api.wire import addressable
from pathweaver.conversations import Conversations, TurnResult
from pathweaver.engine.state import SessionState
from pathweaver.errors import Conflict, UserError
from pathweaver.llm.base import Message

PROVIDER = "test"
MAX_USER_TURNS = 50

CallerDep = Annotated[Caller, Depends(project_caller)]


class StartBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    variables: dict[str, Any] | None = None
    session_id: Annotated[str | None, AfterValidator(addressable)] = Field(
        default=None, alias="sessionId", min_length=1, max_length=200
    )


class SendBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    message: str = Field(min_length=1)


def _conversations(request: Request) -> Conversations:
    conversations: Conversations = request.app.state.conversations
    return conversations


# Response shapes (documentation: api/openapi.py answers())


class ConversationStateOut(BaseModel):
    """Where an interactive conversation is."""

    sessionId: str
    currentNodeId: str | None
    extractedVariables: dict[str, Any]
    isEnded: bool
    messageCount: int
    userTurnCount: int
    pathwayVersion: int


class ConversationStateEnvelope(BaseModel):
    """An interactive conversation's state."""

    data: ConversationStateOut


class ConversationReplyOut(ConversationStateOut):
    """The agent's reply to one message, and where the conversation is after it."""

    reply: str
    toolEvents: list[dict[str, Any]] = Field(description="The server-side tool calls and results of the turn")
    trace: dict[str, Any] = Field(
        description="What the turn did: nodes entered, transitions, variables, model calls, tool events"
    )


class ConversationReplyEnvelope(BaseModel):
    """The agent's reply to one message."""

    data: ConversationReplyOut


class ConversationEndedOut(ConversationStateOut):
    """An interactive conversation, ended."""

    alreadyEnded: bool


class ConversationEndedEnvelope(BaseModel):
    """The conversation has ended."""

    data: ConversationEndedOut


def state_json(session: SessionState) -> dict[str, Any]:
    return {
        "sessionId": session.external_id,
        "currentNodeId": session.current_node_id,
        "extractedVariables": session.extracted,
        "isEnded": session.ended,
        "messageCount": session.message_count,
        "userTurnCount": session.turn_count,
        "pathwayVersion": session.pathway_version,
    }


async def _interactive(conversations: Conversations, project_id: str, session_id: str) -> SessionState:
    session = await conversations.get_session(project_id, session_id)
    if session.provider != PROVIDER:
        raise UserError("Not an interactive conversation: this session was opened by another channel")
    return session


async def start_conversation(request: Request, projectId: str, body: StartBody, caller: CallerDep) -> Any:
    import secrets

    limits.check_variables(request.app.state.settings, body.variables or {})
    session_id = body.session_id or f"test-{secrets.token_hex(8)}"
    session, _ = await _conversations(request).create_session(
        projectId, session_id, variables=body.variables or {}, provider=PROVIDER
    )
    return {"data": state_json(session)}


async def send_message(
    request: Request,
    projectId: str,
    sessionId: str,
    body: SendBody,
    caller: CallerDep,
) -> Any:
    limits.check_message(request.app.state.settings, body.message)
    ratelimit.admit_turn(request, projectId, sessionId)
    conversations = _conversations(request)
    session = await _interactive(conversations, projectId, sessionId)
    if session.ended:
        raise Conflict("This conversation has ended")
    if session.turn_count >= MAX_USER_TURNS:
        raise Conflict(f"turn limit reached: a test conversation has at most {MAX_USER_TURNS} user turns")
    result: TurnResult | None = None
    async for event in conversations.chat(
        projectId, sessionId, [Message(role="user", content=body.message)], provider=PROVIDER
    ):
        if isinstance(event, TurnResult):
            result = event
    assert result is not None and result.outcome is not None
    trace = result.outcome.trace
    tool_events: list[dict[str, Any]] = list(trace.get("toolEvents", []))
    return {
        "data": {
            "reply": result.text,
            **state_json(result.session),
            "toolEvents": tool_events,
            "trace": trace,
        }
    }


async def get_conversation_state(request: Request, projectId: str, sessionId: str, caller: CallerDep) -> Any:
    session = await _interactive(_conversations(request), projectId, sessionId)
    return {"data": state_json(session)}


async def end_conversation(request: Request, projectId: str, sessionId: str, caller: CallerDep) -> Any:
    conversations = _conversations(request)
    await _interactive(conversations, projectId, sessionId)
    session, changed = await conversations.end(projectId, sessionId, "test_end")
    assert session is not None
    return {"data": {**state_json(session), "alreadyEnded": not changed}}


def interactive_router() -> APIRouter:
    router = APIRouter(prefix="/v1/projects/{projectId}/conversations", tags=["interactive testing"])
    state = answers(ConversationStateEnvelope)
    router.add_api_route("", start_conversation, methods=["POST"], responses=state)
    router.add_api_route("/{sessionId}", get_conversation_state, methods=["GET"], responses=state)
    router.add_api_route(
        "/{sessionId}/messages", send_message, methods=["POST"], responses=answers(ConversationReplyEnvelope)
    )
    router.add_api_route(
        "/{sessionId}/end", end_conversation, methods=["POST"], responses=answers(ConversationEndedEnvelope)
    )
    return router
