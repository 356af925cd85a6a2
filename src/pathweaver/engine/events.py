"""What a turn yields as it runs, and the trace built from it.

Every consumer reads the same events: the chat completions route streams the reply deltas
and client tool calls, the trace stored with the turn is folded from all of them, and the
interactive test API, the studio and future SSE extensions read that trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pathweaver.engine.state import TurnOutcome
from pathweaver.llm.base import ToolCallDelta, Usage


@dataclass(frozen=True, slots=True)
class ReplyDelta:
    text: str


@dataclass(frozen=True, slots=True)
class NodeEntered:
    node_id: str
    via: str  # "edge", "global", "goto"


@dataclass(frozen=True, slots=True)
class TransitionChosen:
    from_node: str
    to_node: str
    candidates: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class TransitionRejected:
    from_node: str
    choice: str
    reason: str
    candidates: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class DecisionMade:
    """Why the conversation moved or stayed after the user's message (smart and balance).

    ``decided_by``: ``expression`` (an expression edge held), ``model`` (the model chose
    among the options), ``filled`` (every value of the step was given), ``error`` (the
    model's answer or call failed: the session stays), ``none`` (no option applied), or
    ``greeting`` (the user's first message only greets: the session stays without a model
    call, :func:`pathweaver.engine.routing.only_greets`). ``options`` are (target,
    statement, via) in the order offered; ``scores`` the model's probability for "none" then each option, where known;
    ``similarities`` how close the user's words were to each statement (0 for "none"),
    where the model weighed them in.
    """

    node_id: str
    decided_by: str
    chosen: str | None
    options: tuple[tuple[str, str, str], ...] = ()
    scores: tuple[float, ...] | None = None
    check: float | None = None
    similarities: tuple[float, ...] | None = None
    expression: str | None = None
    edge_id: str | None = None
    errors: tuple[dict[str, str], ...] = ()
    latency_ms: float | None = None
    usage: Usage | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """Stored configuration a turn could not use as written, and what it did instead
    (``kind``: ``model_unavailable``, ``goto_cycle``). The turn goes on."""

    kind: str
    node_id: str
    message: str


@dataclass(frozen=True, slots=True)
class VariableSet:
    key: str
    value: Any


@dataclass(frozen=True, slots=True)
class VariableRejected:
    key: str
    reason: str


@dataclass(frozen=True, slots=True)
class ModelCalled:
    purpose: str
    model: str
    node_id: str
    latency_ms: float
    first_token_ms: float | None
    usage: Usage | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCalled:
    """A server-side tool call the model made (client tools go back to the caller instead)."""

    name: str
    arguments: str
    node_id: str


@dataclass(frozen=True, slots=True)
class ToolResulted:
    name: str
    content: str
    is_error: bool
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolsUnavailable:
    """Tools a node lists that could not be offered (a tool the project no longer has, an
    MCP server that did not list its tools): the node runs without them."""

    node_id: str
    problems: tuple[dict[str, str], ...]


@dataclass(frozen=True, slots=True)
class KnowledgeRetrieved:
    """Which chunks of a knowledge base went into a node's context this turn."""

    node_id: str
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TurnDone:
    outcome: TurnOutcome


TurnEvent = (
    ReplyDelta
    | ToolCallDelta
    | NodeEntered
    | TransitionChosen
    | TransitionRejected
    | DecisionMade
    | Notice
    | VariableSet
    | VariableRejected
    | ModelCalled
    | ToolCalled
    | ToolResulted
    | ToolsUnavailable
    | KnowledgeRetrieved
    | TurnDone
)


def _candidates(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"target": target, "condition": condition} for target, condition in pairs]


def _decision_json(decision: DecisionMade) -> dict[str, Any]:
    options: list[dict[str, Any]] = [{"target": None, "statement": "None of them: stay"}]
    options.extend({"target": t, "statement": text, "via": via} for t, text, via in decision.options)
    if decision.scores is not None and len(decision.scores) == len(options):
        for option, score in zip(options, decision.scores, strict=True):
            option["score"] = round(score, 4)
    if decision.similarities is not None and len(decision.similarities) == len(options):
        for option, similarity in zip(options[1:], decision.similarities[1:], strict=True):
            option["similarity"] = round(similarity, 4)
    out: dict[str, Any] = {
        "nodeId": decision.node_id,
        "decidedBy": decision.decided_by,
        "chosen": decision.chosen,
        "options": options if decision.options or decision.decided_by == "model" else [],
    }
    if decision.check is not None:
        out["check"] = round(decision.check, 4)
    if decision.expression is not None:
        out["expression"] = decision.expression
        out["edgeId"] = decision.edge_id
    if decision.errors:
        out["expressionErrors"] = list(decision.errors)
    if decision.latency_ms is not None:
        out["latencyMs"] = round(decision.latency_ms, 2)
        out["promptTokens"] = decision.usage.prompt_tokens if decision.usage else None
        out["completionTokens"] = decision.usage.completion_tokens if decision.usage else None
    if decision.error:
        out["error"] = decision.error
    return out


@dataclass
class Trace:
    """Folds a turn's events into the JSON stored with the turn."""

    node_before: str | None
    entered: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    variables_set: dict[str, Any] = field(default_factory=dict)
    variables_rejected: dict[str, str] = field(default_factory=dict)
    model_calls: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    tool_events: list[dict[str, Any]] = field(default_factory=list)
    knowledge: list[dict[str, Any]] = field(default_factory=list)

    def record(self, event: TurnEvent) -> None:
        match event:
            case NodeEntered(node_id=node_id, via=via):
                self.entered.append({"nodeId": node_id, "via": via})
            case TransitionChosen(from_node=src, to_node=dst, candidates=candidates):
                self.transitions.append(
                    {"from": src, "to": dst, "status": "chosen", "candidates": _candidates(candidates)}
                )
            case TransitionRejected(from_node=src, choice=choice, reason=reason, candidates=candidates):
                self.transitions.append(
                    {
                        "from": src,
                        "to": choice,
                        "status": "rejected",
                        "reason": reason,
                        "candidates": _candidates(candidates),
                    }
                )
            case DecisionMade() as decision:
                self.decisions.append(_decision_json(decision))
            case Notice(kind=kind, node_id=node_id, message=message):
                self.notices.append({"kind": kind, "nodeId": node_id, "message": message})
            case VariableSet(key=key, value=value):
                self.variables_set[key] = value
            case VariableRejected(key=key, reason=reason):
                self.variables_rejected[key] = reason
            case ModelCalled() as call:
                self.model_calls.append(
                    {
                        "purpose": call.purpose,
                        "model": call.model,
                        "nodeId": call.node_id,
                        "latencyMs": round(call.latency_ms, 2),
                        "firstTokenMs": None
                        if call.first_token_ms is None
                        else round(call.first_token_ms, 2),
                        "promptTokens": call.usage.prompt_tokens if call.usage else None,
                        "completionTokens": call.usage.completion_tokens if call.usage else None,
                        "cachedTokens": call.usage.cached_tokens if call.usage else None,
                        **({"error": call.error} if call.error else {}),
                    }
                )
            case ToolCalled(name=name, arguments=arguments, node_id=node_id):
                self.tool_events.append(
                    {"type": "tool_call", "name": name, "args": arguments, "nodeId": node_id}
                )
            case ToolResulted(name=name, content=content, is_error=is_error, record=record):
                self.tool_events.append(
                    {
                        "type": "tool_result",
                        "name": name,
                        "content": content,
                        "isError": is_error,
                        "record": record,
                    }
                )
            case ToolsUnavailable(node_id=node_id, problems=problems):
                self.tool_events.extend(
                    {"type": "tool_unavailable", "nodeId": node_id, **problem} for problem in problems
                )
            case KnowledgeRetrieved(node_id=node_id, record=record):
                self.knowledge.append({"nodeId": node_id, **record})
            case ReplyDelta() | ToolCallDelta() | TurnDone():
                pass

    def to_json(
        self, *, node_after: str | None, ended: bool, client_tool_calls: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "nodeBefore": self.node_before,
            "nodeAfter": node_after,
            "entered": self.entered,
            "transitions": self.transitions,
            "variables": {"set": self.variables_set, "rejected": self.variables_rejected},
            "decisions": self.decisions,
            "notices": self.notices,
            "modelCalls": self.model_calls,
            "toolEvents": self.tool_events,
            "knowledge": self.knowledge,
            "clientToolCalls": client_tool_calls,
            "ended": ended,
        }
