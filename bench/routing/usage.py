"""What a turn cost in model calls and tokens, read from its trace.

The one place that reads the trace's ``modelCalls`` entries (``Trace.to_json`` in
``pathweaver.engine.events``): ``{"purpose", "promptTokens", "completionTokens", ...}`` per
call. When the trace grows (routing decisions getting entries of their own), only
:func:`turn_usage` changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TurnUsage:
    calls: int
    #: Summed over the calls that reported usage; None when none did.
    prompt_tokens: int | None
    completion_tokens: int | None
    #: Of the prompt tokens, those the model served from its cache (None when none said).
    cached_tokens: int | None = None
    #: Calls per purpose ("reply", "extraction", ...), as the trace names them.
    by_purpose: dict[str, int] = field(default_factory=dict)
    #: Seconds spent in calls per purpose (their latencies summed: on the embedded model,
    #: which runs one call at a time, this is where the turn's time went).
    seconds_by_purpose: dict[str, float] = field(default_factory=dict)
    #: Each call as the trace recorded it (purpose, latency, tokens), for the JSON report.
    each: tuple[dict[str, Any], ...] = ()
    #: Why the turn went where it did: the trace's decisions and variables (set, rejected).
    decisions: tuple[Any, ...] = ()
    variables: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "promptTokens": self.prompt_tokens,
            "cachedTokens": self.cached_tokens,
            "completionTokens": self.completion_tokens,
            "byPurpose": self.by_purpose,
            "secondsByPurpose": {k: round(v, 3) for k, v in self.seconds_by_purpose.items()},
            "each": list(self.each),
            "decisions": list(self.decisions),
            "variables": self.variables,
        }


def turn_usage(trace: Mapping[str, Any]) -> TurnUsage:
    """The model calls of one turn and their tokens, from the turn's trace."""
    calls = [call for call in trace.get("modelCalls") or () if isinstance(call, Mapping)]
    by_purpose: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for call in calls:
        purpose = str(call.get("purpose") or "unknown")
        by_purpose[purpose] = by_purpose.get(purpose, 0) + 1
        latency = call.get("latencyMs")
        if isinstance(latency, int | float) and not isinstance(latency, bool):
            seconds[purpose] = seconds.get(purpose, 0.0) + latency / 1000
    return TurnUsage(
        calls=len(calls),
        prompt_tokens=_total(call.get("promptTokens") for call in calls),
        completion_tokens=_total(call.get("completionTokens") for call in calls),
        cached_tokens=_total(call.get("cachedTokens") for call in calls),
        by_purpose=by_purpose,
        seconds_by_purpose=seconds,
        each=tuple(
            {
                key: call.get(key)
                for key in ("purpose", "latencyMs", "promptTokens", "cachedTokens", "completionTokens")
            }
            for call in calls
        ),
        decisions=tuple(trace.get("decisions") or ()),
        variables=trace.get("variables"),
    )


def _total(values: Any) -> int | None:
    numbers = [value for value in values if isinstance(value, int) and not isinstance(value, bool)]
    return sum(numbers) if numbers else None
