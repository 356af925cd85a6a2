"""parse_pathway (shape) and validate_pathway / ensure_valid (meaning), rule by rule."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.pathway import Pathway, default_pathway
from pathweaver.agent.validation import Issue, Report, ensure_valid, parse_pathway, validate_pathway
from pathweaver.errors import PathwayError, UserError

AGENT = AgentConfig(variable_configs=[{"key": "name"}, {"key": "party_size", "type": "number"}])


def node(node_id: str, kind: str = "prompt", **data: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"type": kind}
    if kind != "goto":
        fields |= {"title": node_id.title(), "prompt": f"Do the {node_id} step."}
    return {"id": node_id, "position": {"x": 0, "y": 0}, "data": fields | data}


def edge(
    source: str, target: str, condition: str = "The user is ready to go on", **extra: Any
) -> dict[str, Any]:
    return {
        "id": f"{source}-{target}",
        "source": source,
        "target": target,
        "data": {"condition": condition},
    } | extra


def pathway(*nodes: dict[str, Any], edges: tuple[dict[str, Any], ...] = ()) -> Pathway:
    return Pathway.model_validate({"nodes": list(nodes), "edges": list(edges)})


def simple(*extra_nodes: dict[str, Any], edges: tuple[dict[str, Any], ...] = ()) -> Pathway:
    """start -> end, plus whatever the test adds."""
    return pathway(
        node("start", "start"), node("end", "end"), *extra_nodes, edges=(edge("start", "end"), *edges)
    )


def codes(issues: list[Issue]) -> list[str]:
    return [issue.code for issue in issues]


def only(issues: list[Issue], code: str) -> Issue:
    found = [issue for issue in issues if issue.code == code]
    assert len(found) == 1, issues
    return found[0]


def parse_errors(raw: object) -> tuple[str, list[dict[str, str]]]:
    with pytest.raises(PathwayError) as caught:
        parse_pathway(raw)
    return caught.value.message, caught.value.details["errors"]


# parse_pathway --------------------------------------------------------------------------


def test_parse_keeps_every_field_and_extension() -> None:
    raw = {
        "nodes": [
            {
                "id": "a",
                "type": "input",
                "position": {"x": 1.5, "y": 2},
                "width": 180,
                "data": {
                    "type": "start",
                    "title": "A",
                    "prompt": "Hi",
                    "color": "#fff",
                    "variableKeys": ["name"],
                },
            }
        ],
        "edges": [{"id": "e", "source": "a", "target": "a", "data": {"condition": "again", "weight": 0.5}}],
        "version": "1.0",
    }
    assert parse_pathway(raw).to_json() == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], 'the pathway must be an object with "nodes" and "edges" lists; got a list'),
        ("nodes", 'the pathway must be an object with "nodes" and "edges" lists; got the string "nodes"'),
        ({"edges": []}, 'the pathway has no "nodes" list; add one'),
        ({"nodes": {"a": {}}}, "nodes must be a list of node objects; got an object"),
        ({"nodes": [], "edges": "none"}, 'edges must be a list of edge objects; got the string "none"'),
    ],
)
def test_parse_rejects_a_document_of_the_wrong_shape(raw: object, expected: str) -> None:
    message, errors = parse_errors(raw)
    assert message == expected
    assert errors[0]["message"] == expected


def test_parse_points_at_the_envelope() -> None:
    message, _ = parse_errors({"data": {"nodes": [], "edges": []}})
    assert 'not the {"data": ...} envelope' in message


@pytest.mark.parametrize(
    ("bad_node", "expected", "field"),
    [
        (
            "start",
            'nodes[1]: must be an object with id, position and data; got the string "start"',
            "nodes[1]",
        ),
        ({"data": {"type": "prompt"}}, "nodes[1]: id is missing; give every node a unique id", "nodes[1].id"),
        (
            {"id": 7, "data": {"type": "prompt"}},
            "nodes[1]: id must be a string; got the number 7",
            "nodes[1].id",
        ),
        (
            {"id": " ", "data": {"type": "prompt"}},
            "nodes[1]: id is empty; give every node a unique id",
            "nodes[1].id",
        ),
        ({"id": "ask"}, 'nodes[1] (id "ask"): data is missing;', "nodes[1].data"),
        (
            {"id": "ask", "data": []},
            'nodes[1] (id "ask"): data must be an object; got a list',
            "nodes[1].data",
        ),
        (
            {"id": "ask", "data": {"title": "Ask"}},
            'nodes[1] (id "ask"): data.type is missing; use one of start, prompt, end, goto',
            "nodes[1].data.type",
        ),
        (
            {"id": "ask", "data": {"type": None}},
            'nodes[1] (id "ask"): data.type must be one of start, prompt, end, goto; got null',
            "nodes[1].data.type",
        ),
        (
            {"id": "ask", "data": {"type": "prompt", "prompt": ["a", "b"]}},
            'nodes[1] (id "ask"): data.prompt must be a string (or null); got a list',
            "nodes[1].data.prompt",
        ),
        (
            {"id": "ask", "data": {"type": "prompt", "tools": "end_call"}},
            'nodes[1] (id "ask"): data.tools must be a list of strings; got the string "end_call"',
            "nodes[1].data.tools",
        ),
        (
            {"id": "ask", "data": {"type": "prompt", "variableKeys": ["name", 3]}},
            'nodes[1] (id "ask"): data.variableKeys[1] must be a string; got the number 3',
            "nodes[1].data.variableKeys[1]",
        ),
        (
            {"id": "ask", "data": {"type": "prompt", "isGlobalNode": "yes"}},
            'nodes[1] (id "ask"): data.isGlobalNode must be true or false; got the string "yes"',
            "nodes[1].data.isGlobalNode",
        ),
        (
            {"id": "ask", "position": {"x": True, "y": 0}, "data": {"type": "prompt"}},
            'nodes[1] (id "ask"): position.x must be a number; got true',
            "nodes[1].position.x",
        ),
        (
            {"id": "ask", "position": [0, 0], "data": {"type": "prompt"}},
            'nodes[1] (id "ask"): position must be an object {x, y}; got a list',
            "nodes[1].position",
        ),
        (
            {"id": "ask", "type": 3, "data": {"type": "prompt"}},
            'nodes[1] (id "ask"): type must be a string (a canvas hint); got the number 3',
            "nodes[1].type",
        ),
    ],
)
def test_parse_names_the_offending_node_and_the_fix(bad_node: object, expected: str, field: str) -> None:
    message, errors = parse_errors({"nodes": [node("start", "start"), bad_node], "edges": []})
    assert message.startswith(expected)
    assert errors[0]["field"] == field
    if isinstance(bad_node, dict) and isinstance(bad_node.get("id"), str) and bad_node["id"].strip():
        assert errors[0]["nodeId"] == bad_node["id"]


@pytest.mark.parametrize(
    ("bad_edge", "expected", "field"),
    [
        (3, "edges[0]: must be an object with id, source, target and data; got the number 3", "edges[0]"),
        (
            {"source": "a", "target": "b"},
            "edges[0]: id is missing; give every edge a unique id",
            "edges[0].id",
        ),
        (
            {"id": "e", "target": "b"},
            'edges[0] (id "e"): source is missing; set it to the id of a node',
            "edges[0].source",
        ),
        (
            {"id": "e", "source": "a", "target": None},
            'edges[0] (id "e"): target must be a string; got null',
            "edges[0].target",
        ),
        (
            {"id": "e", "source": "a", "target": "b", "data": "go"},
            'edges[0] (id "e"): data must be an object',
            "edges[0].data",
        ),
        (
            {"id": "e", "source": "a", "target": "b", "data": {"condition": 1}},
            'edges[0] (id "e"): data.condition must be a string (when to follow this edge); got the number 1',
            "edges[0].data.condition",
        ),
        (
            {"id": "e", "source": "a", "target": "b", "condition": "x", "data": {"condition": "y"}},
            'edges[0] (id "e"): condition is given twice (condition and data.condition); keep one',
            "edges[0].condition",
        ),
    ],
)
def test_parse_names_the_offending_edge_and_the_fix(bad_edge: object, expected: str, field: str) -> None:
    message, errors = parse_errors({"nodes": [], "edges": [bad_edge]})
    assert message.startswith(expected)
    assert errors[0]["field"] == field


def test_parse_lists_every_problem_and_counts_the_rest() -> None:
    raw = {
        "nodes": [{"id": 1}, "x", {"id": "ok", "data": {"type": "prompt", "tools": [None]}}],
        "edges": [{}],
    }
    message, errors = parse_errors(raw)
    assert message == "nodes[0]: id must be a string; got the number 1 (and 6 more)"
    assert [error["field"] for error in errors] == [
        "nodes[0].id",
        "nodes[0].data",
        "nodes[1]",
        "nodes[2].data.tools[0]",
        "edges[0].id",
        "edges[0].source",
        "edges[0].target",
    ]
    assert all(set(error) <= {"code", "message", "nodeId", "edgeId", "field"} for error in errors)
    assert errors[3]["nodeId"] == "ok"


def test_parse_error_is_a_user_error_with_a_code() -> None:
    with pytest.raises(UserError) as caught:
        parse_pathway(None)
    assert caught.value.status == 400
    assert caught.value.code == "invalid_pathway"


def test_parse_moves_a_top_level_condition_into_data() -> None:
    raw = {
        "nodes": [node("a", "start")],
        "edges": [{"id": "e", "source": "a", "target": "a", "condition": "again"}],
    }
    parsed = parse_pathway(raw)
    assert parsed.edges[0].condition == "again"
    assert parsed.to_json()["edges"][0] == {
        "id": "e",
        "source": "a",
        "target": "a",
        "data": {"condition": "again"},
    }


def test_parse_accepts_a_pathway_without_edges() -> None:
    assert parse_pathway({"nodes": [node("a", "start")]}).edges == []


def test_parse_reports_a_field_only_the_model_knows_without_a_pydantic_dump() -> None:
    message, errors = parse_errors({"nodes": [{"id": "a", "data": {"type": "prompt", "variable_keys": 5}}]})
    assert message == "nodes[0].data.variable_keys: Input should be a valid list"
    assert errors[0]["field"] == "nodes[0].data.variable_keys"
    assert "pydantic" not in message


# validate_pathway: errors ---------------------------------------------------------------


def test_the_default_pathway_is_valid_without_warnings() -> None:
    assert validate_pathway(default_pathway(), AgentConfig()) == Report()


def test_no_start_node() -> None:
    report = validate_pathway(pathway(node("a"), node("end", "end"), edges=(edge("a", "end"),)), AGENT)
    issue = only(report.errors, "no_start_node")
    assert issue.message.startswith('the pathway has no start node; add a node with data.type "start"')


def test_duplicate_node_id() -> None:
    report = validate_pathway(simple(node("end", "prompt")), AGENT)
    issue = only(report.errors, "duplicate_node_id")
    assert issue.message == 'nodes[2] has the id "end", already used by nodes[1]; give each node a unique id'
    assert (issue.node_id, issue.field) == ("end", "nodes[2].id")


def test_duplicate_edge_id() -> None:
    report = validate_pathway(simple(edges=(edge("start", "end", "The user says goodbye"),)), AGENT)
    issue = only(report.errors, "duplicate_edge_id")
    assert (
        issue.message
        == 'edges[1] has the id "start-end", already used by edges[0]; give each edge a unique id'
    )
    assert (issue.edge_id, issue.field) == ("start-end", "edges[1].id")


def test_edge_to_a_missing_node() -> None:
    report = validate_pathway(simple(edges=(edge("start", "ned"), edge("gone", "end"))), AGENT)
    target = only(report.errors, "edge_target_missing")
    assert target.message == (
        'edge "start-ned": target "ned" is not a node of this pathway (did you mean "end"?); '
        "point it at an existing node or delete the edge"
    )
    assert (target.edge_id, target.field) == ("start-ned", "edges[1].target")
    source = only(report.errors, "edge_source_missing")
    assert source.field == "edges[2].source"
    assert 'source "gone" is not a node' in source.message


def test_unknown_node_type() -> None:
    report = validate_pathway(simple(node("ask_name", "promt"), edges=(edge("start", "ask_name"),)), AGENT)
    issue = only(report.errors, "unknown_node_type")
    assert issue.message == (
        'node "ask_name": data.type is "promt" (did you mean "prompt"?); use one of start, prompt, end, goto'
    )
    assert (issue.node_id, issue.field) == ("ask_name", "nodes[2].data.type")


@pytest.mark.parametrize("kind", ["start", "prompt", "end"])
def test_speaking_nodes_need_a_title_and_a_prompt(kind: str) -> None:
    blank = {"id": "x", "data": {"type": kind, "title": " ", "prompt": ""}}
    report = validate_pathway(simple(blank, edges=(edge("start", "x"),)), AGENT)
    title = only(report.errors, "missing_title")
    assert title.message == f'{kind} node "x" has no title; give it a short one in data.title'
    assert title.field == "nodes[2].data.title"
    prompt = only(report.errors, "missing_prompt")
    assert (
        prompt.message
        == f'{kind} node "x" has no prompt; write in data.prompt what the agent should do in this step'
    )


def test_a_label_counts_as_a_title() -> None:
    labelled = {"id": "x", "data": {"type": "prompt", "label": "Ask", "prompt": "Ask."}}
    report = validate_pathway(simple(labelled, edges=(edge("start", "x"), edge("x", "end"))), AGENT)
    assert report == Report()


def test_a_misspelt_prompt_field_is_pointed_out() -> None:
    typo = {"id": "x", "data": {"type": "prompt", "title": "X", "promt": "Ask."}}
    report = validate_pathway(simple(typo, edges=(edge("start", "x"), edge("x", "end"))), AGENT)
    assert (
        'has no prompt (data has "promt"; did you mean "prompt"?)'
        in only(report.errors, "missing_prompt").message
    )


def test_goto_to_a_missing_node() -> None:
    goto = node("back", "goto", title="Back", referenceNodeId="strat")
    report = validate_pathway(simple(goto, edges=(edge("start", "back"),)), AGENT)
    issue = only(report.errors, "goto_target_missing")
    assert issue.message == (
        'goto node "back": data.referenceNodeId "strat" is not a node of this pathway (did you mean "start"?); '
        "point it at an existing node (or null to stay put)"
    )
    assert issue.field == "nodes[2].data.referenceNodeId"


def test_goto_to_null_is_allowed() -> None:
    goto = node("stay", "goto", title="Stay", referenceNodeId=None)
    report = validate_pathway(simple(goto, edges=(edge("start", "stay"),)), AGENT)
    assert report == Report()


def test_an_end_node_with_outgoing_edges() -> None:
    report = validate_pathway(simple(edges=(edge("end", "start"),)), AGENT)
    issue = only(report.errors, "end_node_has_edges")
    assert issue.message.startswith('edge "end-start" leaves end node "end", but an end node finishes')
    assert (issue.node_id, issue.edge_id, issue.field) == ("end", "end-start", "edges[1].source")


def test_a_variable_key_not_defined_on_the_agent_is_a_warning() -> None:
    asking = node("ask", variableKeys=["name", "party_sise"])
    report = validate_pathway(simple(asking, edges=(edge("start", "ask"), edge("ask", "end"))), AGENT)
    assert report.ok
    issue = only(report.warnings, "unknown_variable_key")
    assert issue.message == (
        'prompt node "ask": variableKeys has "party_sise" (did you mean "party_size"?), which is not in the '
        "agent's variableConfigs, so the node does not extract it; define it on the agent or remove it from "
        "the node"
    )
    assert (issue.node_id, issue.field) == ("ask", "nodes[2].data.variableKeys[1]")


def test_variable_keys_with_no_variable_configs_at_all() -> None:
    asking = node("ask", variableKeys=["name"])
    report = validate_pathway(simple(asking, edges=(edge("start", "ask"), edge("ask", "end"))), AgentConfig())
    assert report.errors == []
    assert codes(report.warnings) == ["unknown_variable_key"]


def test_tools_are_checked_only_against_given_tool_ids() -> None:
    tooled = node("ask", tools=["crm_lookup", "end_call", "transfer_call", "transfer_to_human"])
    p = simple(tooled, edges=(edge("start", "ask"), edge("ask", "end")))
    assert validate_pathway(p, AGENT).errors == []
    assert validate_pathway(p, AGENT, tool_ids={"crm_lookup"}).errors == []
    issue = only(validate_pathway(p, AGENT, tool_ids={"crm_lookups"}).errors, "unknown_tool")
    assert issue.message == (
        'prompt node "ask": tools has "crm_lookup" (did you mean "crm_lookups"?), which is not a tool of this '
        "project, so the node runs without it; create the tool or remove it from the node"
    )
    assert issue.field == "nodes[2].data.tools[0]"


@pytest.mark.parametrize("condition", ["", "   "])
def test_an_edge_without_a_condition_is_a_warning(condition: str) -> None:
    report = validate_pathway(simple(edges=(edge("start", "end", condition, id="loop"),)), AGENT)
    assert report.ok
    issue = only(report.warnings, "empty_condition")
    assert issue.message.startswith(
        'edge "loop" (start -> end) has no condition, so the model reads only "go to end" and may follow it'
    )
    assert issue.field == "edges[1].data.condition"


@pytest.mark.parametrize("kind", ["start", "end", "goto"])
def test_only_prompt_nodes_can_be_global(kind: str) -> None:
    flagged = node("x", kind, isGlobalNode=True, globalNodeReason="The user asks for help")
    report = validate_pathway(simple(flagged, edges=(edge("start", "x"),)), AGENT)
    issue = only(report.errors, "global_not_prompt")
    assert issue.message.startswith(
        f'{kind} node "x" has isGlobalNode true, but only prompt nodes can be global'
    )
    assert issue.field == "nodes[2].data.isGlobalNode"


# validate_pathway: warnings -------------------------------------------------------------


def test_no_end_node() -> None:
    report = validate_pathway(pathway(node("start", "start")), AGENT)
    assert report.errors == []
    assert codes(report.warnings) == ["no_end_node"]


def test_a_built_in_ending_tool_stands_in_for_an_end_node() -> None:
    report = validate_pathway(pathway(node("start", "start", tools=["end_call"])), AGENT)
    assert report == Report()


def test_an_unreachable_node() -> None:
    report = validate_pathway(simple(node("island"), edges=(edge("island", "end"),)), AGENT)
    issue = only(report.warnings, "unreachable_node")
    assert issue.message == (
        'node "island" cannot be reached from the start node "start"; add an edge (or a goto) into it, or delete it'
    )
    assert (issue.node_id, issue.field) == ("island", "nodes[2]")


def test_global_nodes_are_reachable_from_any_regular_node() -> None:
    helper = node("human", isGlobalNode=True, globalNodeReason="The user asks for a human")
    report = validate_pathway(simple(helper, edges=(edge("human", "end"),)), AGENT)
    assert report == Report()


def test_a_node_reached_only_from_a_global_node_is_reachable() -> None:
    helper = node("human", isGlobalNode=True, globalNodeReason="The user asks for a human")
    p = simple(helper, node("callback"), edges=(edge("human", "callback"), edge("callback", "end")))
    assert validate_pathway(p, AGENT) == Report()


def test_a_goto_counts_as_an_edge_to_its_reference() -> None:
    p = simple(
        node("hop", "goto", title="Hop", referenceNodeId="target"),
        node("target"),
        edges=(edge("start", "hop"), edge("target", "end")),
    )
    assert validate_pathway(p, AGENT) == Report()


def test_a_node_that_cannot_reach_an_end() -> None:
    p = simple(node("trap"), edges=(edge("start", "trap"), edge("trap", "trap")))
    issue = only(validate_pathway(p, AGENT).warnings, "cannot_reach_end")
    assert issue.message.startswith('node "trap" has no way on to an end node; add an edge from it')
    assert issue.node_id == "trap"


def test_a_global_node_that_ends_gives_every_regular_node_a_way_out() -> None:
    helper = node("human", isGlobalNode=True, globalNodeReason="The user asks for a human")
    p = pathway(
        node("start", "start"),
        node("loop"),
        helper,
        node("end", "end"),
        edges=(edge("start", "loop"), edge("loop", "start"), edge("human", "end")),
    )
    assert validate_pathway(p, AGENT) == Report()


def test_a_global_node_without_edges_cannot_reach_an_end() -> None:
    helper = node("human", isGlobalNode=True, globalNodeReason="The user asks for a human")
    issue = only(validate_pathway(simple(helper), AGENT).warnings, "cannot_reach_end")
    assert issue.node_id == "human"


def test_dead_ends_are_not_checked_without_any_end() -> None:
    p = pathway(node("start", "start"), node("a"), edges=(edge("start", "a"),))
    assert codes(validate_pathway(p, AGENT).warnings) == ["no_end_node"]


def test_a_goto_cycle() -> None:
    p = simple(
        node("a", "goto", title="A", referenceNodeId="b"),
        node("b", "goto", title="B", referenceNodeId="c"),
        node("c", "goto", title="C", referenceNodeId="a"),
        node("self", "goto", title="Self", referenceNodeId="self"),
        edges=(edge("start", "a"), edge("start", "self", "The user asks to wait")),
    )
    report = validate_pathway(p, AGENT)
    assert report.errors == []
    assert codes(report.warnings) == ["goto_cycle", "goto_cycle"]
    loop, self_loop = report.warnings
    assert loop.message == (
        'goto nodes "a" -> "b" -> "c" -> "a" send the conversation round in a circle with no node to stop at; '
        "point one of them at a prompt node"
    )
    assert loop.field == "nodes[2].data.referenceNodeId"
    assert self_loop.message.startswith('goto node "self" points at itself')


def test_a_goto_chain_into_a_loop_warns_once_for_the_loop() -> None:
    p = simple(
        node("lead", "goto", title="Lead", referenceNodeId="a"),
        node("a", "goto", title="A", referenceNodeId="b"),
        node("b", "goto", title="B", referenceNodeId="a"),
        edges=(edge("start", "lead"),),
    )
    warnings = validate_pathway(p, AGENT).warnings
    assert codes(warnings) == ["goto_cycle", "cannot_reach_end"]
    assert warnings[0].node_id == "a"
    assert warnings[1].node_id == "lead"


def test_a_loop_through_a_prompt_node_is_not_a_goto_cycle() -> None:
    p = simple(
        node("ask"),
        node("again", "goto", title="Again", referenceNodeId="ask"),
        edges=(
            edge("start", "ask"),
            edge("ask", "again", "The user says no"),
            edge("ask", "end", "The user says yes"),
        ),
    )
    assert validate_pathway(p, AGENT) == Report()


def test_more_than_one_start_node() -> None:
    p = simple(node("second", "start"), edges=(edge("second", "end"),))
    report = validate_pathway(p, AGENT)
    issue = only(report.warnings, "multiple_start_nodes")
    assert issue.message == (
        'node "second" is a second start node and only the first, "start", is used; change its data.type to "prompt"'
    )
    assert issue.field == "nodes[2].data.type"
    assert codes(report.warnings) == ["multiple_start_nodes"]  # not also "unreachable"


def test_a_goto_without_a_title_is_a_warning() -> None:
    p = simple(node("hop", "goto", referenceNodeId="end"), edges=(edge("start", "hop"),))
    report = validate_pathway(p, AGENT)
    assert report.errors == []
    assert only(report.warnings, "missing_title").field == "nodes[2].data.title"


def test_edges_out_of_a_goto_are_never_followed() -> None:
    p = simple(
        node("hop", "goto", title="Hop", referenceNodeId="end"),
        node("lost"),
        edges=(edge("start", "hop"), edge("hop", "lost")),
    )
    warnings = validate_pathway(p, AGENT).warnings
    assert only(warnings, "goto_has_edges").edge_id == "hop-lost"
    assert only(warnings, "unreachable_node").node_id == "lost"


def test_a_global_node_without_a_reason() -> None:
    helper = node("human", isGlobalNode=True)
    issue = only(
        validate_pathway(simple(helper, edges=(edge("human", "end"),)), AGENT).warnings,
        "missing_global_reason",
    )
    assert issue.field == "nodes[2].data.globalNodeReason"


# reports, ensure_valid, scale -----------------------------------------------------------


def test_report_to_json() -> None:
    report = validate_pathway(simple(edges=(edge("start", "nowhere"),)), AGENT)
    assert report.to_json() == {
        "errors": [
            {
                "code": "edge_target_missing",
                "message": 'edge "start-nowhere": target "nowhere" is not a node of this pathway; '
                "point it at an existing node or delete the edge",
                "edgeId": "start-nowhere",
                "field": "edges[1].target",
            }
        ],
        "warnings": [],
    }
    assert not report.ok


def test_ensure_valid_returns_the_warnings() -> None:
    report = ensure_valid(pathway(node("start", "start")), AGENT)
    assert codes(report.warnings) == ["no_end_node"]


def test_ensure_valid_raises_with_every_error_and_warning() -> None:
    broken = simple(node("island", "promt"), edges=(edge("start", "gone"),))
    with pytest.raises(PathwayError) as caught:
        ensure_valid(broken, AGENT)
    error = caught.value
    assert error.message == (
        'node "island": data.type is "promt" (did you mean "prompt"?); use one of start, prompt, end, goto (and 1 more)'
    )
    assert [item["code"] for item in error.details["errors"]] == ["unknown_node_type", "edge_target_missing"]
    assert [item["code"] for item in error.details["warnings"]] == ["unreachable_node"]
    assert error.status == 400


def test_ten_thousand_nodes_validate_in_well_under_a_second() -> None:
    count = 10_000
    nodes = [node("start", "start")]
    edges = []
    for index in range(1, count - 2):
        nodes.append(node(f"n{index}"))
        edges.append(edge(f"n{index - 1}" if index > 1 else "start", f"n{index}"))
        if index % 50 == 0:
            nodes.append(node(f"g{index}", "goto", title="Back", referenceNodeId=f"n{index - 10}"))
            edges.append(edge(f"n{index}", f"g{index}", "The user wants to go back"))
    nodes.append(node("human", isGlobalNode=True, globalNodeReason="The user asks for a human"))
    nodes.append(node("end", "end"))
    edges += [edge(f"n{count - 3}", "end"), edge("human", "end")]
    big = Pathway.model_validate({"nodes": nodes, "edges": edges})
    started = time.perf_counter()
    report = validate_pathway(big, AGENT, tool_ids=set())
    elapsed = time.perf_counter() - started
    assert report == Report()
    # A guard against quadratic work (which takes minutes at this size), not a speed goal:
    # about 0.2 s on a quiet machine, 0.61 s once in a full run on two busy cores.
    assert elapsed < 2.0, f"validation took {elapsed:.3f}s"


def broken(size: int) -> Pathway:
    nodes = [node("start", "start"), node("end", "end")] + [node(f"n{index}") for index in range(size)]
    edges = [edge(f"n{index}", f"missing{index}") for index in range(size)]
    return Pathway.model_validate({"nodes": nodes, "edges": edges})


def best_of_three(pathway: Pathway) -> float:
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        validate_pathway(pathway, AGENT)
        timings.append(time.perf_counter() - started)
    return min(timings)


def test_ten_thousand_broken_edges_stay_linear() -> None:
    """Ten times the edges, at most about ten times the work: a ratio measured side by side
    (the best of three runs each), not a wall-clock limit that a busy machine breaks. A
    quadratic check (a "did you mean" over every node per edge) would be about 100 times."""
    small, big = broken(1_000), broken(10_000)
    assert len(validate_pathway(big, AGENT).errors) == 10_000
    assert best_of_three(big) / best_of_three(small) < 30
