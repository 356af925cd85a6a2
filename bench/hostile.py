"""``python -m bench.hostile``: does any request stall the others? (issue 20, deliverable 3)

Starts ``pathweaver serve --fake`` on a temporary SQLite database, as a user would, and
sends it the hostile inputs of issue 20, one kind after the other, while a probe client
asks a cheap route of *another* project (``GET /v1/projects/{id}/models``) every 20 ms.
Each kind runs for a few seconds; the probe's latency minus its median when the server was
idle is the latency the hostile requests added. It reports, per kind and overall, the
worst and the p99 added latency (goal: under 100 ms), and the server's own loop-lag
figures (``/healthz``) and WARNING lines. Everything is on 127.0.0.1 and bounded in time.

Kinds: ``lint`` (a saved pathway of 50 nodes x 200 near-duplicate edges, linted again and
again), ``deep-json`` (bodies nested 300,000 levels, refused), ``regex`` (a tool whose
schema has ``^(a+)+$`` and a 60 KB schema, called with ``/tool`` and a 5,000-character
argument that backtracks), ``big-save`` (pathways of 2,000 nodes and 6,000 edges, 0.89 MB,
just under the body cap), ``concurrent-saves`` (20 saves of 400-node pathways at once).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bench.processes import Server, cli, free_port

BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "pathweaver"
PROBE_EVERY = 0.02
GOAL_MS = 100.0


def env_for(data_dir: Path) -> dict[str, str]:
    return {
        "PATHWEAVER_DATA_DIR": str(data_dir),
        "PATHWEAVER_FAKE_MODEL": "true",
        "PATHWEAVER_OUTBOUND_ALLOW": "127.0.0.1",
        "PATHWEAVER_RATE_LIMIT_KEY_PER_MINUTE": "0",
        "PATHWEAVER_RATE_LIMIT_PROJECT_PER_MINUTE": "0",
        "PATHWEAVER_RATE_LIMIT_SESSION_PER_MINUTE": "0",
    }


def node(i: int, *, tools: list[str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "start" if i == 0 else "prompt",
        "title": f"Node {i}",
        "prompt": f"Step {i}.",
    }
    if tools:
        data["tools"] = tools
    return {
        "id": f"n{i}",
        "type": "input" if i == 0 else "default",
        "position": {"x": i, "y": 0},
        "data": data,
    }


def pathway(nodes: int, edges_per_node: int, *, similar: bool = False) -> dict[str, Any]:
    """``nodes`` nodes, each with ``edges_per_node`` edges to the next ones (conditions
    worded alike when ``similar``: the lint compares them pairwise, within its caps)."""
    edges = []
    for i in range(nodes):
        for j in range(edges_per_node):
            target = (i + 1 + j) % nodes
            words = f"the user wants option {j % 7} now" if similar else f"the user says {i}-{j}"
            edges.append(
                {"id": f"e{i}-{j}", "source": f"n{i}", "target": f"n{target}", "data": {"condition": words}}
            )
    return {"nodes": [node(i) for i in range(nodes)], "edges": edges}


class Probe:
    """Asks the cheap route every ``PROBE_EVERY`` seconds; latencies (s) by phase."""

    def __init__(self, http: httpx.AsyncClient, path: str, auth: dict[str, str]):
        self.http, self.path, self.auth = http, path, auth
        self.phase = "idle"
        self.seen: dict[str, list[float]] = {}
        self.errors = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            began = time.perf_counter()
            try:
                response = await self.http.get(self.path, headers=self.auth)
                if response.status_code != 200:
                    self.errors += 1
            except httpx.HTTPError:
                self.errors += 1
            self.seen.setdefault(self.phase, []).append(time.perf_counter() - began)
            await asyncio.sleep(max(0.0, PROBE_EVERY - (time.perf_counter() - began)))


async def repeat(
    seconds: float, concurrency: int, step: Callable[[], Awaitable[httpx.Response]]
) -> dict[int, int]:
    """Run ``step`` back to back in ``concurrency`` tasks for ``seconds``; the statuses seen."""
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds

    async def loop() -> None:
        while time.monotonic() < deadline:
            try:
                status = (await step()).status_code
            except httpx.HTTPError:
                status = 0
            statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return statuses


async def scenario(
    url: str, hostile: tuple[str, str], probe_project: tuple[str, str], seconds: float
) -> dict[str, Any]:
    hid, hkey = hostile
    pid, pkey = probe_project
    auth = {"Authorization": f"Bearer {hkey}"}
    base = f"/v1/projects/{hid}"
    timeout = httpx.Timeout(60)
    limits = httpx.Limits(max_connections=64)
    async with (
        httpx.AsyncClient(base_url=url, timeout=timeout) as probe_http,
        httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as http,
    ):
        probe = Probe(probe_http, f"/v1/projects/{pid}/models", {"Authorization": f"Bearer {pkey}"})
        stop = asyncio.Event()
        probing = asyncio.create_task(probe.run(stop))
        await asyncio.sleep(seconds)  # the idle baseline

        # Set-up (not measured): a tool with catastrophic patterns, a node that lists it.
        pattern_schema = {
            "type": "object",
            "properties": {"q": {"type": "string", "pattern": "^(a+)+$"}},
            "required": ["q"],
        }
        big_schema = {
            "type": "object",
            "properties": {f"p{i}": {"type": "string", "pattern": "^(x+x+)+y$"} for i in range(900)},
        }
        tool_ids = []
        for name, schema in (("slow", pattern_schema), ("wide", big_schema)):
            created = await http.post(
                f"{base}/tools",
                headers=auth,
                json={
                    "type": "restful",
                    "name": name,
                    "inputSchema": schema,
                    "metadata": {"url": f"http://127.0.0.1:{free_port()}/x", "method": "POST"},
                },
            )
            created.raise_for_status()
            tool_ids.append(created.json()["data"]["id"])
        lint_heavy = pathway(50, 200, similar=True)
        lint_heavy["nodes"][0] = node(0, tools=tool_ids)
        (await http.put(f"{base}/pathway", headers=auth, json=lint_heavy)).raise_for_status()
        big = pathway(2000, 3)  # 6,000 edges, 0.89 MB: just under the body cap
        medium = pathway(400, 3)
        deep = ("[" * 300_000 + "]" * 300_000).encode()
        sessions = iter(range(10**9))
        evil = "a" * 5000 + "!"

        def chat(content: str) -> Awaitable[httpx.Response]:
            return http.post(
                f"{base}/chat/completions",
                headers={**auth, "X-Session-ID": f"h{next(sessions)}"},
                json={"messages": [{"role": "user", "content": content}]},
            )

        kinds: dict[str, tuple[int, Callable[[], Awaitable[httpx.Response]]]] = {
            "lint": (2, lambda: http.get(f"{base}/pathway/lint", headers=auth)),
            "deep-json": (
                2,
                lambda: http.post(
                    f"{base}/chat/completions",
                    headers={**auth, "Content-Type": "application/json"},
                    content=deep,
                ),
            ),
            "regex": (
                4,
                lambda: chat(
                    f"/tool slow {json.dumps({'q': evil})}"
                    if next(sessions) % 2
                    else f"/tool wide {json.dumps({'p1': 'x' * 3000})}"
                ),
            ),
            "big-save": (1, lambda: http.put(f"{base}/pathway", headers=auth, json=big)),
            "concurrent-saves": (20, lambda: http.put(f"{base}/pathway", headers=auth, json=medium)),
        }
        statuses: dict[str, dict[int, int]] = {}
        for kind, (concurrency, step) in kinds.items():
            if kind == "regex":  # the regex kind needs the node that lists the tools back
                (await http.put(f"{base}/pathway", headers=auth, json=lint_heavy)).raise_for_status()
            probe.phase = kind
            statuses[kind] = await repeat(seconds, concurrency, step)
            probe.phase = "between"
            await asyncio.sleep(0.5)
        stop.set()
        await probing
        health = (await probe_http.get("/healthz")).json()
    return {"probe": probe.seen, "errors": probe.errors, "statuses": statuses, "health": health}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(found: dict[str, Any], log: Path) -> tuple[str, bool]:
    seen: dict[str, list[float]] = found["probe"]
    floor = statistics.median(seen["idle"])
    lines = [
        f"probe: GET /v1/projects/<other>/models every {PROBE_EVERY * 1000:.0f} ms; idle median "
        f"{floor * 1000:.1f} ms, idle p99 {percentile(seen['idle'], 0.99) * 1000:.1f} ms "
        f"({len(seen['idle'])} requests); probe errors: {found['errors']}",
        "",
        "| hostile kind | probe requests | added p99 | added worst | hostile answers (status: count) |",
        "|---|---|---|---|---|",
    ]
    worst_all: list[float] = []
    for kind, statuses in found["statuses"].items():
        added = [t - floor for t in seen.get(kind, [])]
        if not added:
            continue
        worst_all.extend(added)
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
        lines.append(
            f"| {kind} | {len(added)} | {percentile(added, 0.99) * 1000:.1f} ms | {max(added) * 1000:.1f} ms | {answers} |"
        )
    worst = max(worst_all) * 1000
    lines.append(
        f"| all | {len(worst_all)} | {percentile(worst_all, 0.99) * 1000:.1f} ms | {worst:.1f} ms | |"
    )
    lag = found["health"].get("loopLag", {})
    warnings = [line for line in log.read_text(errors="replace").splitlines() if "event loop held" in line]
    lines += [
        "",
        f"server loop lag (/healthz): max {lag.get('maxMs')} ms, p99 (last minute) {lag.get('p99Ms')} ms, "
        f"stalls over {lag.get('thresholdMs')} ms: {lag.get('stalls')}; longest garbage collection "
        f"{lag.get('gcWorstMs')} ms; full collections {found['health'].get('fullCollections')}",
        f"loop-lag WARNING lines in the server log: {len(warnings)}",
        *[f"  {w[:300]}" for w in warnings[:10]],
        f"goal (no request stalls another for more than {GOAL_MS:.0f} ms): "
        + ("met" if worst <= GOAL_MS else "missed"),
    ]
    return "\n".join(lines), worst <= GOAL_MS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per hostile kind (and the idle baseline)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pw-hostile-") as tmp:
        data = Path(tmp)
        env = env_for(data)
        hostile = json.loads(cli("project", "create", "hostile", "--json", env=env))
        other = json.loads(cli("project", "create", "probe", "--json", env=env))
        port = free_port()
        log = data / "server.log"
        server = Server(
            "pathweaver",
            [str(BIN), "serve", "--fake", "--port", str(port), "--log-level", "warning"],
            env,
            port,
            log,
        )
        try:
            found = asyncio.run(
                scenario(
                    f"http://127.0.0.1:{port}",
                    (hostile["projectId"], hostile["apiKey"]),
                    (other["projectId"], other["apiKey"]),
                    args.seconds,
                )
            )
        finally:
            server.stop()
        text, _met = report(found, log)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
