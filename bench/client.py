"""The driver's HTTP client: HTTP/1.1 over asyncio streams, keep-alive, timestamps per chunk.

Deliberately small and cheap, so the driver's own cost stays low and equal for every arm:
one connection per :class:`Connection`, ``Content-Length`` and chunked bodies, and the
arrival time of every HTTP chunk, from which SSE events get their timestamps (the first
*content* delta, not the role chunk, is the time to first token).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: float
    """``perf_counter`` when the request was written (or when it was meant to be, open loop)."""
    done: float
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    """Arrival time and bytes of every HTTP chunk of a chunked body."""

    @property
    def latency(self) -> float:
        return self.done - self.sent


@dataclass
class Stream:
    """What an SSE chat completion stream carried, with the time of each content delta."""

    content: str
    content_times: list[float]
    tool_arguments: dict[int, str]
    events: int
    done: bool

    def ttft(self, sent: float) -> float | None:
        return self.content_times[0] - sent if self.content_times else None

    def gaps(self) -> list[float]:
        times = self.content_times
        return [b - a for a, b in itertools.pairwise(times)]


class Closed(Exception):
    """The server closed a kept-alive connection before answering: safe to retry."""


class Connection:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        sent: float | None = None,
    ) -> Reply:
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}"]
        if body is not None:
            lines += ["content-type: application/json", f"content-length: {len(payload)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        for attempt in (0, 1):
            fresh = self._writer is None
            if fresh:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            try:
                return await self._exchange(raw, sent)
            except Closed:
                await self.close()
                if fresh or attempt:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, raw: bytes, sent: float | None) -> Reply:
        assert self._reader is not None and self._writer is not None
        began = time.perf_counter()
        try:
            self._writer.write(raw)
            await self._writer.drain()
            head = await self._reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            raise Closed() from error
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        chunks: list[tuple[float, bytes]] = []
        if headers.get("transfer-encoding") == "chunked":
            while True:
                size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
                data = await self._reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append((time.perf_counter(), data[:-2]))
            body = b"".join(data for _, data in chunks)
        elif "content-length" in headers:
            body = await self._reader.readexactly(int(headers["content-length"]))
        else:
            body = await self._reader.read()
            headers["connection"] = "close"
        done = time.perf_counter()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Reply(status, headers, body, sent if sent is not None else began, done, chunks)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


def parse_stream(reply: Reply) -> Stream:
    """The SSE events of a streamed chat completion, stamped with their chunk's arrival."""
    buffer = b""
    content: list[str] = []
    times: list[float] = []
    arguments: dict[int, list[str]] = {}
    events = 0
    done = False
    for arrived, data in reply.chunks or [(reply.done, reply.body)]:
        buffer += data
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                if not line.startswith(b"data: "):
                    continue
                events += 1
                text = line[6:]
                if text == b"[DONE]":
                    done = True
                    continue
                chunk = json.loads(text)
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        content.append(delta["content"])
                        times.append(arrived)
                    for call in delta.get("tool_calls") or []:
                        piece = (call.get("function") or {}).get("arguments") or ""
                        arguments.setdefault(call["index"], []).append(piece)
    return Stream(
        content="".join(content),
        content_times=times,
        tool_arguments={i: "".join(parts) for i, parts in arguments.items()},
        events=events,
        done=done,
    )
