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
