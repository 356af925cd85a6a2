"""Scenarios measured as paired, interleaved rounds at low concurrency (M1-M4, M8-M10, M13).

Every figure is a difference against the ``direct`` arm in the same rounds, or a ratio to
the null relay measured in the same run; CPU comes from ``/proc`` of the serving process.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from pathlib import Path

from bench import pathways, stats
from bench.client import Connection
from bench.harness import Arm, ArmRun, Harness, Sample, differences, expected_content, keep_rounds, send
from bench.mock_process import marker
from bench.plan import Plan
from bench.processes import checkpoint
from bench.report import Row, ms, quotient, times, us

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
EXPECTED_ARGUMENTS = '{"city": "Paris", "unit": "celsius", "days": 3}'


def _latency(sample: Sample) -> float:
    return sample.latency


def _ttft(sample: Sample) -> float | None:
    return sample.ttft


def _cpu_per(run: ArmRun) -> float:
    return run.cpu / len(run.samples) if run.samples else float("nan")


def _ratio(a: float, b: float) -> float:
    """``a / b``; NaN when ``b`` is 0 (a smoke run's few turns can cost less than one tick
    of the kernel's 10 ms CPU clock)."""
    return a / b if b else float("nan")


def _per(count: int, turns: int) -> str:
    return f"{count / turns:.2f}" if turns else "n/a"


def _wrong_content(run: ArmRun, expected: str) -> int:
    return sum(1 for s in run.ok if s.content != expected)


def _errors_row(scenario: str, runs: dict[str, ArmRun]) -> list[Row]:
    failed = {name: run.errors for name, run in runs.items() if run.errors}
    if not failed:
        return []
    first = next(s.error for run in runs.values() for s in run.samples if s.error)
    return [Row(scenario, "requests that failed", f"{failed} (first: {first})", "0")]


async def added_latency(h: Harness, plan: Plan) -> tuple[list[Row], dict[str, float]]:
    """M1 (c=1 and c=8) and M4 (CPU per turn): non-streaming, zero-latency mock, one node."""
    chunks = 16
    content = f"hello {marker(chunks)}"
    arms = [h.direct(), h.null_relay(), h.pathweaver_arm("pathweaver", "one_node")]
    runs = await h.interleave(
        "M1",
        arms,
        rounds=plan.rounds,
        warmup=plan.warmup,
        content=content,
        per_round=plan.per_round,
        count_calls=True,
    )
    direct, relay, ours = runs["direct"], runs["null relay"], runs["pathweaver"]
    keep = keep_rounds(direct)
    relay_d = differences(relay, direct, keep, _latency)
    ours_d = differences(ours, direct, keep, _latency)
    relay_p, ours_p = stats.paired(relay_d), stats.paired(ours_d)
    ratio = quotient(ours_p.median, relay_p.median)
    turns = len(ours.samples)
    header = [s.overhead_ms for s in ours.ok if s.overhead_ms is not None]
    direct_medians = direct.round_medians(_latency)
    tenth = max(1, len(direct_medians) // 10)
    drift = stats.median(direct_medians[-tenth:]) / stats.median(direct_medians[:tenth])
    cpu = {"direct": _cpu_per(direct), "relay": _cpu_per(relay), "pathweaver": _cpu_per(ours)}
    expected = expected_content(chunks)
    rows = [
        Row("M1", "direct p50 (mock model alone), c=1", ms(stats.median([s.latency for s in direct.ok]))),
        Row(
            "M1",
            "added p50 per turn, null relay, c=1",
            f"{ms(relay_p.median)} (IQR {ms(relay_p.q1)}-{ms(relay_p.q3)})",
        ),
        Row(
            "M1",
            "added p50 per turn, Pathweaver 1 node, c=1",
            f"{ms(ours_p.median)} (IQR {ms(ours_p.q1)}-{ms(ours_p.q3)}, CI {ms(ours_p.ci[0])}-{ms(ours_p.ci[1])})",
            "p50 <= 5 ms",
        ),
        Row(
            "M1",
            "Pathweaver added p50 / null relay added p50",
            times(ratio, stats.ratio_ci(ours_d, relay_d)),
            "<= 2x",
        ),
        Row(
            "M1",
            "added p90 / p99 (unpaired, Pathweaver - direct)",
            f"{ms(_p(ours, 90) - _p(direct, 90))} / {ms(_p(ours, 99) - _p(direct, 99))}",
            "p99 <= 15 ms",
        ),
        Row(
            "M1",
            "X-Pathweaver-Overhead-Ms header, median",
            f"{stats.median(header):.2f} ms" if header else "n/a",
        ),
        Row("M1", "rounds kept / run (direct within 2x its floor)", f"{len(keep)} / {len(direct.rounds)}"),
        Row(
            "M1",
            "direct p50 drift, last tenth / first tenth of rounds",
            f"{drift:.2f}x" + ("" if 0.5 <= drift <= 2 else ": INVALID RUN, rerun"),
            "0.5x-2x (else the run is invalid)",
        ),
        Row(
            "M4",
            "server CPU per request: mock / null relay",
            f"{ms(cpu['direct'], 3)} / {ms(cpu['relay'], 3)}",
        ),
        Row("M4", "server CPU per turn, Pathweaver 1 node (SQLite)", ms(cpu["pathweaver"], 3), "<= 1 ms"),
        Row(
            "M4",
            "CPU per turn / null relay CPU per request",
            times(quotient(cpu["pathweaver"], cpu["relay"])),
            "<= 2x",
        ),
        Row(
            "M10",
            "model calls per turn (1 node, no transition)",
            f"{ours.calls / turns:.2f}" if turns else "n/a",
            "1",
        ),
        Row(
            "M1",
            "connections opened to the model per turn: null relay / Pathweaver",
            f"{_per(relay.connections, len(relay.samples))} / {_per(ours.connections, turns)}",
            "0 (kept alive)",
        ),
        Row(
            "M3",
            "replies different from the mock's (non-streaming)",
            str(sum(_wrong_content(r, expected) for r in runs.values())),
            "0",
        ),
        *_errors_row("M1", runs),
    ]
    h.recorder.summary(
        "M1",
        added_p50_ms={"null relay": relay_p.median * 1000, "pathweaver": ours_p.median * 1000},
        ratio=ratio,
        cpu_ms={k: v * 1000 for k, v in cpu.items()},
        overhead_header_ms=stats.median(header) if header else None,
        rounds_kept=len(keep),
        drift=drift,
        calls_per_turn=ours.calls / turns if turns else None,
        connections_per_turn={
            "null relay": relay.connections,
            "pathweaver": ours.connections,
            "turns": turns,
        },
    )
    rows += await _concurrent(h, plan, content)
    return rows, {"drift": drift}


def _p(run: ArmRun, q: float) -> float:
    return stats.percentile([s.latency for s in run.ok], q)


async def _concurrent(h: Harness, plan: Plan, content: str) -> list[Row]:
    arms = [h.direct(), h.null_relay(), h.pathweaver_arm("pathweaver", "one_node", lanes=8)]
    runs = await h.interleave(
        "M1-c8", arms, rounds=plan.concurrent_rounds, warmup=2, content=content, per_round=8, concurrency=8
    )
    direct = runs["direct"]
    keep = list(range(len(direct.rounds)))
    relay_d = differences(runs["null relay"], direct, keep, _latency)
    ours_d = differences(runs["pathweaver"], direct, keep, _latency)
    ratio = quotient(stats.median(ours_d), stats.median(relay_d))
    h.recorder.summary(
        "M1-c8",
        added_p50_ms={"null relay": stats.median(relay_d) * 1000, "pathweaver": stats.median(ours_d) * 1000},
        ratio=ratio,
    )
    return [
        Row(
            "M1",
            "added p50 per turn at c=8: null relay / Pathweaver",
            f"{ms(stats.median(relay_d))} / {ms(stats.median(ours_d))}",
        ),
        Row("M1", "c=8: Pathweaver added p50 / null relay added p50", times(ratio), "<= 2x"),
        *_errors_row("M1-c8", runs),
    ]


async def streaming(h: Harness, plan: Plan) -> list[Row]:
    """M2 (added TTFT) and M3 (fidelity and inter-chunk gaps), mock gap ``plan.stream_gap``."""
    content = f"stream please {marker(plan.stream_chunks, plan.stream_gap)}"
    arms = [h.direct(), h.null_relay(), h.pathweaver_arm("pathweaver", "one_node")]
    runs = await h.interleave(
        "M2", arms, rounds=plan.stream_rounds, warmup=min(3, plan.warmup), content=content, stream=True
    )
    direct, relay, ours = runs["direct"], runs["null relay"], runs["pathweaver"]
    keep = list(range(len(direct.rounds)))
    relay_t = stats.paired(differences(relay, direct, keep, _ttft))
    ours_t = stats.paired(differences(ours, direct, keep, _ttft))
    gaps = {name: [g for s in run.ok for g in s.gaps] for name, run in runs.items()}
    expected = expected_content(plan.stream_chunks)
    chunk_counts = {name: sorted({s.chunks for s in run.ok}) for name, run in runs.items()}
    added_gap = stats.percentile(gaps["pathweaver"], 99) - stats.percentile(gaps["direct"], 99)
    h.recorder.summary(
        "M2",
        added_ttft_p50_ms={"null relay": relay_t.median * 1000, "pathweaver": ours_t.median * 1000},
        gap_p50_ms={k: stats.median(v) * 1000 for k, v in gaps.items()},
        gap_p99_ms={k: stats.percentile(v, 99) * 1000 for k, v in gaps.items()},
        chunk_counts=chunk_counts,
    )
    rows = [
        Row(
            "M2",
            "direct TTFT p50 (first content delta)",
            ms(stats.median([s.ttft for s in direct.ok if s.ttft])),
        ),
        Row(
            "M2",
            "added TTFT p50: null relay",
            f"{ms(relay_t.median)} (IQR {ms(relay_t.q1)}-{ms(relay_t.q3)})",
        ),
        Row(
            "M2",
            "added TTFT p50: Pathweaver 1 node",
            f"{ms(ours_t.median)} (IQR {ms(ours_t.q1)}-{ms(ours_t.q3)})",
            "<= 5 ms",
        ),
        Row(
            "M3",
            "content differing from the mock's, streamed (all arms)",
            str(sum(_wrong_content(r, expected) for r in runs.values())),
            "0",
        ),
        Row(
            "M3",
            "content chunks per stream: direct / relay / Pathweaver",
            " / ".join(str(chunk_counts[k]) for k in ("direct", "null relay", "pathweaver")),
            "equal",
        ),
        Row(
            "M3",
            f"inter-chunk gap p50 (mock gap {plan.stream_gap * 1000:.0f} ms): direct / Pathweaver",
            f"{ms(stats.median(gaps['direct']))} / {ms(stats.median(gaps['pathweaver']))}",
        ),
        Row("M3", "added p99 inter-chunk gap, Pathweaver - direct", ms(added_gap), "<= 5 ms"),
        *_errors_row("M2", runs),
    ]
    rows += await _tool_fidelity(h, plan)
    return rows


async def modes(h: Harness, plan: Plan) -> list[Row]:
    """M14: a streamed turn that stays, in each execution mode: added TTFT and model calls.

    ``turbo`` replies with the transition tool offered (one call); ``smart`` asks the
    decision, then replies (two calls, one after the other); ``balance`` starts both at
    once and streams the reply as soon as the decision says stay, so on a fast decision it
    should add nothing to the time to first token (issue 19).
    """
    content = f"tell me more {marker(plan.stream_chunks, plan.stream_gap)}"
    arms = [h.direct(), *(h.pathweaver_arm(mode, f"stays_{mode}") for mode in pathways.MODES)]
    runs = await h.interleave(
        "M14",
        arms,
        rounds=plan.stream_rounds,
        warmup=min(3, plan.warmup),
        content=content,
        stream=True,
        count_calls=True,
    )
    direct = runs["direct"]
    keep = list(range(len(direct.rounds)))
    added = {mode: stats.paired(differences(runs[mode], direct, keep, _ttft)) for mode in pathways.MODES}
    balance_over_turbo = stats.paired(
        [
            b - t
            for b, t in zip(
                runs["balance"].round_medians(_ttft), runs["turbo"].round_medians(_ttft), strict=True
            )
        ]
    )
    calls = {mode: runs[mode].calls / max(len(runs[mode].samples), 1) for mode in pathways.MODES}
    h.recorder.summary(
        "M14",
        added_ttft_p50_ms={mode: paired_result.median * 1000 for mode, paired_result in added.items()},
        balance_minus_turbo_ttft_p50_ms=balance_over_turbo.median * 1000,
        calls_per_turn=calls,
    )
    rows = [
        Row(
            "M14",
            f"added TTFT p50 on a turn that stays: {mode} ({calls[mode]:.2f} model calls per turn)",
            f"{ms(added[mode].median)} (IQR {ms(added[mode].q1)}-{ms(added[mode].q3)})",
        )
        for mode in pathways.MODES
    ]
    rows.append(
        Row(
            "M14",
            "TTFT p50 of balance minus turbo, per round, on a turn that stays",
            f"{ms(balance_over_turbo.median)} (IQR {ms(balance_over_turbo.q1)}-{ms(balance_over_turbo.q3)})",
            "about 0 (balance adds no time on a stay)",
        )
    )
    return rows + _errors_row("M14", runs)


async def _tool_fidelity(h: Harness, plan: Plan) -> list[Row]:
    content = f"weather? {marker(gap=0.0, tool=True)}"
    arms = [h.direct(), h.null_relay(), h.pathweaver_arm("pathweaver", "one_node", turns_per_session=1)]
    runs = await h.interleave(
        "M3-tools", arms, rounds=plan.tool_rounds, warmup=0, content=content, stream=True, tools=[WEATHER]
    )
    wrong = sum(1 for run in runs.values() for s in run.ok if s.tool_arguments != {0: EXPECTED_ARGUMENTS})
    h.recorder.summary("M3-tools", wrong=wrong)
    return [
        Row(
            "M3",
            "streamed tool-call arguments differing from the mock's",
            f"{wrong} of {sum(len(r.ok) for r in runs.values())}",
            "0",
        ),
        *_errors_row("M3-tools", runs),
    ]


async def chunk_cost(h: Harness, plan: Plan) -> list[Row]:
    """M4: CPU per relayed chunk, from short and long zero-gap streams in the same rounds."""
    short, long = 8, plan.long_stream_chunks
    relay_short, relay_long = h.null_relay(), h.null_relay()
    relay_short.name, relay_long.name = f"null relay {short}", f"null relay {long}"
    relay_short.content, relay_long.content = f"s {marker(short)}", f"l {marker(long)}"
    arms = [
        relay_short,
        relay_long,
        h.pathweaver_arm(f"pathweaver {short}", "one_node", content=f"s {marker(short)}"),
        h.pathweaver_arm(f"pathweaver {long}", "one_node", content=f"l {marker(long)}"),
    ]
    runs = await h.interleave(
        "M4-chunks", arms, rounds=plan.chunk_rounds, warmup=2, content="", stream=True, per_round=2
    )
    per_chunk = {
        who: (_cpu_per(runs[f"{who} {long}"]) - _cpu_per(runs[f"{who} {short}"])) / (long - short)
        for who in ("null relay", "pathweaver")
    }
    h.recorder.summary("M4", cpu_per_chunk_us={k: v * 1e6 for k, v in per_chunk.items()})
    return [
        Row(
            "M4",
            "CPU per relayed chunk: null relay / Pathweaver",
            f"{us(per_chunk['null relay'])} / {us(per_chunk['pathweaver'])}",
            "<= 50 µs",
        ),
        *_errors_row("M4-chunks", runs),
    ]


async def _first_turns(h: Harness, projects: list[str]) -> dict[str, tuple[float, int]]:
    """The first turn on each project after start-up (pathway parsed and cached): latency, RSS growth."""
    found = {}
    conn = Connection("127.0.0.1", h.pathweaver.port)
    try:
        for name in projects:
            arm = h.pathweaver_arm(f"first {name}", name)
            before = h.pathweaver.rss()
            sample = await send(arm, conn, f"first {marker()}")
            found[name] = (sample.latency, h.pathweaver.rss() - before)
    finally:
        await conn.close()
    return found


async def graph_size(h: Harness, plan: Plan, import_seconds: dict[int, float]) -> list[Row]:
    """M8: CPU per turn at each pathway size, same out-degree at the current node."""
    names = [f"graph{n}" for n in plan.graph_sizes]
    first = await _first_turns(h, names)
    arms = [h.direct()] + [h.pathweaver_arm(f"{n} nodes", f"graph{n}") for n in plan.graph_sizes]
    runs = await h.interleave(
        "M8", arms, rounds=plan.graph_rounds, warmup=2, content=f"hi {marker()}", per_round=2
    )
    keep = list(range(len(runs["direct"].rounds)))
    cpu = {n: _cpu_per(runs[f"{n} nodes"]) for n in plan.graph_sizes}
    spread = _ratio(max(cpu.values()), min(cpu.values())) - 1
    rows = [
        Row(
            "M8",
            f"{n} nodes: CPU per turn, added p50, first turn, RSS of the cached pathway, CLI create with it",
            f"{ms(cpu[n], 3)}, {ms(stats.median(differences(runs[f'{n} nodes'], runs['direct'], keep, _latency)))}"
            f", {ms(first[f'graph{n}'][0], 1)}, {first[f'graph{n}'][1] / 1e6:.1f} MB, {import_seconds[n]:.1f} s",
        )
        for n in plan.graph_sizes
    ]
    rows.append(
        Row(
            "M8",
            f"CPU per turn, largest / smallest - 1 ({plan.graph_sizes[0]} to {plan.graph_sizes[-1]} nodes)",
            f"{spread * 100:+.0f}%" if spread == spread else "n/a (under one tick of the CPU clock)",
            "within 10%",
        )
    )
    h.recorder.summary(
        "M8",
        cpu_per_turn_ms={n: c * 1000 for n, c in cpu.items()},
        first_turn_ms={n: first[f"graph{n}"][0] * 1000 for n in plan.graph_sizes},
        rss_growth_bytes={n: first[f"graph{n}"][1] for n in plan.graph_sizes},
        import_seconds=import_seconds,
    )
    return rows + _errors_row("M8", runs)


async def history_length(h: Harness, plan: Plan, db: Path) -> list[Row]:
    """M9: CPU per turn, prompt bytes and database bytes per turn as a conversation grows."""
    conn = Connection("127.0.0.1", h.pathweaver.port)
    sessions = {n: f"history-{n}-{secrets.token_hex(4)}" for n in plan.history_lengths}
    began = time.monotonic()
    try:
        for n, session in sessions.items():
            grower = h.pathweaver_arm("grow", "one_node", session=session)
            for i in range(n):
                await send(grower, conn, f"turn {i} {marker(8)}")
        grown = time.monotonic() - began
        written = {}
        for n, session in sessions.items():
            arm = h.pathweaver_arm("grow", "one_node", session=session)
            size = checkpoint(db)
            turns = 10
            for i in range(turns):
                await send(arm, conn, f"more {i} {marker(8)}")
            written[n] = (checkpoint(db) - size) / turns
    finally:
        await conn.close()
    arms = [h.direct()] + [
        h.pathweaver_arm(f"{n} turns", "one_node", session=session) for n, session in sessions.items()
    ]
    runs = await h.interleave(
        "M9", arms, rounds=plan.history_rounds, warmup=1, content=f"again {marker(8)}", count_calls=True
    )
    keep = list(range(len(runs["direct"].rounds)))
    rows = []
    summary = {}
    for n in plan.history_lengths:
        run = runs[f"{n} turns"]
        added = stats.median(differences(run, runs["direct"], keep, _latency))
        prompt = run.prompt_bytes / run.calls if run.calls else float("nan")
        rows.append(
            Row(
                "M9",
                f"history of {n} turns: CPU per turn, added p50, prompt bytes per call, DB bytes per turn",
                f"{ms(_cpu_per(run), 3)}, {ms(added)}, {prompt:.0f} B, {written[n]:.0f} B",
            )
        )
        summary[n] = {
            "cpu_ms": _cpu_per(run) * 1000,
            "added_ms": added * 1000,
            "prompt_bytes": prompt,
            "db_bytes_per_turn": written[n],
        }
    first, last = plan.history_lengths[0], plan.history_lengths[-1]
    growth = _ratio(_cpu_per(runs[f"{last} turns"]), _cpu_per(runs[f"{first} turns"]))
    rows.append(
        Row(
            "M9",
            f"CPU per turn at {last} turns / at {first} turn(s)",
            times(growth),
            "growth only from the prompt window",
        )
    )
    h.recorder.summary("M9", per_length=summary, seconds_to_grow=grown)
    return rows + _errors_row("M9", runs)


async def calls_per_kind(h: Harness, plan: Plan) -> list[Row]:
    """M10: model calls and prompt bytes per kind of turn, counted at the mock."""
    kinds = {
        "no transition": ("one_node", 10, 1),
        "transition": ("transition", 1, 2),
        "extraction": ("extraction", 10, 2),
    }
    rows = []
    conn = Connection("127.0.0.1", h.pathweaver.port)
    try:
        for kind, (project, per_session, designed) in kinds.items():
            arm = h.pathweaver_arm(kind, project, turns_per_session=per_session)
            h.mock.drain()
            failed = 0
            for i in range(plan.kind_turns):
                failed += (await send(arm, conn, f"My name is Ada, turn {i} {marker(8)}")).error is not None
            seen = h.mock.drain()
            by_call: dict[str, list[int]] = {}
            for call_kind, size in seen:
                by_call.setdefault(call_kind, []).append(size)
            calls = len(seen) / plan.kind_turns
            breakdown = ", ".join(
                f"{name} {len(sizes) / plan.kind_turns:.1f} x {stats.median(sizes):.0f} B"
                for name, sizes in sorted(by_call.items())
            )
            total = sum(size for _, size in seen) / plan.kind_turns
            rows.append(
                Row(
                    "M10",
                    f"{kind}: model calls per turn; prompt bytes per turn (per call kind)",
                    f"{calls:.2f}; {total:.0f} B ({breakdown})" + (f"; {failed} failed" if failed else ""),
                    f"{designed} call(s)",
                )
            )
            h.recorder.summary(
                "M10",
                kind=kind,
                calls_per_turn=calls,
                prompt_bytes_per_turn=total,
                by_call={k: [len(v), stats.median(v)] for k, v in by_call.items()},
                failed=failed,
            )
    finally:
        await conn.close()
    return rows


async def _health_cpu(h: Harness, requests: int) -> float:
    """Server CPU per ``GET /healthz``: what any answer costs this server (HTTP, middleware,
    routing), with no key lookup and no database; the floor the refusal is read against."""
    conn = Connection("127.0.0.1", h.pathweaver.port)
    before = h.pathweaver.cpu()
    try:
        for _ in range(requests):
            await conn.request("GET", "/healthz")
    finally:
        await conn.close()
    return (h.pathweaver.cpu() - before) / requests


async def invalid_keys(h: Harness, plan: Plan, db: Path) -> list[Row]:
    """M13: CPU per request refused for its key; no database write and no model call."""
    project = h.projects["one_node"]
    arm = Arm(
        "invalid key", h.pathweaver.port, f"/v1/projects/{project.id}/chat/completions", h.pathweaver.pid
    )
    conn = Connection("127.0.0.1", h.pathweaver.port)
    with sqlite3.connect(db) as probe:
        version = probe.execute("PRAGMA data_version").fetchone()[0]
        calls = h.mock.counters().calls
        before = h.pathweaver.cpu()
        statuses: dict[int, int] = {}
        try:
            for i in range(plan.flood):
                key = f"sk_{secrets.token_urlsafe(32)}" if i % 2 else f"garbage-{i}"
                arm.headers = {"authorization": f"Bearer {key}"}
                sample = await send(arm, conn, "hello")
                statuses[sample.status] = statuses.get(sample.status, 0) + 1
        finally:
            await conn.close()
        cpu = (h.pathweaver.cpu() - before) / plan.flood
        changed = probe.execute("PRAGMA data_version").fetchone()[0] != version
    upstream = h.mock.counters().calls - calls
    floor = await _health_cpu(h, plan.flood)
    h.recorder.summary(
        "M13",
        cpu_per_request_us=cpu * 1e6,
        health_cpu_per_request_us=floor * 1e6,
        statuses=statuses,
        db_changed=changed,
        calls=upstream,
    )
    return [
        Row(
            "M13", "CPU per request refused for its key (half malformed, half unknown)", us(cpu), "<= 100 µs"
        ),
        Row(
            "M13",
            "floor: CPU per GET /healthz on the same server (no key, no database); refusal / floor",
            f"{us(floor)}; {times(quotient(cpu, floor))}",
        ),
        Row(
            "M13",
            "statuses; database changed; model calls",
            f"{statuses}; {changed}; {upstream}",
            "all 401; False; 0",
        ),
    ]
