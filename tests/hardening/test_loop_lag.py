"""The loop-lag monitor (issue 20, deliverable 3): a step that holds the event loop is
measured, served by ``/healthz`` and logged with where it was."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from pathweaver.api.app import create_app
from pathweaver.api.looplag import LoopLag
from pathweaver.config import Settings
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store
from tests.conftest import served


def hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # what a blocking step does to every other request of the worker


async def test_a_blocking_step_is_measured_served_and_logged(
    settings: Settings, store: Store, model: ScriptedModel, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, store=store, model=model)

    @app.get("/blocking")
    async def blocking() -> dict[str, bool]:
        hold_the_loop(0.3)
        return {"held": True}

    app.router.routes.insert(0, app.router.routes.pop())  # before the studio's catch-all

    async with served(app) as http:
        # In-process requests need not suspend the test's task: let the monitor start.
        await asyncio.sleep(0.1)
        calm = (await http.get("/healthz")).json()
        assert calm["status"] == "ok"
        assert calm["loopLag"]["thresholdMs"] == 100.0
        with caplog.at_level(logging.WARNING, logger="pathweaver.looplag"):
            assert (await http.get("/blocking")).json() == {"held": True}
            for _ in range(50):  # the monitor's next wake-up records it
                figures = (await http.get("/healthz")).json()["loopLag"]
                if figures["stalls"]:
                    break
                await _pause()
        assert figures["stalls"] >= 1
        assert 250 <= figures["maxMs"] < 2000
        warnings = [r for r in caplog.records if r.name == "pathweaver.looplag"]
        assert warnings and all(w.levelno == logging.WARNING for w in warnings)
        assert all("event loop held for" in w.getMessage() for w in warnings)
        # The watchdog thread caught the loop in the blocking function. (In-process, the
        # test's own requests need not suspend either, so other stalls may be logged too.)
        assert any("in hold_the_loop" in w.getMessage() for w in warnings)


async def _pause() -> None:
    await asyncio.sleep(0.02)


async def test_the_monitor_can_be_turned_off(settings: Settings, store: Store, model: ScriptedModel) -> None:
    off = settings.model_copy(update={"loop_lag_warn_ms": 0})
    async with served(create_app(off, store=store, model=model)) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}


def test_lags_under_the_threshold_are_counted_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    lag = LoopLag(0.1)
    with caplog.at_level(logging.WARNING, logger="pathweaver.looplag"):
        for seconds in (0.001, 0.002, 0.09, -0.001):
            lag.record(seconds)
        assert not caplog.records
        lag.record(0.25)
    figures = lag.snapshot()
    assert figures["samples"] == 5 and figures["stalls"] == 1
    assert figures["maxMs"] == 250.0 and figures["lastMs"] == 250.0
    assert "250 ms" in caplog.records[0].getMessage()


def test_a_stall_during_a_long_garbage_collection_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """A full collection stops every thread and has no frame of ours to name: the warning
    names the collection, so an operator knows what to tune."""
    lag = LoopLag(0.1)
    lag.collected(2, 0.128, 35)
    with caplog.at_level(logging.WARNING, logger="pathweaver.looplag"):
        lag.record(0.15)
    message = caplog.records[0].getMessage()
    assert "garbage collection took 128 ms" in message and "generation 2" in message
    assert lag.snapshot()["gcWorstMs"] == 128.0
