"""The report of a benchmark run: a text table for people and a JSON document for tools."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.routing.dataset import PathwaySet
from bench.routing.run import RunScores
from bench.routing.scoring import ConversationScore, Figures, Spread, confusion, figures


@dataclass(frozen=True)
class Selection:
    """What was run: the parts, whether only the smoke suites, and the pathways."""

    parts: tuple[str, ...]
    smoke: bool
    sets: tuple[PathwaySet, ...]

    @property
    def conversations(self) -> int:
        return sum(len(item.conversations) for item in self.sets)

    @property
    def turns(self) -> int:
        return sum(item.turns for item in self.sets)

    def to_json(self) -> dict[str, Any]:
        return {
            "parts": list(self.parts),
            "smoke": self.smoke,
            "pathways": [item.name for item in self.sets],
            "conversations": self.conversations,
            "turns": self.turns,
        }

    def text(self) -> str:
        smoke = " (smoke suites)" if self.smoke else ""
        return (
            f"Routing benchmark: part {'+'.join(self.parts)}{smoke}: {len(self.sets)} pathways, "
            f"{self.conversations} conversations, {self.turns} labelled turns"
        )


def _groups(scores: Sequence[ConversationScore], key: str) -> dict[str, list[ConversationScore]]:
    grouped: dict[str, list[ConversationScore]] = {}
    for score in scores:
        name = score.conversation.part if key == "part" else score.conversation.pathway
        grouped.setdefault(name, []).append(score)
    return dict(sorted(grouped.items()))


# JSON ----------------------------------------------------------------------------------


def report_json(selection: Selection, runs: Sequence[RunScores]) -> dict[str, Any]:
    return {"dataset": selection.to_json(), "runs": [_run_json(run) for run in runs]}


def _run_json(run: RunScores) -> dict[str, Any]:
    by_pathway = _groups(run.conversations, "pathway")
    return {
        "model": run.model,
        "mode": run.mode,
        "seconds": round(run.seconds, 2),
        "summary": figures(run.conversations).to_json(),
        "byPart": {
            part: figures(items).to_json() for part, items in _groups(run.conversations, "part").items()
        },
        "byPathway": {
            name: {**figures(items).to_json(), "confusion": confusion(items)}
            for name, items in by_pathway.items()
        },
        "errors": [
            {"conversation": score.conversation.name, "error": score.error}
            for score in run.conversations
            if score.error is not None
        ],
        "conversations": [score.to_json() for score in run.conversations],
    }


# Text ----------------------------------------------------------------------------------


def report_text(selection: Selection, runs: Sequence[RunScores]) -> str:
    lines = [selection.text(), ""]
    lines += _comparison(runs)
    for run in runs:
        lines += ["", *_run_text(run)]
    return "\n".join(lines) + "\n"


def _number(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _percent(figure: Any) -> str:
    value = figure.value
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _comparison(runs: Sequence[RunScores]) -> list[str]:
    header = (
        "model",
        "mode",
        "node",
        "move",
        "stay",
        "conv ok",
        "prec",
        "recall",
        "calls",
        "prompt",
        "compl",
        "s p50",
        "s p90",
    )
    rows = [header]
    for run in runs:
        found = figures(run.conversations)
        rows.append(
            (
                run.model,
                run.mode,
                _percent(found.node_accuracy),
                _percent(found.should_move),
                _percent(found.should_stay),
                _percent(found.conversations_fully_correct),
                _percent(found.precision),
                _percent(found.recall),
                _number(found.calls.mean, 2),
                _number(found.prompt_tokens.mean, 0),
                _number(found.completion_tokens.mean, 0),
                _number(found.seconds.median, 3),
                _number(found.seconds.p90, 3),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def _spread(spread: Spread, unit: str = "", digits: int = 1) -> str:
    if spread.count == 0:
        return "n/a"
    return (
        f"mean {_number(spread.mean, digits)}{unit}, median {_number(spread.median, digits)}{unit}, "
        f"p90 {_number(spread.p90, digits)}{unit}"
    )


def _figures_text(found: Figures) -> list[str]:
    purposes = ", ".join(f"{purpose} {count:.2f}" for purpose, count in found.calls_by_purpose.items())
    return [
        f"node accuracy                {found.node_accuracy.text()}",
        f"  turns that should move     {found.should_move.text()}",
        f"  turns that should stay     {found.should_stay.text()}",
        f"conversations fully correct  {found.conversations_fully_correct.text()}",
        f"extraction precision         {found.precision.text()}",
        f"extraction recall            {found.recall.text()}",
        f"model calls per turn         {_spread(found.calls, digits=2)}"
        + (f" ({purposes})" if purposes else ""),
        f"prompt tokens per turn       {_spread(found.prompt_tokens, digits=0)}",
        f"  of which cached            {_spread(found.cached_tokens, digits=0)}",
        f"completion tokens per turn   {_spread(found.completion_tokens, digits=0)}",
        f"wall time per turn           {_spread(found.seconds, ' s', digits=3)}",
        "  in model calls (mean)      "
        + (
            ", ".join(f"{purpose} {spent:.2f} s" for purpose, spent in found.seconds_by_purpose.items())
            or "n/a"
        ),
    ]


def _run_text(run: RunScores) -> list[str]:
    lines = [
        f"== model {run.model}, mode {run.mode} ({run.seconds:.1f} s)",
        *_figures_text(figures(run.conversations)),
    ]
    parts = _groups(run.conversations, "part")
    if len(parts) > 1:
        lines.append("by part:")
        for part, items in parts.items():
            found = figures(items)
            lines.append(
                f"  {part:8} node {found.node_accuracy.text()}, conversations {found.conversations_fully_correct.text()}, "
                f"precision {found.precision.text()}, recall {found.recall.text()}"
            )
    lines.append("by pathway (node accuracy; then expected node -> actual node: turns, wrong ones marked *):")
    for name, items in _groups(run.conversations, "pathway").items():
        found = figures(items)
        lines.append(
            f"  {name:26} {found.node_accuracy.text()}  conversations {found.conversations_fully_correct.text()}"
        )
        for expected, row in confusion(items).items():
            cells = ", ".join(
                f"{'' if actual == expected else '*'}{actual} {count}" for actual, count in row.items()
            )
            lines.append(f"      {expected:22} -> {cells}")
    errors = [score for score in run.conversations if score.error is not None]
    if errors:
        lines.append("conversations that could not run to the end:")
        lines += [f"  {score.conversation.name}: {score.error}" for score in errors]
    return lines
