"""Arms and the interleaved runner.

An *arm* is one way of getting a chat completion from the same mock: ``direct`` (the mock
itself), ``null relay`` and ``pathweaver`` (one project and pathway per arm). In each round
every arm gets a block of requests, in a fresh random order, so drift of a shared machine
hits every arm alike; the CPU of the process serving an arm is read from ``/proc`` before
and after its block (only one arm is busy at a time), and so are the mock's counters.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bench import stats
from bench.client import Connection, parse_stream
from bench.mock_process import MockProcess, reply_text
from bench.processes import Server, cpu_seconds


@dataclass(frozen=True)
class Project:
    id: str
    key: str


@dataclass
class Arm:
    """How to send one request to one target, and whose CPU it costs."""

    name: str
    port: int
    path: str
    pid: int
    """The process that serves this arm (the mock itself for ``direct``)."""
    headers: dict[str, str] = field(default_factory=dict)
    project: Project | None = None
    session: Callable[[int], str] | None = None
    """Session id for the n-th request of this arm (Pathweaver arms)."""
    content: str | None = None
    """This arm's user message, when it differs from the run's."""
    sent: int = 0

    @property
    def pathweaver(self) -> bool:
        return self.project is not None

    def body(self, content: str, stream: bool, tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"messages": [{"role": "user", "content": content}]}
        if not self.pathweaver:
            body["model"] = "mock"
        if stream:
            body["stream"] = True
        if tools:
            body["tools"] = tools
        return body

    def request_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.session is not None:
            headers["x-session-id"] = self.session(self.sent)
        self.sent += 1
        return headers


@dataclass
class Sample:
    arm: str
    status: int
    latency: float
    ttft: float | None = None
    gaps: list[float] = field(default_factory=list)
    content: str = ""
    tool_arguments: dict[int, str] = field(default_factory=dict)
    chunks: int = 0
    overhead_ms: float | None = None
    error: str | None = None


async def send(
    arm: Arm,
    conn: Connection,
    content: str,
    *,
    stream: bool = False,
    tools: list[dict[str, Any]] | None = None,
    sent: float | None = None,
) -> Sample:
    try:
        reply = await conn.request(
            "POST", arm.path, arm.body(content, stream, tools), arm.request_headers(), sent=sent
        )
    except (OSError, asyncio.IncompleteReadError) as error:
        await conn.close()
        return Sample(arm.name, 0, 0.0, error=f"{type(error).__name__}: {error}")
    overhead = reply.headers.get("x-pathweaver-overhead-ms")
    sample = Sample(arm.name, reply.status, reply.latency, overhead_ms=float(overhead) if overhead else None)
    if reply.status != 200:
        sample.error = reply.body[:200].decode("utf-8", "replace")
        return sample
    if stream:
        parsed = parse_stream(reply)
        sample.ttft = parsed.ttft(reply.sent)
        sample.gaps = parsed.gaps()
        sample.content = parsed.content
        sample.tool_arguments = parsed.tool_arguments
        sample.chunks = len(parsed.content_times)
        if not parsed.done:
            sample.error = "the stream ended without [DONE]"
    else:
        message = json.loads(reply.body)["choices"][0]["message"]
        sample.content = message.get("content") or ""
        sample.tool_arguments = {
            i: call["function"]["arguments"] for i, call in enumerate(message.get("tool_calls") or [])
        }
    return sample


@dataclass
class ArmRun:
    """Everything one arm did in an interleaved run."""

    samples: list[Sample] = field(default_factory=list)
    rounds: list[list[Sample]] = field(default_factory=list)
    cpu: float = 0.0
    calls: int = 0
    prompt_bytes: int = 0
    connections: int = 0
    """Connections opened to the mock while this arm ran (counted with ``count_calls``)."""

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.error is None]

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if s.error is not None)

    def round_medians(self, metric: Callable[[Sample], float | None]) -> list[float]:
        return [
            stats.median([v for s in block if s.error is None and (v := metric(s)) is not None])
            for block in self.rounds
        ]


class Recorder:
    """Raw results as JSON lines, one per request and one per summary."""

    def __init__(self, path: Path):
        self.path = path
        self._file: TextIO = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def sample(self, scenario: str, round_index: int, sample: Sample) -> None:
        record = {
            "type": "sample",
            "scenario": scenario,
            "round": round_index,
            "arm": sample.arm,
            "status": sample.status,
            "latency_ms": round(sample.latency * 1000, 4),
            "ttft_ms": None if sample.ttft is None else round(sample.ttft * 1000, 4),
            "gaps_ms": [round(g * 1000, 3) for g in sample.gaps],
            "chunks": sample.chunks,
            "overhead_ms": sample.overhead_ms,
            "error": sample.error,
        }
        self._file.write(json.dumps(record) + "\n")

    def summary(self, scenario: str, **values: Any) -> None:
        self._file.write(json.dumps({"type": "summary", "scenario": scenario, **values}, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass
class Harness:
    mock: MockProcess
    relay: Server
    pathweaver: Server
    projects: dict[str, Project]
    recorder: Recorder
    rng: random.Random
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def direct(self) -> Arm:
        return Arm("direct", self.mock.port, "/v1/chat/completions", self.mock.pid)

    def null_relay(self) -> Arm:
        return Arm("null relay", self.relay.port, "/v1/chat/completions", self.relay.pid)

    def pathweaver_arm(
        self,
        name: str,
        project: str,
        *,
        turns_per_session: int = 10,
        lanes: int = 1,
        session: str | None = None,
        content: str | None = None,
    ) -> Arm:
        """A Pathweaver arm. Sessions: ``session`` for every turn, or sessions of
        ``turns_per_session`` turns in ``lanes`` independent chains (one per concurrent client)."""
        chosen = self.projects[project]
        prefix = f"{name.replace(' ', '-')}-{next(self._counter)}"

        def session_for(n: int) -> str:
            if session is not None:
                return session
            return f"{prefix}-{n % lanes}-{n // lanes // turns_per_session}"

        return Arm(
            name,
            self.pathweaver.port,
            f"/v1/projects/{chosen.id}/chat/completions",
            self.pathweaver.pid,
            headers={"authorization": f"Bearer {chosen.key}"},
            project=chosen,
            session=session_for,
            content=content,
        )

    async def interleave(
        self,
        scenario: str,
        arms: Sequence[Arm],
        *,
        rounds: int,
        warmup: int,
        content: str,
        stream: bool = False,
        per_round: int = 1,
        concurrency: int = 1,
        count_calls: bool = False,
        tools: list[dict[str, Any]] | None = None,
        time_limit: float = 300.0,
    ) -> dict[str, ArmRun]:
        """Run ``rounds`` rounds (after ``warmup`` unrecorded ones), arms in random order.

        In a round each arm sends ``per_round`` requests, ``concurrency`` at a time. Stops
        early, with the rounds done so far, past ``time_limit`` seconds.
        """
        runs = {arm.name: ArmRun() for arm in arms}
        pools = {arm.name: [Connection("127.0.0.1", arm.port) for _ in range(concurrency)] for arm in arms}
        deadline = time.monotonic() + time_limit
        try:
            for index in range(warmup + rounds):
                if time.monotonic() > deadline:
                    break
                order = list(arms)
                self.rng.shuffle(order)
                for arm in order:
                    run = runs[arm.name]
                    before = cpu_seconds(arm.pid)
                    counted = self.mock.counters() if count_calls else None
                    block: list[Sample] = []
                    for _ in range(0, per_round, concurrency):
                        block += await asyncio.gather(
                            *(
                                send(arm, conn, arm.content or content, stream=stream, tools=tools)
                                for conn in pools[arm.name]
                            )
                        )
                    if index < warmup:
                        continue
                    run.cpu += cpu_seconds(arm.pid) - before
                    if counted is not None:
                        after = self.mock.counters()
                        run.calls += after.calls - counted.calls
                        run.prompt_bytes += after.prompt_bytes - counted.prompt_bytes
                        run.connections += after.connections - counted.connections
                    run.rounds.append(block)
                    run.samples += block
                    for sample in block:
                        self.recorder.sample(scenario, index - warmup, sample)
        finally:
            for pool in pools.values():
                for conn in pool:
                    await conn.close()
        return runs


def keep_rounds(direct: ArmRun) -> list[int]:
    """Rounds to keep: those whose direct median is within 2x the direct floor (p5)."""
    medians = direct.round_medians(lambda s: s.latency)
    floor = stats.percentile(medians, 5)
    return [i for i, m in enumerate(medians) if m <= 2 * floor]


def differences(
    run: ArmRun, direct: ArmRun, keep: Sequence[int], metric: Callable[[Sample], float | None]
) -> list[float]:
    ours = run.round_medians(metric)
    theirs = direct.round_medians(metric)
    return [ours[i] - theirs[i] for i in keep if i < len(ours) and i < len(theirs)]


def expected_content(chunks: int) -> str:
    return reply_text(chunks)
