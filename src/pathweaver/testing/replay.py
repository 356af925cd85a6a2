"""Replay only the recorded user turns against the current pathway, and show what changed.

A recorded run (a cassette) keeps, beside the model calls, each case's user messages and
the routing decisions taken on each turn: the transitions the model chose (or had
refused), the node reached, whether the session ended. This mode sends the same user
messages, in order, on a fresh session of the current pathway with a live model (no
cassette), and reports every turn whose decisions differ. Replies are not compared: with a
live model they differ on every run; where the conversation *goes* should not.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pathweaver.conversations import Conversations
from pathweaver.errors import PathweaverError, UserError
from pathweaver.testing.results import RunResult, TurnLog
from pathweaver.testing.runner import PROVIDER, OnProgress, Progress, send_turn


def conversation_records(run: RunResult) -> list[dict[str, Any]]:
    """What a cassette keeps of a run for this mode: per case, its user turns and decisions."""
    return [
        {
            "case": case.name,
            "kind": case.kind,
            "variables": case.variables,
            "turns": [_decision_json(turn) for turn in case.transcript],
        }
        for case in run.cases
    ]


def _decision_json(turn: TurnLog) -> dict[str, Any]:
    return {
        "turn": turn.number,
        "user": turn.user,
        "nodeBefore": turn.node_before,
        "nodeAfter": turn.node_after,
        "transitions": [list(move) for move in turn.transitions],
        "ended": turn.ended,
    }


@dataclass(frozen=True)
class Change:
    """A turn whose routing differs from the recording (``now`` None: it was not reached)."""

    case: str
    turn: int
    user: str
    recorded: dict[str, Any]
    now: dict[str, Any] | None

    def describe(self) -> str:
        before = _route(self.recorded)
        if self.now is None:
            return f"{self.case}, turn {self.turn} ({self.user!r}): was {before}; not reached (the session ended)"
        return f"{self.case}, turn {self.turn} ({self.user!r}): was {before}; now {_route(self.now)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "turn": self.turn,
            "user": self.user,
            "recorded": self.recorded,
            "now": self.now,
        }


def _route(decision: dict[str, Any]) -> str:
    moves = [
        f"{a} -> {b}" + ("" if status == "chosen" else f" ({status})")
        for a, b, status in decision["transitions"]
    ]
    text = ", ".join(moves) if moves else f"stayed at {decision['nodeBefore']}"
    text += f", at {decision['nodeAfter']}"
    return text + (", ended" if decision["ended"] else "")


@dataclass(frozen=True)
class RoutingDiff:
    cases: int
    turns: int
    changes: tuple[Change, ...]
    #: Cases that could not be replayed to the end, with why.
    errors: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 when every recorded decision was taken again, else 1."""
        return 1 if self.changes or self.errors else 0

    def text(self) -> str:
        lines = [f"CHANGED {change.describe()}" for change in self.changes]
        lines += [f"ERROR   {error}" for error in self.errors]
        lines.append(
            f"{self.turns} recorded turns in {self.cases} cases replayed: {len(self.changes)} routing "
            f"decision{'s' if len(self.changes) != 1 else ''} changed"
            + (f", {len(self.errors)} cases failed to replay" if self.errors else "")
        )
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "turns": self.turns,
            "changed": len(self.changes),
            "changes": [change.to_json() for change in self.changes],
            "errors": list(self.errors),
        }


async def replay_user_turns(
    conversations: Conversations,
    project_id: str,
    records: Sequence[dict[str, Any]],
    progress: OnProgress | None = None,
) -> RoutingDiff:
    """Send each record's user turns again on a fresh session; compare the decisions."""
    if not records:
        raise UserError(
            "the cassette holds no recorded conversations; record it with `pathweaver test --record`"
        )
    changes: list[Change] = []
    errors: list[str] = []
    turns = 0
    for index, record in enumerate(records, 1):
        name = str(record.get("case", f"conversation {index}"))
        recorded = list(record.get("turns", []))
        if progress is not None:
            await progress(Progress(name, index, len(records), "started"))
        session_id = f"test-{secrets.token_hex(8)}"
        created = ended = False
        try:
            await conversations.create_session(
                project_id, session_id, variables=dict(record.get("variables") or {}), provider=PROVIDER
            )
            created = True
            for then in recorded:
                turns += 1
                if ended:
                    changes.append(Change(name, then["turn"], then["user"], then, None))
                    continue
                log = await send_turn(conversations, project_id, session_id, then["turn"], then["user"])
                now = _decision_json(log)
                ended = log.ended
                if [now[key] for key in _COMPARED] != [then.get(key) for key in _COMPARED]:
                    changes.append(Change(name, then["turn"], then["user"], then, now))
        except PathweaverError as exc:
            errors.append(f"{name}: {type(exc).__name__}: {exc.message}")
        if created and not ended:
            await conversations.end(project_id, session_id, "test_end")
    return RoutingDiff(len(records), turns, tuple(changes), tuple(errors))


_COMPARED = ("transitions", "nodeAfter", "ended")
