"""``pathweaver test`` runs a project's server-side tools, records them, and replays them.

Everything real: the model is an OpenAI-compatible mock server (chosen through the
``PATHWEAVER_LLM_*`` settings, as a user would), the tool is a restful tool calling an HTTP
server on 127.0.0.1 (allowed by ``PATHWEAVER_OUTBOUND_ALLOW``, as an operator would), and
the command runs through typer.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.pathway import Pathway
from pathweaver.config import Settings
from pathweaver.llm.cassette import Cassette
from pathweaver.llm.scripted import best_option
from pathweaver.store.store import Store
from pathweaver.testing import cli
from pathweaver.tools.config import RestfulTool
from tests.support.mock_llm import MockLLM, MockReply, MockToolCall, RecordedRequest

API_KEY = "sk-tools-cassette"
SECRET = "Bearer tool-secret-4711"
CASE = "looks up a booking"
CASES = f"""\
schemaVersion: 1
cases:
  - name: {CASE}
    turns:
      - user: Hello there
        expect: {{node: greeting}}
      - user: I want to check my booking
        expect: {{node: lookup}}
      - user: '/tool lookup_booking {{"name": "Ann"}}'
        expect: {{replyContains: ["Ann: table for 2"]}}
      - user: '/tool lookup_booking {{"name": "Bob"}}'
        expect: {{replyContains: ["Bob: table for 2"]}}
"""
PATHWAY = Pathway.model_validate(
    {
        "nodes": [
            {"id": "greeting", "data": {"type": "start", "title": "Greeting", "prompt": "Greet the caller."}},
            {
                "id": "lookup",
                "data": {
                    "type": "prompt",
                    "title": "Look up",
                    "prompt": "Look the booking up with lookup_booking.",
                    "tools": ["tool_lookup"],
                },
            },
        ],
        "edges": [
            {
                "id": "e1",
                "source": "greeting",
                "target": "lookup",
                "data": {"condition": "The user wants to check their booking"},
            }
        ],
    }
)


class ToolServer:
    """The tool's HTTP endpoint on 127.0.0.1: answers a booking, keeps every request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                server.requests.append(
                    {"path": self.path, "body": body, "authorization": self.headers.get("Authorization")}
                )
                answer = json.dumps({"booking": f"{body.get('name')}: table for 2 on Friday"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        self.thread = threading.Thread(target=self.http.serve_forever, name="tool-server", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join(5)


def upstream(request: RecordedRequest) -> MockReply:
    """A deterministic model: routes by word overlap, calls a tool on ``/tool``, reads results."""
    messages = request.json()["messages"]
    if messages[-1]["role"] == "tool":
        return MockReply(text=f"Here is what I found: {messages[-1]['content']}")
    said = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    if "response_format" in request.json() and "Routing check" in said:
        # The routing decision (smart and balance modes): numbered statements, a number back.
        reply = re.search(r'The user\'s reply: "(.*)"', said)
        statements = re.findall(r"^(\d+)\. (.+)$", said, re.MULTILINE)
        picked = best_option(reply.group(1) if reply else "", [s for s in statements if s[0] != "0"])
        return MockReply(text=json.dumps({"choice": int(picked or 0)}))
    tools = {tool["function"]["name"]: tool["function"] for tool in request.json().get("tools", [])}
    if said.startswith("/tool "):
        name, _, arguments = said.removeprefix("/tool ").partition(" ")
        if name in tools:
            return MockReply(tool_calls=[MockToolCall(name, arguments)])
    if "pathway_transition" in tools:
        options = tools["pathway_transition"]["parameters"]["properties"]["next"].get("oneOf") or []
        picked = best_option(said, [(o["const"], o["description"]) for o in options])
        if picked is not None:
            return MockReply(tool_calls=[MockToolCall("pathway_transition", json.dumps({"next": picked}))])
    return MockReply(text=f"Of course. ({said})")


def lookup_tool(port: int, body: dict[str, Any] | None = None) -> RestfulTool:
    return RestfulTool.model_validate(
        {
            "id": "tool_lookup",
            "name": "lookup_booking",
            "description": "Find a booking by the name it was made under",
            "inputSchema": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
            },
            "metadata": {
                "url": f"http://127.0.0.1:{port}/bookings",
                "method": "POST",
                "headers": {"Authorization": SECRET},
                "body": body or {"name": "{{name}}", "source": "pathweaver"},
            },
        }
    )


async def _create_project(data_dir: Path, tool: RestfulTool) -> str:
    store = await Store.open(Settings(data_dir=data_dir))
    try:
        project = await store.projects.create_project("bookings", AgentConfig(name="Bookings"), PATHWAY)
        await store.tools.create_tool(project.id, tool)
        return project.id
    finally:
        await store.close()


async def _replace_tool(data_dir: Path, project: str, tool: RestfulTool) -> None:
    store = await Store.open(Settings(data_dir=data_dir))
    try:
        await store.tools.replace_tool(project, tool)
    finally:
        await store.close()


@pytest.fixture
def tool_server() -> Iterator[ToolServer]:
    server = ToolServer()
    yield server
    server.close()


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockLLM]:
    with MockLLM(api_key=API_KEY) as mock:
        mock.push(*[upstream] * 200)
        monkeypatch.setenv("PATHWEAVER_LLM_BASE_URL", mock.base_url)
        monkeypatch.setenv("PATHWEAVER_LLM_API_KEY", API_KEY)
        monkeypatch.setenv("PATHWEAVER_LLM_MODEL", "mock-model")
        monkeypatch.setenv("PATHWEAVER_OUTBOUND_ALLOW", "127.0.0.1/32")
        monkeypatch.delenv("PATHWEAVER_FAKE_MODEL", raising=False)
        yield mock


@pytest.fixture
def app() -> typer.Typer:
    commands = typer.Typer()
    commands.command("test")(cli.tests_command)
    commands.command("other")(cli.lint_command)  # two commands: typer keeps "test" as a name
    return commands


def stable(report: dict[str, Any]) -> Any:
    """A JSON report without what differs between runs: durations and session ids."""
    if isinstance(report, dict):
        return {
            key: stable(value)
            for key, value in report.items()
            if not key.endswith("Ms") and key not in ("sessionId", "durationMs")
        }
    if isinstance(report, list):
        return [stable(item) for item in report]
    return report


def test_tools_are_recorded_and_replayed_with_no_model_call_and_no_tool_request(
    app: typer.Typer, tool_server: ToolServer, llm: MockLLM, tmp_path: Path
) -> None:
    project = asyncio.run(_create_project(tmp_path, lookup_tool(tool_server.port)))
    cases = tmp_path / "bookings.tests.yaml"
    cases.write_text(CASES, encoding="utf-8")
    cassette, first, second = tmp_path / "cassette.json", tmp_path / "first.json", tmp_path / "second.json"
    common = [str(cases), "--project", project, "--data-dir", str(tmp_path)]

    recorded = CliRunner().invoke(app, ["test", *common, "--record", str(cassette), "--json", str(first)])
    assert recorded.exit_code == 0, recorded.output
    assert [r["body"] for r in tool_server.requests] == [
        {"name": "Ann", "source": "pathweaver"},
        {"name": "Bob", "source": "pathweaver"},
    ]
    assert {r["authorization"] for r in tool_server.requests} == {SECRET}
    model_calls = len(llm.chat_requests)
    assert model_calls >= 6

    text = cassette.read_text(encoding="utf-8")
    assert SECRET not in text and "tool-secret" not in text  # tool configs only as fingerprints
    entries = Cassette.load(cassette).entries
    tool_entries = [(e.scope, e.purpose) for e in entries if e.kind == "tool"]
    assert tool_entries == [  # one offer per turn at the tool's node; none where no tool is offered
        (f"{CASE}/turn 2", "tool-offer"),
        (f"{CASE}/turn 3", "tool-offer"),
        (f"{CASE}/turn 3", "tool-run"),
        (f"{CASE}/turn 4", "tool-offer"),
        (f"{CASE}/turn 4", "tool-run"),
    ]
    assert len([e for e in entries if e.kind == "model"]) == model_calls

    tool_server.close()  # a replay needs neither the tool nor the model
    replayed = CliRunner().invoke(app, ["test", *common, "--replay", str(cassette), "--json", str(second)])
    assert replayed.exit_code == 0, replayed.output
    assert len(tool_server.requests) == 2
    assert len(llm.chat_requests) == model_calls
    before = json.loads(first.read_text(encoding="utf-8"))
    after = json.loads(second.read_text(encoding="utf-8"))
    assert stable(after) == stable(before)
    turns = before["cases"][0]["transcript"]
    assert "Ann: table for 2 on Friday" in turns[2]["reply"]
    assert "Bob: table for 2 on Friday" in turns[3]["reply"]


@pytest.mark.parametrize(
    ("change", "part"),
    [
        ({"body": {"name": "{{name}}", "source": "changed"}}, "metadata.body"),
        ({"url": "http://127.0.0.1:{port}/v2/bookings"}, "metadata.url"),
    ],
)
def test_a_changed_tool_request_is_a_mismatch_at_its_turn(
    app: typer.Typer,
    tool_server: ToolServer,
    llm: MockLLM,
    tmp_path: Path,
    change: dict[str, Any],
    part: str,
) -> None:
    tool = lookup_tool(tool_server.port)
    project = asyncio.run(_create_project(tmp_path, tool))
    cases = tmp_path / "bookings.tests.yaml"
    cases.write_text(CASES, encoding="utf-8")
    cassette = tmp_path / "cassette.json"
    common = [str(cases), "--project", project, "--data-dir", str(tmp_path)]
    recorded = CliRunner().invoke(app, ["test", *common, "--record", str(cassette)])
    assert recorded.exit_code == 0, recorded.output
    calls, model_calls = len(tool_server.requests), len(llm.chat_requests)

    metadata = {
        **tool.metadata.to_json(),
        **{k: v.format(port=tool_server.port) if isinstance(v, str) else v for k, v in change.items()},
    }
    edited = RestfulTool.model_validate({**tool.to_json(), "metadata": metadata})
    asyncio.run(_replace_tool(tmp_path, project, edited))
    mismatch = CliRunner().invoke(app, ["test", *common, "--replay", str(cassette)])
    assert mismatch.exit_code == 1
    assert (len(tool_server.requests), len(llm.chat_requests)) == (calls, model_calls)
    assert f"ERROR {CASE}" in mismatch.stdout
    assert (
        f"CassetteMismatch: cassette mismatch: tool call 1 for 'tool-offer' at '{CASE}/turn 2' differs "
        "from the recorded request:" in mismatch.stdout
    )
    changed = [line.strip() for line in mismatch.stdout.splitlines() if line.strip()[:1] in "-+"]
    assert any(line.startswith("-") and f'"{part}":' in line for line in changed), mismatch.stdout
    assert any(line.startswith("+") and f'"{part}":' in line for line in changed), mismatch.stdout
    assert not any('"metadata.headers.Authorization"' in line for line in changed)
    assert SECRET not in mismatch.stdout
