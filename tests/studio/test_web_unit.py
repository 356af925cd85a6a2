"""The studio's unit tests (Vitest, in web/): graph <-> API conversion, issue placement,
traces and transcripts, SSE parsing, routes and the agent form. Run here so one pytest
command runs everything."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.studio]

WEB = Path(__file__).resolve().parents[2] / "web"


def test_web_unit_tests_pass() -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed (the studio's unit tests need Node.js 20.19+ and npm)")
    if not (WEB / "node_modules" / ".package-lock.json").is_file():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, check=True, timeout=600
        )
    done = subprocess.run(
        [npm, "test", "--silent", "--", "--reporter=dot", "--color=false"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"npm test failed:\n{done.stdout}\n{done.stderr}"
