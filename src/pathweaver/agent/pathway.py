"""The pathway: a graph of conversation nodes joined by edges with plain-language conditions.

This is the stored Pathors JSON shape (pathors-api.md section 3.1), as typed data. Field
names on the wire are camelCase; unknown fields on nodes, node data and edges are kept
(extensions and canvas hints must survive a round trip). ``data.type`` is the semantic
kind; the outer ``node.type`` is a canvas hint, stored untouched and never interpreted.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from pathweaver.agent.config import ModelChoice, model_by_name
from pathweaver.agent.expressions import Expression, ExpressionError, parse

NodeKind = Literal["start", "prompt", "end", "goto"]
NODE_KINDS: tuple[str, ...] = ("start", "prompt", "end", "goto")

#: The version of the stored document's shape; bumped with a migration when it changes.
SCHEMA_VERSION = 1


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class Position(_Wire):
    x: int | float = 0
    y: int | float = 0


class NodeData(_Wire):
    """What a node does. Kind-specific fields are optional here; validation checks them."""

    type: str
    title: str | None = None
    label: str | None = None
    prompt: str | None = None
    tools: list[str] = Field(default_factory=list)
    variable_keys: list[str] = Field(default_factory=list)
    is_global_node: bool = False
    global_node_reason: str | None = None
    reference_node_id: str | None = None
    knowledge_base_id: str | None = None
    model: ModelChoice | None = None
    """The model serving this node's calls (its reply, its transition, extraction during it)."""

    _model = field_validator("model", mode="before")(model_by_name)

    @property
    def display_title(self) -> str:
        return self.title or self.label or ""


class Node(_Wire):
    id: str
    type: str | None = None
    position: Position = Field(default_factory=Position)
    data: NodeData

    @property
    def kind(self) -> str:
        return self.data.type

    @property
    def is_global(self) -> bool:
        return self.data.type == "prompt" and self.data.is_global_node


class EdgeData(_Wire):
    condition: str = ""
    expression: str | None = None
    """A condition over variables (``party_size > 8``), decided without the model; see
    :mod:`pathweaver.agent.expressions`. The ``condition`` is then a label for people."""


class Edge(_Wire):
    id: str
    source: str
    target: str
    data: EdgeData = Field(default_factory=EdgeData)

    @property
    def condition(self) -> str:
        return self.data.condition

    @property
    def expression(self) -> str | None:
        """The edge's expression, or None for a plain-language edge (blank counts as none)."""
        text = self.data.expression
        return text if text is not None and text.strip() else None


class Pathway(_Wire):
    """A pathway document. Build indexes lazily; instances are treated as immutable."""

    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)

    @cached_property
    def node_by_id(self) -> dict[str, Node]:
        return {node.id: node for node in self.nodes}

    @cached_property
    def outgoing(self) -> dict[str, list[Edge]]:
        out: dict[str, list[Edge]] = {}
        for edge in self.edges:
            out.setdefault(edge.source, []).append(edge)
        return out

    @cached_property
    def tool_names(self) -> list[str]:
        """Every tool any node names, once each, in order (computed once per pathway)."""
        return list(dict.fromkeys(name for node in self.nodes for name in node.data.tools))

    @cached_property
    def global_nodes(self) -> list[Node]:
        return [node for node in self.nodes if node.is_global]

    @cached_property
    def expressions(self) -> dict[str, Expression | None]:
        """Parsed expressions by edge id (None where one does not parse), once per pathway."""
        parsed: dict[str, Expression | None] = {}
        for edge in self.edges:
            if edge.expression is not None:
                try:
                    parsed[edge.id] = parse(edge.expression)
                except ExpressionError:
                    parsed[edge.id] = None
        return parsed

    def expression(self, edge_id: str) -> Expression | None:
        return self.expressions.get(edge_id)

    def node(self, node_id: str) -> Node | None:
        return self.node_by_id.get(node_id)

    def edges_from(self, node_id: str) -> list[Edge]:
        return self.outgoing.get(node_id, [])

    def start_node(self) -> Node | None:
        """The first start node (Pathors does not say which of several wins; the first)."""
        return next((n for n in self.nodes if n.data.type == "start"), None)

    def iter_kind(self, kind: str) -> Iterator[Node]:
        return (n for n in self.nodes if n.data.type == kind)


def default_pathway() -> Pathway:
    """The pathway a new project starts with: a start node and an end node, joined."""
    return Pathway.model_validate(
        {
            "nodes": [
                {
                    "id": "start",
                    "type": "input",
                    "position": {"x": 0, "y": 0},
                    "data": {
                        "type": "start",
                        "title": "Start",
                        "prompt": "Greet the user and ask how you can help.",
                    },
                },
                {
                    "id": "end",
                    "type": "output",
                    "position": {"x": 0, "y": 200},
                    "data": {"type": "end", "title": "End", "prompt": "Thank the user and say goodbye."},
                },
            ],
            "edges": [
                {
                    "id": "edge-start-end",
                    "source": "start",
                    "target": "end",
                    "data": {
                        "condition": "The user has nothing more to ask and wants to end the conversation"
                    },
                }
            ],
        }
    )
