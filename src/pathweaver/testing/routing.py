"""How well the model routes out of one node: paraphrases of each option, and the decisions.

For every option the model has at a node (each outgoing edge, edges to one target merged
as the engine merges them, and every global node a regular node may jump to), the model
writes ``per_option`` user messages that clearly meet the option's condition (positives)
and as many near misses that do not. Each message then goes through the transition
decision exactly as the engine makes it: the node's system prompt and the transition tool
(``engine/prompt.py``), with the message as the user's turn. The report gives, per option,
how many positives were routed to it and how many near misses were kept away from it, and
a confusion matrix of the positives (rows: the option meant, columns: the choice made,
``(stay)`` for no transition and ``(invalid)`` for a choice that is not an option).

Cached, so a rerun after no edit makes no model call, and one after an edit makes only
the calls the edit needs: paraphrases are keyed by (condition, model name, count) and
decisions by (the fingerprint of the whole decision request, model name). The request
holds the node prompt, the global prompt and every option's condition, so any of those
edits re-asks the decisions and reuses the paraphrases of unchanged conditions. The cache
is one JSON file (``<data dir>/routing-check.json``), written atomically. Decisions are
asked with the clock fixed at :data:`FIXED_NOW` (so the request, and its key, are stable).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.pathway import Pathway
from pathweaver.engine import prompt, routing
from pathweaver.engine.turn import effective_mode
from pathweaver.errors import LLMError, NotFound, UserError
from pathweaver.llm.base import ChatRequest, Message, Model, StructuredRequest, collect, step_last
from pathweaver.llm.cassette import fingerprint, request_json

STAY = "(stay)"
INVALID = "(invalid)"
FIXED_NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
CACHE_FILE = "routing-check.json"
_CACHE_VERSION = 1

GENERATOR_INSTRUCTIONS = (
    "You write test messages for the router of a conversational agent. The router reads a condition "
    "and decides whether the user's last message meets it. Given one condition, write {n} different "
    "user messages that clearly meet it (varied like real users: short, long, indirect, informal), and "
    "{n} near misses: messages on a similar subject that do NOT meet it. Each message is what the user "
    "types, nothing else."
)


@dataclass(frozen=True)
class Option:
    target: str
    condition: str
    positives: tuple[str, ...] = ()
    negatives: tuple[str, ...] = ()
    #: Why no paraphrases could be made for this option (the model failed or answered badly).
    error: str | None = None


@dataclass(frozen=True)
class Probe:
    text: str
    #: The option the message was written for.
    option: str
    positive: bool
    chosen: str

    @property
    def correct(self) -> bool:
        return self.chosen == self.option if self.positive else self.chosen != self.option


@dataclass(frozen=True)
class RoutingReport:
    node_id: str
    model: str
    options: tuple[Option, ...]
    probes: tuple[Probe, ...]
    #: Model calls this check made (0 when everything came from the cache).
    model_calls: int = 0

    @property
    def labels(self) -> list[str]:
        return [option.target for option in self.options]

    def matrix(self) -> dict[str, dict[str, int]]:
        """Positives only: ``matrix[meant][chosen]`` counts."""
        columns = [*self.labels, STAY, INVALID]
        out = {label: dict.fromkeys(columns, 0) for label in self.labels}
        for probe in self.probes:
            if probe.positive:
                out[probe.option][probe.chosen if probe.chosen in columns else INVALID] += 1
        return out

    def accuracy(self) -> list[dict[str, Any]]:
        rows = []
        for option in self.options:
            mine = [probe for probe in self.probes if probe.option == option.target]
            positives = [probe for probe in mine if probe.positive]
            negatives = [probe for probe in mine if not probe.positive]
            right = sum(probe.correct for probe in mine)
            rows.append(
                {
                    "target": option.target,
                    "condition": option.condition,
                    "positives": len(positives),
                    "positivesRouted": sum(probe.correct for probe in positives),
                    "nearMisses": len(negatives),
                    "nearMissesKeptOut": sum(probe.correct for probe in negatives),
                    "accuracy": round(right / len(mine), 3) if mine else None,
                    "error": option.error,
                }
            )
        return rows

    @property
    def exit_code(self) -> int:
        """0 when every probe was routed right and every option had probes, else 1."""
        ok = all(probe.correct for probe in self.probes) and not any(o.error for o in self.options)
        return 0 if ok else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeId": self.node_id,
            "model": self.model,
            "modelCalls": self.model_calls,
            "options": self.accuracy(),
            "confusion": self.matrix(),
            "probes": [
                {
                    "text": p.text,
                    "option": p.option,
                    "positive": p.positive,
                    "chosen": p.chosen,
                    "correct": p.correct,
                }
                for p in self.probes
            ],
        }

    def text(self) -> str:
        calls = f"{self.model_calls} model call{'s' if self.model_calls != 1 else ''}"
        lines = [
            f'Routing check of node "{self.node_id}" with {self.model} ({len(self.probes)} probes, {calls})',
            "",
        ]
        width = max([len("option"), *(len(label) for label in self.labels)])
        lines.append(f"{'option':{width}}  positives  near misses  accuracy")
        for row in self.accuracy():
            if row["error"]:
                lines.append(f"{row['target']:{width}}  {row['error']}")
                continue
            accuracy = "-" if row["accuracy"] is None else f"{row['accuracy']:.0%}"
            lines.append(
                f"{row['target']:{width}}  {row['positivesRouted']:>3}/{row['positives']:<5}"
                f"  {row['nearMissesKeptOut']:>4}/{row['nearMisses']:<6}  {accuracy:>8}"
            )
        matrix = self.matrix()
        columns = [*self.labels, STAY, INVALID]
        lines += ["", "Positives (rows: meant, columns: chosen)"]
        lines.append(" " * width + "  " + "  ".join(columns))
        for label in self.labels:
            counts = "  ".join(f"{matrix[label][column]:>{len(column)}}" for column in columns)
            lines.append(f"{label:{width}}  {counts}")
        wrong = [probe for probe in self.probes if not probe.correct]
        if wrong:
            lines += ["", "Misrouted"]
            for probe in wrong:
                kind = "meant for" if probe.positive else "a near miss of"
                lines.append(f"  {probe.text!r} ({kind} {probe.option}) -> {probe.chosen}")
        return "\n".join(lines) + "\n"


class RoutingCache:
    """Paraphrases and decisions already paid for, in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.paraphrases: dict[str, dict[str, list[str]]] = {}
        self.decisions: dict[str, str] = {}
        if path.is_file():
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                raw = {}  # a damaged cache is only a cache: start again
            if isinstance(raw, dict) and raw.get("version") == _CACHE_VERSION:
                self.paraphrases = dict(raw.get("paraphrases") or {})
                self.decisions = dict(raw.get("decisions") or {})

    @classmethod
    def in_dir(cls, data_dir: Path) -> RoutingCache:
        return cls(data_dir / CACHE_FILE)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"version": _CACHE_VERSION, "paraphrases": self.paraphrases, "decisions": self.decisions}
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        try:
            temporary.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


async def check_routing(
    model: Model,
    agent: AgentConfig,
    pathway: Pathway,
    node_id: str,
    cache: RoutingCache,
    *,
    per_option: int = 5,
) -> RoutingReport:
    """Paraphrase each option at ``node_id``, route every paraphrase, report (and cache)."""
    node = pathway.node(node_id)
    if node is None:
        raise NotFound(f'the pathway has no node "{node_id}"')
    candidates = prompt.transition_candidates(pathway, node)
    if not candidates:
        raise UserError(f'node "{node_id}" offers no transition (no edges out, no global node to jump to)')
    calls = 0
    options = []
    for target, condition in candidates:
        key = _key("paraphrases", condition, model.name, per_option)
        if key not in cache.paraphrases:
            calls += 1
            try:
                cache.paraphrases[key] = await _paraphrase(model, condition, per_option)
            except (LLMError, ValueError) as exc:
                reason = exc.message if isinstance(exc, LLMError) else str(exc)
                options.append(Option(target, condition, error=f"no paraphrases: {reason}"))
                continue
        made = cache.paraphrases[key]
        options.append(Option(target, condition, tuple(made["positives"]), tuple(made["negatives"])))

    # The decision as the engine makes it in the agent's mode: its own call (smart, balance),
    # or the transition tool offered with the reply (turbo).
    turbo = effective_mode(agent, model) == "turbo"
    system = prompt.system_prompt(
        agent, node, session_vars={}, extracted={}, now=FIXED_NOW, offer_transition=turbo
    )
    tool = prompt.transition_tool(candidates)
    choices = routing.model_options(pathway, node)
    allowed = {target for target, _ in candidates}
    probes = []
    for option in options:
        for text, positive in [
            *((t, True) for t in option.positives),
            *((t, False) for t in option.negatives),
        ]:
            said = (Message(role="user", content=text),)
            request: ChatRequest | StructuredRequest
            if turbo:
                request = ChatRequest(
                    messages=(Message(role="system", content=system), *said),
                    tools=(tool,),
                    purpose="route+reply",
                )
            else:
                context = prompt.context(
                    agent,
                    node,
                    said,
                    session_vars={},
                    extracted={},
                    now=FIXED_NOW,
                    offer_transition=False,
                    step_last=step_last(model),
                )
                request = routing.request(context, choices, said)
            key = _key("decision", fingerprint(request_json(request)), model.name)
            if key not in cache.decisions:
                calls += 1
                cache.decisions[key] = await _decide(model, request, allowed, choices)
            probes.append(Probe(text, option.target, positive, cache.decisions[key]))
    cache.save()
    return RoutingReport(node_id, model.name, tuple(options), tuple(probes), calls)


async def _paraphrase(model: Model, condition: str, count: int) -> dict[str, list[str]]:
    text = {"type": "string", "minLength": 1, "maxLength": 400}
    listed = {"type": "array", "items": text, "minItems": count, "maxItems": count}
    request = StructuredRequest(
        messages=(
            Message(role="system", content=GENERATOR_INSTRUCTIONS.format(n=count)),
            Message(role="user", content=f"Condition: {condition}"),
        ),
        schema={
            "type": "object",
            "properties": {"positives": listed, "negatives": listed},
            "required": ["positives", "negatives"],
            "additionalProperties": False,
        },
        name="paraphrases",
        max_tokens=120 + 80 * count,
        purpose="paraphrase",
    )
    value = (await model.structured(request)).value
    return {kind: _texts(value.get(kind), kind) for kind in ("positives", "negatives")}


def _texts(raw: object, kind: str) -> list[str]:
    if (
        not isinstance(raw, list)
        or not raw
        or not all(isinstance(item, str) and item.strip() for item in raw)
    ):
        raise ValueError(f"the model's {kind} are not a list of messages ({str(raw)[:120]})")
    return [item.strip() for item in raw]


async def _decide(
    model: Model,
    request: ChatRequest | StructuredRequest,
    allowed: set[str],
    choices: Sequence[routing.Option],
) -> str:
    if isinstance(request, StructuredRequest):
        try:
            chosen, why = routing.chosen(await model.structured(request), choices)
        except LLMError:
            return INVALID
        if why is not None:
            return INVALID
        return chosen.target if chosen is not None else STAY
    result = await collect(model.stream(request))
    call = next((c for c in result.tool_calls if c.name == prompt.TRANSITION_TOOL), None)
    if call is None:
        return STAY
    try:
        choice = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        return INVALID
    target = choice.get("next") if isinstance(choice, Mapping) else None
    return target if isinstance(target, str) and target in allowed else INVALID
