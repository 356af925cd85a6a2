"""Scenarios under load (M5 to M7, M12): an open-loop rate sweep, concurrent streams, memory,
head-of-line blocking.

Latency under load is measured from the *intended* send time of an open-loop schedule, so
a server that falls behind is charged for the queue it builds (no coordinated omission).
Every level is bounded in requests and time; an arm stops at the first level it fails.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

from bench import stats
from bench.client import Connection
from bench.harness import Arm, Harness, Sample, send
from bench.mock_process import marker
from bench.plan import Plan
from bench.processes import checkpoint, cpu_seconds, open_fds, rss_bytes
from bench.report import Row, ms, quotient, times

#: A rate level fails when the added p99 passes this, or more than 0.1% of requests fail.
KNEE_P99 = 0.050


@dataclass
class Level:
    arm: str
    load: float
    samples: list[Sample]
    cpu: float
    seconds: float
    rss_delta: int = 0
    fds_delta: int = 0

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.error is None]

    @property
    def errors(self) -> int:
        return len(self.samples) - len(self.ok)

    @property
    def error_rate(self) -> float:
        return 1 - len(self.ok) / len(self.samples) if self.samples else 1.0

    def p99(self) -> float:
        return stats.percentile([s.latency for s in self.ok], 99)


async def _gather_bounded(tasks: list[asyncio.Task[Sample]], limit: float, arm: str) -> list[Sample]:
    done, pending = await asyncio.wait(tasks, timeout=limit) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    timed_out = [Sample(arm, 0, limit, error="no answer within the level's time limit") for _ in pending]
    return [t.result() for t in tasks if t in done] + timed_out


async def open_loop(arm: Arm, rate: float, seconds: float, content: str, *, limit: float = 30) -> Level:
    """``rate * seconds`` requests at evenly spaced intended times, on a growing connection pool."""
    idle: list[Connection] = []
    opened: list[Connection] = []

    async def one(intended: float) -> Sample:
        if idle:
            conn = idle.pop()
        else:
            conn = Connection("127.0.0.1", arm.port)
            opened.append(conn)
        sample = await send(arm, conn, content, sent=intended)
        idle.append(conn)
        return sample

    cpu = cpu_seconds(arm.pid)
    began = time.perf_counter() + 0.05
    tasks = []
    for i in range(int(rate * seconds)):
        delay = began + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(began + i / rate)))
    samples = await _gather_bounded(tasks, limit, arm.name)
    elapsed = time.perf_counter() - began
    for conn in opened:
        await conn.close()
    return Level(arm.name, rate, samples, cpu_seconds(arm.pid) - cpu, elapsed)


async def closed_loop(arms: list[Arm], seconds: float, content: str) -> Level:
    """One client per arm (each its own connection, and session chain), back to back, for ``seconds``."""
    stop = time.perf_counter() + seconds

    async def client(arm: Arm) -> list[Sample]:
        conn = Connection("127.0.0.1", arm.port)
        done: list[Sample] = []
        try:
            while time.perf_counter() < stop:
                done.append(await send(arm, conn, content))
        finally:
            await conn.close()
        return done

    cpu = cpu_seconds(arms[0].pid)
    began = time.perf_counter()
    results = await asyncio.gather(*(client(arm) for arm in arms))
    samples = [s for batch in results for s in batch]
    return Level(
        arms[0].name, len(arms), samples, cpu_seconds(arms[0].pid) - cpu, time.perf_counter() - began
    )


async def saturation(h: Harness, plan: Plan) -> list[Row]:
    """M5 (ceiling): turns/s with 16 clients back to back, and turns per CPU-second, per arm."""
    content = f"load {marker(8)}"
    makers = {
        "direct": h.direct,
        "null relay": h.null_relay,
        "pathweaver": lambda: h.pathweaver_arm("pathweaver", "one_node"),
    }
    names = list(makers)
    h.rng.shuffle(names)
    levels = {}
    for name in names:
        levels[name] = await closed_loop([makers[name]() for _ in range(16)], plan.rate_seconds, content)
        for sample in levels[name].samples:
            h.recorder.sample("M5-saturation", 0, sample)
        await asyncio.sleep(0.5)
    rows = []
    for name, level in levels.items():
        rate = len(level.ok) / level.seconds
        per_cpu = len(level.ok) / level.cpu if level.cpu else float("inf")
        h.recorder.summary(
            "M5-saturation",
            arm=name,
            turns_per_second=rate,
            turns_per_cpu_second=per_cpu,
            errors=level.error_rate,
            p50_ms=stats.median([s.latency for s in level.ok]) * 1000,
        )
        rows.append(
            Row(
                "M5",
                f"{name}: saturated, 16 clients back to back: turns/s, turns per CPU-second, p50",
                f"{rate:.0f}/s, {per_cpu:.0f}, {ms(stats.median([s.latency for s in level.ok]), 1)}"
                + (f", {level.error_rate:.1%} errors" if level.errors else ""),
            )
        )
    ours, relay = levels["pathweaver"], levels["null relay"]
    rows.append(
        Row(
            "M5",
            "saturated turns/s: Pathweaver / null relay",
            times(quotient(len(ours.ok) / ours.seconds, len(relay.ok) / relay.seconds)),
            ">= 200 turns/s/core",
        )
    )
    return rows


async def rate_sweep(h: Harness, plan: Plan) -> list[Row]:
    """M5: the highest open-loop rate each arm holds (added p99 <= 50 ms, errors <= 0.1%)."""
    content = f"load {marker(8)}"
    alive = {"direct": True, "null relay": True, "pathweaver": True}
    knee: dict[str, Level | None] = dict.fromkeys(alive)
    failed: dict[str, Level] = {}
    for rate in plan.rates:
        arms = [
            h.direct(),
            h.null_relay(),
            h.pathweaver_arm("pathweaver", "one_node", lanes=max(1, 2 * rate)),
        ]
        h.rng.shuffle(arms)
        levels: dict[str, Level] = {}
        for arm in arms:
            if alive[arm.name]:
                levels[arm.name] = await open_loop(arm, rate, plan.rate_seconds, content)
                for sample in levels[arm.name].samples:
                    h.recorder.sample(f"M5-{rate}", 0, sample)
                await asyncio.sleep(0.5)
        floor = levels["direct"].p99() if "direct" in levels else 0.0
        for name, level in levels.items():
            added = level.p99() - (floor if name != "direct" else 0.0)
            passed = level.error_rate <= 0.001 and added <= KNEE_P99
            h.recorder.summary(
                "M5",
                arm=name,
                rate=rate,
                p50_ms=stats.median([s.latency for s in level.ok]) * 1000,
                p99_ms=level.p99() * 1000,
                errors=level.error_rate,
                cpu_seconds=level.cpu,
                passed=passed,
            )
            if passed:
                knee[name] = level
            else:
                alive[name] = False
                failed[name] = level
        if not any(alive.values()):
            break
    rows = []
    for name, level in knee.items():
        if level is None:
            miss = failed[name]
            rows.append(
                Row(
                    "M5",
                    f"{name}: knee (open loop, p99 within 50 ms of direct's)",
                    f"below {plan.rates[0]}/s (there: p50 {ms(stats.median([s.latency for s in miss.ok]), 1)}, "
                    f"p99 {ms(miss.p99(), 1)}, {miss.error_rate:.1%} errors)",
                )
            )
            continue
        per_cpu = len(level.ok) / level.cpu if level.cpu else float("inf")
        beyond = " (the sweep's top rate)" if level.load == plan.rates[-1] else ""
        rows.append(
            Row(
                "M5",
                f"{name}: knee (open loop, 1 worker), p99 there, turns per CPU-second",
                f"{level.load:.0f}/s{beyond}, {ms(level.p99(), 1)}, {per_cpu:.0f}",
            )
        )
    ours, relay = knee["pathweaver"], knee["null relay"]
    if ours is not None and relay is not None:
        rows.append(
            Row(
                "M5",
                "Pathweaver knee / null relay knee",
                times(quotient(ours.load, relay.load)),
                ">= 200 turns/s/core",
            )
        )
    return rows + await saturation(h, plan)


async def _streams(arm: Arm, count: int, content: str, ramp: float, limit: float) -> Level:
    """``count`` streams opened over ``ramp`` seconds; RSS and FDs read once all are open."""
    rss, fds = rss_bytes(arm.pid), open_fds(arm.pid)
    cpu = cpu_seconds(arm.pid)
    began = time.perf_counter()

    async def one(delay: float) -> Sample:
        await asyncio.sleep(delay)
        conn = Connection("127.0.0.1", arm.port)
        try:
            return await send(arm, conn, content, stream=True)
        finally:
            await conn.close()

    tasks = [asyncio.create_task(one(ramp * i / count)) for i in range(count)]
    await asyncio.sleep(ramp + 0.5)
    rss_delta, fds_delta = rss_bytes(arm.pid) - rss, open_fds(arm.pid) - fds
    samples = await _gather_bounded(tasks, limit, arm.name)
    return Level(
        arm.name,
        count,
        samples,
        cpu_seconds(arm.pid) - cpu,
        time.perf_counter() - began,
        rss_delta,
        fds_delta,
    )


async def concurrent_streams(h: Harness, plan: Plan) -> list[Row]:
    """M6 and M7 (active): streams held at once against a slow mock; memory per active stream."""
    content = f"slow {marker(plan.slow_chunks, plan.slow_gap)}"
    length = plan.slow_chunks * plan.slow_gap
    alive = {"direct": True, "null relay": True, "pathweaver": True}
    best: dict[str, Level | None] = dict.fromkeys(alive)
    failed: dict[str, Level] = {}
    for count in plan.stream_levels:
        arms = [h.direct(), h.null_relay(), h.pathweaver_arm("pathweaver", "one_node", turns_per_session=1)]
        h.rng.shuffle(arms)
        levels: dict[str, Level] = {}
        for arm in arms:
            if not alive[arm.name]:
                continue
            ramp = count / plan.stream_open_rate
            levels[arm.name] = await _streams(arm, count, content, ramp, ramp + length + 30)
            for sample in levels[arm.name].samples:
                h.recorder.sample(f"M6-{count}", 0, sample)
            await asyncio.sleep(1.0)
        floor = (
            stats.percentile([g for s in levels["direct"].ok for g in s.gaps], 99)
            if "direct" in levels
            else 0
        )
        for name, level in levels.items():
            p99_gap = stats.percentile([g for s in level.ok for g in s.gaps], 99)
            added = p99_gap - (floor if name != "direct" else plan.slow_gap)
            passed = level.error_rate <= 0.01 and added <= KNEE_P99
            h.recorder.summary(
                "M6",
                arm=name,
                streams=count,
                errors=level.error_rate,
                p99_gap_ms=p99_gap * 1000,
                rss_delta=level.rss_delta,
                fds_delta=level.fds_delta,
                passed=passed,
            )
            if passed:
                best[name] = level
            else:
                alive[name] = False
                failed[name] = level
                first = next((s.error for s in level.samples if s.error), None)
                h.recorder.summary(
                    "M6", arm=name, streams=count, failed_because=first or f"p99 gap {p99_gap}"
                )
        if not any(alive.values()):
            break
    rows = []
    for name, level in best.items():
        if level is None:
            miss = failed[name]
            gap = stats.percentile([g for s in miss.ok for g in s.gaps], 99)
            rows.append(
                Row(
                    "M6",
                    f"{name}: streams held at once (p99 gap within 50 ms of direct's)",
                    f"below {plan.stream_levels[0]} (there: p99 gap {ms(gap, 1)}, {miss.error_rate:.1%} errors, "
                    f"RSS {miss.rss_delta / miss.load / 1000:.0f} KB per stream)",
                    ">= 1000; RSS <= 50 KB" if name == "pathweaver" else "",
                )
            )
            continue
        p99_gap = stats.percentile([g for s in level.ok for g in s.gaps], 99)
        top = " (the largest level tried)" if level.load == plan.stream_levels[-1] else ""
        rows.append(
            Row(
                "M6",
                f"{name}: streams held at once ({length:g} s streams), p99 gap, server RSS per stream",
                f"{level.load:.0f}{top}, {ms(p99_gap, 1)}, {level.rss_delta / level.load / 1000:.0f} KB",
                ">= 1000; RSS <= 50 KB" if name == "pathweaver" else "",
            )
        )
    return rows


async def idle_sessions(h: Harness, plan: Plan, db: Path) -> list[Row]:
    """M7 (idle): RSS and database bytes per session left idle after one turn."""
    content = f"hello {marker(8)}"

    async def make(count: int, tag: str) -> int:
        arm = h.pathweaver_arm(tag, "one_node", turns_per_session=1)
        conns = [Connection("127.0.0.1", h.pathweaver.port) for _ in range(8)]
        failed = 0
        try:
            for start in range(0, count, 8):
                batch = await asyncio.gather(*(send(arm, c, content) for c in conns[: min(8, count - start)]))
                failed += sum(1 for s in batch if s.error)
        finally:
            for conn in conns:
                await conn.close()
        return failed

    await make(max(8, plan.idle_sessions // 10), "idle-warm")
    await asyncio.sleep(0.5)
    rss, size = h.pathweaver.rss(), checkpoint(db)
    failed = await make(plan.idle_sessions, "idle")
    await asyncio.sleep(1.0)
    per_rss = (h.pathweaver.rss() - rss) / plan.idle_sessions
    per_db = (checkpoint(db) - size) / plan.idle_sessions
    h.recorder.summary(
        "M7", idle_sessions=plan.idle_sessions, rss_per_session=per_rss, db_per_session=per_db, failed=failed
    )
    return [
        Row(
            "M7",
            f"idle sessions ({plan.idle_sessions}, one turn each): RSS per session, DB bytes per session",
            f"{per_rss / 1000:.2f} KB, {per_db:.0f} B" + (f"; {failed} failed" if failed else ""),
            "RSS ~0 (state in the DB)",
        )
    ]


def _big_body(messages: int) -> dict[str, object]:
    """``messages`` user messages of about 1.9 KB each (500 of them: about 950 KB, just under
    the default 1 MB body cap) for a new session: all of them are new to it, so the turn
    validates, stores and windows all of them (a session accepts no assistant message it
    did not answer itself)."""
    filler = "lorem ipsum dolor sit amet " * 70
    turns = [{"role": "user", "content": f"{i} {filler}"} for i in range(messages - 1)]
    return {"messages": [*turns, {"role": "user", "content": f"and now? {marker(1)}"}]}


async def head_of_line(h: Harness, plan: Plan) -> list[Row]:
    """M12: do big requests stall everyone else's streams?

    Each round opens ``hol_streams`` Pathweaver streams at once (the mock's gap 20 ms), once
    alone and once while big requests (``hol_messages`` messages, close to the body cap, a
    new session each: parsed, validated, reconciled, sent to the model and stored) go to the
    same worker back to back, in a random order per round. The figure is the added p99 gap
    between chunks with the big requests beside the streams, against the same streams alone.
    """
    content = f"stream please {marker(plan.stream_chunks, plan.stream_gap)}"
    chosen = h.projects["one_node"]
    big = _big_body(plan.hol_messages)
    big_sizes: list[int] = []
    big_latencies: list[float] = []
    big_errors: list[str] = []
    gaps: dict[str, list[float]] = {"alone": [], "beside big requests": []}
    errors = dict.fromkeys(gaps, 0)
    cpu_before = cpu_seconds(h.pathweaver.pid)

    async def big_requests(stop: asyncio.Event) -> None:
        conn = Connection("127.0.0.1", h.pathweaver.port)
        try:
            while not stop.is_set():
                headers = {
                    "authorization": f"Bearer {chosen.key}",
                    "x-session-id": f"m12-{len(big_sizes)}-{time.time_ns()}",
                }
                began = time.perf_counter()
                reply = await conn.request("POST", f"/v1/projects/{chosen.id}/chat/completions", big, headers)
                big_latencies.append(time.perf_counter() - began)
                big_sizes.append(len(json.dumps(big)))
                if reply.status != 200:
                    big_errors.append(f"{reply.status}: {reply.body[:200]!r}")
        finally:
            await conn.close()

    async def streams(label: str) -> None:
        arm = h.pathweaver_arm(f"m12-{label}", "one_node", turns_per_session=1)

        async def one() -> Sample:
            conn = Connection("127.0.0.1", arm.port)
            try:
                return await send(arm, conn, content, stream=True)
            finally:
                await conn.close()

        samples = await _gather_bounded(
            [asyncio.create_task(one()) for _ in range(plan.hol_streams)], 60, arm.name
        )
        for sample in samples:
            h.recorder.sample("M12", 0, sample)
            if sample.error is None:
                gaps[label] += sample.gaps
            else:
                errors[label] += 1

    for _ in range(plan.hol_rounds):
        order = list(gaps)
        h.rng.shuffle(order)
        for label in order:
            if label == "alone":
                await streams(label)
                continue
            stop = asyncio.Event()
            background = asyncio.create_task(big_requests(stop))
            await asyncio.sleep(0.05)  # the first big request is in flight
            await streams(label)
            stop.set()
            await asyncio.wait_for(background, 60)
    p99 = {label: stats.percentile(values, 99) for label, values in gaps.items()}
    added = p99["beside big requests"] - p99["alone"]
    h.recorder.summary(
        "M12",
        p99_gap_ms={k: v * 1000 for k, v in p99.items()},
        big_requests=len(big_latencies),
        big_bytes=big_sizes[0] if big_sizes else 0,
        big_p50_ms=stats.median(big_latencies) * 1000 if big_latencies else None,
        errors=errors,
        big_errors=big_errors[:3],
        cpu_seconds=cpu_seconds(h.pathweaver.pid) - cpu_before,
    )
    size = f"{big_sizes[0] / 1e6:.2f} MB" if big_sizes else "?"
    return [
        Row(
            "M12",
            f"p99 gap of {plan.hol_streams} streams alone / beside big requests ({plan.hol_messages} "
            f"messages, {size} each)",
            f"{ms(p99['alone'])} / {ms(p99['beside big requests'])}",
        ),
        Row("M12", "added p99 gap, beside big requests - alone", ms(added), "<= 20 ms"),
        Row(
            "M12",
            "big requests answered during the streams, their p50; failed streams; failed big requests",
            f"{len(big_latencies)}, {ms(stats.median(big_latencies)) if big_latencies else '-'}; "
            f"{sum(errors.values())}; {len(big_errors)}",
            "0; 0",
        ),
    ]
