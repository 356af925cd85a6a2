"""Session history: the paged list, stats by date range, and the ``marked`` flag.

``GET /v1/projects/{id}/sessions?page=&pageSize=&search=&ended=&from=&to=`` (also as
``/v1/projects/{id}/session-history`` and the legacy ``/project/{id}/session``) lists
sessions newest first with totals; ``GET .../sessions/stats?startDate=&endDate=`` counts
sessions, ended sessions and turns, the average duration of ended sessions and the
evaluation results, in all and by day (UTC); ``PATCH .../sessions/{sessionId}`` sets
``marked``.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy import select

from pathweaver.api.auth import Caller, project_caller
from pathweaver.api.openapi import answers
from pathweaver.api.wire import iso
from pathweaver.engine.state import SessionState
from pathweaver.errors import NotFound, UserError
from pathweaver.store.schema import sessions
from pathweaver.store.store import Store

CallerDep = Annotated[Caller, Depends(project_caller)]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _when(value: str | None, name: str, *, end: bool = False) -> datetime | None:
    """An ISO date or datetime; a plain date as ``to``/``endDate`` includes that whole day."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{name} must be an ISO date (2026-11-29) or date-time, not {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Response shapes (documentation: api/openapi.py answers())


class SessionSummaryOut(BaseModel):
    """One session of the history: its counters, flags and the first user message."""

    sessionId: str
    startTime: str
    endTime: str | None
    provider: str | None
    messageCount: int
    turnCount: int
    marked: bool
    evaluation: dict[str, Any] | None = Field(
        description="The end-of-session evaluation (result and reason, or an error); null when none ran"
    )
    currentNodeId: str | None
    isEnded: bool
    preview: str | None = Field(
        description="The first user message, cut at 200 characters; null when there is none, and on PATCH"
    )


class SessionPaginationOut(BaseModel):
    """Which page this is, and how many sessions matched in all."""

    page: int
    pageSize: int
    total: int


class SessionPageOut(BaseModel):
    """A page of the session history, newest first."""

    data: list[SessionSummaryOut]
    pagination: SessionPaginationOut


class SessionSummaryEnvelope(BaseModel):
    """The session, as the history lists it."""

    data: SessionSummaryOut


class DayStatsOut(BaseModel):
    """The counts of one day (UTC)."""

    date: str
    sessions: int
    ended: int
    turns: int


class SessionStatsOut(BaseModel):
    """Session counts over a date range, in all and by day (UTC)."""

    startDate: str | None = Field(description="As given; null when not given")
    endDate: str | None = Field(description="As given; null when not given")
    sessions: int
    ended: int
    turns: int
    averageDurationSeconds: float | None = Field(description="Over ended sessions; null when none ended")
    evaluations: dict[str, int] = Field(description="How many sessions got each evaluation result")
    byDay: list[DayStatsOut]


class SessionStatsEnvelope(BaseModel):
    """Session counts over a date range."""

    data: SessionStatsOut


def summary_json(session: SessionState, preview: str | None) -> dict[str, Any]:
    return {
        "sessionId": session.external_id,
        "startTime": iso(session.created_at),
        "endTime": iso(session.ended_at),
        "provider": session.provider,
        "messageCount": session.message_count,
        "turnCount": session.turn_count,
        "marked": session.marked,
        "evaluation": session.evaluation,
        "currentNodeId": session.current_node_id,
        "isEnded": session.ended,
        "preview": preview,
    }


async def list_sessions(
    request: Request,
    projectId: str,
    caller: CallerDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    pageSize: Annotated[int, Query(ge=1, le=200)] = 20,
    search: Annotated[str | None, Query(max_length=500)] = None,
    ended: bool | None = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    until: Annotated[str | None, Query(alias="to")] = None,
) -> Any:
    store = _store(request)
    found, total = await store.sessions.page(
        projectId,
        page=page,
        page_size=pageSize,
        text=search or None,
        ended=ended,
        since=_when(start, "from"),
        until=_when(until, "to", end=True),
    )
    previews = await store.sessions.first_messages([s.pk for s in found])
    return {
        "data": [summary_json(s, previews.get(s.pk)) for s in found],
        "pagination": {"page": page, "pageSize": pageSize, "total": total},
    }


async def session_stats(
    request: Request,
    projectId: str,
    caller: CallerDep,
    startDate: str | None = None,
    endDate: str | None = None,
) -> Any:
    since, until = _when(startDate, "startDate"), _when(endDate, "endDate", end=True)
    query = select(
        sessions.c.created_at,
        sessions.c.ended_at,
        sessions.c.status,
        sessions.c.turn_count,
        sessions.c.evaluation,
    ).where(sessions.c.project_id == projectId)
    if since is not None:
        query = query.where(sessions.c.created_at >= since)
    if until is not None:
        query = query.where(sessions.c.created_at < until)
    async with _store(request).engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    by_day: dict[str, Counter[str]] = {}
    durations: list[float] = []
    evaluations: Counter[str] = Counter()
    for row in rows:
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        day = by_day.setdefault(created.date().isoformat(), Counter())
        day["sessions"] += 1
        day["turns"] += row.turn_count
        if row.status == "ended":
            day["ended"] += 1
            if row.ended_at is not None:
                ended = row.ended_at if row.ended_at.tzinfo else row.ended_at.replace(tzinfo=UTC)
                durations.append((ended - created).total_seconds())
        if row.evaluation is not None:
            evaluations[
                str(row.evaluation.get("result") if isinstance(row.evaluation, dict) else row.evaluation)
            ] += 1
    return {
        "data": {
            "startDate": startDate,
            "endDate": endDate,
            "sessions": len(rows),
            "ended": sum(1 for r in rows if r.status == "ended"),
            "turns": sum(r.turn_count for r in rows),
            "averageDurationSeconds": round(sum(durations) / len(durations), 1) if durations else None,
            "evaluations": dict(evaluations),
            "byDay": [
                {"date": d, "sessions": c["sessions"], "ended": c["ended"], "turns": c["turns"]}
                for d, c in sorted(by_day.items())
            ],
        }
    }


class SessionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marked: StrictBool


async def patch_session(
    request: Request, projectId: str, sessionId: str, body: SessionPatch, caller: CallerDep
) -> Any:
    session = await _store(request).sessions.set_marked(projectId, sessionId, body.marked)
    if session is None:
        raise NotFound("Session not found")
    return {"data": summary_json(session, None)}


STATS = answers(SessionStatsEnvelope)
PAGE = answers(SessionPageOut)


def history_routers() -> list[APIRouter]:
    """Register before the runtime routes, so ``/sessions/stats`` is not read as a session id."""
    v1 = APIRouter(prefix="/v1/projects/{projectId}", tags=["session history"])
    v1.add_api_route("/sessions/stats", session_stats, methods=["GET"], responses=STATS)
    v1.add_api_route("/sessions", list_sessions, methods=["GET"], responses=PAGE)
    v1.add_api_route(
        "/session-history", list_sessions, methods=["GET"], name="session_history", responses=PAGE
    )
    v1.add_api_route(
        "/sessions/{sessionId}", patch_session, methods=["PATCH"], responses=answers(SessionSummaryEnvelope)
    )
    legacy = APIRouter(
        prefix="/project/{projectId}", tags=["session history (deprecated paths)"], deprecated=True
    )
    legacy.add_api_route(
        "/session/stats", session_stats, methods=["GET"], name="legacy_session_stats", responses=STATS
    )
    legacy.add_api_route(
        "/session", list_sessions, methods=["GET"], name="legacy_session_history", responses=PAGE
    )
    return [v1, legacy]
