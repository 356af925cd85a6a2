"""Run the benchmarks: ``python -m bench.run`` (full, about 10 minutes) or ``--smoke`` (under a minute).

Starts the mock model (its own process), the null relay and ``pathweaver serve`` (pinned
to core 0 when the machine has two cores or more; the driver and the mock take core 1),
creates the projects with the ``pathweaver`` CLI, runs the scenarios, prints a table and
writes the raw results as JSON lines under ``bench/results/<time>/``. All traffic stays on
127.0.0.1; every loop is bounded in count and time. Exits non-zero when a scenario could
not run (never because of a figure: targets are read by people, not asserted).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import load, paired, pathways
from bench.harness import Harness, Project, Recorder
from bench.mock_process import MockProcess
from bench.plan import FULL, SMOKE, Plan
from bench.processes import create_project, pathweaver_env, start_pathweaver, start_relay
from bench.report import Row, markdown, table

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("M10", "M1", "M2", "M14", "M4", "M8", "M9", "M13", "M12", "M7", "M5", "M6")


def _agent_files(folder: Path, plan: Plan) -> dict[str, Path]:
    files = {
        "one_node": pathways.write(folder, "one_node", pathways.one_node()),
        "transition": pathways.write(folder, "transition", pathways.transition()),
        "extraction": pathways.write(folder, "extraction", pathways.extraction()),
        **{
            f"stays_{mode}": pathways.write(folder, f"stays_{mode}", pathways.stays(mode))
            for mode in pathways.MODES
        },
    }
    for size in plan.graph_sizes:
        files[f"graph{size}"] = pathways.write(folder, f"graph{size}", pathways.graph(size))
    return files


def _create_projects(
    files: dict[str, Path], env: dict[str, str]
) -> tuple[dict[str, Project], dict[str, float]]:
    # The main project as the README shows (create, then import), alone: the CLI migrates the
    # empty database on first use. The others in one call each, a few at a time.
    first = next(iter(files))
    made = {first: create_project(first, files[first], env, at_once=False)}
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            name: pool.submit(create_project, name, path, env, at_once=True)
            for name, path in files.items()
            if name != first
        }
        made.update({name: future.result() for name, future in futures.items()})
    projects = {name: Project(pid, key) for name, (pid, key, _) in made.items()}
    return projects, {name: seconds for name, (_, _, seconds) in made.items()}


def _machine() -> dict[str, object]:
    return {
        "date": datetime.date.today().isoformat(),
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
    }


async def _scenarios(
    h: Harness, plan: Plan, only: set[str], db: Path, imports: dict[int, float]
) -> tuple[list[Row], list[str]]:
    runs: dict[str, Callable[[], Awaitable[list[Row]]]] = {
        "M10": lambda: paired.calls_per_kind(h, plan),
        "M1": lambda: _first(paired.added_latency(h, plan)),
        "M2": lambda: paired.streaming(h, plan),
        "M14": lambda: paired.modes(h, plan),
        "M4": lambda: paired.chunk_cost(h, plan),
        "M8": lambda: paired.graph_size(h, plan, imports),
        "M9": lambda: paired.history_length(h, plan, db),
        "M13": lambda: paired.invalid_keys(h, plan, db),
        "M12": lambda: load.head_of_line(h, plan),
        "M7": lambda: load.idle_sessions(h, plan, db),
        "M5": lambda: load.rate_sweep(h, plan),
        "M6": lambda: load.concurrent_streams(h, plan),
    }
    rows: list[Row] = []
    failures: list[str] = []
    for name in SCENARIOS:
        if only and name not in only:
            continue
        began = time.monotonic()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            rows += await runs[name]()
        except Exception as error:
            failures.append(name)
            traceback.print_exc()
            rows.append(Row(name, "scenario failed", f"{type(error).__name__}: {error}"))
        print(f"[bench] {name} done in {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    return rows, failures


async def _first(pair: Awaitable[tuple[list[Row], dict[str, float]]]) -> list[Row]:
    rows, _ = await pair
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few rounds of every scenario (< 60 s)")
    parser.add_argument("--only", default="", help=f"comma-separated scenarios among {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server and the driver to cores")
    parser.add_argument(
        "--out", type=Path, default=None, help="results folder (default bench/results/<time>)"
    )
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    if pin:
        os.sched_setaffinity(0, {1})
    out = args.out or RESULTS / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    machine = _machine()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pathweaver-bench-") as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        mock = MockProcess().start()
        stack.callback(mock.stop)
        env = pathweaver_env(folder / "data", mock.base_url)
        projects, imports = _create_projects(_agent_files(folder, plan), env)
        server_cpus = {0} if pin else None
        relay = start_relay(mock.base_url, out / "null_relay.log", server_cpus)
        stack.callback(relay.stop)
        server = start_pathweaver(env, out / "pathweaver.log", server_cpus)
        stack.callback(server.stop)
        recorder = Recorder(out / "results.jsonl")
        stack.callback(recorder.close)
        recorder.summary("run", plan=plan.name, seed=args.seed, pinned=pin, **machine)
        harness = Harness(mock, relay, server, projects, recorder, random.Random(args.seed))
        graph_imports = {size: imports[f"graph{size}"] for size in plan.graph_sizes}
        rows, failures = asyncio.run(
            _scenarios(harness, plan, only, folder / "data" / "pathweaver.db", graph_imports)
        )
        load_end = os.getloadavg()
        recorder.summary("end", seconds=time.monotonic() - began, loadavg=load_end, failures=failures)
    cores = os.cpu_count() or 1
    loaded = max(machine["loadavg"][0], load_end[0]) > cores  # type: ignore[index]
    header = (
        f"Pathweaver benchmarks, {plan.name} plan, {machine['date']}, {cores} cores {machine['arch']}, "
        f"Python {machine['python']}, pinned={pin}, {time.monotonic() - began:.0f} s; "
        f"load average {machine['loadavg'][0]:.2f} -> {load_end[0]:.2f}"  # type: ignore[index]
        + (" (above the core count: a shared machine; read the ratios, not the absolutes)" if loaded else "")
    )
    text = header + "\n\n" + table(rows)
    print(text)
    (out / "table.txt").write_text(text + "\n", encoding="utf-8")
    (out / "table.md").write_text(header + "\n\n" + markdown(rows) + "\n", encoding="utf-8")
    (out / "rows.json").write_text(json.dumps([r.__dict__ for r in rows], indent=1), encoding="utf-8")
    print(f"\nraw results: {out / 'results.jsonl'}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
