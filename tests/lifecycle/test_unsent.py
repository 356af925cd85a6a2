"""A delivery that never left (the name did not resolve, no connection) is retried, even an
at-most-once one: only an attempt that may have reached the receiver is never repeated."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from pathweaver.lifecycle.delivery import OutboundPoster, judge
from pathweaver.store.lifecycle import Delivery
from pathweaver.tools.outbound import OutboundClient, OutboundPolicy


def finalized(attempts: int = 1) -> Delivery:
    now = datetime.now(UTC)
    return Delivery(
        id=1,
        project_id="p",
        session_id=None,
        event="session.finalized",
        url="https://hooks.example.com/h",
        headers={},
        payload={"event": "session.finalized"},
        status="sending",
        at_most_once=True,
        attempts=attempts,
        next_attempt_at=now,
        last_error=None,
        created_at=now,
        delivered_at=None,
    )


async def no_such_host(host: str, port: int) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


async def too_slow(host: str, port: int) -> list[str]:
    import asyncio

    await asyncio.sleep(10)
    return []


@pytest.mark.parametrize(
    ("resolver", "expected"),
    [(no_such_host, "cannot resolve 'hooks.example.com'"), (too_slow, "took longer than 0.2s")],
)
async def test_a_name_that_does_not_resolve_is_retried_not_marked_unknown(resolver, expected: str) -> None:
    client = OutboundClient(OutboundPolicy(connect_timeout=0.2), resolver=resolver)
    try:
        result = await OutboundPoster(client).post("https://hooks.example.com/h", {}, b"{}")
    finally:
        await client.aclose()
    assert (
        result.error is not None and result.error.startswith("could not connect") and expected in result.error
    )
    assert result.ambiguous is False
    verdict = judge(finalized(), result, max_attempts=6, base_delay=1.0)
    assert verdict.status == "pending" and verdict.retry_at is not None
    assert judge(finalized(attempts=6), result, max_attempts=6, base_delay=1.0).status == "failed"
