"""A real OpenAI-compatible HTTP server for tests and benchmarks, on 127.0.0.1.

It speaks just enough HTTP/1.1 (stdlib asyncio, in a thread of its own, so sync code, async
tests and other processes can all talk to it) to play an upstream model::

    with MockLLM(api_key="sk-test") as upstream:
        upstream.push(MockReply(text="Hello there", gap=0.05))
        model = OpenAICompatModel(upstream.base_url, "sk-test", "mock-model")
        ...
        assert upstream.calls == 1

Replies are scripted in order (a :class:`MockReply`, or a callable that receives the
:class:`RecordedRequest` and returns one); when the script is empty the mock answers
``You said: <last user message>``. Streams are chunked SSE, one event per HTTP chunk, text
and tool-call arguments split every ``chunk_size`` characters, with ``gap`` seconds
between chunks; a request without ``stream`` gets one JSON answer after the time its stream
would have taken. Faults: ``status`` (with ``headers`` such as ``Retry-After``), and
``fault`` = ``"hang"`` (no response at all), ``"hang_stream"`` (headers, then silence),
``"cut"`` (connection closed after ``cut_after`` chunks), ``"malformed"`` (a line that is
not SSE after ``cut_after`` chunks), ``"bad_json"`` (an event whose data is not JSON) and
``"drop"`` (connection closed before any response), ``"linger"`` (the whole stream, then
the response never ends: no last HTTP chunk after ``[DONE]``).

Connections are kept alive, streams included (as OpenAI's API does): a stream that ends
with its last HTTP chunk leaves the connection open for the next request. It records every
request, counts chat calls, prompt bytes (request body sizes) and the connections clients
opened (``connections``), and counts the streams a client abandoned (``disconnects``), so
tests can see cancellation reach the upstream. ``reject`` lists request features answered with 400, to exercise
fallbacks: ``"json_schema"``, ``"json_object"``, ``"tool_choice"``, ``"stream_options"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Fault = Literal["hang", "hang_stream", "cut", "malformed", "bad_json", "drop", "linger"]


@dataclass(frozen=True)
class MockToolCall:
    name: str
    arguments: str
    id: str | None = None


@dataclass(frozen=True)
class MockReply:
    text: str = ""
    tool_calls: Sequence[MockToolCall] = ()
    chunk_size: int = 4
    gap: float = 0.0
    finish_reason: str | None = None
    """Default: ``tool_calls`` when there are tool calls, else ``stop``."""
    usage: tuple[int, int] | None = None
    """(prompt, completion) tokens; default: prompt bytes / 4 and the number of chunks."""
    status: int = 200
    error: str = "mock upstream error"
    headers: Mapping[str, str] = field(default_factory=dict)
    fault: Fault | None = None
    cut_after: int = 2


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Script = MockReply | Callable[[RecordedRequest], MockReply]


class MockLLM:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: Sequence[str] = ("mock-model",),
        reject: Collection[str] = (),
    ) -> None:
        self.api_key = api_key
        self.models = list(models)
        self.reject = set(reject)
        self.requests: list[RecordedRequest] = []
        self.calls = 0
        self.prompt_bytes = 0
        self.disconnects = 0
        self.connections = 0
        self._script: deque[Script] = deque()
        self._disconnected = threading.Event()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *replies: Script) -> None:
        self._script.extend(replies)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def wait_for_disconnect(self, timeout: float = 5.0) -> bool:
        """Block until a client abandons a response (use ``asyncio.to_thread`` in async code)."""
        return self._disconnected.wait(timeout)

    # Lifecycle ------------------------------------------------------------------------

    def start(self) -> MockLLM:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="mock-llm", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the mock LLM server did not start")
        return self

    def close(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> MockLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    # HTTP -----------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                self.requests.append(request)
                if not await self._respond(request, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away between requests: nothing to answer
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _respond(
        self, request: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; return whether the connection stays open."""
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            message = "Incorrect API key provided."
            return await _send_error(writer, 401, message, "invalid_request_error", "invalid_api_key")
        if request.method == "GET" and request.path.endswith("/models"):
            data = [{"id": name, "object": "model", "owned_by": "mock"} for name in self.models]
            return await _send_json(writer, 200, {"object": "list", "data": data})
        if request.method != "POST" or not request.path.endswith("/chat/completions"):
            return await _send_error(writer, 404, f"no route {request.path}", "invalid_request_error", None)
        self.calls += 1
        self.prompt_bytes += len(request.body)
        body = request.json()
        if self.models and body.get("model") not in self.models:
            message = f"The model `{body.get('model')}` does not exist."
            return await _send_error(writer, 404, message, "invalid_request_error", "model_not_found")
        rejected = self._rejected(body)
        if rejected:
            return await _send_error(
                writer, 400, f"{rejected} is not supported", "invalid_request_error", None
            )
        script = self._script.popleft() if self._script else _echo
        reply = script(request) if callable(script) else script
        if reply.fault == "drop":
            return False
        if reply.fault == "hang":
            await self._until_disconnect(reader)
            return False
        if reply.status != 200:
            return await _send_error(writer, reply.status, reply.error, "server_error", None, reply.headers)
        if body.get("stream"):
            return await self._stream(body, reply, len(request.body), reader, writer)
        if reply.gap:  # the time the stream would have taken, before the one answer
            try:  # a client that leaves meanwhile is noticed, as during a stream
                await asyncio.wait_for(
                    self._until_disconnect(reader),
                    reply.gap * (len(reply.text) // max(1, reply.chunk_size) + 1),
                )
                return False
            except TimeoutError:
                pass
        return await _send_json(writer, 200, self._completion(body, reply, len(request.body)))

    def _rejected(self, body: dict[str, Any]) -> str | None:
        response_format = (body.get("response_format") or {}).get("type")
        if response_format in self.reject:
            return f"response_format {response_format}"
        for feature in ("tool_choice", "stream_options"):
            if feature in self.reject and feature in body:
                return feature
        return None

    async def _until_disconnect(self, reader: asyncio.StreamReader) -> None:
        while await reader.read(1024):
            pass
        self._note_disconnect()

    def _note_disconnect(self) -> None:
        self.disconnects += 1
        self._disconnected.set()

    # Replies --------------------------------------------------------------------------

    def _chunks(self, body: dict[str, Any], reply: MockReply, prompt_bytes: int) -> list[dict[str, Any]]:
        """The stream's chunk objects, in order (before ``[DONE]``)."""
        base = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
        }
        base["model"] = body.get("model")

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        chunks = [chunk({"role": "assistant", "content": ""})]
        for piece in _split(reply.text, reply.chunk_size):
            chunks.append(chunk({"content": piece}))
        for index, call in enumerate(reply.tool_calls):
            call_id = call.id or f"call_{next(self._ids)}"
            function = {"name": call.name, "arguments": ""}
            chunks.append(
                chunk(
                    {
                        "tool_calls": [
                            {"index": index, "id": call_id, "type": "function", "function": function}
                        ]
                    }
                )
            )
            for piece in _split(call.arguments, reply.chunk_size):
                chunks.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        chunks.append(chunk({}, _finish(reply)))
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({**base, "choices": [], "usage": _usage(reply, prompt_bytes, len(chunks))})
        return chunks

    def _completion(self, body: dict[str, Any], reply: MockReply, prompt_bytes: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id or f"call_{next(self._ids)}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in reply.tool_calls
            ]
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": _finish(reply)}],
            "usage": _usage(reply, prompt_bytes, max(1, len(reply.text) // 4)),
        }

    async def _stream(
        self,
        body: dict[str, Any],
        reply: MockReply,
        prompt_bytes: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Stream the reply; return whether the connection stays open (it ended as it should)."""
        head = (
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            "transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
        )
        writer.write(head.encode())
        # The client sends nothing more on this connection until the response ends: EOF
        # means it hung up.
        hangup = asyncio.ensure_future(_eof(reader))
        try:
            if reply.fault == "hang_stream":
                await hangup
                self._note_disconnect()
                return False
            events = [f"data: {json.dumps(c)}\n\n" for c in self._chunks(body, reply, prompt_bytes)]
            events.append("data: [DONE]\n\n")
            for number, event in enumerate(events):
                if number == reply.cut_after and reply.fault in ("cut", "malformed", "bad_json"):
                    if reply.fault == "malformed":
                        writer.write(
                            _http_chunk('{"choices": [{"delta": {"content": "no data field"}}]}\n\n')
                        )
                    elif reply.fault == "bad_json":
                        writer.write(_http_chunk('data: {"choices": [{"delta": {"content": "trunc\n\n'))
                    await writer.drain()
                    writer.transport.abort()
                    return False
                if number and reply.gap:
                    await asyncio.wait({hangup}, timeout=reply.gap)
                if hangup.done():
                    self._note_disconnect()
                    return False
                writer.write(_http_chunk(event))
                await writer.drain()
            if reply.fault == "linger":
                await hangup
                return False
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return not hangup.done()
        except ConnectionError:
            self._note_disconnect()
            return False
        finally:
            hangup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hangup


def _echo(request: RecordedRequest) -> MockReply:
    messages = (request.json() or {}).get("messages") or []
    said = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
    return MockReply(text=f"You said: {said}")


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), max(1, size))]


def _finish(reply: MockReply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _usage(reply: MockReply, prompt_bytes: int, chunks: int) -> dict[str, int]:
    prompt, completion = reply.usage or (prompt_bytes // 4, chunks)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _http_chunk(text: str) -> bytes:
    data = text.encode()
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(1024):
        pass


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    body = await reader.readexactly(length) if length else b""
    return RecordedRequest(method=method, path=path, headers=headers, body=body)


async def _send_json(
    writer: asyncio.StreamWriter, status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> bool:
    data = json.dumps(payload).encode()
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", "content-type: application/json"]
    lines += [f"content-length: {len(data)}", "connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
    await writer.drain()
    return True


async def _send_error(
    writer: asyncio.StreamWriter,
    status: int,
    message: str,
    kind: str,
    code: str | None,
    headers: Mapping[str, str] | None = None,
) -> bool:
    return await _send_json(
        writer, status, {"error": {"message": message, "type": kind, "code": code}}, headers
    )


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}
