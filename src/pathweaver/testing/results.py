"""What a test run found: a verdict per expectation or criterion, and the transcript.

A case *passes* when every check passed, *fails* when a check failed, and is an *error*
when it could not run to the end (the model failed, a turn failed, a replayed request did
not match the cassette). A run passes when every case passed; anything else is exit 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["passed", "failed", "error"]


@dataclass(frozen=True)
class Check:
    """One verdict: an expectation after a scripted turn, or an acceptance criterion."""

    #: What was checked, e.g. ``turn 2: node`` or ``criterion 1``.
    name: str
    passed: bool
    #: Why it failed (or, for a judged criterion, the judge's reason either way).
    reason: str = ""
    expected: Any = None
    actual: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "reason": self.reason,
            "expected": self.expected,
            "actual": self.actual,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Check:
        return cls(raw["name"], raw["passed"], raw.get("reason", ""), raw.get("expected"), raw.get("actual"))


@dataclass(frozen=True)
class TurnLog:
    """One turn of a test conversation, with the engine's trace of it."""

    number: int
    user: str
    reply: str
    node_before: str | None
    node_after: str | None
    #: The extracted variables after the turn.
    variables: dict[str, Any]
    ended: bool
    trace: dict[str, Any]

    @property
    def transitions(self) -> list[tuple[str, str, str]]:
        """(from, to, status) of every transition the model chose (or had refused) this turn."""
        return [(t["from"], t["to"], t["status"]) for t in self.trace.get("transitions", [])]

    def to_json(self) -> dict[str, Any]:
        return {
            "turn": self.number,
            "user": self.user,
            "reply": self.reply,
            "nodeBefore": self.node_before,
            "nodeAfter": self.node_after,
            "variables": self.variables,
            "ended": self.ended,
            "trace": self.trace,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> TurnLog:
        return cls(
            raw["turn"],
            raw["user"],
            raw["reply"],
            raw.get("nodeBefore"),
            raw.get("nodeAfter"),
            dict(raw.get("variables") or {}),
            bool(raw.get("ended")),
            dict(raw.get("trace") or {}),
        )


@dataclass(frozen=True)
class CaseResult:
    name: str
    kind: str
    status: Status
    checks: tuple[Check, ...] = ()
    transcript: tuple[TurnLog, ...] = ()
    #: Why the case could not run to the end (status ``error``).
    error: str | None = None
    #: The session variables the conversation started with (kept for replays).
    variables: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None
    duration_ms: float = 0.0
    #: Where the case came from (a file path, or a stored case id).
    source: str = ""

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "source": self.source,
            "sessionId": self.session_id,
            "durationMs": round(self.duration_ms, 1),
            "error": self.error,
            "variables": self.variables,
            "checks": [check.to_json() for check in self.checks],
            "transcript": [turn.to_json() for turn in self.transcript],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> CaseResult:
        return cls(
            name=raw["name"],
            kind=raw["kind"],
            status=raw["status"],
            checks=tuple(Check.from_json(item) for item in raw.get("checks", [])),
            transcript=tuple(TurnLog.from_json(item) for item in raw.get("transcript", [])),
            error=raw.get("error"),
            variables=dict(raw.get("variables") or {}),
            session_id=raw.get("sessionId"),
            duration_ms=float(raw.get("durationMs") or 0.0),
            source=raw.get("source", ""),
        )


def status_of(checks: Sequence[Check], error: str | None) -> Status:
    if error is not None:
        return "error"
    return "passed" if all(check.passed for check in checks) else "failed"


@dataclass(frozen=True)
class RunResult:
    cases: tuple[CaseResult, ...]
    duration_ms: float = 0.0

    def count(self, status: Status) -> int:
        return sum(1 for case in self.cases if case.status == status)

    @property
    def passed(self) -> bool:
        return all(case.status == "passed" for case in self.cases)

    @property
    def status(self) -> Status:
        if self.count("error"):
            return "error"
        return "passed" if self.passed else "failed"

    @property
    def exit_code(self) -> int:
        """0 when every case passed, else 1 (a CI gate)."""
        return 0 if self.passed else 1

    def summary(self) -> dict[str, int]:
        return {
            "total": len(self.cases),
            "passed": self.count("passed"),
            "failed": self.count("failed"),
            "errors": self.count("error"),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "summary": self.summary(),
            "durationMs": round(self.duration_ms, 1),
            "cases": [case.to_json() for case in self.cases],
        }
