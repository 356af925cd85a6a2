"""Agent files the benchmarks import, written as JSON agent files (``pathweaver pathway import``).

* ``one_node``: a start node alone: every turn is one model call, no transition offered;
* ``transition``: a start node whose prompt asks the mock to move on (``[bench:go]``), and
  the node it moves to: a turn is the routing call, then the reply from the new node;
* ``extraction``: one node that declares a variable: a turn is the reply plus one
  structured extraction call beside it;
* ``stays(mode)``: a node with one way on that the turn does not take, in an execution mode;
* ``graph(n)``: ``n`` nodes, every node with the same out-degree (3), the session staying on
  the start node: CPU per turn should not depend on ``n``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.mock_process import GO_MARKER

OUT_DEGREE = 3
#: The execution modes M14 compares on a turn that stays.
MODES = ("turbo", "balance", "smart")
#: ``turbo``: the scenarios measure the single-call turn (the reply with the transition tool
#: offered) against the null relay, as before the decision-first modes; an agent without a
#: mode would run ``balance`` on the mock upstream (a decision call beside every reply).
AGENT = {
    "name": "Bench",
    "status": "published",
    "executionMode": "turbo",
    "globalPrompt": "You are a benchmark agent. Be brief.",
}


def _node(node_id: str, kind: str, prompt: str, **data: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": kind,
        "position": {"x": 0, "y": 0},
        "data": {"type": kind, "title": node_id, "prompt": prompt, **data},
    }


def _edge(source: str, target: str, condition: str) -> dict[str, Any]:
    return {"id": f"{source}-{target}", "source": source, "target": target, "data": {"condition": condition}}


def _file(pathway: dict[str, Any], agent: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"schemaVersion": 1, "agent": agent or AGENT, "pathway": pathway}


def one_node() -> dict[str, Any]:
    return _file({"nodes": [_node("start", "start", "Answer the user.")], "edges": []})


def transition() -> dict[str, Any]:
    nodes = [
        _node("start", "start", f"Move on at once. {GO_MARKER}"),
        _node("next", "prompt", "Answer the user."),
    ]
    return _file({"nodes": nodes, "edges": [_edge("start", "next", "Always")]})


def extraction() -> dict[str, Any]:
    agent = {
        **AGENT,
        "variableConfigs": [{"key": "name", "type": "string", "description": "The user's name"}],
    }
    nodes = [_node("start", "start", "Ask for the user's name.", variableKeys=["name"])]
    return _file({"nodes": nodes, "edges": []}, agent)


def stays(mode: str) -> dict[str, Any]:
    """A node with one way on that the mock never takes, in ``mode`` (M14): in ``turbo`` the
    reply is offered the transition tool and answers in text; in ``smart`` and ``balance``
    the decision call (the mock answers the first option, "none of them") says stay."""
    nodes = [_node("start", "start", "Answer the user."), _node("refund", "prompt", "Help with the refund.")]
    edges = [_edge("start", "refund", "The user asks for a refund")]
    return _file({"nodes": nodes, "edges": edges}, {**AGENT, "executionMode": mode})


def graph(size: int) -> dict[str, Any]:
    """``size`` nodes; node i leads to the next ``OUT_DEGREE`` nodes (wrapping around)."""
    nodes = [_node("n0", "start", "Answer the user.")]
    nodes += [_node(f"n{i}", "prompt", f"Step {i}: answer the user.") for i in range(1, size)]
    edges = [
        _edge(f"n{i}", f"n{(i + k) % size}", f"The user asks for step {(i + k) % size}")
        for i in range(size)
        for k in range(1, OUT_DEGREE + 1)
        if (i + k) % size != i
    ]
    return _file({"nodes": nodes, "edges": edges})


def write(folder: Path, name: str, document: dict[str, Any]) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path
