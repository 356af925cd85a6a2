"""Sending one webhook delivery: the signature, the request, the retry policy.

Every request carries ``X-Pathweaver-Event``, ``X-Pathweaver-Delivery`` (the delivery id,
stable across retries: receivers dedupe on it or on (sessionId, event)) and
``X-Pathweaver-Signature: t=<unix seconds>,v1=<hex>``, where ``v1`` is the HMAC-SHA256 of
``"<t>.<raw body>"`` with the project's webhook secret. Receivers verify it with
:func:`verify` (or the same three lines in their language) and refuse old timestamps.

Retries: a failed attempt (no connection, or a non-2xx answer) is retried with exponential
backoff and jitter, up to ``max_attempts``. ``session.finalized`` is delivered at most
once: an attempt whose outcome is unknown (a timeout after the request was sent, or a
worker that died mid-send) is never repeated for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pathweaver import headers as http_headers
from pathweaver.errors import OutboundError, OutboundNotSent, OutboundRefused, OutboundTimeout
from pathweaver.store.lifecycle import Delivery
from pathweaver.store.schema import utcnow
from pathweaver.tools.outbound import OutboundClient

log = logging.getLogger("pathweaver.lifecycle")


@dataclass(frozen=True, slots=True)
class PostResult:
    status_code: int | None
    error: str | None
    #: True when the request may have reached the receiver although no answer came back.
    ambiguous: bool = False
    latency_ms: int = 0


class Poster(Protocol):
    """Sends one POST; the real one goes through the SSRF-safe outbound client."""

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> PostResult: ...


def sign(secret: str, body: bytes, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def verify(secret: str, body: bytes, header: str, *, tolerance: int = 300, now: int | None = None) -> bool:
    """Check a ``X-Pathweaver-Signature`` header (for receivers, and our tests)."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        at = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((int(time.time()) if now is None else now) - at) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def request_for(delivery: Delivery, secret: str) -> tuple[dict[str, str], bytes]:
    """The request's headers and body. A configured header that HTTP cannot carry, or that
    would change how the request is framed (queued before such headers were refused at
    save time), is left out and logged."""
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        **_sendable(delivery),
        "Content-Type": "application/json",
        "User-Agent": "Pathweaver-Webhooks/1",
        "X-Pathweaver-Event": delivery.event,
        "X-Pathweaver-Delivery": str(delivery.id),
        "X-Pathweaver-Signature": sign(secret, body),
    }
    return headers, body


def _sendable(delivery: Delivery) -> dict[str, str]:
    kept = {}
    for name, value in delivery.headers.items():
        problem = http_headers.problem(str(name), str(value))
        if problem is None:
            kept[name] = value
        else:
            log.warning("webhook delivery %s: %s; sent without it", delivery.id, problem)
    return kept


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str  # delivered | pending (retry) | failed | unknown
    retry_at: datetime | None = None


def judge(delivery: Delivery, result: PostResult, *, max_attempts: int, base_delay: float) -> Verdict:
    if result.status_code is not None and 200 <= result.status_code < 300:
        return Verdict("delivered")
    if result.ambiguous and delivery.at_most_once:
        return Verdict("unknown")
    if delivery.attempts >= max_attempts:
        return Verdict("failed")
    delay = base_delay * (2 ** (delivery.attempts - 1)) * random.uniform(0.8, 1.2)
    return Verdict("pending", utcnow() + timedelta(seconds=delay))


class OutboundPoster:
    """Posts through the SSRF-safe outbound client (tools/outbound.py): the host is resolved
    and checked before connecting, private addresses are refused unless allow-listed
    (``PATHWEAVER_OUTBOUND_ALLOW``), no redirects, timeouts and a response cap."""

    def __init__(self, outbound: OutboundClient):
        self.outbound = outbound

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> PostResult:
        began = time.perf_counter()
        try:
            response = await self.outbound.request("POST", url, headers=headers, content=body)
        except OutboundRefused as exc:
            return PostResult(None, f"refused: {exc.message}", latency_ms=_ms(began))
        except OutboundNotSent as exc:
            # No address or no connection (a DNS failure too): nothing left, so it is retried.
            return PostResult(None, f"could not connect: {exc.message}", latency_ms=_ms(began))
        except OutboundTimeout as exc:
            # Sent, perhaps received: the outcome is unknown (never resent if at most once).
            return PostResult(None, f"timed out: {exc.message}", ambiguous=True, latency_ms=_ms(began))
        except OutboundError as exc:
            # The connection broke during the exchange: perhaps received.
            return PostResult(None, f"failed: {exc.message}", ambiguous=True, latency_ms=_ms(began))
        status = response.status
        error = None if 200 <= status < 300 else f"the receiver answered {status}"
        return PostResult(status, error, latency_ms=_ms(began))


def _ms(began: float) -> int:
    return int((time.perf_counter() - began) * 1000)
