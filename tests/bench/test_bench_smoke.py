"""The benchmark harness keeps working: its smoke mode runs every scenario and writes its results.

Nothing here reads a timing: figures are for people (bench/README.md), not for CI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench.run import SCENARIOS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_the_smoke_run_prints_its_table_and_writes_raw_results(tmp_path: Path) -> None:
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    table = done.stdout
    assert "Pathweaver benchmarks, smoke plan" in table
    assert "scenario failed" not in table
    rows = json.loads((out / "rows.json").read_text())
    assert {row["id"] for row in rows} >= set(SCENARIOS)
    assert all(row["value"] for row in rows)
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    summaries = {r["scenario"] for r in records if r["type"] == "summary"}
    assert summaries >= {"run", "end", *SCENARIOS}
    samples = [r for r in records if r["type"] == "sample"]
    assert {"direct", "null relay", "pathweaver"} <= {s["arm"] for s in samples}
    assert (out / "table.txt").read_text().startswith("Pathweaver benchmarks")


def test_the_scale_smoke_run_covers_sqlite_and_postgresql(tmp_path: Path) -> None:
    out = tmp_path / "scale"
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert done.stdout.startswith("Scale-out: SQLite vs PostgreSQL")
    assert "SQLite, 1 worker" in done.stdout and "PostgreSQL, 1 worker" in done.stdout
    figures = {f["config"]: f for f in json.loads((out / "figures.json").read_text())}
    assert set(figures) >= {"sqlite-1", "postgres-1"}
    for found in figures.values():
        assert found["load_turns"] > 0 and found["turns_per_second"] > 0
        for contention in found["contention"].values():
            assert contention["stored_turns"] == contention["answered_turns"]
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {r["scenario"] for r in records if r["type"] == "summary"} >= {"run", "config", "end"}
    samples = [r for r in records if r["type"] == "sample"]
    phases = {
        "single",
        "load",
        "load-direct-before",
        "load-direct-after",
        "contention-polite",
        "contention-eager",
    }
    assert phases <= {s["phase"] for s in samples}
    assert {s["status"] for s in samples if s["phase"].startswith("contention")} <= {200, 409}
