"""The mock model for the benchmarks: ``tests/support/mock_llm.MockLLM`` in a process of its own.

The mock runs in a child process so that its CPU is its own (read from ``/proc``) and it
does not share the driver's interpreter lock. What it answers is decided by each request,
so every arm (direct, null relay, Pathweaver) gets the same reply for the same message and
no state has to be sent to the child:

* a marker in the last user message, ``[bench chunks=16 gap=0.02 tool=1]``, sets the number
  of text chunks (4 characters each), the gap between chunks in seconds, and whether a
  client tool offered in the request is called (arguments split across chunks);
* a structured request (``response_format`` or ``tool_choice``) gets a JSON object for its
  schema, as an extraction call expects;
* a request offering ``pathway_transition`` whose system prompt holds ``[bench:go]`` gets a
  call of that tool, choosing its first option; any other request gets text.

The parent reads the mock's counters (chat calls, prompt bytes, abandoned streams,
connections opened) and the
kind and size of every request since the last drain, as JSON lines over the child's
stdin and stdout.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.mock_llm import MockLLM, MockReply, MockToolCall, RecordedRequest

ROOT = Path(__file__).resolve().parent.parent
TRANSITION_TOOL = "pathway_transition"
GO_MARKER = "[bench:go]"
_MARKER = re.compile(r"\[bench((?:\s+\w+=[\w.]+)*)\]")
#: Scripted replies kept queued ahead of the calls (the mock pops one per chat call).
_QUEUE_AHEAD = 20_000


def reply_text(chunks: int) -> str:
    """The text the mock streams for ``chunks`` chunks of 4 characters."""
    return "".join(f"{i % 1000:03d} " for i in range(chunks))


def marker(chunks: int = 16, gap: float = 0.0, tool: bool = False) -> str:
    return f"[bench chunks={chunks} gap={gap:g} tool={int(tool)}]"


def _params(body: dict[str, Any]) -> dict[str, str]:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            found = _MARKER.findall(message["content"])
            if found:
                return dict(part.split("=", 1) for part in found[-1].split())
    return {}


def _system(body: dict[str, Any]) -> str:
    return "\n".join(m.get("content") or "" for m in body.get("messages") or [] if m.get("role") == "system")


def _answer_for(schema: dict[str, Any]) -> str:
    values: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        kinds = prop.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if "integer" in kinds and prop.get("enum"):
            values[name] = prop["enum"][0]  # a routing decision: "0", none of them (stay)
        elif "number" in kinds or "integer" in kinds:
            values[name] = 7
        elif prop.get("format") == "email":
            values[name] = "ada@example.com"
        else:
            values[name] = "Ada"
    return json.dumps(values)


def kind_of(body: dict[str, Any]) -> str:
    """What a request asks for: ``extract``, ``route+reply`` or ``reply``."""
    if body.get("response_format") or body.get("tool_choice"):
        return "extract"
    names = {(t.get("function") or {}).get("name") for t in body.get("tools") or []}
    return "route+reply" if TRANSITION_TOOL in names else "reply"


def policy(request: RecordedRequest) -> MockReply:
    body = request.json() or {}
    params = _params(body)
    gap = float(params.get("gap", 0))
    if body.get("response_format") or body.get("tool_choice"):
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
        if body.get("tool_choice"):
            function = body["tools"][0]["function"]
            return MockReply(
                tool_calls=[MockToolCall(function["name"], _answer_for(function.get("parameters") or {}))]
            )
        return MockReply(text=_answer_for(schema), chunk_size=64)
    tools = [(t.get("function") or {}) for t in body.get("tools") or []]
    client = [t for t in tools if t.get("name") != TRANSITION_TOOL]
    if client and params.get("tool") == "1":
        arguments = json.dumps({"city": "Paris", "unit": "celsius", "days": 3})
        return MockReply(tool_calls=[MockToolCall(client[0]["name"], arguments)], chunk_size=6, gap=gap)
    route = next((t for t in tools if t.get("name") == TRANSITION_TOOL), None)
    if route is not None and GO_MARKER in _system(body):
        options = route["parameters"]["properties"]["next"]["oneOf"]
        return MockReply(
            tool_calls=[MockToolCall(TRANSITION_TOOL, json.dumps({"next": options[0]["const"]}))]
        )
    return MockReply(text=reply_text(int(params.get("chunks", 16))), chunk_size=4, gap=gap)


@dataclass(frozen=True)
class Counters:
    calls: int
    prompt_bytes: int
    disconnects: int
    connections: int
    """TCP connections clients opened to the mock (kept-alive ones are counted once)."""


def serve() -> None:
    """The child: serve the mock, answer commands read from stdin (one per line) on stdout."""
    mock = MockLLM(models=("mock",)).start()
    stopping = threading.Event()

    def keep_queued() -> None:
        pushed = 0
        while not stopping.is_set():
            if pushed - mock.calls < _QUEUE_AHEAD // 2:
                mock.push(*[policy] * _QUEUE_AHEAD)
                pushed += _QUEUE_AHEAD
            stopping.wait(0.1)

    feeder = threading.Thread(target=keep_queued, name="mock-feeder", daemon=True)
    feeder.start()
    print(json.dumps({"port": mock.port}), flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "counters":
                answer: Any = [mock.calls, mock.prompt_bytes, mock.disconnects, mock.connections]
            elif command == "drain":
                taken, mock.requests = mock.requests, []
                answer = [
                    (kind_of(r.json() or {}), len(r.body))
                    for r in taken
                    if r.path.endswith("/chat/completions")
                ]
            elif command == "stop":
                break
            else:
                answer = {"error": f"unknown command {command!r}"}
            print(json.dumps(answer), flush=True)
    finally:
        stopping.set()
        feeder.join(5)
        mock.close()


class MockProcess:
    """The mock in a child process (``python -m bench.mock_process``); ``pid`` for ``/proc``."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> MockProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.mock_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.port = int(self._ask(None)["port"])
        return self

    def _ask(self, command: str | None) -> Any:
        assert self._process is not None and self._process.stdin and self._process.stdout
        if command is not None:
            self._process.stdin.write(command + "\n")
            self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the mock model exited (code {self._process.poll()})")
        return json.loads(line)

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def counters(self) -> Counters:
        return Counters(*self._ask("counters"))

    def drain(self) -> list[tuple[str, int]]:
        """(kind, prompt bytes) of every chat request since the last drain."""
        return [(kind, size) for kind, size in self._ask("drain")]

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.write("stop\n")
            self._process.stdin.close()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None


if __name__ == "__main__":
    serve()
