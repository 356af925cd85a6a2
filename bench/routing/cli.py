"""``python -m bench.routing``: run the labelled conversations and report routing accuracy.

Exit codes: 0 when every conversation ran (whatever the accuracy), 1 when one could not
run to the end (a model or engine error), 2 on bad arguments or unsound labels.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from bench.routing.dataset import PARTS, Part, PathwaySet, label_problems, load
from bench.routing.report import Selection, report_json, report_text
from bench.routing.run import DEFAULT_LOCAL_MODEL, ModelKind, ModelSpec, RunScores, run
from bench.routing.scoring import ConversationScore
from pathweaver.config import load_settings

MODES = ("smart", "balance", "turbo")
MODEL_KINDS = ("auto", "local", "upstream", "fake")


def _listed(values: Sequence[str] | None) -> list[str]:
    """Repeated and comma-separated option values, in order, once each."""
    found = [part.strip() for value in values or () for part in value.split(",") if part.strip()]
    return list(dict.fromkeys(found))


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="python -m bench.routing",
        description="Routing benchmark: labelled conversations run through the conversation service.",
    )
    parse.add_argument(
        "--model",
        action="append",
        metavar="KIND",
        help="auto (default: the upstream of PATHWEAVER_LLM_* if set, else the embedded model), "
        "local, upstream or fake; repeat or comma-separate to compare",
    )
    parse.add_argument("--fake", action="store_true", help="the scripted model (same as --model fake)")
    parse.add_argument(
        "--local-model",
        action="append",
        metavar="NAME",
        help=f"the embedded model for --model local (default {DEFAULT_LOCAL_MODEL}; e.g. qwen2.5-coder-0.5b); "
        "repeat to compare",
    )
    parse.add_argument(
        "--mode",
        action="append",
        metavar="MODE",
        help="smart, balance or turbo, overriding the agents' executionMode; repeat or comma-separate to compare",
    )
    parse.add_argument(
        "--part",
        choices=("tuning", "heldout", "all"),
        default="tuning",
        help="which conversations (default tuning; heldout is not for prompt tuning)",
    )
    parse.add_argument(
        "--smoke", action="store_true", help="only the smoke suites: a few short conversations"
    )
    parse.add_argument(
        "--pathway", action="append", metavar="NAME", help="only these pathways (agent file names)"
    )
    parse.add_argument("--json", type=Path, metavar="FILE", help="also write the full report as JSON here")
    parse.add_argument(
        "--data-dir", type=Path, help="overrides PATHWEAVER_DATA_DIR (where the model weights are)"
    )
    parse.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parse


def _specs(args: argparse.Namespace, upstream_set: bool) -> list[ModelSpec]:
    kinds = _listed(args.model) or (["fake"] if args.fake else ["auto"])
    if args.fake and "fake" not in kinds:
        kinds.append("fake")
    unknown = [kind for kind in kinds if kind not in MODEL_KINDS]
    if unknown:
        raise ValueError(f"unknown --model {', '.join(unknown)}; use {', '.join(MODEL_KINDS)}")
    local_names = _listed(args.local_model) or [DEFAULT_LOCAL_MODEL]
    specs: list[ModelSpec] = []
    for kind in kinds:
        if kind == "auto":
            kind = "upstream" if upstream_set else "local"
        if kind == "local":
            specs += [ModelSpec("local", name) for name in local_names]
        else:
            specs.append(ModelSpec(cast(ModelKind, kind)))
    return list(dict.fromkeys(specs))


def _modes(args: argparse.Namespace) -> list[str | None]:
    modes = _listed(args.mode)
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown:
        raise ValueError(f"unknown --mode {', '.join(unknown)}; use {', '.join(MODES)}")
    return list(modes) or [None]


def _selected(args: argparse.Namespace) -> tuple[tuple[Part, ...], list[PathwaySet]]:
    parts: tuple[Part, ...] = PARTS if args.part == "all" else (cast(Part, args.part),)
    sets = load(parts, smoke=args.smoke)
    wanted = _listed(args.pathway)
    if wanted:
        missing = sorted(set(wanted) - {item.name for item in sets})
        if missing:
            raise ValueError(f"no conversations for pathway {', '.join(missing)} in this selection")
        sets = [item for item in sets if item.name in wanted]
    if not sets:
        raise ValueError("the selection holds no conversations")
    return parts, sets


def _progress(model: str, mode: str, score: ConversationScore) -> None:
    correct = sum(turn.correct for turn in score.turns)
    seconds = sum(turn.seconds or 0.0 for turn in score.turns)
    error = f"  error: {score.error}" if score.error else ""
    print(
        f"[{model} {mode}] {score.conversation.name}: {correct}/{len(score.turns)} nodes, {seconds:.1f} s{error}",
        file=sys.stderr,
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = load_settings(data_dir=args.data_dir)
    try:
        specs = _specs(args, upstream_set=bool(settings.llm_base_url))
        modes = _modes(args)
        parts, sets = _selected(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problems = label_problems(sets)
    if problems:
        print("error: the labels are not sound:", *problems, sep="\n  ", file=sys.stderr)
        return 2
    selection = Selection(parts, args.smoke, tuple(sets))
    runs: list[RunScores] = []
    for spec in specs:
        try:
            runs += asyncio.run(run(spec, modes, sets, settings, None if args.quiet else _progress))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(report_text(selection, runs), end="")
    if args.json is not None:
        args.json.write_text(
            json.dumps(report_json(selection, runs), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    failed = any(score.error is not None for found in runs for score in found.conversations)
    return 1 if failed else 0
