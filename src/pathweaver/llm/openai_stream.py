"""Server-sent events from an OpenAI-compatible chat completions stream, as model events.

The parser is strict where being lenient would lose data: a line that is not an SSE field,
an event that is not JSON, an error object sent mid-stream, or a stream that ends before a
``finish_reason`` or ``[DONE]`` raises :class:`LLMError`. Each delta is yielded as soon as
its event is complete; nothing is buffered.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from pathweaver.errors import LLMError
from pathweaver.llm.base import ChatEvent, Finish, FinishReason, TextDelta, ToolCallDelta, Usage


@dataclass
class StreamState:
    finish: FinishReason | None = None
    usage: Usage | None = None
    tool_ids: list[str | None] = field(default_factory=list)
    done: bool = False
    #: The body went on after ``[DONE]`` (or did not end within ``settle``): its connection
    #: cannot go back to the pool.
    lingered: bool = False


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


async def _lines(
    response: aiohttp.ClientResponse, deadline: float, read_timeout: float | None
) -> AsyncIterator[str]:
    """The stream's lines (CRLF, LF or CR ends one, as server-sent events allow), decoded
    as UTF-8 (what server-sent events are) as the bytes arrive.

    The total deadline guards each network read, not each line: a read usually brings
    several lines, and arming a timer costs more than splitting them. While the deadline is
    further away than ``read_timeout`` (the client's own bound on every read), no timer is
    armed at all: the read cannot outlast the deadline.
    """
    chunks = response.content.iter_any()
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    loop = asyncio.get_running_loop()
    pending = ""
    while True:
        try:
            if read_timeout is not None and loop.time() + read_timeout < deadline:
                raw = await anext(chunks)
            else:
                async with asyncio.timeout_at(deadline):
                    raw = await anext(chunks)
        except StopAsyncIteration:
            break
        text = pending + decoder.decode(raw)
        # A CR at the end may be the first half of a CRLF: wait for the next read.
        end = len(text) - 1 if text.endswith("\r") else len(text)
        lines = _LINE_BREAK.split(text[:end])
        pending = lines.pop() + text[end:]
        for line in lines:
            yield line
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending.removesuffix("\r")


async def sse_events(
    response: aiohttp.ClientResponse,
    deadline: float,
    *,
    settle: float = 0.0,
    state: StreamState | None = None,
    read_timeout: float | None = None,
) -> AsyncIterator[ChatEvent]:
    """Parse server-sent events as they arrive; yield each delta at once.

    After ``[DONE]``, wait up to ``settle`` seconds for the body to end (its last, empty
    HTTP chunk is usually in the same read) before yielding the finish: a response read to
    its end lets the client put the connection back in its pool, so the next call skips a TCP
    (and TLS) handshake. ``settle=0`` closes the connection at ``[DONE]``.

    ``read_timeout``: what bounds each read of ``response`` already (see ``_lines``).
    """
    state = state if state is not None else StreamState()
    data: list[str] = []
    kind = "message"
    lines = _lines(response, deadline, read_timeout)
    async for line in lines:
        if line == "":
            if data:
                for event in _sse_payload(kind, "\n".join(data), state):
                    yield event
            data, kind = [], "message"
            if state.done:
                if settle > 0:
                    state.lingered = not await _ended(lines, settle)
                break
            continue
        if line.startswith(":"):
            continue
        field_name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        match field_name:
            case "data":
                data.append(value)
            case "event":
                kind = value
            case "id" | "retry":
                pass
            case _:
                raise LLMError(f"the upstream sent a malformed server-sent event line: {line[:200]!r}")
    else:
        if data:
            for event in _sse_payload(kind, "\n".join(data), state):
                yield event
    if not state.done and state.finish is None:
        raise LLMError(
            "the upstream stream ended before the reply was complete (no finish_reason, no [DONE])"
        )
    yield Finish(reason=_final_reason(state), usage=state.usage)


async def _ended(lines: AsyncIterator[str], settle: float) -> bool:
    """Whether the body ends, with nothing but blank lines, within ``settle`` seconds."""
    try:
        async with asyncio.timeout(settle):
            async for line in lines:
                if line.strip():
                    return False
    except TimeoutError:
        return False
    return True


def _sse_payload(kind: str, data: str, state: StreamState) -> list[ChatEvent]:
    if data.strip() == "[DONE]":
        state.done = True
        return []
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise LLMError(f"the upstream sent a stream event that is not JSON: {data[:200]!r}") from None
    if not isinstance(chunk, dict):
        raise LLMError(f"the upstream sent a stream event that is not an object: {data[:200]!r}")
    if kind == "error" or "error" in chunk:
        raise LLMError(f"the upstream failed mid-stream: {error_message(chunk)}")
    return _chunk_events(chunk, state)


def _chunk_events(chunk: dict[str, Any], state: StreamState) -> list[ChatEvent]:
    events: list[ChatEvent] = []
    if isinstance(chunk.get("usage"), dict):
        state.usage = _usage(chunk["usage"])
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or choice.get("message") or {}
        if delta.get("content"):
            events.append(TextDelta(str(delta["content"])))
        for position, call in enumerate(delta.get("tool_calls") or ()):
            index = _tool_index(call, position, state)
            function = call.get("function") or {}
            events.append(
                ToolCallDelta(
                    index=index,
                    id=call.get("id") or None,
                    name=function.get("name") or None,
                    arguments=_arguments_text(function.get("arguments")),
                )
            )
        if choice.get("finish_reason"):
            state.finish = _finish_reason(choice["finish_reason"])
    return events


def _tool_index(call: Mapping[str, Any], position: int, state: StreamState) -> int:
    """The call's index; upstreams that omit it get one per distinct ``id``."""
    if isinstance(call.get("index"), int):
        index = int(call["index"])
    elif call.get("id") and call["id"] not in state.tool_ids:
        index = len(state.tool_ids)
    else:
        index = max(len(state.tool_ids) - 1, position)
    while len(state.tool_ids) <= index:
        state.tool_ids.append(None)
    if call.get("id"):
        state.tool_ids[index] = call["id"]
    return index


def _arguments_text(arguments: Any) -> str:
    if arguments is None:
        return ""
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


async def json_events(response: aiohttp.ClientResponse, deadline: float) -> AsyncIterator[ChatEvent]:
    """An upstream that ignored ``stream: true`` and sent one JSON completion."""
    async with asyncio.timeout_at(deadline):
        raw = await response.read()
    try:
        completion = json.loads(raw)
    except json.JSONDecodeError:
        raise LLMError(f"the upstream answered neither a stream nor JSON: {raw[:200]!r}") from None
    if not isinstance(completion, dict) or "error" in completion:
        raise LLMError(f"the upstream failed: {error_message(completion)}")
    state = StreamState()
    for event in _chunk_events(completion, state):
        yield event
    yield Finish(reason=_final_reason(state), usage=state.usage)


def _final_reason(state: StreamState) -> FinishReason:
    if state.tool_ids and state.finish in (None, "stop"):
        return "tool_calls"
    return state.finish or "stop"


def _finish_reason(reason: str) -> FinishReason:
    match reason:
        case "length":
            return "length"
        case "tool_calls" | "function_call":
            return "tool_calls"
        case _:
            return "stop"


def _usage(usage: Mapping[str, Any]) -> Usage:
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
    return Usage(
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        cached_tokens=cached if isinstance(cached, int) and not isinstance(cached, bool) else 0,
    )


def error_message(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error)[:300]
        return str(error)[:300]
    return str(body)[:300]
