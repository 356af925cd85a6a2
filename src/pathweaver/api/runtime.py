"""The runtime API: sessions and OpenAI-compatible chat completions.

Served under the three path generations of pathors-api.md section 2.2 with the same
handlers: ``/v1/projects/{projectId}/...`` (current), ``/project/{projectId}/integration/api/...``
(gen 2, plus its short ``/project/{projectId}/session...`` forms) and
``/api/project/{projectId}/integration/api/...`` (gen 1). The legacy paths answer the
same bodies and add ``Deprecation`` and ``Sunset`` headers (see ``app.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pathweaver.api import bodies, idempotency, limits, ratelimit
from pathweaver.api.auth import Caller, project_caller
from pathweaver.api.errors import on_pathweaver_error
from pathweaver.api.openapi import answers
from pathweaver.api.pump import END, GONE, TIMEOUT, EventPump, on_disconnect
from pathweaver.api.wire import (
    DONE,
    MODEL_NAME,
    ChatCompletionBody,
    ChatCompletionOut,
    ChunkWriter,
    CreateSessionBody,
    Gen1SessionOut,
    SearchBody,
    SearchResultOut,
    SessionIdBody,
    SessionOut,
    TerminateBody,
    addressable,
    completion_json,
    search_result_json,
    session_json,
    sse_error,
)
from pathweaver.config import Settings
from pathweaver.conversations import ChatEvent, Conversations, TurnResult, new_completion_id
from pathweaver.engine.events import ReplyDelta
from pathweaver.errors import LLMError, NotFound, PathweaverError, UserError
from pathweaver.llm.base import ToolCallDelta

log = logging.getLogger("pathweaver.api")

OPENAI = {"x-error-style": "openai"}
FLAT = {"x-error-style": "flat"}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
KEEP_ALIVE = b": keep-alive\n\n"
REPLAYED = {"Idempotent-Replayed": "true"}

CallerDep = Annotated[Caller, Depends(project_caller)]
#: The longest ``X-Session-ID`` the chat route takes (its ``DirectChat`` entry too).
SESSION_HEADER_MAX = 200


def _conversations(request: Request) -> Conversations:
    conversations: Conversations = request.app.state.conversations
    return conversations


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# Response shapes (documentation: api/openapi.py answers()) ----------------------------


class SessionCreatedOut(BaseModel):
    """The session exists (created now, or earlier with the same variables)."""

    sessionId: str
    pathwayId: str


class SessionEndedOut(BaseModel):
    """The session has ended (ending an ended session succeeds too)."""

    success: bool
    sessionId: str
    message: str


class SessionTerminatedOut(BaseModel):
    """The outcome of a terminate request."""

    success: bool = Field(description="False when the session had already ended")
    sessionType: Literal["text"]


class SearchPaginationOut(BaseModel):
    """Where this page of search results is, and how many matched in all."""

    limit: int
    offset: int
    total: int


class SearchOut(BaseModel):
    """Sessions whose variables or messages match the search string."""

    results: list[SearchResultOut]
    pagination: SearchPaginationOut


class ModelOut(BaseModel):
    """The one model a project serves (OpenAI shape): its pathway."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelListOut(BaseModel):
    """The models a project serves (OpenAI shape)."""

    object: Literal["list"]
    data: list[ModelOut]


CHAT_ANSWER = answers(
    ChatCompletionOut,
    description="A chat.completion when stream is false; chat.completion.chunk events when it is true",
)


# Handlers ------------------------------------------------------------------------------


async def create_session(request: Request, projectId: str, body: CreateSessionBody, caller: CallerDep) -> Any:
    variables = body.variables or {}
    limits.check_variables(_settings(request), variables)
    claim, stored = await idempotency.claim(request, projectId, "session.create", running_ttl=60)
    if stored is not None:
        return JSONResponse(stored.body, status_code=stored.status_code, headers=REPLAYED)
    async with idempotency.forgotten_on_error(claim):
        session, _created = await _conversations(request).create_session(
            projectId, body.session_id, variables=variables, provider=body.provider
        )
        answer = {"sessionId": session.external_id, "pathwayId": projectId}
        if claim is not None:
            await claim.finish(200, answer, {})
    return answer


async def get_session(request: Request, projectId: str, sessionId: str, caller: CallerDep) -> Any:
    return await _session(request, projectId, sessionId, gen1=False)


async def get_session_gen1(request: Request, projectId: str, sessionId: str, caller: CallerDep) -> Any:
    return await _session(request, projectId, sessionId, gen1=True)


async def _session(request: Request, project_id: str, session_id: str, *, gen1: bool) -> dict[str, Any]:
    conversations = _conversations(request)
    session = await conversations.get_session(project_id, session_id)
    history = await conversations.history(session)
    turns = await conversations.turns(session)
    return session_json(session, history, turns, gen1=gen1)


async def end_session(request: Request, projectId: str, body: SessionIdBody, caller: CallerDep) -> Any:
    await _conversations(request).end(projectId, body.session_id, "api_end")
    return {"success": True, "sessionId": body.session_id, "message": "Session ended successfully"}


async def terminate_session(request: Request, projectId: str, body: TerminateBody, caller: CallerDep) -> Any:
    if not body.session_id:
        if body.phone_number:
            raise NotFound("Session not found: text sessions have no phone number; send session_id")
        raise UserError("session_id is required")
    session, changed = await _conversations(request).end(projectId, body.session_id, "terminated")
    if session is None:
        raise NotFound("Session not found")
    return {"success": changed, "sessionType": session.session_type}


async def search_sessions(request: Request, projectId: str, body: SearchBody, caller: CallerDep) -> Any:
    conversations = _conversations(request)
    found, total = await conversations.store.sessions.search(
        projectId, body.search_string, limit=body.limit, offset=body.offset
    )
    results = [search_result_json(s, await conversations.history(s)) for s in found]
    return {"results": results, "pagination": {"limit": body.limit, "offset": body.offset, "total": total}}


async def chat_completions(
    request: Request,
    projectId: str,
    body: ChatCompletionBody,
    caller: CallerDep,
    x_session_id: Annotated[str | None, Header(max_length=SESSION_HEADER_MAX)] = None,
) -> Any:
    settings = _settings(request)
    limits.check_chat(settings, body)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    claim, stored = await idempotency.claim(
        request, projectId, "chat.completions", running_ttl=settings.llm_total_timeout + 60
    )
    if stored is not None:
        headers = {**stored.headers, **REPLAYED}
        if body.stream:
            return StreamingResponse(
                _replay_sse(stored.body, include_usage),
                media_type="text/event-stream",
                headers={**headers, **SSE_HEADERS},
            )
        return JSONResponse(stored.body, status_code=stored.status_code, headers=headers)

    if x_session_id is not None:
        try:
            addressable(x_session_id)
        except ValueError as exc:
            raise UserError(f"X-Session-ID: {exc}") from None
    named = x_session_id or body.session_id
    session_id = named or f"session-{secrets.token_hex(12)}"
    completion_id = new_completion_id()
    headers = {"X-Session-ID": session_id}
    async with idempotency.forgotten_on_error(claim):
        if named:  # a new session's first turn has a full bucket: nothing to charge
            ratelimit.admit_turn(request, projectId, named)
        events = _conversations(request).chat(
            projectId,
            session_id,
            [m.to_message() for m in body.messages],
            client_tools=body.client_tools(),
            completion_id=completion_id,
            stream=body.stream,
        )
        if not body.stream:
            answer = await _whole_turn(events, request.receive)
            if answer is None:
                return Response(status_code=499)
            completion = _completion(answer, session_id)
            if claim is not None:
                await claim.finish(200, completion, headers)
            return JSONResponse(completion, headers=headers)
        # A streamed turn runs in its own task (see api/pump.py): the handler can send
        # heartbeats, and a client that disconnects while it waits cancels the turn.
        pump: EventPump[ChatEvent] = EventPump(events)
        watcher = asyncio.create_task(on_disconnect(request.receive, pump.abandon))
        primed: list[ChatEvent] = []
        try:
            # Pull events until the first output: errors before it become a plain JSON error
            # response with the right status; after it, they become an SSE error event. A
            # model silent for ``sse_heartbeat_seconds`` starts the stream with a heartbeat.
            while True:
                item = await pump.get(settings.sse_heartbeat_seconds)
                if item is GONE:
                    return Response(status_code=499)
                if item is TIMEOUT or item is END:
                    break
                primed.append(item)
                if isinstance(item, ReplyDelta | ToolCallDelta | TurnResult):
                    break
        except BaseException:
            await pump.aclose()
            raise
        finally:
            watcher.cancel()
    return ClosingStreamingResponse(
        _sse(pump, primed, settings.sse_heartbeat_seconds, completion_id, session_id, include_usage, claim),
        media_type="text/event-stream",
        headers={**headers, **SSE_HEADERS},
    )


async def _whole_turn(events: AsyncIterator[ChatEvent], receive: Receive) -> TurnResult | None:
    """Run a JSON turn to its end in this task; its result, or None if the client went away.

    No task for the turn (a streamed one has its pump): a disconnect, seen by a watcher
    task, cancels this one, which the turn takes as any cancellation (its model call closed,
    its session released). The turn's generator is read to its end, so it has released its
    session before the answer goes out.
    """
    task = asyncio.current_task()
    assert task is not None
    gone = False

    def went_away() -> None:
        nonlocal gone
        gone = True
        task.cancel()

    watcher = asyncio.create_task(on_disconnect(receive, went_away))
    result: TurnResult | None = None
    try:
        async with contextlib.aclosing(events):  # type: ignore[type-var]
            async for event in events:
                if isinstance(event, TurnResult):
                    result = event
    except asyncio.CancelledError:
        # Ours (the client left) unless someone else cancelled the request too.
        if gone and task.uncancel() == 0:
            return None
        raise
    finally:
        watcher.cancel()
    if result is None:
        raise LLMError("the turn ended without an answer")
    return result


class ClosingStreamingResponse(StreamingResponse):
    """Closes its body iterator as soon as the response ends, disconnects included.

    Starlette leaves an abandoned iterator to the garbage collector; closing it here cancels
    the turn (and the model call) the moment the client goes away.
    """

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            closer = getattr(self.body_iterator, "aclose", None)
            if closer is not None:
                with anyio.CancelScope(shield=True):
                    await closer()


def _completion(result: TurnResult, session_id: str) -> dict[str, Any]:
    return completion_json(
        completion_id=result.completion_id,
        created=result.created,
        text=result.text,
        tool_calls=result.tool_calls,
        finish_reason=result.finish_reason,
        usage=result.usage,
        session_id=session_id,
    )


async def _replay_sse(completion: dict[str, Any], include_usage: bool) -> AsyncIterator[bytes]:
    """A stored completion, sent again as the stream it was."""
    writer = ChunkWriter(completion["id"], completion["created"], completion["session_id"])
    choice = completion["choices"][0]
    yield writer.delta({"role": "assistant", "content": ""})
    if choice["message"].get("content"):
        yield writer.content(choice["message"]["content"])
    for index, call in enumerate(choice["message"].get("tool_calls") or []):
        yield writer.delta({"tool_calls": [{"index": index, **call}]})
    yield writer.delta({}, choice["finish_reason"])
    if include_usage:
        yield writer.usage_json(completion["usage"])
    yield DONE


async def _sse(
    pump: EventPump[ChatEvent],
    primed: list[ChatEvent],
    heartbeat: float,
    completion_id: str,
    session_id: str,
    include_usage: bool,
    claim: idempotency.Claim | None,
) -> AsyncIterator[bytes]:
    writer: ChunkWriter | None = None
    try:
        async with idempotency.forgotten_on_error(claim):
            try:
                async for event in _events(pump, primed, heartbeat):
                    if event is TIMEOUT:
                        yield KEEP_ALIVE
                        continue
                    if writer is None:
                        created = event.created if isinstance(event, TurnResult) else None
                        writer = ChunkWriter(completion_id, created or int(time.time()), session_id)
                        yield writer.delta({"role": "assistant", "content": ""})
                    match event:
                        case ReplyDelta(text=text):
                            if text:
                                yield writer.content(text)
                        case ToolCallDelta(index=index, id=call_id, name=name, arguments=arguments):
                            call: dict[str, Any] = {"index": index}
                            if call_id or name:
                                call.update(
                                    id=call_id,
                                    type="function",
                                    function={"name": name, "arguments": arguments},
                                )
                            else:
                                call["function"] = {"arguments": arguments}
                            yield writer.delta({"tool_calls": [call]})
                        case TurnResult() as result:
                            if claim is not None:
                                await claim.finish(
                                    200, _completion(result, session_id), {"X-Session-ID": session_id}
                                )
                            if result.replayed:
                                for chunk in _replayed_chunks(writer, result):
                                    yield chunk
                            yield writer.delta({}, result.finish_reason)
                            if include_usage:
                                yield writer.usage(result.usage)
                            yield DONE
                        case _:
                            pass
            except PathweaverError as exc:
                if claim is not None:
                    await claim.forget()
                yield sse_error(exc.message, exc.type, exc.code)
            except Exception:
                log.exception("stream failed")
                if claim is not None:
                    await claim.forget()
                yield sse_error("internal error; it has been logged", "server_error", None)
    finally:
        await pump.aclose()


async def _events(
    pump: EventPump[ChatEvent], primed: list[ChatEvent], heartbeat: float
) -> AsyncIterator[Any]:
    """The primed events, then the pump's, with ``TIMEOUT`` whenever ``heartbeat`` passes in silence."""
    for event in primed:
        yield event
    while True:
        item = await pump.get(heartbeat)
        if item is END:
            return
        yield item


def _replayed_chunks(writer: ChunkWriter, result: TurnResult) -> list[bytes]:
    chunks = [writer.content(result.text)] if result.text else []
    for index, call in enumerate(result.tool_calls):
        chunks.append(writer.delta({"tool_calls": [{"index": index, **call}]}))
    return chunks


async def list_models(request: Request, projectId: str, caller: CallerDep) -> Any:
    return {"object": "list", "data": [_model_json(projectId)]}


async def get_model(request: Request, projectId: str, model: str, caller: CallerDep) -> Any:
    if model != MODEL_NAME:
        raise NotFound(f"model {model!r} not found; this project serves {MODEL_NAME!r}")
    return _model_json(projectId)


def _model_json(project_id: str) -> dict[str, Any]:
    return {"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": f"pathweaver:{project_id}"}


# The v1 chat route's direct entry ----------------------------------------------------

_V1_CHAT = re.compile(r"/v1/projects/([^/]+)/chat/completions")


class DirectChat:
    """ASGI middleware: ``POST /v1/projects/{projectId}/chat/completions`` without FastAPI's
    routing, dependency solving and exception layers in between.

    Nearly every request a worker serves is that one, and those layers cost about a tenth
    of a turn's CPU (bench/README.md). This runs the same handler (:func:`chat_completions`)
    with the same authentication and limits (``project_caller``), answers its errors with
    the same handler as FastAPI would (``errors.on_pathweaver_error``, in the route's
    error style), and sits inside the same middleware (body limit, overhead header).

    It takes only the plain case: a JSON body that validates as :class:`ChatCompletionBody`,
    no ``Idempotency-Key``, an ``X-Session-ID`` the route accepts, no ``root_path``. Anything
    else goes on to FastAPI's route, with the body already read handed over as it came, so
    a validation error, say, reads exactly as the route's documented answer: nothing of
    the request has run yet when it does.
    """

    def __init__(self, app: ASGIApp, route: APIRoute):
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or (match := _V1_CHAT.fullmatch(scope["path"])) is None
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        parts: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before its body was complete: nobody to answer
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        headers = Headers(scope=scope)
        session_header = headers.get("x-session-id")
        parsed = self._plain(headers, session_header, body)
        if parsed is None:
            await self.app(scope, _replaying(body, receive), send)
            return
        project_id = match.group(1)
        scope["route"] = self.route  # the error style, as FastAPI's routing would set it
        scope["path_params"] = {"projectId": project_id}
        request = Request(scope, receive)
        try:
            caller = await project_caller(request, project_id)
            response: Response = await chat_completions(request, project_id, parsed, caller, session_header)
        except PathweaverError as exc:
            response = await on_pathweaver_error(request, exc)
        await response(scope, receive, send)

    @staticmethod
    def _plain(headers: Headers, session_header: str | None, body: bytes) -> ChatCompletionBody | None:
        """The body, when the request is one this entry takes; ``None`` otherwise."""
        if idempotency.HEADER in headers:
            return None
        if session_header is not None and len(session_header) > SESSION_HEADER_MAX:
            return None
        content_type = headers.get("content-type")
        if content_type is not None and content_type.split(";", 1)[0].strip().lower() != "application/json":
            return None
        try:
            return ChatCompletionBody.model_validate(bodies.parsed_if_clean(body))
        except Exception:  # not JSON, not a valid body, not storable: the route answers what is wrong
            return None


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` that first hands over ``body``, already read, in one piece."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# Routers -------------------------------------------------------------------------------


def chat_router() -> APIRouter:
    """The v1 chat completions route alone, for the app to include before any other.

    Routes are matched in the order they were included, each match a regular expression
    and, in FastAPI, a scope update; the route of nearly every request is tried first.
    """
    v1 = APIRouter(prefix="/v1/projects/{projectId}", tags=["runtime"])
    _add_chat(v1)
    return v1


def runtime_routers() -> list[APIRouter]:
    """One router per path generation, all on the same handlers (v1 chat completions: :func:`chat_router`)."""
    v1 = APIRouter(prefix="/v1/projects/{projectId}", tags=["runtime"])
    _add_sessions(v1, "/sessions")
    v1.add_api_route(
        "/models", list_models, methods=["GET"], openapi_extra=OPENAI, responses=answers(ModelListOut)
    )
    v1.add_api_route(
        "/models/{model}", get_model, methods=["GET"], openapi_extra=OPENAI, responses=answers(ModelOut)
    )

    routers = [v1]
    for prefix in ("/project/{projectId}/integration/api", "/api/project/{projectId}/integration/api"):
        legacy = APIRouter(prefix=prefix, tags=["runtime (deprecated paths)"], deprecated=True)
        _add_chat(legacy)
        _add_sessions(legacy, "/session", gen1=prefix.startswith("/api/"))
        routers.append(legacy)
    short = APIRouter(prefix="/project/{projectId}", tags=["runtime (deprecated paths)"], deprecated=True)
    _add_sessions(short, "/session", terminate=False)
    routers.append(short)
    return routers


def _add_chat(router: APIRouter) -> None:
    router.add_api_route(
        "/chat/completions", chat_completions, methods=["POST"], openapi_extra=OPENAI, responses=CHAT_ANSWER
    )


def _add_sessions(router: APIRouter, path: str, *, terminate: bool = True, gen1: bool = False) -> None:
    """The session routes under ``path`` (``/sessions`` in v1, ``/session`` before); ``gen1``:
    the session read also carries the gen 1 ``data`` block (the ``/api/...`` paths)."""
    read: tuple[str, Any, str, type[BaseModel]] = (
        ("/{sessionId}", get_session_gen1, "GET", Gen1SessionOut)
        if gen1
        else ("/{sessionId}", get_session, "GET", SessionOut)
    )
    routes: list[tuple[str, Any, str, type[BaseModel]]] = [
        ("", create_session, "POST", SessionCreatedOut),
        ("", end_session, "DELETE", SessionEndedOut),
        ("/terminate", terminate_session, "POST", SessionTerminatedOut),
        ("/search", search_sessions, "POST", SearchOut),
        read,
    ]
    for suffix, handler, method, shape in routes:
        if handler is terminate_session and not terminate:
            continue
        router.add_api_route(
            path + suffix, handler, methods=[method], openapi_extra=FLAT, responses=answers(shape)
        )
