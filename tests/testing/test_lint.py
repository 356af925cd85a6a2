"""The path-aware lint: each finding on a crafted pathway, nothing on the examples."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from pathweaver.agent.conditions import similarity
from pathweaver.agent.config import AgentConfig
from pathweaver.agent.files import read_agent_file
from pathweaver.agent.lint import Finding, findings_json, lint_pathway
from pathweaver.agent.pathway import Pathway

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
AGENT = AgentConfig(
    variable_configs=[
        {"key": "name"},
        {"key": "email", "type": "email"},
        {"key": "party_size", "type": "number"},
    ]
)


def node(node_id: str, kind: str = "prompt", prompt: str | None = None, **data: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"type": kind}
    if kind != "goto":
        fields |= {"title": node_id.title(), "prompt": prompt or f"Do the {node_id} step."}
    return {"id": node_id, "position": {"x": 0, "y": 0}, "data": fields | data}


def edge(source: str, target: str, condition: str | None = None) -> dict[str, Any]:
    return {
        "id": f"{source}-{target}",
        "source": source,
        "target": target,
        "data": {"condition": condition or f"The user is ready for {target}"},
    }


def pathway(*nodes: dict[str, Any], edges: tuple[dict[str, Any], ...] = ()) -> Pathway:
    return Pathway.model_validate({"nodes": list(nodes), "edges": list(edges)})


def lint(p: Pathway, agent: AgentConfig = AGENT, **options: Any) -> list[Finding]:
    return lint_pathway(p, agent, **options)


def only(findings: list[Finding], code: str) -> Finding:
    found = [finding for finding in findings if finding.code == code]
    assert len(found) == 1, findings
    return found[0]


def codes(findings: list[Finding]) -> list[str]:
    return [finding.code for finding in findings]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_the_examples_lint_clean(path: Path) -> None:
    agent, p = read_agent_file(path)
    assert lint_pathway(p, agent, tool_ids=set()) == []


def test_the_json_shape_is_stable() -> None:
    findings = lint(
        pathway(node("start", "start"), node("end", "end"), node("island"), edges=(edge("start", "end"),))
    )
    report = findings_json(findings)
    assert set(report) == {"ok", "errors", "warnings", "findings", "omitted"}
    for item in report["findings"]:
        assert list(item) == ["code", "severity", "message", "nodeId", "edgeId", "field"]
    assert report["ok"] is True and report["warnings"] == len(findings)


def test_an_unreachable_node() -> None:
    p = pathway(
        node("start", "start"),
        node("end", "end"),
        node("island"),
        edges=(edge("start", "end"), edge("island", "end")),
    )
    finding = only(lint(p), "unreachable_node")
    assert finding.severity == "warning" and finding.node_id == "island" and finding.field == "nodes[2]"
    assert 'node "island" cannot be reached from the start node "start"' in finding.message


def test_a_dead_end() -> None:
    p = pathway(
        node("start", "start"),
        node("stuck"),
        node("end", "end"),
        edges=(edge("start", "stuck"), edge("start", "end")),
    )
    finding = only(lint(p), "dead_end")
    assert (finding.severity, finding.node_id) == ("error", "stuck")
    assert finding.message.startswith('prompt node "stuck" is a dead end')
    assert "add an edge to the next step" in finding.message


def test_a_global_node_or_an_ending_tool_is_a_way_out() -> None:
    helper = node(
        "human", isGlobalNode=True, globalNodeReason="The user asks for a human", tools=["end_call"]
    )
    with_global = pathway(
        node("start", "start"),
        node("quiet"),
        node("end", "end"),
        helper,
        edges=(edge("start", "quiet"), edge("start", "end"), edge("human", "quiet")),
    )
    assert "dead_end" not in codes(lint(with_global))
    with_tool = pathway(
        node("start", "start"), node("quiet", tools=["end_call"]), edges=(edge("start", "quiet"),)
    )
    assert lint(with_tool) == []


def test_no_dead_ends_in_a_pathway_without_any_end() -> None:
    p = pathway(node("start", "start"), node("a"), edges=(edge("start", "a"),))
    assert codes(lint(p)) == ["no_end_node"]


def test_a_global_node_with_no_way_out_is_an_error() -> None:
    trap = node("human", isGlobalNode=True, globalNodeReason="The user asks for a human")
    p = pathway(node("start", "start"), node("end", "end"), trap, edges=(edge("start", "end"),))
    finding = only(lint(p), "global_no_return")
    assert (finding.severity, finding.node_id) == ("error", "human")
    assert "has no way out" in finding.message


def test_a_global_node_that_can_only_end_is_a_warning() -> None:
    bye = node("human", isGlobalNode=True, globalNodeReason="The user asks for a human")
    p = pathway(
        node("start", "start"), node("end", "end"), bye, edges=(edge("start", "end"), edge("human", "end"))
    )
    finding = only(lint(p), "global_no_return")
    assert finding.severity == "warning"
    assert "add an edge back to a regular node" in finding.message
    back = pathway(
        node("start", "start"),
        node("end", "end"),
        bye,
        edges=(edge("start", "end"), edge("human", "end"), edge("human", "start")),
    )
    assert lint(back) == []


def test_a_goto_cycle_is_an_error() -> None:
    p = pathway(
        node("start", "start"),
        node("end", "end"),
        node("a", "goto", title="A", referenceNodeId="b"),
        node("b", "goto", title="B", referenceNodeId="a"),
        edges=(edge("start", "a"), edge("start", "end", "The user says goodbye")),
    )
    finding = only(lint(p), "goto_cycle")
    assert finding.severity == "error" and finding.node_id == "a"
    assert finding.message.startswith('goto nodes "a" -> "b" -> "a" send the conversation round in a circle')
    assert finding.field == "nodes[2].data.referenceNodeId"


def test_a_cycle_with_no_exit() -> None:
    p = pathway(
        node("start", "start"),
        node("ask"),
        node("again", "goto", title="Again", referenceNodeId="ask"),
        node("end", "end"),
        edges=(edge("start", "ask"), edge("start", "end", "The user says goodbye"), edge("ask", "again")),
    )
    finding = only(lint(p), "cycle_without_exit")
    assert (finding.severity, finding.node_id) == ("error", "ask")
    assert 'nodes "ask", "again" lead only to each other' in finding.message


def test_a_cycle_with_an_exit_is_fine() -> None:
    p = pathway(
        node("start", "start"),
        node("ask"),
        node("again", "goto", title="Again", referenceNodeId="ask"),
        node("end", "end"),
        edges=(
            edge("start", "ask"),
            edge("ask", "again", "The user says no"),
            edge("ask", "end", "The user says yes"),
        ),
    )
    assert lint(p) == []


def test_a_variable_no_node_collects_before_its_reader() -> None:
    p = pathway(
        node("start", "start"),
        node("confirm", prompt="Send the summary to {{email}}."),
        node("end", "end"),
        edges=(edge("start", "confirm"), edge("confirm", "end")),
    )
    finding = only(lint(p), "variable_never_set")
    assert (finding.severity, finding.node_id, finding.field) == ("error", "confirm", "nodes[1].data.prompt")
    assert "no node before it collects email" in finding.message


def test_a_node_reading_its_own_key_has_not_collected_it_yet() -> None:
    p = pathway(
        node("start", "start"),
        node("ask", prompt="Ask for the name, then greet {{name}}.", variableKeys=["name"]),
        node("end", "end"),
        edges=(edge("start", "ask"), edge("ask", "end")),
    )
    assert codes(lint(p)) == ["variable_never_set"]


def test_a_variable_set_on_some_paths_only_names_one_path_without_it() -> None:
    p = pathway(
        node("start", "start"),
        node("ask_name", variableKeys=["name"]),
        node("greet", prompt="Greet {{name}}."),
        node("end", "end"),
        edges=(
            edge("start", "ask_name"),
            edge("start", "greet", "The user is in a hurry"),
            edge("ask_name", "greet"),
            edge("greet", "end"),
        ),
    )
    finding = only(lint(p), "variable_maybe_unset")
    assert (finding.severity, finding.node_id) == ("warning", "greet")
    assert '(for example "start" -> "greet")' in finding.message


def test_a_variable_collected_on_every_path_is_fine_through_loops_and_globals() -> None:
    helper = node("human", isGlobalNode=True, globalNodeReason="The user asks for a human")
    p = pathway(
        node("start", "start", variableKeys=["name"]),
        node("ask"),
        node("again", "goto", title="Again", referenceNodeId="ask"),
        node("confirm", prompt="Confirm the booking for {{name}}."),
        helper,
        node("end", "end", prompt="Say goodbye to {{name}}."),
        edges=(
            edge("start", "ask"),
            edge("ask", "again", "The user says no"),
            edge("ask", "confirm", "The user says yes"),
            edge("confirm", "end"),
            edge("human", "ask"),
        ),
    )
    assert lint(p) == []


def test_a_global_node_reading_a_variable_is_checked_against_every_path_into_it() -> None:
    helper = node(
        "human",
        prompt="Tell {{name}} a human will call.",
        isGlobalNode=True,
        globalNodeReason="The user asks for a human",
    )
    p = pathway(
        node("start", "start"),
        node("ask", variableKeys=["name"]),
        node("end", "end"),
        helper,
        edges=(
            edge("start", "ask"),
            edge("ask", "end"),
            edge("human", "end"),
            edge("human", "ask", "The user wants to go on"),
        ),
    )
    finding = only(lint(p), "variable_maybe_unset")
    assert finding.node_id == "human"


def test_undeclared_and_session_variables() -> None:
    p = pathway(
        node("start", "start", prompt="Greet the {{tier}} customer, {{nmae}}."),
        node("end", "end"),
        edges=(edge("start", "end"),),
    )
    findings = lint(p, session_variables={"tier"})
    finding = only(findings, "undeclared_variable")
    assert finding.severity == "error"
    assert '{{nmae}} (did you mean "name"?)' in finding.message and "sessionVariables" in finding.message
    assert codes(lint(p)) == ["undeclared_variable", "undeclared_variable"]


def test_placeholders_in_chinese_and_with_hyphens_are_checked() -> None:
    agent = AgentConfig(variable_configs=[{"key": "客戶名稱"}, {"key": "customer-email", "type": "email"}])
    p = pathway(
        node("start", "start", variableKeys=["客戶名稱", "customer-email"]),
        node("confirm", prompt="Confirm {{客戶名稱}} and {{ customer-email }}; mention {{客戶電話}}."),
        node("end", "end"),
        edges=(edge("start", "confirm"), edge("confirm", "end")),
    )
    finding = only(lint(p, agent), "undeclared_variable")
    assert finding.node_id == "confirm" and "{{客戶電話}}" in finding.message


def test_the_global_prompt_is_read_at_every_step() -> None:
    agent = AGENT.model_copy(update={"global_prompt": "You help {{name}}."})
    p = pathway(
        node("start", "start"),
        node("ask", variableKeys=["name"]),
        node("end", "end"),
        edges=(edge("start", "ask"), edge("ask", "end")),
    )
    finding = only(lint(p, agent), "variable_maybe_unset")
    assert (finding.node_id, finding.field) == (None, "agent.globalPrompt")
    assert 'not known yet at "start", "ask"' in finding.message


def test_turbo_extracts_every_key_at_every_node() -> None:
    agent = AGENT.model_copy(update={"execution_mode": "turbo"})
    p = pathway(
        node("start", "start"),
        node("confirm", prompt="Confirm with {{email}}."),
        node("end", "end"),
        edges=(edge("start", "confirm"), edge("confirm", "end")),
    )
    assert lint(p, agent) == []


def test_duplicate_conditions_out_of_one_node() -> None:
    p = pathway(
        node("start", "start"),
        node("a"),
        node("b"),
        node("end", "end"),
        edges=(
            edge("start", "a", "The user wants to book."),
            edge("start", "b", "the user WANTS to book"),
            edge("a", "end"),
            edge("b", "end"),
        ),
    )
    finding = only(lint(p), "duplicate_condition")
    assert (finding.severity, finding.node_id, finding.edge_id) == ("error", "start", "start-b")
    assert 'edge "start-a" (to "a") and edge "start-b" (to "b") out of node "start"' in finding.message


def test_near_duplicate_conditions_but_not_opposites() -> None:
    p = pathway(
        node("start", "start"),
        node("a"),
        node("b"),
        node("c"),
        node("end", "end"),
        edges=(
            edge("start", "a", "The user wants to change the booking date"),
            edge("start", "b", "The user wants to change the booking date and time"),
            edge("start", "c", "The user does not want to change the booking date"),
            edge("a", "end"),
            edge("b", "end"),
            edge("c", "end"),
        ),
    )
    finding = only(lint(p), "similar_conditions")
    assert (finding.severity, finding.edge_id) == ("warning", "start-b")
    assert "booking, change, date" in finding.message


def test_an_edge_that_overlaps_a_global_node() -> None:
    helper = node("human", isGlobalNode=True, globalNodeReason="The user asks to talk to a human agent")
    p = pathway(
        node("start", "start"),
        node("desk"),
        node("end", "end"),
        helper,
        edges=(
            edge("start", "desk", "The user asks to talk to a human"),
            edge("desk", "end"),
            edge("human", "end"),
            edge("human", "start"),
        ),
    )
    finding = only(lint(p), "similar_conditions")
    assert finding.edge_id == "start-desk"
    assert 'global node "human" (its globalNodeReason)' in finding.message


def fan_out(count: int, condition: Any) -> Pathway:
    """A start node with ``count`` edges, each to its own node, each with ``condition(i)``."""
    targets = [node(f"t{i}") for i in range(count)]
    edges = tuple(edge("start", f"t{i}", condition(i)) for i in range(count))
    edges += tuple(edge(f"t{i}", "end") for i in range(count))
    return pathway(node("start", "start"), node("end", "end"), *targets, edges=edges)


def test_one_condition_on_1600_edges_is_one_finding_found_quickly() -> None:
    big = fan_out(1600, lambda i: "The user wants to book a table")
    started = time.perf_counter()
    findings = lint(big)
    elapsed = time.perf_counter() - started
    assert codes(findings) == ["duplicate_condition"]
    message = findings[0].message
    assert (
        'edge "start-t0" (to "t0") and edge "start-t1" (to "t1") (and 1598 more) out of node "start"'
        in message
    )
    assert findings[0].edge_id == "start-t1"
    assert elapsed < 2, f"lint took {elapsed:.2f}s"  # was 387 MB of findings in 5.4 s


def test_near_duplicates_are_one_finding_per_cluster() -> None:
    findings = lint(fan_out(50, lambda i: f"The user wants to book a table for {i} people"))
    similar = only(findings, "similar_conditions")
    assert "(and 48 more)" in similar.message and "the first two say: book, people, table" in similar.message


def test_comparisons_are_capped_and_what_was_left_out_is_counted() -> None:
    distinct = fan_out(1600, lambda i: f"word{i} other{i} more{i}")
    started = time.perf_counter()
    findings = lint(distinct)
    assert time.perf_counter() - started < 3
    left_out = only(findings, "conditions_not_compared")
    assert left_out.severity == "warning" and "stops after 100,000 comparisons" in left_out.message
    assert int(left_out.message.split()[0]) > 0


def test_the_json_lists_at_most_a_thousand_findings_and_counts_the_rest() -> None:
    islands = [node(f"island{i}") for i in range(1200)]
    report = findings_json(
        lint(pathway(node("start", "start"), node("end", "end"), *islands, edges=(edge("start", "end"),)))
    )
    assert report["warnings"] == 1200 and len(report["findings"]) == 1000 and report["omitted"] == 200


def test_similarity_scores() -> None:
    assert similarity("The user wants to book a table", "the user wants to BOOK a table!") == 1.0
    assert similarity("change the name", "change the day") == pytest.approx(1 / 3)
    assert similarity("", "anything") == 0.0


def test_unknown_tools_and_variable_keys_come_from_validation() -> None:
    p = pathway(
        node("start", "start", tools=["lookup", "end_call"], variableKeys=["nope"]),
        edges=(),
    )
    findings = lint(p, tool_ids={"search"})
    assert {"unknown_tool", "unknown_variable_key"} <= set(codes(findings))
    severity = {f.code: f.severity for f in findings}
    # A tool that does not exist is an error; a key the agent does not declare yet is a
    # warning (switching variables takes two saves, agent and pathway, in either order).
    assert (severity["unknown_tool"], severity["unknown_variable_key"]) == ("error", "warning")
    assert findings[0].severity == "error"  # errors come first


def test_ten_thousand_nodes_lint_quickly() -> None:
    count = 10_000
    nodes = [node("start", "start", variableKeys=["name"])]
    edges = []
    for index in range(1, count - 2):
        nodes.append(
            node(
                f"n{index}",
                prompt=f"Step {index} for {{{{name}}}}.",
                variableKeys=["email"] if index % 7 == 0 else [],
            )
        )
        edges.append(edge(f"n{index - 1}" if index > 1 else "start", f"n{index}"))
        if index % 50 == 0:
            nodes.append(node(f"g{index}", "goto", title="Back", referenceNodeId=f"n{index - 10}"))
            edges.append(edge(f"n{index}", f"g{index}", "The user wants to go back"))
    nodes.append(node("human", isGlobalNode=True, globalNodeReason="The user asks for a human"))
    nodes.append(node("end", "end"))
    edges += [edge(f"n{count - 3}", "end"), edge("human", "end"), edge("human", "n1")]
    big = Pathway.model_validate({"nodes": nodes, "edges": edges})
    started = time.perf_counter()
    findings = lint_pathway(big, AGENT, tool_ids=set())
    elapsed = time.perf_counter() - started
    assert findings == []
    assert elapsed < 6, f"lint took {elapsed:.3f}s"
