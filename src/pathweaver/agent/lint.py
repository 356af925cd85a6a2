"""Path-aware lint of a pathway: what ``validate_pathway`` cannot see one node at a time.

``lint_pathway`` returns every :class:`Finding`, errors first. It includes the findings of
``validate_pathway`` (so one command gates a CI pipeline), and adds what needs the paths
through the graph:

* ``unreachable_node`` (warning): no path from the start node leads there.
* ``dead_end`` (error): a start or prompt node with no way on: no edge out, no global node
  to jump to, no built-in ending tool. The conversation is stuck there for good. (Not
  checked, like the cycles below, in a pathway with no end at all: validation reports that.)
* ``global_no_return``: a global node from which no edge (or chain of edges) leads back
  to a regular node. An error when it cannot end either (a trap any turn can fall into),
  a warning when it can only end (a user sent there by a misread message cannot go back)
  or when the pathway has no end at all.
* ``goto_cycle`` (error): gotos that point at each other (a turn that enters them fails).
* ``cycle_without_exit`` (error): nodes that lead only to each other, none of them ending.
* ``variable_never_set`` (error), ``variable_maybe_unset`` (warning),
  ``undeclared_variable`` (error): a ``{{name}}`` read in a node prompt, the global prompt
  or an enabled prompt module, checked against the variables that can be known there.
* ``duplicate_condition`` (error) and ``similar_conditions`` (warning): edges out of one
  node (or an edge and a global node's reason, which the model sees beside it) that say
  the same thing, so the model cannot tell them apart. One finding per group: a node with
  1,600 edges of one condition gets one finding, not a million pairs.

Variables. A name is known at a node when it is a *session variable* the agent declares
(``sessionVariables``, a Pathweaver extension of the agent config: the names callers pass
when they create a session), or an extracted variable (``variableConfigs``) that a node on
**every** path from the start node to this one (strictly before it) collects in its
``variableKeys``. That is a forward must-analysis (the intersection over paths), computed
as a dataflow over the graph with one bit per variable; a may-analysis (the union) tells
"never set on any path" (an error: the model always sees the placeholder as written)
from "not set on some paths" (a warning, with one such path as the example). In ``turbo``
mode every node extracts every key. The engine leaves an unknown placeholder as written,
so each of these is text the model reads literally.

Global jumps: any regular node (start or non-global prompt) may jump to any global node.
The graph gets one extra hub vertex for that (regular -> hub -> every global), which keeps
it O(nodes + edges); the dataflow is O((nodes + edges) x variables).

Near-duplicate conditions: see ``agent/conditions.py`` for the measure and its threshold.
Pairs of edges to the same target are never compared: the engine merges them into one option.
Exact duplicates are grouped in linear time; near duplicates are clustered, with at most
:data:`MAX_COMPARISONS` comparisons per lint (``conditions_not_compared`` counts the rest).
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pathweaver.agent.conditions import NEGATIONS, SIMILARITY_THRESHOLD, condition_words, jaccard, normalise
from pathweaver.agent.config import PLACEHOLDER, AgentConfig
from pathweaver.agent.pathway import Node, Pathway
from pathweaver.agent.validation import BUILTIN_TOOLS, validate_pathway

Severity = Literal["error", "warning"]


#: Validation rules that the lint computes itself, path-aware (so they are not repeated).
_REPLACED = frozenset({"unreachable_node", "cannot_reach_end", "goto_cycle"})
_HUB = "\x00globals"  # the vertex standing for "jump to any global node"; never a node id
_REGULAR_KINDS = ("start", "prompt")
_SPEAKING_KINDS = ("start", "prompt", "end")
_SHOWN = 3  # nodes named in a message before "and N more"
#: Pairs of conditions one lint compares at most (a few microseconds each): bounded work
#: for a node with thousands of edges (findings beyond are counted, not listed).
MAX_COMPARISONS = 100_000
#: Findings the JSON output lists at most; ``omitted`` counts the rest.
MAX_LISTED = 1_000


@dataclass(frozen=True)
class Finding:
    """One problem the lint found, and where."""

    #: A stable name for the rule, e.g. ``dead_end``.
    code: str
    severity: Severity
    #: A sentence for people: names the node or edge and says what to fix.
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    #: A path into the pathway's (or the agent's) JSON, e.g. ``nodes[3].data.prompt``.
    field: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """Always the same keys, ``null`` where a finding has no node, edge or field."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "nodeId": self.node_id,
            "edgeId": self.edge_id,
            "field": self.field,
        }


def findings_json(findings: Sequence[Finding]) -> dict[str, Any]:
    """``{"ok", "errors", "warnings", "findings": [...], "omitted"}``: the lint's JSON output.

    ``findings`` lists at most :data:`MAX_LISTED` (errors first); ``omitted`` counts the
    rest, which ``errors`` and ``warnings`` still include.
    """
    errors = sum(1 for finding in findings if finding.severity == "error")
    return {
        "ok": errors == 0,
        "errors": errors,
        "warnings": len(findings) - errors,
        "findings": [finding.to_json() for finding in findings[:MAX_LISTED]],
        "omitted": max(0, len(findings) - MAX_LISTED),
    }


def lint_pathway(
    pathway: Pathway,
    agent: AgentConfig,
    tool_ids: set[str] | None = None,
    session_variables: Collection[str] | None = None,
) -> list[Finding]:
    """Every finding for ``pathway`` run by ``agent``: errors first; within a severity,
    validation's, then structure, variables and conditions, each in pathway order.

    ``tool_ids`` are the project's tool config ids (``None``: tools are not checked, as in
    ``validate_pathway``). ``session_variables`` defaults to the agent's
    ``sessionVariables`` (the proposed extension; none while the config lacks it).
    """
    if session_variables is None:
        session_variables = getattr(agent, "session_variables", None) or ()
    report = validate_pathway(pathway, agent, tool_ids)
    found = [
        Finding(issue.code, "error", issue.message, issue.node_id, issue.edge_id, issue.field)
        for issue in report.errors
    ]
    found.extend(
        Finding(issue.code, "warning", issue.message, issue.node_id, issue.edge_id, issue.field)
        for issue in report.warnings
        if issue.code not in _REPLACED
    )
    graph = _Graph(pathway)
    found.extend(_structure(graph))
    found.extend(_variables(graph, agent, set(session_variables)))
    found.extend(_conditions(graph))
    return sorted(found, key=lambda finding: finding.severity != "error")  # stable: keeps order


# The graph ------------------------------------------------------------------------------


class _Graph:
    """The moves a conversation can make, with the hub vertex for global jumps."""

    def __init__(self, pathway: Pathway) -> None:
        self.pathway = pathway
        self.index: dict[str, int] = {}
        for position, node in enumerate(pathway.nodes):
            self.index.setdefault(node.id, position)
        self.nodes: dict[str, Node] = {node_id: pathway.nodes[i] for node_id, i in self.index.items()}
        self.globals = [node_id for node_id, node in self.nodes.items() if node.is_global]
        self.succ: dict[str, list[str]] = {node_id: [] for node_id in self.nodes}
        self.succ[_HUB] = list(self.globals)
        for edge in pathway.edges:
            source = self.nodes.get(edge.source)
            # Edges out of end and goto nodes are never followed (validation reports them).
            if source is not None and source.kind not in ("end", "goto") and edge.target in self.nodes:
                self.succ[edge.source].append(edge.target)
        for node_id, node in self.nodes.items():
            reference = node.data.reference_node_id
            if node.kind == "goto" and reference is not None and reference in self.nodes:
                self.succ[node_id].append(reference)
            if self.regular(node) and self.globals:
                self.succ[node_id].append(_HUB)
        self.pred: dict[str, list[str]] = {vertex: [] for vertex in self.succ}
        for vertex, targets in self.succ.items():
            for target in targets:
                self.pred[target].append(vertex)
        start = pathway.start_node()
        self.start = start.id if start is not None else None
        self.reachable = self._reach([self.start] if self.start else list(self.succ), self.succ)

    @staticmethod
    def regular(node: Node) -> bool:
        return node.kind in _REGULAR_KINDS and not node.is_global

    def ending(self, vertex: str) -> bool:
        node = self.nodes.get(vertex)
        return node is not None and (node.kind == "end" or bool(BUILTIN_TOOLS.intersection(node.data.tools)))

    def field(self, node_id: str, at: str = "") -> str:
        return f"nodes[{self.index[node_id]}]{at}"

    @staticmethod
    def _reach(seeds: Iterable[str], links: Mapping[str, list[str]]) -> set[str]:
        seen = set(seeds)
        queue = deque(seen)
        while queue:
            for target in links.get(queue.popleft(), ()):
                if target not in seen:
                    seen.add(target)
                    queue.append(target)
        return seen

    def tree_avoiding(self, avoid: Collection[str]) -> dict[str, str | None]:
        """Breadth-first from the start, not going on through ``avoid`` (only into it).

        ``tree[v]`` is the vertex before ``v`` on a shortest such path (None for the start).
        """
        if self.start is None or self.start in avoid:
            return {}
        came: dict[str, str | None] = {self.start: None}
        queue = deque([self.start])
        while queue:
            vertex = queue.popleft()
            for nxt in self.succ[vertex]:
                if nxt not in came:
                    came[nxt] = vertex
                    if nxt not in avoid:
                        queue.append(nxt)
        return came


def _path_to(tree: Mapping[str, str | None], target: str) -> list[str] | None:
    if target not in tree:
        return None
    out: list[str] = []
    step: str | None = target
    while step is not None:
        out.append(step)
        step = tree[step]
    return out[::-1]


def _show_path(path: Sequence[str]) -> str:
    return " -> ".join(f'"{vertex}"' for vertex in path if vertex != _HUB)


def _names(node_ids: Sequence[str]) -> str:
    shown = ", ".join(f'"{node_id}"' for node_id in node_ids[:_SHOWN])
    more = len(node_ids) - _SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


# Structure: unreachable nodes, dead ends, traps, cycles -------------------------------


def _structure(graph: _Graph) -> Iterator[Finding]:
    for node_id, node in graph.nodes.items():
        if node_id not in graph.reachable and node.kind != "start" and graph.start is not None:
            message = f'node "{node_id}" cannot be reached from the start node "{graph.start}"; '
            message += "add an edge (or a goto) into it, or delete it"
            yield Finding("unreachable_node", "warning", message, node_id, field=graph.field(node_id))

    trapped: set[str] = set()
    # With no end anywhere, the pathway is open-ended by design (validation says "no end node").
    has_end = any(graph.ending(vertex) for vertex in graph.nodes)
    for component in _sinks(graph) if has_end else ():
        members = [vertex for vertex in component if vertex != _HUB]
        if not members or not graph.reachable.intersection(members):
            continue
        kinds = {graph.nodes[vertex].kind for vertex in members}
        head = members[0]
        looped = len(component) > 1 or head in graph.succ[head]
        if kinds == {"goto"}:
            if looped:
                yield _goto_cycle(graph, members)
            continue  # a goto to null returns to where it came from: not a sink
        if not looped:
            node = graph.nodes[head]
            if node.is_global:
                continue  # reported below, as a global node with no way back
            if node.kind not in _REGULAR_KINDS:
                continue  # an unknown kind: validation reports it
            message = f'{node.kind} node "{head}" is a dead end: it has no edge out'
            message += ", no global node to jump to and no ending tool, so the conversation is stuck there"
            message += "; add an edge to the next step (or to an end node)"
            yield Finding("dead_end", "error", message, head, field=graph.field(head))
            continue
        trapped.update(members)
        loop = _names(members)
        message = f"nodes {loop} lead only to each other and none of them ends the conversation, so a "
        message += (
            "conversation that gets there never finishes; add an edge from one of them towards an end node"
        )
        yield Finding("cycle_without_exit", "error", message, head, field=graph.field(head))

    # Global nodes: is there a way back to a regular node (explicit edges and gotos only)?
    back = {vertex for vertex, node in graph.nodes.items() if graph.regular(node)}
    links = {vertex: [p for p in preds if p != _HUB] for vertex, preds in graph.pred.items()}
    can_return = graph._reach(back, links)
    can_end = graph._reach([vertex for vertex in graph.nodes if graph.ending(vertex)], links)
    for node_id in graph.globals:
        if node_id in can_return or node_id not in graph.reachable or node_id in trapped:
            continue
        if node_id in can_end:
            message = f'global node "{node_id}" has no edge back to the conversation: every user who '
            message += "jumps here (from any step, even on a misread message) can only end; "
            message += "add an edge back to a regular node for users who want to go on"
            yield Finding("global_no_return", "warning", message, node_id, field=graph.field(node_id))
        elif has_end:
            message = f'global node "{node_id}" has no way out: any turn can jump here and the conversation '
            message += "is then stuck; add an edge back to a regular node and one to an end node"
            yield Finding("global_no_return", "error", message, node_id, field=graph.field(node_id))
        else:
            message = f'global node "{node_id}" has no edge back to the conversation: a user who jumps here '
            message += "stays here for good; add an edge back to a regular node"
            yield Finding("global_no_return", "warning", message, node_id, field=graph.field(node_id))


def _goto_cycle(graph: _Graph, members: list[str]) -> Finding:
    # Walk the references from the first member so the message shows the loop in order.
    order = [members[0]]
    while True:
        reference = graph.nodes[order[-1]].data.reference_node_id
        if reference is None or reference in order or reference not in members:
            break
        order.append(reference)
    head = order[0]
    if len(order) == 1:
        message = f'goto node "{head}" points at itself; point it at the node the conversation should go to'
    else:
        message = f"goto nodes {_show_path([*order, head])} send the conversation round in a circle with no "
        message += "node to stop at (a turn that enters them fails); point one of them at a prompt node"
    return Finding("goto_cycle", "error", message, head, field=graph.field(head, ".data.referenceNodeId"))


def _sinks(graph: _Graph) -> Iterator[list[str]]:
    """Strongly connected components with no edge leaving them and no ending node.

    Every node that cannot reach an end leads into one of these, so reporting them reports
    the cause once instead of every node upstream of it. Iterative Tarjan, O(V + E).
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    counter = 0
    for root in graph.succ:
        if root in index:
            continue
        work = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            vertex, position = work[-1]
            targets = graph.succ[vertex]
            if position < len(targets):
                work[-1] = (vertex, position + 1)
                target = targets[position]
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, 0))
                elif target in on_stack:
                    low[vertex] = min(low[vertex], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[vertex])
            if low[vertex] != index[vertex]:
                continue
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == vertex:
                    break
            inside = set(component)
            leaves = any(t not in inside for member in component for t in graph.succ[member])
            if not leaves and not any(graph.ending(member) for member in component):
                yield sorted(component, key=lambda v: graph.index.get(v, len(graph.index)))


# Variables ------------------------------------------------------------------------------


def placeholders(text: str | None) -> list[str]:
    """The ``{{name}}`` names read in ``text``, in order, without repeats."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text or "")))


def _variables(graph: _Graph, agent: AgentConfig, session: set[str]) -> Iterator[Finding]:
    keys = [config.key for config in agent.variable_configs or ()]
    bit = {key: 1 << position for position, key in enumerate(keys)}
    every = (1 << len(keys)) - 1
    turbo = agent.mode == "turbo"
    gen: dict[str, int] = {_HUB: 0}
    for node_id, node in graph.nodes.items():
        mask = 0
        if node.kind in _SPEAKING_KINDS:
            mask = every if turbo else sum(bit.get(key, 0) for key in set(node.data.variable_keys))
        gen[node_id] = mask
    must, may = _dataflow(graph, gen, every)

    def unknown(name: str, where: str, node_id: str | None, field: str) -> Finding:
        hint = _did_you_mean(name, [*keys, *session])
        message = f"{where} reads {{{{{name}}}}}{hint}, but no variable of that name is declared: add it to "
        message += "the agent's variableConfigs (and to the variableKeys of the node that collects it), or "
        message += "to sessionVariables if callers pass it when they create a session"
        return Finding("undeclared_variable", "error", message, node_id, field=field)

    trees: dict[str, dict[str, str | None]] = {}  # per variable: paths that never collect it
    for node_id, node in graph.nodes.items():
        if node.kind not in _SPEAKING_KINDS or node_id not in graph.reachable:
            continue
        field = graph.field(node_id, ".data.prompt")
        where = f'the prompt of node "{node_id}"'
        for name in placeholders(node.data.prompt):
            if name in session:
                continue
            if name not in bit:
                yield unknown(name, where, node_id, field)
            elif not may[node_id] & bit[name]:
                message = (
                    f"{where} reads {{{{{name}}}}}, but no node before it collects {name}, so the model "
                )
                message += (
                    f"always sees the placeholder as written; add {name} to the variableKeys of a node "
                )
                message += "on the way here, or stop reading it in this prompt"
                yield Finding("variable_never_set", "error", message, node_id, field=field)
            elif not must[node_id] & bit[name]:
                if name not in trees:
                    trees[name] = graph.tree_avoiding({v for v, mask in gen.items() if mask & bit[name]})
                example = _path_to(trees[name], node_id)
                via = f" (for example {_show_path(example)})" if example else ""
                message = f"{where} reads {{{{{name}}}}}, but some paths reach it without a node that "
                message += f"collects {name}{via}; collect {name} on those paths too, or word the prompt so "
                message += "it reads well without the value"
                yield Finding("variable_maybe_unset", "warning", message, node_id, field=field)

    shared: list[tuple[str, str]] = [("the global prompt", "agent.globalPrompt")]
    texts = [agent.global_prompt]
    for position, module in enumerate(agent.prompt_modules or ()):
        if module.enabled:
            shared.append((f'prompt module "{module.name}"', f"agent.promptModules[{position}].content"))
            texts.append(module.content)
    speaking = [
        node_id
        for node_id, node in graph.nodes.items()
        if node.kind in _SPEAKING_KINDS and node_id in graph.reachable
    ]
    for (where, field), text in zip(shared, texts, strict=True):
        for name in placeholders(text):
            if name in session:
                continue
            if name not in bit:
                yield unknown(name, where, None, field)
                continue
            never = [node_id for node_id in speaking if not may[node_id] & bit[name]]
            unset = [node_id for node_id in speaking if not must[node_id] & bit[name]]
            if len(never) == len(speaking) and speaking:
                message = (
                    f"{where} reads {{{{{name}}}}}, but no node collects {name} before any step, so the "
                )
                message += (
                    f"model always sees the placeholder as written; add {name} to a node's variableKeys"
                )
                yield Finding("variable_never_set", "error", message, field=field)
            elif unset:
                message = f"{where} is part of every step, and reads {{{{{name}}}}}, which is not known yet "
                message += f"at {_names(unset)} (the model sees the placeholder as written there); move the "
                message += f"sentence into the prompts of the nodes after {name} is collected, or declare it "
                message += "in sessionVariables if callers pass it"
                yield Finding("variable_maybe_unset", "warning", message, field=field)


def _dataflow(graph: _Graph, gen: Mapping[str, int], every: int) -> tuple[dict[str, int], dict[str, int]]:
    """(must, may): the variables collected before each reachable vertex, on every / some path.

    IN[v] = meet of OUT[p] over the reachable predecessors p of v, OUT[v] = IN[v] | gen[v];
    the start vertex also has the empty path into it. Bit sets only shrink (must) or grow
    (may), so each vertex changes at most 2 x (variables) times. The hub, whose
    predecessors are all regular nodes, keeps per-bit counts instead of re-reading them.
    """
    live = graph.reachable
    width = every.bit_length()
    must_out = {vertex: every for vertex in live}
    may_out = dict.fromkeys(live, 0)
    must_in = dict.fromkeys(live, 0)
    may_in = dict.fromkeys(live, 0)
    # Per bit: how many live regular nodes (the hub's predecessors) lack it (must) / have it (may).
    hub_preds = sum(1 for p in graph.pred[_HUB] if p in live)
    lacking = [0] * width
    having = [0] * width
    queue = deque(live)
    queued = set(live)
    while queue:
        vertex = queue.popleft()
        queued.discard(vertex)
        if vertex == _HUB:
            into_must = sum(1 << b for b in range(width) if not lacking[b]) if hub_preds else 0
            into_may = sum(1 << b for b in range(width) if having[b])
        else:
            preds = [p for p in graph.pred[vertex] if p in live]
            into_must = every if preds and vertex != graph.start else 0
            into_may = 0
            for p in preds:
                into_must &= must_out[p]
                into_may |= may_out[p]
        must_in[vertex], may_in[vertex] = into_must, into_may
        out_must, out_may = into_must | gen[vertex], into_may | gen[vertex]
        if out_must == must_out[vertex] and out_may == may_out[vertex]:
            continue
        if _HUB in graph.succ[vertex]:
            for b in range(width):
                lacking[b] += (must_out[vertex] >> b & 1) - (out_must >> b & 1)
                having[b] += (out_may >> b & 1) - (may_out[vertex] >> b & 1)
        must_out[vertex], may_out[vertex] = out_must, out_may
        for target in graph.succ[vertex]:
            if target in live and target not in queued:
                queued.add(target)
                queue.append(target)
    return must_in, may_in


def _did_you_mean(value: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, list(candidates), n=1, cutoff=0.75)
    return f' (did you mean "{close[0]}"?)' if close else ""


# Conditions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Option:
    target: str
    edge_id: str | None  # None: a global node's reason
    normal: str
    words: frozenset[str]

    @classmethod
    def of(cls, target: str, text: str, edge_id: str | None) -> _Option:
        return cls(target, edge_id, normalise(text), condition_words(text))


@dataclass
class _Budget:
    """How many more pairs of conditions this lint may compare, and what it left out."""

    left: int = MAX_COMPARISONS
    skipped: int = 0


def _conditions(graph: _Graph) -> Iterator[Finding]:
    """Each node's options, and each against the global reasons beside it.

    Linear in the options to find the exact duplicates (grouped by wording); near duplicates
    are clustered around the first option of each (one finding per cluster), at most
    :data:`MAX_COMPARISONS` comparisons for the whole pathway, then a warning says how
    many conditions were left out.
    """
    budget = _Budget()
    reasons = [
        _Option.of(node_id, graph.nodes[node_id].data.global_node_reason or "", None)
        for node_id in graph.globals
        if (graph.nodes[node_id].data.global_node_reason or "").strip()
    ]
    yield from _compare(reasons, [], "among the global nodes", None, budget)
    for node_id, node in graph.nodes.items():
        if node.kind in ("end", "goto"):
            continue
        options = [
            _Option.of(edge.target, edge.condition, edge.id)
            for edge in graph.pathway.edges_from(node_id)
            if edge.condition.strip() and edge.target in graph.nodes
        ]
        beside = [r for r in reasons if r.target != node_id] if graph.regular(node) else []
        yield from _compare(options, beside, f'out of node "{node_id}"', node_id, budget)
    if budget.skipped:
        message = f"{budget.skipped} conditions were not compared for near duplicates: the lint stops after "
        message += f"{MAX_COMPARISONS:,} comparisons; nodes with fewer edges (and fewer global nodes) "
        message += "are easier for the model to route too"
        yield Finding("conditions_not_compared", "warning", message)


def _compare(
    options: list[_Option], beside: list[_Option], where: str, node_id: str | None, budget: _Budget
) -> Iterator[Finding]:
    """One finding per wording that leads to several targets, and one per cluster of
    near-duplicate wordings. Edges to one target count once (the engine merges them); at a
    node (``node_id`` set), only groups with one of its edges in them are reported."""
    candidates = [*beside, *options]
    wordings: dict[str, list[_Option]] = {}
    for option in candidates:
        wordings.setdefault(option.normal, []).append(option)
    for same in wordings.values():
        members = _one_per_target(same)
        if len(members) > 1 and _reportable(members, node_id):
            first, second, more = _pair(members)
            message = (
                f"{_named(first)} and {_named(second)}{_more(more)} {where} have the same condition, so "
            )
            message += "the model cannot tell them apart; reword one so they do not overlap, or merge them"
            at = node_id if node_id is not None else second.target
            yield Finding("duplicate_condition", "error", message, at, second.edge_id)
    for cluster in _clusters([same[0] for same in wordings.values()], node_id, budget):
        members = _one_per_target(cluster)
        if len(members) > 1 and _reportable(members, node_id):
            first, second, more = _pair(members)
            shared = ", ".join(sorted(first.words & second.words))
            message = f"{_named(first)} and {_named(second)}{_more(more)} {where} have nearly the same "
            message += f"condition ({'the first two' if more else 'both'} say: {shared}), so the model may "
            message += "take either; say in each what sets them apart, or merge them"
            at = node_id if node_id is not None else second.target
            yield Finding("similar_conditions", "warning", message, at, second.edge_id)


def _clusters(wordings: list[_Option], node_id: str | None, budget: _Budget) -> list[list[_Option]]:
    """Near-duplicate wordings grouped around the first of each group (its leader).

    O(wordings x clusters) comparisons, drawn from ``budget``. At a node, global reasons
    lead clusters without being compared with each other (that is done once, among them).
    """
    clusters: list[list[_Option]] = []
    for position, option in enumerate(wordings):
        if node_id is not None and option.edge_id is None:
            clusters.append([option])
            continue
        for cluster in clusters:
            if budget.left <= 0:
                budget.skipped += len(wordings) - position
                return clusters
            budget.left -= 1
            if _similar(cluster[0], option):
                cluster.append(option)
                break
        else:
            clusters.append([option])
    return clusters


def _similar(leader: _Option, option: _Option) -> bool:
    if leader.target == option.target:
        return False  # the engine offers edges to one target as one option
    if bool(leader.words & NEGATIONS) != bool(option.words & NEGATIONS):
        return False  # one says "not": opposites, not duplicates
    return jaccard(leader.words, option.words) >= SIMILARITY_THRESHOLD


def _one_per_target(options: list[_Option]) -> list[_Option]:
    return list({option.target: option for option in reversed(options)}.values())[::-1]


def _reportable(members: list[_Option], node_id: str | None) -> bool:
    return node_id is None or any(member.edge_id is not None for member in members)


def _pair(members: list[_Option]) -> tuple[_Option, _Option, int]:
    """The two options a finding names (the second one of the node's edges when it can be:
    the finding points at it), and how many more there are."""
    first = members[0]
    second = next((m for m in members[1:] if m.edge_id is not None), members[1])
    return first, second, len(members) - 2


def _more(count: int) -> str:
    return f" (and {count} more)" if count > 0 else ""


def _named(option: _Option) -> str:
    if option.edge_id is None:
        return f'global node "{option.target}" (its globalNodeReason)'
    return f'edge "{option.edge_id}" (to "{option.target}")'
