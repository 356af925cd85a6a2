"""The labelled conversations: where they live, which part they belong to, and their checks.

Case files (``*.tests.yaml``, the format of ``pathweaver test``) live in two folders:
``tuning/`` (prompt tuning may look at them) and ``heldout/`` (it must not; ``heldout/agents/``
holds the agents of the two pathways that are held out whole). Each file names its agent
file with ``agent:``. A case file's ``smoke`` suite, if any, names the conversations of the
smoke run.

:func:`label_problems` checks the labels against the pathway, so that a typo in a node id or
a jump the engine cannot make fails the test instead of silently costing accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.files import read_agent_file
from pathweaver.agent.pathway import Pathway
from pathweaver.testing.cases import CaseFile, ScriptedCase, read_case_file

ROOT = Path(__file__).resolve().parent
Part = Literal["tuning", "heldout"]
PARTS: tuple[Part, ...] = ("tuning", "heldout")
SMOKE_SUITE = "smoke"
#: How long a labelled conversation may be, in user turns.
MIN_TURNS, MAX_TURNS = 3, 8


@dataclass(frozen=True)
class Conversation:
    """One labelled conversation (a scripted case) and where it comes from."""

    pathway: str
    part: Part
    case: ScriptedCase
    source: Path

    @property
    def name(self) -> str:
        return self.case.name


@dataclass(frozen=True)
class PathwaySet:
    """The conversations of one agent file, which run against one throwaway project."""

    name: str
    agent_file: Path
    agent: AgentConfig
    pathway: Pathway
    conversations: tuple[Conversation, ...]

    @property
    def turns(self) -> int:
        return sum(len(c.case.turns) for c in self.conversations)


def case_files(part: Part) -> list[Path]:
    return sorted((ROOT / part).glob("*.tests.yaml"))


def load(parts: Sequence[Part] = PARTS, *, smoke: bool = False) -> list[PathwaySet]:
    """The conversations of ``parts`` grouped by agent file (the smoke suites only, with ``smoke``)."""
    grouped: dict[Path, list[Conversation]] = {}
    for part in parts:
        for path in case_files(part):
            case_file = read_case_file(path)
            if case_file.agent is None:
                raise ValueError(f"{path}: a benchmark case file must name its agent file (agent: ...)")
            for case in _cases(case_file, smoke):
                agent_file = case_file.agent.resolve()
                conversation = Conversation(_pathway_name(agent_file), part, case, path)
                grouped.setdefault(agent_file, []).append(conversation)
    sets = []
    for agent_file, conversations in grouped.items():
        agent, pathway = read_agent_file(agent_file)
        sets.append(PathwaySet(_pathway_name(agent_file), agent_file, agent, pathway, tuple(conversations)))
    return sorted(sets, key=lambda item: item.name)


def _cases(case_file: CaseFile, smoke: bool) -> Iterable[ScriptedCase]:
    if smoke:
        has_smoke = any(suite.name == SMOKE_SUITE for suite in case_file.suites)
        cases = case_file.suite(SMOKE_SUITE) if has_smoke else []
    else:
        cases = list(case_file.cases)
    for case in cases:
        if not isinstance(case, ScriptedCase):
            raise ValueError(
                f"{case_file.path}: {case.name!r} is not a scripted case; the benchmark needs turns"
            )
        yield case


def _pathway_name(agent_file: Path) -> str:
    return agent_file.name.removesuffix(agent_file.suffix)


# Label checks --------------------------------------------------------------------------


def label_problems(sets: Sequence[PathwaySet]) -> list[str]:
    """Every problem with the labels, one message each (empty when they are all sound)."""
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for item in sets:
        for conversation in item.conversations:
            where = f"{conversation.source.name}: {conversation.name!r}"
            if conversation.name in seen:
                problems.append(f"{where}: the name is also used in {seen[conversation.name].name}")
            seen.setdefault(conversation.name, conversation.source)
            problems.extend(f"{where}: {problem}" for problem in _case_problems(item, conversation.case))
    return problems


def _case_problems(item: PathwaySet, case: ScriptedCase) -> list[str]:
    pathway = item.pathway
    declared = {config.key for config in item.agent.variable_configs or ()}
    problems = []
    if not MIN_TURNS <= len(case.turns) <= MAX_TURNS:
        problems.append(f"has {len(case.turns)} turns; a conversation has {MIN_TURNS} to {MAX_TURNS}")
    start = pathway.start_node()
    before = start.id if start is not None else None
    for number, turn in enumerate(case.turns, 1):
        at = f"turn {number}"
        expected = turn.expect.node
        node = pathway.node(expected) if expected is not None else None
        previous = pathway.node(before) if before is not None else None
        if expected is None:
            problems.append(f"{at}: has no expect.node; every turn is labelled with a node")
        elif node is None:
            problems.append(f"{at}: no node {expected!r} in {item.name}")
        elif node.kind == "goto":
            problems.append(f"{at}: {expected!r} is a goto node, which a conversation never rests on")
        elif previous is not None and previous.kind == "end":
            problems.append(f"{at}: comes after the end node {previous.id!r}, which ended the session")
        elif previous is not None and expected not in next_nodes(pathway, previous.id):
            problems.append(f"{at}: {expected!r} cannot be reached from {previous.id!r} in one turn")
        for key in turn.expect.variables or {}:
            if key not in declared:
                problems.append(f"{at}: variable {key!r} is not declared by the agent (variableConfigs)")
        before = expected
    return problems


def next_nodes(pathway: Pathway, node_id: str) -> set[str]:
    """Where a conversation at ``node_id`` may be after one user turn.

    It stays; or it takes one outgoing edge (expression edges included), or goes to a global
    node from a non-global one; gotos are followed at once.
    """
    node = pathway.node(node_id)
    if node is None or node.kind == "end":
        return set()
    targets = [edge.target for edge in pathway.edges_from(node_id)]
    if not node.is_global:
        targets += [glob.id for glob in pathway.global_nodes]
    return {node_id} | {resolve_goto(pathway, target, node_id) for target in targets}


def resolve_goto(pathway: Pathway, node_id: str, current: str) -> str:
    """The node a move to ``node_id`` lands on: gotos followed (a goto to nowhere stays put)."""
    seen = set()
    while (node := pathway.node(node_id)) is not None and node.kind == "goto" and node_id not in seen:
        seen.add(node_id)
        reference = node.data.reference_node_id
        if reference is None:
            return current
        node_id = reference
    return node_id
