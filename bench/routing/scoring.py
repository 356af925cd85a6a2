"""Scoring one run: each turn against its labels, then the figures a report shows.

Nodes: a turn is correct when the conversation is at the labelled node after the reply. It
*should move* when its label differs from the previous turn's (the first turn's previous
label is the start node), else it *should stay*. Turns that were never sent (the session
ended early, or the case failed) count as wrong, at the pseudo-node ``(not run)``.

Variables, per turn, against the values extracted after it:

* recall: every labelled non-null value is one item; a hit when the extracted value
  matches it;
* precision: every value extracted (non-null, of a key the agent declares) is one item,
  judged against the key's *reference* at that turn: the label of that turn, else the
  nearest earlier label in the conversation, else the nearest later one; a key with no label
  anywhere in the conversation is not judged. A reference of null (the label says "must not
  be set") makes any value wrong.

Values match (:func:`same_value`): numbers exactly (a numeric string is read as a number);
text loosely: case-insensitive, number words as digits, and either one contained in the
other, as flat text (spaces and punctuation dropped) or as sets of words (without filler
words such as "the", "at", "around").
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.routing.dataset import Conversation
from bench.routing.usage import TurnUsage

NOT_RUN = "(not run)"
_NO_REFERENCE = object()
_SMALL_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty"
)
_TENS = "thirty forty fifty sixty seventy eighty ninety"
_NUMBER_WORDS = {word: str(value) for value, word in enumerate(_SMALL_NUMBERS.split(" "))} | {
    word: str(value) for value, word in zip(range(30, 100, 10), _TENS.split(" "), strict=True)
}
#: Words that do not change what a value says ("Friday at 8" is "Friday 8").
_FILLER = frozenset(
    [
        "the",
        "a",
        "an",
        "at",
        "on",
        "in",
        "of",
        "for",
        "to",
        "and",
        "or",
        "is",
        "it",
        "its",
        "around",
        "about",
        "approx",
        "approximately",
        "roughly",
        "st",
        "nd",
        "rd",
        "th",
    ]
)


# Matching values -----------------------------------------------------------------------


def same_value(expected: Any, actual: Any) -> bool:
    """Whether an extracted value matches its label (see the module docstring)."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float):
        number = _number(actual)
        return number is not None and math.isclose(number, float(expected), rel_tol=0, abs_tol=1e-9)
    return _loosely_same(str(expected), str(actual))


def _number(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace(",", "")
    try:
        return float(text)
    except ValueError:
        return None


def _words(text: str) -> list[str]:
    found = re.findall(r"[^\W\d_]+|\d+", text.casefold())
    return [_NUMBER_WORDS.get(word, word) for word in found]


def _loosely_same(expected: str, actual: str) -> bool:
    flat_expected, flat_actual = "".join(_words(expected)), "".join(_words(actual))
    long_enough = len(flat_expected) >= 2 and len(flat_actual) >= 2
    if long_enough and (flat_expected in flat_actual or flat_actual in flat_expected):
        return True
    words_expected = {word for word in _words(expected) if word not in _FILLER}
    words_actual = {word for word in _words(actual) if word not in _FILLER}
    if not words_expected or not words_actual:
        return False
    return words_expected <= words_actual or words_actual <= words_expected


# Turns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariableCheck:
    key: str
    expected: Any
    actual: Any
    ok: bool

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "expected": self.expected, "actual": self.actual, "ok": self.ok}


@dataclass(frozen=True)
class TurnScore:
    pathway: str
    part: str
    conversation: str
    number: int
    user: str
    reply: str
    expected: str
    actual: str
    should_move: bool
    recall: tuple[VariableCheck, ...]
    precision: tuple[VariableCheck, ...]
    usage: TurnUsage | None
    seconds: float | None

    @property
    def correct(self) -> bool:
        return self.expected == self.actual

    def to_json(self) -> dict[str, Any]:
        return {
            "turn": self.number,
            "user": self.user,
            "reply": self.reply,
            "expected": self.expected,
            "actual": self.actual,
            "correct": self.correct,
            "shouldMove": self.should_move,
            "recall": [check.to_json() for check in self.recall],
            "precision": [check.to_json() for check in self.precision],
            "usage": self.usage.to_json() if self.usage else None,
            "seconds": None if self.seconds is None else round(self.seconds, 4),
        }


@dataclass(frozen=True)
class TurnSeen:
    """What the run saw after one turn (None when the turn was never sent)."""

    node: str | None
    variables: Mapping[str, Any]
    reply: str
    usage: TurnUsage
    seconds: float | None


@dataclass(frozen=True)
class ConversationScore:
    conversation: Conversation
    turns: tuple[TurnScore, ...]
    error: str | None = None

    @property
    def fully_correct(self) -> bool:
        return all(turn.correct for turn in self.turns)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.conversation.name,
            "pathway": self.conversation.pathway,
            "part": self.conversation.part,
            "fullyCorrect": self.fully_correct,
            "error": self.error,
            "turns": [turn.to_json() for turn in self.turns],
        }


def score_conversation(
    conversation: Conversation,
    start_node: str,
    declared: set[str],
    seen: Sequence[TurnSeen | None],
    error: str | None = None,
) -> ConversationScore:
    """Score every labelled turn; ``seen[i]`` is what turn i+1 left behind (None: not sent)."""
    labels = [dict(turn.expect.variables or {}) for turn in conversation.case.turns]
    previous = start_node
    scores = []
    for index, turn in enumerate(conversation.case.turns):
        expected = turn.expect.node or ""
        after = seen[index] if index < len(seen) else None
        variables = dict(after.variables) if after is not None else {}
        recall = tuple(
            VariableCheck(key, value, variables.get(key), same_value(value, variables.get(key)))
            for key, value in labels[index].items()
            if value is not None
        )
        precision = []
        for key, value in variables.items():
            if key not in declared or value is None:
                continue
            reference = _reference(labels, index, key)
            if reference is not _NO_REFERENCE:
                precision.append(VariableCheck(key, reference, value, same_value(reference, value)))
        scores.append(
            TurnScore(
                pathway=conversation.pathway,
                part=conversation.part,
                conversation=conversation.name,
                number=index + 1,
                user=turn.user,
                reply=after.reply if after is not None else "",
                expected=expected,
                actual=(after.node or "(none)") if after is not None else NOT_RUN,
                should_move=expected != previous,
                recall=recall,
                precision=tuple(precision),
                usage=after.usage if after is not None else None,
                seconds=after.seconds if after is not None else None,
            )
        )
        previous = expected
    return ConversationScore(conversation, tuple(scores), error)


def _reference(labels: Sequence[Mapping[str, Any]], index: int, key: str) -> Any:
    """The label that judges ``key`` at turn ``index``: this turn's, an earlier one, a later one."""
    for position in [*range(index, -1, -1), *range(index + 1, len(labels))]:
        if key in labels[position]:
            return labels[position][key]
    return _NO_REFERENCE


# Figures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    hits: int
    total: int

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None

    def text(self) -> str:
        value = self.value
        shown = "  n/a" if value is None else f"{value:.3f}"
        return f"{shown} ({self.hits}/{self.total})"

    def to_json(self) -> dict[str, Any]:
        value = self.value
        return {"value": None if value is None else round(value, 4), "hits": self.hits, "total": self.total}


def ratio(flags: Sequence[bool]) -> Ratio:
    return Ratio(sum(flags), len(flags))


@dataclass(frozen=True)
class Spread:
    """Mean, median and 90th percentile of a per-turn figure (over the turns that have it)."""

    count: int
    mean: float | None
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            return cls(0, None, None, None)
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
        return cls(len(ordered), statistics.fmean(ordered), statistics.median(ordered), p90)

    def to_json(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "count": self.count,
            "mean": rounded(self.mean),
            "median": rounded(self.median),
            "p90": rounded(self.p90),
        }


@dataclass(frozen=True)
class Figures:
    """What a report shows for a set of scored turns (one run, a part or a pathway)."""

    node_accuracy: Ratio
    should_move: Ratio
    should_stay: Ratio
    conversations_fully_correct: Ratio
    precision: Ratio
    recall: Ratio
    calls: Spread
    prompt_tokens: Spread
    completion_tokens: Spread
    seconds: Spread
    calls_by_purpose: dict[str, float] = field(default_factory=dict)
    cached_tokens: Spread = field(default_factory=lambda: Spread.of([]))
    #: Mean seconds per turn spent in model calls of each purpose.
    seconds_by_purpose: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeAccuracy": self.node_accuracy.to_json(),
            "shouldMove": self.should_move.to_json(),
            "shouldStay": self.should_stay.to_json(),
            "conversationsFullyCorrect": self.conversations_fully_correct.to_json(),
            "extractionPrecision": self.precision.to_json(),
            "extractionRecall": self.recall.to_json(),
            "modelCallsPerTurn": self.calls.to_json(),
            "modelCallsPerTurnByPurpose": {k: round(v, 4) for k, v in self.calls_by_purpose.items()},
            "promptTokensPerTurn": self.prompt_tokens.to_json(),
            "cachedPromptTokensPerTurn": self.cached_tokens.to_json(),
            "modelSecondsPerTurnByPurpose": {k: round(v, 4) for k, v in self.seconds_by_purpose.items()},
            "completionTokensPerTurn": self.completion_tokens.to_json(),
            "secondsPerTurn": self.seconds.to_json(),
        }


def figures(conversations: Sequence[ConversationScore]) -> Figures:
    turns = [turn for conversation in conversations for turn in conversation.turns]
    sent = [turn for turn in turns if turn.usage is not None]
    purposes: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for turn in sent:
        assert turn.usage is not None
        for purpose, count in turn.usage.by_purpose.items():
            purposes[purpose] = purposes.get(purpose, 0) + count
        for purpose, spent in turn.usage.seconds_by_purpose.items():
            seconds[purpose] = seconds.get(purpose, 0.0) + spent
    return Figures(
        node_accuracy=ratio([turn.correct for turn in turns]),
        should_move=ratio([turn.correct for turn in turns if turn.should_move]),
        should_stay=ratio([turn.correct for turn in turns if not turn.should_move]),
        conversations_fully_correct=ratio([conversation.fully_correct for conversation in conversations]),
        precision=ratio([check.ok for turn in turns for check in turn.precision]),
        recall=ratio([check.ok for turn in turns for check in turn.recall]),
        calls=Spread.of([float(turn.usage.calls) for turn in sent if turn.usage]),
        prompt_tokens=Spread.of(
            [float(t.usage.prompt_tokens) for t in sent if t.usage and t.usage.prompt_tokens is not None]
        ),
        completion_tokens=Spread.of(
            [
                float(t.usage.completion_tokens)
                for t in sent
                if t.usage and t.usage.completion_tokens is not None
            ]
        ),
        seconds=Spread.of([turn.seconds for turn in sent if turn.seconds is not None]),
        calls_by_purpose={purpose: count / len(sent) for purpose, count in sorted(purposes.items())}
        if sent
        else {},
        cached_tokens=Spread.of(
            [float(t.usage.cached_tokens) for t in sent if t.usage and t.usage.cached_tokens is not None]
        ),
        seconds_by_purpose={purpose: spent / len(sent) for purpose, spent in sorted(seconds.items())}
        if sent
        else {},
    )


def confusion(conversations: Sequence[ConversationScore]) -> dict[str, dict[str, int]]:
    """Expected node -> actual node -> turns, for the turns of ``conversations``."""
    matrix: dict[str, dict[str, int]] = {}
    for conversation in conversations:
        for turn in conversation.turns:
            row = matrix.setdefault(turn.expected, {})
            row[turn.actual] = row.get(turn.actual, 0) + 1
    return {expected: dict(sorted(row.items())) for expected, row in sorted(matrix.items())}
