"""Accepted input never breaks, stalls or leaks (issue 20, deliverable 4): a Hypothesis state
machine stores generated configurations through the API (agent settings, pathways of odd
shapes, tools and webhooks pointing at a receiver on 127.0.0.1), then drives sessions,
turns (JSON and streamed, tool calls included), reads, ends, lists, lint and test runs
through them. Any 5xx fails, any call that takes over ``CALL_TIMEOUT`` fails (a hang), and
at the end of every sequence no webhook delivery may stay ``sending``.

In-process (the ``settings`` fixture: SQLite and PostgreSQL) with the scripted model; the
number of sequences is bounded (``SEQUENCES``) so it costs a minute or two per backend, and
printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, rule

from pathweaver.api.app import create_app
from pathweaver.config import Settings
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store
from tests.conftest import make_project

SEQUENCES = 60
STEPS = 20
CALL_TIMEOUT = 20.0

# Strategies -----------------------------------------------------------------------------

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
words = st.text(st.sampled_from("abc xyz/{}\"'\\\n\t é中🙂"), max_size=30)
leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text
values = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=12,
)
timezones = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", None])


def agent_settings(receiver: str) -> st.SearchStrategy[dict[str, Any]]:
    webhook = st.fixed_dictionaries(
        {"url": st.just(f"{receiver}/hook")},
        optional={
            "headers": st.lists(
                st.fixed_dictionaries({"key": st.sampled_from(["X-Team", "X-Trace"]), "value": words}),
                max_size=1,
            ),
            "events": st.lists(st.sampled_from(["session.ended", "session.finalized"]), max_size=2),
        },
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "name": st.text(min_size=1, max_size=20),
            "globalPrompt": text,
            "firstMessage": text | st.none(),
            "timezone": timezones,
            "language": st.sampled_from(["en", "fr", "zh"]),
            "postSessionWebhook": webhook | st.none(),
            "postSessionVariableKeys": st.lists(st.sampled_from(["city", "name"]), max_size=2),
        },
    )


@st.composite
def pathways(draw: st.DrawFn) -> dict[str, Any]:
    """Odd shapes: one node, gotos, globals, self edges, many edges, unicode everywhere."""
    count = draw(st.integers(1, 6))
    nodes = []
    for i in range(count):
        kind = "start" if i == 0 else draw(st.sampled_from(["prompt", "end", "global", "prompt"]))
        data: dict[str, Any] = {"type": kind, "title": draw(text) or f"n{i}", "prompt": draw(text)}
        if kind == "global":
            data["globalCondition"] = draw(words) or "help"
        if draw(st.booleans()):
            data["variables"] = [{"name": "city", "type": "string", "description": draw(words)}]
        nodes.append({"id": f"n{i}", "type": "default", "position": {"x": i, "y": 0}, "data": data})
    edges = []
    for j in range(draw(st.integers(0, 8))):
        source = draw(st.integers(0, count - 1))
        target = draw(st.integers(0, count - 1))
        condition = draw(words) or "the user agrees"
        edges.append(
            {"id": f"e{j}", "source": f"n{source}", "target": f"n{target}", "data": {"condition": condition}}
        )
    return {"nodes": nodes, "edges": edges}


tool_schemas = st.sampled_from(
    [
        {"type": "object", "properties": {"city": {"type": "string"}}},
        {"type": "object", "properties": {"q": {"type": "string", "pattern": "^(a+)+$"}}, "required": ["q"]},
        {"type": "object", "$defs": {"s": {"type": "string"}}, "properties": {"city": {"$ref": "#/$defs/s"}}},
        {"type": "object", "additionalProperties": {"type": "integer"}},
    ]
)


# The receiver -------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"ok": true, "temperature": 21}'
        self.send_response(500 if self.path.endswith("/fail") else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# The machine ---------------------------------------------------------------------------------


class World:
    """What the machines share within one test: the loop, the app, its client, the receiver."""

    def __init__(self, runner: asyncio.Runner, http: httpx.AsyncClient, store: Store, receiver: str):
        self.runner, self.http, self.store, self.receiver = runner, http, store, receiver
        self.sequences = 0
        self.calls = 0
        self.statuses: dict[int, int] = {}

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            async with asyncio.timeout(CALL_TIMEOUT):
                return await self.http.request(method, path, **kwargs)

        try:
            response = self.runner.run(send())
        except TimeoutError:
            raise AssertionError(f"{method} {path} hung (over {CALL_TIMEOUT} s)") from None
        self.calls += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, f"{method} {path} -> {response.status_code}: {response.text[:500]}"
        return response


def machine(world: World) -> type[RuleBasedStateMachine]:
    class Accepted(RuleBasedStateMachine):
        sessions = Bundle("sessions")
        tools = Bundle("tools")

        def __init__(self) -> None:
            super().__init__()
            project = world.runner.run(make_project(world.store))
            self.base = f"/v1/projects/{project.id}"
            self.auth = project.auth
            world.sequences += 1
            self.counter = 0

        def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
            return world.call(
                method, self.base + path, headers={**self.auth, **kwargs.pop("headers", {})}, **kwargs
            )

        @initialize(agent=agent_settings(world.receiver), pathway=pathways())
        def configure(self, agent: dict[str, Any], pathway: dict[str, Any]) -> None:
            self.call("PATCH", "/agent", json=agent)
            self.call("PUT", "/pathway", json=pathway)

        @rule(agent=agent_settings(world.receiver))
        def edit_agent(self, agent: dict[str, Any]) -> None:
            self.call("PATCH", "/agent", json=agent)

        @rule(pathway=pathways())
        def save_pathway(self, pathway: dict[str, Any]) -> None:
            self.call("PUT", "/pathway", json=pathway)

        @rule(
            target=tools,
            name=st.sampled_from(["weather", "lookup", "w_2"]),
            schema=tool_schemas,
            fail=st.booleans(),
        )
        def add_tool(self, name: str, schema: dict[str, Any], fail: bool) -> str:
            created = self.call(
                "POST",
                "/tools",
                json={
                    "type": "restful",
                    "name": name,
                    "inputSchema": schema,
                    "metadata": {"url": f"{world.receiver}/{'fail' if fail else 'ok'}", "method": "POST"},
                },
            )
            if created.status_code != 201:
                return ""
            tool_id: str = created.json()["data"]["id"]
            # The start node lists it, so the scripted model may call it with /tool.
            pathway = self.call("GET", "/pathway").json()["data"]
            document = pathway.get("pathway", pathway)
            for node in document.get("nodes", []):
                if node.get("data", {}).get("type") == "start":
                    node["data"]["tools"] = [*node["data"].get("tools", []), tool_id]
            self.call(
                "PUT",
                "/pathway",
                json={"nodes": document.get("nodes", []), "edges": document.get("edges", [])},
            )
            return name

        @rule()
        def subscribe(self) -> None:
            self.call("POST", "/webhooks", json={"url": f"{world.receiver}/sub", "events": ["session.ended"]})

        @rule(
            target=sessions,
            variables=st.dictionaries(st.sampled_from(["city", "tier", "x"]), values, max_size=3),
        )
        def create_session(self, variables: dict[str, Any]) -> str:
            self.counter += 1
            session = f"s{self.counter}"
            self.call("POST", "/sessions", json={"session_id": session, "variables": variables})
            return session

        @rule(target=sessions)
        def new_session_by_turn(self) -> str:
            self.counter += 1
            return f"t{self.counter}"

        @rule(session=sessions, said=text, stream=st.booleans())
        def turn(self, session: str, said: str, stream: bool) -> None:
            self._turn(session, said or "hello", stream)

        @rule(session=sessions, tool=tools, arguments=values, stream=st.booleans())
        def tool_turn(self, session: str, tool: str, arguments: Any, stream: bool) -> None:
            if tool:
                self._turn(session, f"/tool {tool} {json.dumps(arguments)}", stream)

        def _turn(self, session: str, said: str, stream: bool) -> None:
            response = self.call(
                "POST",
                "/chat/completions",
                json={"messages": [{"role": "user", "content": said}], "stream": stream},
                headers={"X-Session-ID": session},
            )
            if stream and response.status_code == 200:
                assert "data: [DONE]" in response.text or '"error"' in response.text
                # A server error inside the stream is a 5xx in disguise.
                assert '"server_error"' not in response.text, response.text[-500:]

        @rule(session=sessions)
        def read(self, session: str) -> None:
            self.call("GET", f"/sessions/{session}")

        @rule(session=sessions)
        def end(self, session: str) -> None:
            self.call("DELETE", "/sessions", json={"session_id": session})

        @rule(search=words)
        def lists(self, search: str) -> None:
            self.call("GET", "/sessions")
            self.call("GET", "/sessions/stats")
            self.call("POST", "/sessions/search", json={"search_string": search})
            self.call("GET", "/pathway")
            self.call("GET", "/agent")
            self.call("GET", "/webhooks/deliveries")

        @rule()
        def lint(self) -> None:
            self.call("GET", "/pathway/lint")

        @rule(said=st.lists(text, min_size=1, max_size=2))
        def test_run(self, said: list[str]) -> None:
            self.counter += 1
            case = self.call(
                "POST",
                "/test-cases",
                json={
                    "name": f"c{self.counter}",
                    "kind": "scripted",
                    "turns": [{"user": s or "hi"} for s in said],
                },
            )
            if case.status_code != 201:
                return
            suite = self.call(
                "POST",
                "/test-suites",
                json={"name": f"u{self.counter}", "testCaseIds": [case.json()["data"]["id"]]},
            )
            if suite.status_code != 201:
                return
            run = self.call("POST", f"/test-suites/{suite.json()['data']['id']}/runs")
            if run.status_code == 202:
                run_id = run.json()["data"]["id"]
                for _ in range(100):
                    status = self.call("GET", f"/test-runs/{run_id}").json()["data"]["status"]
                    if status not in ("queued", "running"):
                        break
                    world.runner.run(asyncio.sleep(0.05))
                else:
                    raise AssertionError(f"test run {run_id} still {status} after 5 s")

        def teardown(self) -> None:
            # Let the lifecycle worker send what the sequence queued; nothing may stay sending.
            stuck: list[Any] = []
            for _ in range(60):
                world.runner.run(asyncio.sleep(0.1))
                listed = world.call("GET", f"{self.base}/webhooks/deliveries", headers=self.auth).json()
                rows = listed.get("data", listed) if isinstance(listed, dict) else listed
                stuck = [d for d in rows if isinstance(d, dict) and d.get("status") == "sending"]
                if not stuck:
                    return
            raise AssertionError(f"deliveries stuck in sending: {stuck}")

    return Accepted


def test_sequences_of_accepted_calls_never_break(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    tuned = settings.model_copy(
        update={
            "outbound_allow": "127.0.0.1",
            "lifecycle_poll_interval": 0.05,
            "webhook_retry_base": 0.05,
            "webhook_max_attempts": 2,
            "webhook_timeout": 2.0,
            "rate_limit_key_per_minute": 0,
            "rate_limit_project_per_minute": 0,
            "rate_limit_session_per_minute": 0,
        }
    )
    with receiver() as url, asyncio.Runner() as runner:
        store = runner.run(Store.open(tuned))
        stack = contextlib.AsyncExitStack()
        try:
            app = create_app(tuned, store=store, model=ScriptedModel())
            runner.run(stack.enter_async_context(app.router.lifespan_context(app)))
            http = runner.run(
                stack.enter_async_context(
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app), base_url="http://pathweaver.test"
                    )
                )
            )
            world = World(runner, http, store, url)
            run = machine(world).TestCase
            run.settings = hypothesis_settings(
                max_examples=SEQUENCES,
                stateful_step_count=STEPS,
                deadline=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            run().runTest()
        finally:
            runner.run(stack.aclose())
            if tuned.database_schema:
                runner.run(_drop_schema(store, tuned.database_schema))
            runner.run(store.close())
    with capsys.disabled():
        print(
            f"\nstateful ({(settings.database_schema and 'postgres') or 'sqlite'}): {world.sequences} sequences, "
            f"{world.calls} calls, statuses {dict(sorted(world.statuses.items()))}"
        )


async def _drop_schema(store: Store, schema: str) -> None:
    async with store.engine.begin() as conn:
        await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
