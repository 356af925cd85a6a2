"""The routing decision: which node the conversation moves to after the user's message.

In ``smart`` and ``balance`` modes the decision is its own question, asked before the
reply and never mixed with it (``turbo`` keeps the single call that replies with a
transition tool offered; see :mod:`pathweaver.engine.turn`):

1. **Expression edges first.** An edge with ``data.expression`` is decided by its
   expression over the variables (:mod:`pathweaver.agent.expressions`), in edge order,
   without a model call. A true expression moves the session; an expression that fails
   (a value of the wrong type) counts as false and is recorded.
2. **Then one constrained choice** among the plain-language options: the current node's
   other edges (edges to one target merged, their conditions joined with "or") and every
   global node (described by ``globalNodeReason``), plus "none of them": stay.

The choice is framed for small models, as measured on ``bench/routing``: the options are
numbered statements about the user's last message, "0. None of them" first, the last
exchange quoted so that it is in focus, and the answer is a number decoded under a schema.
The request carries the reply's own prompt (system and history) with the question after it,
so hosted prompt caches serve the shared part; it also carries the last exchange, which the
embedded model asks about in a short prompt of its own, with a cached prefix of its own that
never evicts the conversation's, reading its scores for the numbers.

A decision that is not one of the options, a truncated or invalid answer, or a failed
call never moves the session: it is recorded and the turn goes on at the current node.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pathweaver.agent.expressions import ExpressionError
from pathweaver.agent.pathway import Node, Pathway
from pathweaver.llm.base import Message, StructuredRequest, StructuredResult, ToolSpec

#: How much of the last exchange the question quotes (characters per side).
QUOTE_CHARS = 600
NONE_OPTION = "None of them"
#: Where a model checks the option it picked (the embedded model answers yes or no to it,
#: :attr:`StructuredResult.check`), how sure it must be to move: along an edge of the node,
#: more likely than not; to a global node, more. A wrong jump to a global node derails the
#: conversation and often ends it ("talk to a person", then a callback), while staying
#: costs one reply the user answers again. On the embedded 1.5B model, small talk jumped to
#: the demo's global node with P(yes) 0.61 (twice), a real request for a manager scored 0.73.
#: An edge into an end node has the stricter bar too: a wrong move there ends the session
#: ("Hi, I need to move my appointment" went to "wants to book or cancel, not move" at 0.67
#: and the conversation was over), while "no thanks, bye" and "yes perfect" scored 0.8 to 0.9.
CHECK_BAR = {"edge": 0.5, "global": 0.7, "end": 0.7}


@dataclass(frozen=True, slots=True)
class Option:
    """One place the conversation may move to: a target node and the statement for it."""

    target: str
    statement: str
    via: str  # "edge" or "global"
    ends: bool = False  # the target is an end node


@dataclass(frozen=True, slots=True)
class ExpressionResult:
    """What the expression edges of a node decided: a target, or None; and what failed."""

    target: str | None
    edge_id: str | None
    expression: str | None
    errors: tuple[dict[str, str], ...]


def model_options(pathway: Pathway, node: Node) -> list[Option]:
    """The plain-language options at ``node`` (expression edges are not among them).

    An end node offers nothing; a global node leaves only by its own edges.
    """
    if node.data.type == "end":
        return []
    statements: dict[str, list[str]] = {}
    via: dict[str, str] = {}
    for edge in pathway.edges_from(node.id):
        if edge.expression is not None or edge.target not in pathway.node_by_id:
            continue
        statements.setdefault(edge.target, []).append(edge.condition or f"go to {edge.target}")
        via[edge.target] = "edge"
    if not node.is_global:
        for glob in pathway.global_nodes:
            if glob.id != node.id and glob.id not in statements:
                reason = glob.data.global_node_reason or glob.data.display_title or glob.id
                statements[glob.id] = [reason]
                via[glob.id] = "global"
    return [
        Option(target, " or ".join(parts), via[target], pathway.node_by_id[target].data.type == "end")
        for target, parts in statements.items()
    ]


#: A "filled step" (below): how close an edge's condition must be to "the user has given
#: their <the node's variables>", and how much closer than the node's next closest edge.
FILLED_SIMILARITY = 0.6
FILLED_MARGIN = 0.15


def filled_statement(node: Node) -> str | None:
    """ "The user has given their patient name and email": what the condition of a node's
    way forward says when the node asks for its variables (None without variables)."""
    words = [key.replace("_", " ").replace("-", " ") for key in node.data.variable_keys]
    if not words:
        return None
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return f"The user has given their {listed}"


def filled_candidate(options: Sequence[Option], similarities: Sequence[float] | None) -> Option | None:
    """The edge whose condition is the node's :func:`filled_statement` in other words, if
    one clearly is: at least :data:`FILLED_SIMILARITY`, and :data:`FILLED_MARGIN` above every
    other edge ("The user has given their name and email" at the node asking for both; not
    at a node whose edges all speak of its one value, as "accepts the slot" and "refuses
    the slot" both do). ``similarities`` are the edge options', in order."""
    edges = [option for option in options if option.via == "edge"]
    if similarities is None or len(similarities) != len(edges) or not edges:
        return None
    ranked = sorted(zip(similarities, range(len(edges)), strict=True), reverse=True)
    best, index = ranked[0]
    runner_up = ranked[1][0] if len(ranked) > 1 else -1.0
    if best >= FILLED_SIMILARITY and best - runner_up >= FILLED_MARGIN:
        return edges[index]
    return None


def filled_now(node: Node, before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether every variable of ``node`` has a value now and one of them got it this turn."""
    keys = node.data.variable_keys
    return (
        bool(keys)
        and all(after.get(key) is not None for key in keys)
        and any(before.get(key) != after.get(key) for key in keys)
    )


def reachable(pathway: Pathway, node: Node) -> list[str]:
    """The nodes one move away from ``node`` (edges of both kinds, global nodes, through gotos).

    Extraction also reads the keys these nodes declare, so that a value the user gives
    before its question ("a table for four, tomorrow at 7") is kept from the turn it is said.
    """
    if node.data.type == "end":
        return []
    found: list[str] = []
    targets = [edge.target for edge in pathway.edges_from(node.id)]
    if not node.is_global:
        targets.extend(glob.id for glob in pathway.global_nodes)
    for target in targets:
        hops = 0
        current = pathway.node(target)
        while current is not None and hops < 8:
            found.append(current.id)
            if current.data.type != "goto" or current.data.reference_node_id is None:
                break
            current = pathway.node(current.data.reference_node_id)
            hops += 1
    return list(dict.fromkeys(found))


#: Words a first message may hold and still only greet: "hi", "Morning", "hey there, how
#: are you?". At least one of :data:`_HELLOS` must be among them ("good" alone may be an
#: answer).
_HELLOS = frozenset(
    [
        "hi",
        "hii",
        "hello",
        "hallo",
        "helo",
        "hey",
        "heya",
        "hiya",
        "howdy",
        "yo",
        "greetings",
        "morning",
        "afternoon",
        "evening",
    ]
)
_GREETING = _HELLOS | frozenset(
    [
        "good",
        "there",
        "how",
        "are",
        "you",
        "doing",
        "today",
        "it",
        "s",
        "going",
        "everyone",
        "all",
        "folks",
        "team",
    ]
)
_GREETING_STATEMENT = re.compile(r"\b(greet\w*|hello|hi|says? hey|small talk|chit-?chat)\b", re.IGNORECASE)


def only_greets(conversation: Sequence[Message]) -> bool:
    """Whether the user's message is their first and only greets ("hi", "Good morning!").

    No statement about what the user wants can be true of it, yet the embedded 1.5B model's
    check held such statements true: "hello!" was a request for information (0.71),
    "Morning" a loan application (0.59), "hi" a billing question (0.63). So a greeting moves
    nowhere without a model call, unless an option is itself about greeting
    (:func:`about_greeting`). Later in a conversation "morning" may be an answer ("morning
    or afternoon?"), so only the first message counts.
    """
    said = [m.content for m in conversation if m.role == "user"]
    if len(said) != 1 or not said[0]:
        return False
    words = re.findall(r"[^\W\d_]+|\d+", said[0].casefold())
    return 0 < len(words) <= 8 and all(w in _GREETING for w in words) and any(w in _HELLOS for w in words)


def about_greeting(statement: str) -> bool:
    """Whether a condition speaks of greeting ("The user says hello"): then a greeting may move."""
    return _GREETING_STATEMENT.search(statement) is not None


def has_expressions(pathway: Pathway, node: Node) -> bool:
    return node.data.type != "end" and any(e.expression is not None for e in pathway.edges_from(node.id))


def evaluate_expressions(pathway: Pathway, node: Node, variables: Mapping[str, Any]) -> ExpressionResult:
    """The first expression edge of ``node`` that holds, in edge order."""
    errors: list[dict[str, str]] = []
    if node.data.type == "end":
        return ExpressionResult(None, None, None, ())
    for edge in pathway.edges_from(node.id):
        if edge.expression is None or edge.target not in pathway.node_by_id:
            continue
        parsed = pathway.expression(edge.id)
        if parsed is None:
            errors.append({"edgeId": edge.id, "error": "the expression does not parse; fix data.expression"})
            continue
        try:
            holds = parsed.evaluate(variables)
        except ExpressionError as error:
            errors.append({"edgeId": edge.id, "error": str(error)})
            continue
        if holds:
            return ExpressionResult(edge.target, edge.id, parsed.text, tuple(errors))
    return ExpressionResult(None, None, None, tuple(errors))


def _quote(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


def last_exchange(conversation: Sequence[Message]) -> tuple[str, str]:
    """(the assistant's last words before the user's last message, that message)."""
    said = next((m.content for m in reversed(conversation) if m.role == "user" and m.content), "")
    last_user = max((i for i, m in enumerate(conversation) if m.role == "user"), default=len(conversation))
    asked = next(
        (m.content for m in reversed(conversation[:last_user]) if m.role == "assistant" and m.content), ""
    )
    return _quote(asked), _quote(said)


def question(options: Sequence[Option], conversation: Sequence[Message]) -> str:
    """The routing question that follows the history: the last exchange, then the statements."""
    asked, said = last_exchange(conversation)
    lines = ["Routing check: this message is not from the user; do not reply to the user."]
    if asked:
        lines.append(f'Your last message: "{asked}"')
    lines.append(f'The user\'s reply: "{said}"')
    lines.append("")
    lines.append("Which of these statements is true of the user's reply?")
    lines.append(f"0. {NONE_OPTION}")
    lines.extend(f"{number}. {option.statement}" for number, option in enumerate(options, start=1))
    lines.append("")
    lines.append("Answer with the number of the true statement only (0 if none of them is true).")
    return "\n".join(lines)


def request(
    context: Sequence[Message],
    options: Sequence[Option],
    conversation: Sequence[Message],
    *,
    context_tools: Sequence[ToolSpec] = (),
) -> StructuredRequest:
    """The decision call: the reply's own prompt (system and history), then the question."""
    count = len(options) + 1
    return StructuredRequest(
        messages=(*context, Message(role="user", content=question(options, conversation))),
        schema={
            "type": "object",
            "properties": {"choice": {"type": "integer", "enum": list(range(count))}},
            "required": ["choice"],
            "additionalProperties": False,
        },
        name="route",
        max_tokens=16,
        purpose="decide",
        options=(NONE_OPTION, *(option.statement for option in options)),
        exchange=last_exchange(conversation),
        context_tools=tuple(context_tools),
    )


def chosen(result: StructuredResult, options: Sequence[Option]) -> tuple[Option | None, str | None]:
    """(the option chosen or None to stay, None) or (None, why the answer was refused).

    A pick the model's own check holds below :data:`CHECK_BAR` for its kind stays."""
    choice = result.value.get("choice")
    if isinstance(choice, bool) or not isinstance(choice, int | str):
        return None, f"the answer {choice!r} is not one of the options"
    try:
        number = int(choice)
    except ValueError:
        return None, f"the answer {choice!r} is not one of the options"
    if number == 0:
        return None, None
    if 1 <= number <= len(options):
        option = options[number - 1]
        bar = max(CHECK_BAR[option.via], CHECK_BAR["end"] if option.ends else 0.0)
        if result.check is not None and result.check < bar:
            return None, None  # the model does not hold its pick true enough: stay
        return option, None
    return None, f"the answer {number} is not one of the options 0 to {len(options)}"
