"""Who is calling: API keys from ``Authorization: Bearer`` (or the legacy ``x-api-key``).

A missing, malformed, unknown or revoked key gets 401 (sign in again). A valid key that
does not reach the project in the path gets 403 naming the key (its hint) and the project:
the key is fine, the project is wrong, so a client (the studio) must not sign its user out.
The 403 is the same whether or not the project exists, so it tells nothing about other
projects. A malformed key is refused before any database access. Keys never appear in logs
or errors (only their hint: the kind and four characters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fastapi import Request

from pathweaver.errors import AuthError, Forbidden, RateLimited
from pathweaver.store.projects import ApiKey
from pathweaver.store.store import Store

INVALID = "Invalid authentication"


@dataclass(frozen=True, slots=True)
class Caller:
    key: ApiKey

    @property
    def author(self) -> str:
        return f"{self.key.name or self.key.kind} ({self.key.hint})"


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return request.headers.get("x-api-key")


class Quota(Protocol):
    def headers(self) -> list[tuple[bytes, bytes]]: ...


class Admission(Protocol):
    """What lets an authenticated request in (the rate limiter, ``api/ratelimit.py``)."""

    def admit(self, key_id: str, project_id: str | None) -> Quota | None:
        """Raise (429) to refuse the request; called only for valid keys. What it returns
        (the caller's standing) becomes response headers (``RATE_HEADERS`` in the request state)."""
        ...


async def authenticate(request: Request) -> Caller:
    """The caller's key, or 401; then the limits of ``app.state.admission`` (if any)."""
    caller = await _identify(request)
    _admit(request, caller, None)
    return caller


async def project_caller(request: Request, projectId: str) -> Caller:
    """The caller, who must reach ``projectId``; 403 otherwise (the same for a project that
    does not exist: no existence leak)."""
    caller = await _identify(request)
    if projectId not in caller.key.project_ids:
        shown = projectId if len(projectId) <= 80 else projectId[:80] + "…"
        reach = "its project" if caller.key.kind == "sk" else "the projects it was given"
        raise Forbidden(
            f"the key {caller.key.hint} does not have access to project {shown!r}: a key reaches only "
            f"{reach}; use a key of this project (GET /v1/projects lists what this key reaches)",
            code="project_not_allowed",
        )
    _admit(request, caller, projectId)
    return caller


#: The request-state key under which admission leaves the headers of the caller's quota;
#: ``api/middleware.py`` adds them to the response, errors included.
RATE_HEADERS = "rate_headers"


def _admit(request: Request, caller: Caller, project_id: str | None) -> None:
    admission: Admission | None = getattr(request.app.state, "admission", None)
    if admission is None:
        return
    try:
        quota = admission.admit(caller.key.id, project_id)
    except RateLimited as refused:
        if refused.quota is not None:
            request.scope.setdefault("state", {})[RATE_HEADERS] = refused.quota.headers()
        raise
    if quota is not None:
        request.scope.setdefault("state", {})[RATE_HEADERS] = quota.headers()


async def _identify(request: Request) -> Caller:
    token = presented_key(request)
    if not token:
        raise AuthError(INVALID, details={"hint": "send Authorization: Bearer <sk_ or dk_ key>"})
    store: Store = request.app.state.store
    key = await store.projects.find_key(token)
    if key is None:
        raise AuthError(INVALID)
    return Caller(key)
