"""Scale-out: the same load on SQLite and PostgreSQL, 1 and 2 workers: ``python -m bench.scale``.

    .venv/bin/python -m bench.scale            # 5 configurations, about 5.5 minutes on 2 cores
    .venv/bin/python -m bench.scale --smoke    # SQLite and PostgreSQL, 1 worker, tiny counts, < 60 s
    .venv/bin/python -m bench.scale --only sqlite-2,postgres-2 --out /tmp/scale

Each configuration (``sqlite-1``, ``postgres-1``, ``sqlite-2``, ``postgres-2``, and
``sqlite-full-1``: SQLite with ``synchronous=FULL``, the storage commit cost of M11) gets a fresh
database (a SQLite file in a temporary folder, or a PostgreSQL schema of its own, dropped
afterwards), a project made with the ``pathweaver`` CLI from the one-node agent file, and
``pathweaver serve --workers N`` on the zero-latency mock model (one mock process for the
whole run), so that the server's own cost dominates; request-rate limits and the turn cap
are off (``processes.pathweaver_env``). Then, in this order:

1. *single*: one client, sessions of sequential turns: the added latency of a turn with no
   queue in front of it;
2. *load*, the realistic case: C clients (16) in a closed loop, each a user going through
   sessions of sequential turns (the next turn sent when the last is answered, a new
   connection per session so that the kernel spreads sessions over the workers): turns per
   second, and latency added to the mock's;
3. *contention*: K clients (8) send turns to ONE session back to back: the turn lock's 409
   rate. A 409 is counted as such, not as an error. Twice, on two sessions: *polite*
   clients sleep a 409's ``Retry-After`` as a client should, *eager* ones send again at once
   (the conflict rate while the contention lasts; a polite client told to wait 10 s leaves
   the contest). Afterwards each session's stored turns are compared with its 200s.

The mock is called directly by the same number of clients, with the same message, just
before and just after each Pathweaver phase: added latency is Pathweaver's percentile
minus that direct percentile, from the same minutes of the same run. Nothing is pinned:
with 2 workers on 2 cores the workers, the mock and this driver share the cores, which is
the point of the comparison and also its limit. Every phase is bounded in requests and in
seconds; all traffic is on 127.0.0.1. Raw results (one JSON line per request, one summary
line per configuration) go to ``bench/results/<time>-scale/``, with the table and the
server logs. Exits non-zero when a configuration could not run, never because of a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import itertools
import json
import os
import platform
import secrets
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import harness, pathways, stats
from bench.client import Closed, Connection
from bench.mock_process import MockProcess, marker, reply_text
from bench.processes import BIN, CLOCK_TICKS, Server, cpu_seconds, create_project, free_port, pathweaver_env

RESULTS = Path(__file__).resolve().parent / "results"
POSTGRES_URL = os.environ.get("PATHWEAVER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: A request with no answer in this time is an error (and its connection is dropped).
REQUEST_TIMEOUT = 30.0
#: Eight 4-character chunks, no gap: the mock answers at once.
CONTENT = f"hello {marker(8)}"
EXPECTED = reply_text(8)
#: How a contention client takes a 409: ``polite`` sleeps its ``Retry-After``, ``eager`` does not.
BEHAVIOURS = ("polite", "eager")


@dataclass(frozen=True)
class Config:
    database: str
    """``sqlite`` or ``postgres``."""
    workers: int
    synchronous: str = "NORMAL"
    """SQLite's ``PRAGMA synchronous`` (``PATHWEAVER_SQLITE_SYNCHRONOUS``): M11 compares FULL."""

    @property
    def key(self) -> str:
        full = "-full" if self.synchronous != "NORMAL" else ""
        return f"{self.database}{full}-{self.workers}"

    @property
    def label(self) -> str:
        name = "SQLite" if self.database == "sqlite" else "PostgreSQL"
        if self.synchronous != "NORMAL":
            name += f" {self.synchronous}"
        return f"{name}, {self.workers} worker{'s' if self.workers > 1 else ''}"


CONFIGS = (
    Config("sqlite", 1),
    Config("postgres", 1),
    Config("sqlite", 2),
    Config("postgres", 2),
    Config("sqlite", 1, synchronous="FULL"),
)


@dataclass(frozen=True)
class Sizes:
    """How big a run is; every phase stops at ``max_requests`` or its seconds, whichever first."""

    name: str
    configs: tuple[Config, ...]
    clients: int
    """C: concurrent users in the load phase."""
    turns_per_session: int
    single_seconds: float
    load_seconds: float
    direct_seconds: float
    """Each of the two direct phases around a Pathweaver phase."""
    contention_clients: int
    contention_seconds: float
    """Each of the two contention phases (polite, eager)."""
    max_requests: int


FULL = Sizes(
    name="full",
    configs=CONFIGS,
    clients=16,
    turns_per_session=10,
    single_seconds=5.0,
    load_seconds=20.0,
    direct_seconds=1.5,
    contention_clients=8,
    contention_seconds=9.0,
    max_requests=20_000,
)

SMOKE = Sizes(
    name="smoke",
    configs=CONFIGS[:2],
    clients=4,
    turns_per_session=3,
    single_seconds=1.0,
    load_seconds=2.0,
    direct_seconds=0.3,
    contention_clients=4,
    contention_seconds=1.5,
    max_requests=400,
)


@dataclass(frozen=True)
class Target:
    """Where a phase sends its requests: the mock itself (``direct``) or a Pathweaver project."""

    name: str
    port: int
    path: str
    headers: dict[str, str]

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"messages": [{"role": "user", "content": CONTENT}]}
        if self.name == "direct":
            body["model"] = "mock"
        return body


@dataclass
class Result:
    client: int
    session: str | None
    status: int
    latency: float
    retry_after: float | None = None
    error: str | None = None


@dataclass
class Phase:
    name: str
    target: str
    clients: int
    results: list[Result]
    seconds: float
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds each server process spent in the phase (Pathweaver phases)."""
    database_cpu: float = 0.0
    """CPU seconds of the PostgreSQL server's processes in the phase (0 on SQLite: in-process)."""

    @property
    def ok(self) -> list[Result]:
        return [r for r in self.results if r.status == 200 and r.error is None]

    @property
    def conflicts(self) -> list[Result]:
        return [r for r in self.results if r.status == 409]

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.error is not None and r.status != 409]

    def percentile(self, q: float) -> float:
        return stats.percentile([r.latency for r in self.ok], q)

    @property
    def rate(self) -> float:
        return len(self.ok) / self.seconds if self.seconds else 0.0


async def turn(target: Target, conn: Connection, client: int, session: str | None) -> Result:
    """One request; a transport failure or a timeout is a result too, never an exception."""
    headers = dict(target.headers)
    if session is not None:
        headers["x-session-id"] = session
    began = time.perf_counter()
    try:
        reply = await asyncio.wait_for(
            conn.request("POST", target.path, target.body(), headers), REQUEST_TIMEOUT
        )
    except (TimeoutError, OSError, asyncio.IncompleteReadError, Closed, ValueError) as error:
        await conn.close()
        return Result(
            client, session, 0, time.perf_counter() - began, error=f"{type(error).__name__}: {error}"
        )
    retry = reply.headers.get("retry-after")
    result = Result(client, session, reply.status, reply.latency, float(retry) if retry else None)
    if reply.status != 200:
        result.error = reply.body[:200].decode("utf-8", "replace")
    elif json.loads(reply.body)["choices"][0]["message"].get("content") != EXPECTED:
        result.error = "a reply other than the mock's"
    return result


async def closed_loop(
    target: Target,
    clients: int,
    seconds: float,
    max_requests: int,
    session_for: Callable[[int, int], str | None],
    per_connection: int,
    polite: bool = True,
) -> tuple[list[Result], float]:
    """``clients`` clients back to back, each its n-th request on ``session_for(client, n)``.

    A client opens a new connection every ``per_connection`` requests (a new user, in the
    load phase), sleeps a 409's ``Retry-After`` (within the deadline) when ``polite``, and
    stops at the deadline or when the phase's ``max_requests`` are spent.
    """
    began = time.perf_counter()
    deadline = began + seconds
    budget = itertools.count()

    async def client(index: int) -> list[Result]:
        done: list[Result] = []
        conn = Connection("127.0.0.1", target.port)
        try:
            for n in itertools.count():
                if time.perf_counter() >= deadline or next(budget) >= max_requests:
                    break
                if n and n % per_connection == 0:
                    await conn.close()
                    conn = Connection("127.0.0.1", target.port)
                result = await turn(target, conn, index, session_for(index, n))
                done.append(result)
                if result.status == 409 and polite:
                    pause = min(result.retry_after or 1.0, deadline - time.perf_counter())
                    await asyncio.sleep(max(0.0, pause))
        finally:
            await conn.close()
        return done

    batches = await asyncio.gather(*(client(i) for i in range(clients)))
    return [r for batch in batches for r in batch], time.perf_counter() - began


def postgres_cpu() -> float:
    """CPU seconds of every ``postgres`` process on this machine, and of its reaped children.

    The PostgreSQL server shares the cores with Pathweaver, so its work per turn belongs in
    the comparison. Counted: each live ``postgres`` process's own time, plus the postmaster's
    ``cutime + cstime`` (backends that exited). Anything else PostgreSQL does meanwhile is
    counted too: on a machine where only the benchmark uses it, nothing much.
    """
    found: dict[int, tuple[int, float, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                raw = stat.read()
            if raw.split("(", 1)[1].rsplit(")", 1)[0] != "postgres":
                continue
            fields = raw.rsplit(")", 1)[1].split()
            own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            reaped = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
            found[int(entry)] = (int(fields[1]), own, reaped)
    return sum(own + (reaped if parent not in found else 0.0) for parent, own, reaped in found.values())


def server_processes(server: Server) -> dict[str, int]:
    """The processes serving: ``pathweaver serve`` itself and, with workers, each worker."""
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{server.pid}/task"):
            with open(f"/proc/{server.pid}/task/{task}/children", encoding="ascii") as listed:
                children += [int(pid) for pid in listed.read().split()]
    workers = []
    for pid in children:
        with contextlib.suppress(OSError):
            if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
    return {"main": server.pid} | {f"worker{i + 1}": pid for i, pid in enumerate(sorted(workers))}


def cpu_by_process(processes: dict[str, int]) -> dict[str, float]:
    seen = {}
    for name, pid in processes.items():
        with contextlib.suppress(OSError):
            seen[name] = cpu_seconds(pid)
    return seen


async def wait_ready(server: Server, workers: int, within: float = 90.0) -> dict[str, int]:
    """Until /healthz answers and every worker is idle (done importing and starting).

    ``/healthz`` alone proves that one worker is up; connections opened while the other is
    still starting would all go to the first and stay there (keep-alive).
    """
    deadline = time.monotonic() + within
    conn = Connection("127.0.0.1", server.port)
    try:
        while True:
            try:
                if (await conn.request("GET", "/healthz")).status == 200:
                    break
            except (OSError, Closed, asyncio.IncompleteReadError):
                await conn.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"pathweaver did not answer /healthz within {within} s; see {server.log}")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    quiet = 0
    while quiet < 2:
        processes = server_processes(server)
        found = len(processes) - 1 if workers > 1 else 1
        before = cpu_by_process(processes)
        await asyncio.sleep(0.3)
        after = cpu_by_process(processes)
        busy = any(after.get(name, 0) - cpu > 0.05 for name, cpu in before.items())
        quiet = quiet + 1 if found == workers and not busy else 0
        if time.monotonic() > deadline:
            raise RuntimeError(f"{found} of {workers} workers idle within {within} s; see {server.log}")
    return server_processes(server)


class Recorder(harness.Recorder):
    """The harness's raw-results file, with one line per request of a scale-out phase."""

    def phase(self, config: str, phase: Phase) -> None:
        for r in phase.results:
            record = {
                "type": "sample",
                "config": config,
                "phase": phase.name,
                "target": phase.target,
                "clients": phase.clients,
                "client": r.client,
                "session": r.session,
                "status": r.status,
                "latency_ms": round(r.latency * 1000, 4),
                "retry_after": r.retry_after,
                "error": r.error,
            }
            self._file.write(json.dumps(record) + "\n")


@dataclass
class Run:
    """One configuration's server, project and the phases it went through."""

    config: Config
    sizes: Sizes
    server: Server
    direct: Target
    pathweaver: Target
    recorder: Recorder
    mock: MockProcess
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    phases: dict[str, Phase] = field(default_factory=dict)

    async def measure(
        self,
        name: str,
        target: Target,
        clients: int,
        seconds: float,
        session_for: Callable[[int, int], str | None],
        per_connection: int,
        requests: int | None = None,
        polite: bool = True,
    ) -> Phase:
        processes = server_processes(self.server)
        before, database = cpu_by_process(processes), postgres_cpu()
        limit = min(requests or self.sizes.max_requests, self.sizes.max_requests)
        results, elapsed = await closed_loop(
            target, clients, seconds, limit, session_for, per_connection, polite
        )
        after, database = cpu_by_process(processes), postgres_cpu() - database
        phase = Phase(name, target.name, clients, results, elapsed)
        if target is self.pathweaver:
            phase.cpu = {p: after[p] - before[p] for p in before if p in after}
            phase.database_cpu = database if self.config.database == "postgres" else 0.0
        self.phases[name] = phase
        self.recorder.phase(self.config.key, phase)
        self.mock.drain()  # the mock keeps every request; let it forget them
        return phase

    def sessions(self, phase: str) -> Callable[[int, int], str]:
        per = self.sizes.turns_per_session
        return lambda client, n: f"{phase}-{self.tag}-{client}-{n // per}"

    async def closed(self, name: str, clients: int, seconds: float) -> None:
        """Direct, Pathweaver, direct: the same clients, the same message."""
        per, direct = self.sizes.turns_per_session, self.sizes.direct_seconds
        before = await self.measure(f"{name}-direct-before", self.direct, clients, direct, _none, per)
        await self.measure(name, self.pathweaver, clients, seconds, self.sessions(name), per)
        after = await self.measure(f"{name}-direct-after", self.direct, clients, direct, _none, per)
        self.phases[f"{name}-direct"] = Phase(
            f"{name}-direct",
            "direct",
            clients,
            before.results + after.results,
            before.seconds + after.seconds,
        )

    async def contention(self, behaviour: str) -> int | None:
        """K clients on one session; returns the turns the session stores (None: unreadable)."""
        name = f"contention-{behaviour}"
        session = f"{name}-{self.tag}"
        # Open the session with one turn first: its creation is not what is measured.
        await self.measure(f"{name}-open", self.pathweaver, 1, 60.0, lambda c, n: session, 1, requests=1)
        k, seconds = self.sizes.contention_clients, self.sizes.contention_seconds
        polite = behaviour == "polite"
        await self.measure(name, self.pathweaver, k, seconds, lambda c, n: session, 10**9, polite=polite)
        return await self.stored_turns(session)

    async def stored_turns(self, session: str) -> int | None:
        conn = Connection("127.0.0.1", self.server.port)
        try:
            path = self.pathweaver.path.replace("/chat/completions", f"/sessions/{session}")
            reply = await conn.request(
                "GET", path, headers={"authorization": self.pathweaver.headers["authorization"]}
            )
        finally:
            await conn.close()
        return len(json.loads(reply.body).get("turns") or []) if reply.status == 200 else None

    async def all_phases(self) -> dict[str, int | None]:
        sizes = self.sizes
        warm = self.sessions("warmup")
        await self.measure(
            "warmup",
            self.pathweaver,
            sizes.clients,
            60.0,
            warm,
            sizes.turns_per_session,
            requests=2 * sizes.clients,
        )
        await self.closed("single", 1, sizes.single_seconds)
        await self.closed("load", sizes.clients, sizes.load_seconds)
        return {behaviour: await self.contention(behaviour) for behaviour in BEHAVIOURS}


def _none(client: int, n: int) -> None:
    """The mock keeps no sessions: direct requests carry none."""
    return None


def _contention(fight: Phase, opening: Phase, stored: int | None) -> dict[str, Any]:
    attempts = len(fight.results)
    return {
        "attempts": attempts,
        "ok": len(fight.ok),
        "conflicts": len(fight.conflicts),
        "clients_with_409": len({r.client for r in fight.conflicts}),
        "rate_409": len(fight.conflicts) / attempts if attempts else float("nan"),
        "errors": len(fight.failed),
        "turns_per_second": fight.rate,
        "p50_ms": fight.percentile(50) * 1000,
        "p99_ms": fight.percentile(99) * 1000,
        "wait_before_409_ms": stats.median([r.latency for r in fight.conflicts]) * 1000,
        "retry_after_values": sorted({r.retry_after for r in fight.conflicts if r.retry_after is not None}),
        "conflicts_without_retry_after": sum(1 for r in fight.conflicts if r.retry_after is None),
        "stored_turns": stored,
        "answered_turns": len(fight.ok) + len(opening.ok),
    }


def _figures(run: Run, stored: dict[str, int | None]) -> dict[str, Any]:
    """What the table shows for one configuration (and the JSON summary keeps)."""
    p = run.phases
    load, direct = p["load"], p["load-direct"]
    single, single_direct = p["single"], p["single-direct"]
    cpu = sum(load.cpu.values())
    workers = {k: v for k, v in load.cpu.items() if k.startswith("worker")}
    spread = sum(workers.values())
    return {
        "config": run.config.key,
        "label": run.config.label,
        "turns_per_second": load.rate,
        "load_turns": len(load.ok),
        "load_seconds": load.seconds,
        "load_p50_ms": load.percentile(50) * 1000,
        "load_p99_ms": load.percentile(99) * 1000,
        "direct_p50_ms": direct.percentile(50) * 1000,
        "direct_p99_ms": direct.percentile(99) * 1000,
        "added_p50_ms": (load.percentile(50) - direct.percentile(50)) * 1000,
        "added_p99_ms": (load.percentile(99) - direct.percentile(99)) * 1000,
        "single_added_p50_ms": (single.percentile(50) - single_direct.percentile(50)) * 1000,
        "single_added_p99_ms": (single.percentile(99) - single_direct.percentile(99)) * 1000,
        "single_turns": len(single.ok),
        "load_errors": len(load.failed),
        "load_409": len(load.conflicts),
        "cpu_ms_per_turn": cpu / len(load.ok) * 1000 if load.ok else float("nan"),
        "postgres_cpu_ms_per_turn": load.database_cpu / len(load.ok) * 1000 if load.ok else float("nan"),
        "worker_cpu_share": [round(v / spread, 3) for v in workers.values()] if spread else [],
        "contention": {
            b: _contention(p[f"contention-{b}"], p[f"contention-{b}-open"], stored[b]) for b in stored
        },
        "first_errors": sorted({r.error for ph in p.values() for r in ph.failed if r.error})[:3],
    }


def start_server(config: Config, env: dict[str, str], log: Path) -> Server:
    port = free_port()
    args = [
        str(BIN),
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--workers",
        str(config.workers),
    ]
    return Server(f"pathweaver ({config.label})", args, env, port, log)


async def drop_schema(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def run_config(
    config: Config, sizes: Sizes, mock: MockProcess, recorder: Recorder, out: Path, postgres: str
) -> dict[str, Any]:
    """One configuration from a fresh database to its figures; the database is removed after."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="pathweaver-scale-") as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        env = pathweaver_env(folder / "data", mock.base_url)
        env["PATHWEAVER_SQLITE_SYNCHRONOUS"] = config.synchronous
        if config.database == "postgres":
            schema = f"bench_scale_{secrets.token_hex(4)}"
            env |= {"PATHWEAVER_DATABASE_URL": postgres, "PATHWEAVER_DATABASE_SCHEMA": schema}
            stack.callback(lambda: asyncio.run(drop_schema(postgres, schema)))
        agent = pathways.write(folder, "one_node", pathways.one_node())
        project, key, _ = create_project("scale", agent, env, at_once=True)
        server = start_server(config, env, out / f"pathweaver-{config.key}.log")
        stack.callback(server.stop)
        asyncio.run(wait_ready(server, config.workers))
        direct = Target("direct", mock.port, "/v1/chat/completions", {})
        ours = Target(
            "pathweaver",
            server.port,
            f"/v1/projects/{project}/chat/completions",
            {"authorization": f"Bearer {key}"},
        )
        run = Run(config, sizes, server, direct, ours, recorder, mock)
        stored = asyncio.run(run.all_phases())
    figures = _figures(run, stored)
    log = (out / f"pathweaver-{config.key}.log").read_text(errors="replace")
    figures |= {
        "tracebacks_in_log": log.count("Traceback"),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg()[0],
    }
    return figures


def _pair(a: float, b: float, digits: int = 1) -> str:
    return f"{a:.{digits}f} / {b:.{digits}f}"


def tables(
    figures: Sequence[dict[str, Any]], sizes: Sizes
) -> tuple[list[str], list[list[str]], list[str], list[list[str]]]:
    load_head = [
        "configuration",
        "turns/s",
        f"p50 / p99 ms (C={sizes.clients})",
        "direct p50 / p99 ms",
        "added p50 / p99 ms",
        "1 client: added p50 / p99 ms",
        "errors",
        "CPU ms/turn: Pathweaver + PostgreSQL",
        "worker CPU split",
        "load avg",
    ]
    load_rows = [
        [
            f["label"],
            f"{f['turns_per_second']:.1f}",
            _pair(f["load_p50_ms"], f["load_p99_ms"]),
            _pair(f["direct_p50_ms"], f["direct_p99_ms"], 2),
            _pair(f["added_p50_ms"], f["added_p99_ms"]),
            _pair(f["single_added_p50_ms"], f["single_added_p99_ms"]),
            f"{f['load_errors']}" + (f" (+{f['load_409']} x 409)" if f["load_409"] else ""),
            f"{f['cpu_ms_per_turn']:.1f}"
            + (f" + {f['postgres_cpu_ms_per_turn']:.1f}" if f["config"].startswith("postgres") else ""),
            " / ".join(f"{share:.0%}" for share in f["worker_cpu_share"]) or "-",
            f"{f['loadavg_before']:.1f} -> {f['loadavg_after']:.1f}",
        ]
        for f in figures
    ]
    fight_head = [
        "configuration",
        "409s are",
        f"409 rate ({sizes.contention_clients} clients, 1 session)",
        "attempts",
        "200 / 409 / errors",
        "clients with a 409",
        "answered turns/s",
        "p50 / p99 ms of 200s",
        "409 after ms (p50)",
        "Retry-After",
        "stored = answered",
    ]
    fight_rows = [
        [
            f["label"],
            "slept on" if behaviour == "polite" else "retried at once",
            f"{c['rate_409']:.1%}",
            str(c["attempts"]),
            f"{c['ok']} / {c['conflicts']} / {c['errors']}",
            f"{c['clients_with_409']} of {sizes.contention_clients}",
            f"{c['turns_per_second']:.1f}",
            _pair(c["p50_ms"], c["p99_ms"]),
            "-" if not c["conflicts"] else f"{c['wait_before_409_ms']:.0f}",
            ", ".join(f"{v:g} s" for v in c["retry_after_values"]) or "-",
            f"{c['stored_turns']} = {c['answered_turns']}"
            if c["stored_turns"] == c["answered_turns"]
            else f"NO: {c['stored_turns']} stored, {c['answered_turns']} answered",
        ]
        for f in figures
        for behaviour, c in f["contention"].items()
    ]
    return load_head, load_rows, fight_head, fight_rows


def grid(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke", action="store_true", help="SQLite and PostgreSQL, 1 worker, tiny counts (< 60 s)"
    )
    parser.add_argument(
        "--only", default="", help=f"comma-separated among {', '.join(c.key for c in CONFIGS)}"
    )
    parser.add_argument(
        "--postgres-url", default=POSTGRES_URL, help="a database to make (and drop) schemas in"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="results folder (default bench/results/<time>-scale)"
    )
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    only = {s.strip().lower() for s in args.only.split(",") if s.strip()}
    known = {c.key: c for c in CONFIGS}
    if only - set(known):
        parser.error(f"unknown configurations: {', '.join(sorted(only - set(known)))}")
    configs = [known[k] for k in known if k in only] if only else list(sizes.configs)
    out = args.out or RESULTS / (datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + "-scale")
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    machine = {
        "date": datetime.date.today().isoformat(),
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
    }
    figures: list[dict[str, Any]] = []
    failures: list[str] = []
    recorder = Recorder(out / "results.jsonl")
    recorder.summary("run", sizes=sizes.name, configs=[c.key for c in configs], **machine)
    mock = MockProcess().start()
    try:
        for config in configs:
            print(f"[scale] {config.label} ...", file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                found = run_config(config, sizes, mock, recorder, out, args.postgres_url)
            except Exception as error:
                traceback.print_exc()
                failures.append(config.key)
                recorder.summary("config", config=config.key, failed=f"{type(error).__name__}: {error}")
                continue
            figures.append(found)
            recorder.summary("config", **found)
            print(
                f"[scale] {config.label} done in {time.monotonic() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    finally:
        mock.stop()
        recorder.summary("end", seconds=time.monotonic() - began, loadavg=os.getloadavg(), failures=failures)
        recorder.close()
    header = (
        f"Scale-out: SQLite vs PostgreSQL, 1 and 2 workers ({sizes.name}), {machine['date']}, "
        f"{machine['cores']} cores {machine['arch']}, Python {machine['python']}, not pinned, "
        f"{time.monotonic() - began:.0f} s; load average {machine['loadavg'][0]:.2f} -> "  # type: ignore[index]
        f"{os.getloadavg()[0]:.2f}"
    )
    load_head, load_rows, fight_head, fight_rows = tables(figures, sizes)
    text = "\n\n".join([header, grid(load_head, load_rows), grid(fight_head, fight_rows)])
    if failures:
        text += f"\n\nconfigurations that could not run: {', '.join(failures)}"
    print(text)
    (out / "table.txt").write_text(text + "\n", encoding="utf-8")
    md = "\n\n".join([header, markdown(load_head, load_rows), markdown(fight_head, fight_rows)])
    (out / "table.md").write_text(md + "\n", encoding="utf-8")
    (out / "figures.json").write_text(json.dumps(figures, indent=1, default=str), encoding="utf-8")
    print(f"\nraw results: {out / 'results.jsonl'}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
