"""Rate limits and caps on consumption (OWASP LLM10 "unbounded consumption").

Five limits, each off when its setting is 0:

* **per API key** and **per project**: token buckets. A bucket holds up to ``burst``
  requests and refills at ``per_minute / 60`` a second; a request takes one token from its
  key's bucket and, on project routes, one from the project's. When either is empty the
  request gets **429** with ``Retry-After`` (the seconds until a token is back) and takes
  nothing. Only authenticated callers are counted: a flood of invalid keys never touches a
  bucket, so it cannot throttle a project's real clients.
* **per session**: a token bucket per conversation (project and session id), charged by
  each turn that names its session (chat completions with ``X-Session-ID`` or
  ``session_id``, and the interactive test API's messages) through :func:`admit_turn`, after
  the key's and the project's. One backend key usually serves every user of a deployment,
  so the key's limit cannot tell one user from another; this one stops a single
  conversation (a client stuck in a loop) from flooding the server, whatever shares its key.
  Reads of a session are not turns and are not charged.
* **model calls per turn**: :class:`BudgetedModel` counts every model call of the current
  request against a :class:`TurnBudget`; the call past the cap fails the turn with
  :class:`ModelCallLimitExceeded` before it reaches the model, so a pathway that loops
  cannot spend without bound. The budget is opened per request by the dependency below;
  outside an HTTP request (the CLI's ``chat``) none is open and only the engine's
  ``max_steps_per_turn`` bounds a turn.
* **turns per session** is not here: it is a rule of the session, checked by
  :class:`~pathweaver.conversations.Conversations` under the turn lock on the session it
  has already read (``PATHWEAVER_MAX_TURNS_PER_SESSION``), so it costs no query.

Every admitted request, and every 429, carries OpenAI's rate-limit headers for the tighter
of its two buckets (:class:`Quota`): ``x-ratelimit-limit-requests`` (requests a minute),
``x-ratelimit-remaining-requests`` (requests that may be sent at once now) and
``x-ratelimit-reset-requests`` (until the bucket is full again, e.g. ``1.5s``, ``2m30s``).
Clients that pace themselves on these headers (the ``openai`` SDKs log them) work unchanged.

**Limits are per worker process.** The buckets live in this process's memory: with N
workers (``serve --workers N``, or several machines) a key may get up to N times its rate.
A shared store (Redis, or PostgreSQL) can replace :class:`TokenBuckets` later behind the
same two methods.

Wiring (see :func:`install`): ``create_app`` calls ``install(app,
RateLimits.from_settings(settings))`` and wraps every model as
``MeteredModel(BudgetedModel(model))``.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from fastapi import FastAPI, Request

from pathweaver.api.auth import RATE_HEADERS
from pathweaver.errors import RateLimited, TurnError
from pathweaver.llm.base import ChatEvent, ChatRequest, Model, StructuredRequest, StructuredResult

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Rate:
    """``per_minute`` requests a minute on average, and up to ``burst`` at once."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError("a rate needs per_minute > 0 and burst >= 1")

    @property
    def per_second(self) -> float:
        return self.per_minute / 60


class TokenBuckets:
    """One token bucket per name, all at the same :class:`Rate`, in memory.

    A bucket that has filled up again is the same as none, so it is dropped: what stays is
    the buckets used within the last ``burst / per_second`` seconds, and at most
    ``max_buckets`` of them (the least recently used go first). A forgotten bucket comes back
    full, which errs on the caller's side, never against it.
    """

    def __init__(self, rate: Rate, *, clock: Clock = time.monotonic, max_buckets: int = 100_000):
        self.rate = rate
        self._clock = clock
        self._max = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # name -> (tokens, when)

    def __len__(self) -> int:
        """How many buckets are held (the others are full)."""
        return len(self._buckets)

    def _level(self, name: str) -> float:
        tokens, when = self._buckets.get(name, (float(self.rate.burst), self._clock()))
        return min(float(self.rate.burst), tokens + (self._clock() - when) * self.rate.per_second)

    def wait(self, name: str) -> float:
        """Seconds until ``name`` has a token (0 when it has one now). Takes nothing."""
        missing = 1.0 - self._level(name)
        return 0.0 if missing <= 0 else missing / self.rate.per_second

    def take(self, name: str) -> Quota:
        """Take one token (the caller checked :meth:`wait` first); what is left."""
        level = self._level(name) - 1.0
        now = self._clock()
        self._buckets[name] = (level, now)
        self._buckets.move_to_end(name)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        # The least recently used first; a bucket untouched for ``refill`` seconds is full.
        # Two at most per take: constant work per request, and still faster than they come.
        refill = self.rate.burst / self.rate.per_second
        for _ in range(2):
            oldest, (_, when) = next(iter(self._buckets.items()))
            if now - when < refill:
                break
            del self._buckets[oldest]
        return self._quota(level)

    def quota(self, name: str) -> Quota:
        return self._quota(self._level(name))

    def _quota(self, level: float) -> Quota:
        rate = self.rate
        return Quota(rate.per_minute, max(0, math.floor(level)), (rate.burst - level) / rate.per_second)


@dataclass(frozen=True, slots=True)
class Quota:
    """Where a caller stands with a bucket, for the ``x-ratelimit-*`` response headers."""

    per_minute: float
    remaining: int
    reset: float
    """Seconds until the bucket is full again."""

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit-requests", f"{self.per_minute:g}".encode()),
            (b"x-ratelimit-remaining-requests", str(self.remaining).encode()),
            (b"x-ratelimit-reset-requests", duration(self.reset).encode()),
        ]


def duration(seconds: float) -> str:
    """``seconds`` the way OpenAI writes its reset headers: ``0s``, ``250ms``, ``1.5s``, ``2m30s``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    if minutes < 1:
        return f"{rest:.3g}s"
    hours, minutes = divmod(int(minutes), 60)
    return (f"{hours}h" if hours else "") + f"{minutes}m{round(rest)}s"


class LimitSettings(Protocol):
    """The settings :meth:`RateLimits.from_settings` reads (``pathweaver.config.Settings``)."""

    rate_limit_key_per_minute: float
    rate_limit_key_burst: int
    rate_limit_project_per_minute: float
    rate_limit_project_burst: int
    rate_limit_session_per_minute: float
    rate_limit_session_burst: int
    max_model_calls_per_turn: int


@dataclass(frozen=True, slots=True)
class RateLimits:
    """What :func:`install` enforces; ``None`` turns a limit off."""

    per_key: Rate | None = None
    per_project: Rate | None = None
    per_session: Rate | None = None
    max_model_calls_per_turn: int | None = None

    @classmethod
    def from_settings(cls, settings: LimitSettings) -> RateLimits:
        def rate(per_minute: float, burst: int) -> Rate | None:
            return Rate(per_minute, burst) if per_minute > 0 else None

        return cls(
            per_key=rate(settings.rate_limit_key_per_minute, settings.rate_limit_key_burst),
            per_project=rate(settings.rate_limit_project_per_minute, settings.rate_limit_project_burst),
            per_session=rate(settings.rate_limit_session_per_minute, settings.rate_limit_session_burst),
            max_model_calls_per_turn=settings.max_model_calls_per_turn or None,
        )


class RateLimiter:
    """Token buckets per API key and per project; :meth:`check` raises 429 or takes a token."""

    def __init__(self, limits: RateLimits, *, clock: Clock = time.monotonic):
        self.limits = limits
        self._keys = TokenBuckets(limits.per_key, clock=clock) if limits.per_key else None
        self._projects = TokenBuckets(limits.per_project, clock=clock) if limits.per_project else None
        self._sessions = TokenBuckets(limits.per_session, clock=clock) if limits.per_session else None

    def admit(self, key_id: str, project_id: str | None) -> Quota | None:
        """Let an authenticated request in (or raise 429), and open its turn's model budget."""
        quota = self.check(key_id, project_id)
        if self.limits.max_model_calls_per_turn is not None:
            current_budget.set(TurnBudget(self.limits.max_model_calls_per_turn))
        return quota

    def check(self, key_id: str, project_id: str | None) -> Quota | None:
        """Let one request of ``key_id`` (on ``project_id``, if any) through, or raise 429.

        Returns the tighter bucket's :class:`Quota` (None with both limits off); a 429
        carries the blocking bucket's as ``quota``.
        """
        blocked: tuple[float, str, TokenBuckets, str] | None = None
        for buckets, name, who in (
            (self._keys, key_id, "this API key"),
            (self._projects, project_id, "this project"),
        ):
            if buckets is None or name is None:
                continue
            wait = buckets.wait(name)
            if wait > 0 and (blocked is None or wait > blocked[0]):
                blocked = (wait, who, buckets, name)
        if blocked is not None:
            wait, who, buckets, name = blocked
            refused = RateLimited(
                f"rate limit exceeded for {who}: {buckets.rate.per_minute:g} requests a minute, "
                f"bursts of {buckets.rate.burst}; retry in {math.ceil(wait)} s",
                retry_after=wait,
                code="rate_limit_exceeded",
            )
            refused.quota = buckets.quota(name)
            raise refused
        quota = self._keys.take(key_id) if self._keys is not None else None
        if self._projects is not None and project_id is not None:
            other = self._projects.take(project_id)
            if quota is None or other.remaining < quota.remaining:
                quota = other
        return quota

    def check_turn(self, project_id: str, session_id: str) -> Quota | None:
        """Let one turn of the session ``session_id`` of ``project_id`` through, or raise 429
        (taking nothing); the session bucket's :class:`Quota` (None with the limit off)."""
        if self._sessions is None:
            return None
        name = f"{project_id}\x00{session_id}"
        wait = self._sessions.wait(name)
        if wait > 0:
            rate = self._sessions.rate
            shown = session_id if len(session_id) <= 80 else session_id[:80] + "…"
            refused = RateLimited(
                f"rate limit exceeded for session {shown!r}: {rate.per_minute:g} turns a minute, bursts "
                f"of {rate.burst}, per conversation (PATHWEAVER_RATE_LIMIT_SESSION_PER_MINUTE); retry in "
                f"{math.ceil(wait)} s",
                retry_after=wait,
                code="session_rate_limit_exceeded",
            )
            refused.quota = self._sessions.quota(name)
            raise refused
        return self._sessions.take(name)


def admit_turn(request: Request, project_id: str, session_id: str) -> None:
    """Charge a turn to its session's bucket (429 past it), when the app limits sessions.

    Call it once the session is known, before the turn runs. A refusal's ``x-ratelimit-*``
    headers are the session bucket's (the one that blocks).
    """
    limiter = getattr(request.app.state, "admission", None)
    if not isinstance(limiter, RateLimiter):
        return
    try:
        limiter.check_turn(project_id, session_id)
    except RateLimited as refused:
        if refused.quota is not None:
            request.scope.setdefault("state", {})[RATE_HEADERS] = refused.quota.headers()
        raise


# Model calls per turn -----------------------------------------------------------------


class ModelCallLimitExceeded(TurnError):
    code = "model_call_limit_exceeded"


@dataclass
class TurnBudget:
    """The model calls one request (one turn) may make."""

    limit: int
    used: int = 0

    def spend(self) -> None:
        if self.used >= self.limit:
            raise ModelCallLimitExceeded(
                f"the turn needed more than {self.limit} model calls; check the pathway for loops "
                "(PATHWEAVER_MAX_MODEL_CALLS_PER_TURN)"
            )
        self.used += 1


current_budget: ContextVar[TurnBudget | None] = ContextVar("pathweaver_turn_budget", default=None)


class BudgetedModel:
    """A :class:`Model` that charges every call to the current request's :class:`TurnBudget`.

    The budget object is shared by the tasks a turn starts (extraction runs beside the
    reply), since they copy the request's context. With no budget open, calls pass.
    """

    def __init__(self, inner: Model):
        self.inner = inner
        self.name = inner.name

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        budget = current_budget.get()
        if budget is not None:
            budget.spend()
        events = aiter(self.inner.stream(request))
        try:
            async for event in events:
                yield event
        finally:
            closer = getattr(events, "aclose", None)
            if closer is not None:
                await closer()

    async def structured(self, request: StructuredRequest) -> StructuredResult:
        budget = current_budget.get()
        if budget is not None:
            budget.spend()
        return await self.inner.structured(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


# Wiring -------------------------------------------------------------------------------


def install(app: FastAPI, limits: RateLimits, *, clock: Clock = time.monotonic) -> RateLimiter:
    """Enforce ``limits`` on every authenticated route of ``app``.

    Every route authenticates through ``Depends(project_caller)`` or
    ``Depends(authenticate)`` (``api/auth.py``), which then call ``app.state.admission``:
    no route changes. Installing again replaces the limiter (and its buckets).
    """
    limiter = RateLimiter(limits, clock=clock)
    app.state.admission = limiter
    return limiter
