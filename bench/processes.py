"""The server processes under test, and what ``/proc`` says about them.

Pathweaver runs as a user would run it: ``pathweaver project create NAME --json``,
``pathweaver pathway import FILE --project ID``, then ``pathweaver serve``, with
``PATHWEAVER_LLM_BASE_URL`` pointing at the mock. The null relay runs under the same
uvicorn defaults. Both may be pinned to a set of cores (``taskset``), apart from the
driver and the mock.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

BIN = Path(sys.executable).parent / "pathweaver"
ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, in nanoseconds: the sum over its threads of the time the
    scheduler ran them (``/proc/<pid>/task/*/schedstat``). ``/proc/<pid>/stat`` counts in
    10 ms ticks, too coarse for blocks of turns of 1 to 2 ms (M8 and M9 read it per block).
    A thread that ends between two readings takes its time with it: the servers measured
    keep their threads (pools) for their life. Ticks where the kernel has no schedstat."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return _tick_seconds(pid)
    total = 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as stat:
                total += int(stat.read().split()[0])
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{tid}/stat"):
                continue  # the thread ended meanwhile
            return _tick_seconds(pid)
    return total / 1e9


def _tick_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads included (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[21]) * PAGE_SIZE


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def checkpoint(db: Path) -> int:
    """Fold a SQLite database's WAL into its file; return the file's size in bytes."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db.stat().st_size


def _pinned(args: Sequence[str], cpus: set[int] | None) -> list[str]:
    if cpus and shutil.which("taskset"):
        return ["taskset", "-c", ",".join(map(str, sorted(cpus))), *args]
    return list(args)


class Server:
    """A server process listening on 127.0.0.1:``port``; ``pid`` is the process serving."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], port: int, log: Path):
        self.name, self.port, self.log = name, port, log
        self._out = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            list(args), env={**os.environ, **env}, stdout=self._out, stderr=subprocess.STDOUT, cwd=ROOT
        )
        self._wait_listening()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _wait_listening(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(
            f"{self.name} did not listen on port {self.port} within {timeout} s; see {self.log}"
        )

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def fds(self) -> int:
        return open_fds(self.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._out.close()


def pathweaver_env(data_dir: Path, upstream: str) -> dict[str, str]:
    return {
        "PATHWEAVER_DATA_DIR": str(data_dir),
        "PATHWEAVER_LLM_BASE_URL": upstream,
        "PATHWEAVER_LLM_MODEL": "mock",
        "PATHWEAVER_LLM_API_KEY": "x",
        # The benchmarks measure the turn, not the guards: lift request-rate limits and
        # the per-session turn cap (ignored by versions that do not have them).
        "PATHWEAVER_RATE_LIMIT_KEY_PER_MINUTE": "0",
        "PATHWEAVER_RATE_LIMIT_PROJECT_PER_MINUTE": "0",
        "PATHWEAVER_RATE_LIMIT_SESSION_PER_MINUTE": "0",
        "PATHWEAVER_MAX_TURNS_PER_SESSION": "0",
        # M8 goes to 10,000 nodes (the spec's size), past the default limits of a save.
        "PATHWEAVER_MAX_PATHWAY_NODES": "20000",
        "PATHWEAVER_MAX_PATHWAY_EDGES": "60000",
        "PATHWEAVER_MAX_PATHWAY_BYTES": "20000000",
        "PATHWEAVER_MAX_BODY_BYTES": "20000000",
    }


def cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(BIN), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"pathweaver {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def create_project(
    name: str, agent_file: Path, env: dict[str, str], *, at_once: bool
) -> tuple[str, str, float]:
    """Create a project with an agent file: (project id, key, seconds of the CLI call that read the file).

    ``at_once``: ``pathweaver project create NAME --from FILE --json``, one call; otherwise
    ``project create NAME --json`` then ``pathway import FILE --project ID``.
    """
    began = time.perf_counter()
    if at_once:
        created = json.loads(cli("project", "create", name, "--from", str(agent_file), "--json", env=env))
        return created["projectId"], created["apiKey"], time.perf_counter() - began
    created = json.loads(cli("project", "create", name, "--json", env=env))
    began = time.perf_counter()
    cli("pathway", "import", str(agent_file), "--project", created["projectId"], env=env)
    return created["projectId"], created["apiKey"], time.perf_counter() - began


def start_pathweaver(env: dict[str, str], log: Path, cpus: set[int] | None) -> Server:
    port = free_port()
    args = [str(BIN), "serve", "--port", str(port), "--log-level", "warning"]
    return Server("pathweaver", _pinned(args, cpus), env, port, log)


def start_relay(upstream: str, log: Path, cpus: set[int] | None) -> Server:
    port = free_port()
    args = [sys.executable, "-m", "bench.null_relay", "--upstream", upstream, "--port", str(port)]
    return Server("null relay", _pinned(args, cpus), {}, port, log)
