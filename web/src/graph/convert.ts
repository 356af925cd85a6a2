/**
 * The pathway as the API stores it <-> the nodes and edges React Flow draws.
 *
 * The stored shape is already close to React Flow's ({id, position, data} nodes and
 * {id, source, target} edges); the differences are kept here and nowhere else:
 *
 * - React Flow's `node.type` picks the component that draws a node; the API's outer
 *   `node.type` is a canvas hint of other editors, kept as `hint` and written back as it was.
 * - Everything the studio does not know (extension fields on the document, nodes, node
 *   data and edges) is carried along untouched, so a save never drops someone else's data.
 * - An edge's condition lives at `data.condition` in both; its optional expression (a
 *   condition over variables the engine decides without the model) at `data.expression`,
 *   written back only when it is not blank.
 */
import type { Edge, Node } from "@xyflow/react";
import type { ApiEdge, ApiNode, ApiNodeData, NodeKind, PathwayDocument } from "../api/types";

export type NodeModel = {
  /** The node's API data (kind in `type`, title, prompt, tools, ...), unknown fields included. */
  api: ApiNodeData;
  /** The API's outer `node.type` hint; `undefined` when the stored node had none. */
  hint: string | null | undefined;
  /** Other top-level fields of the stored node. */
  rest: Record<string, unknown>;
};

export type EdgeModel = {
  condition: string;
  /** `data.expression` (`party_size > 8`); "" when the edge has none. */
  expression?: string;
  /** Other fields of the edge's `data`. */
  dataRest: Record<string, unknown>;
  /** Other top-level fields of the stored edge. */
  rest: Record<string, unknown>;
};

export type FlowNode = Node<NodeModel, "pathway">;
export type FlowEdge = Edge<EdgeModel, "condition">;

export interface FlowGraph {
  nodes: FlowNode[];
  edges: FlowEdge[];
  /** Top-level document fields other than nodes and edges (extensions). */
  extra: Record<string, unknown>;
}

/** Fields of a GET/PUT answer that describe the stored version, not the pathway. */
const ANSWER_ONLY = new Set(["nodes", "edges", "version", "updatedAt", "warnings"]);

export function toFlow(document: PathwayDocument): FlowGraph {
  const extra = Object.fromEntries(Object.entries(document).filter(([key]) => !ANSWER_ONLY.has(key)));
  return {
    nodes: document.nodes.map(nodeToFlow),
    edges: document.edges.map(edgeToFlow),
    extra,
  };
}

export function nodeToFlow(node: ApiNode): FlowNode {
  const { id, type, position, data, ...rest } = node;
  return {
    id,
    type: "pathway",
    position: { x: position?.x ?? 0, y: position?.y ?? 0 },
    data: { api: { ...data }, hint: "type" in node ? type : undefined, rest },
  };
}

export function edgeToFlow(edge: ApiEdge): FlowEdge {
  const { id, source, target, data, ...rest } = edge;
  const { condition, expression, ...dataRest } = data ?? { condition: "" };
  const model: EdgeModel = { condition: typeof condition === "string" ? condition : "", dataRest, rest };
  // A stored expression that is not a text is carried along untouched (the server names it).
  if (typeof expression === "string") model.expression = expression;
  else if (expression !== undefined) dataRest.expression = expression;
  return { id, source, target, type: "condition", data: model };
}

export function toApi(graph: FlowGraph): PathwayDocument {
  return {
    ...graph.extra,
    nodes: graph.nodes.map(nodeToApi),
    edges: graph.edges.map(edgeToApi),
  };
}

export function nodeToApi(node: FlowNode): ApiNode {
  const { api, hint, rest } = node.data;
  return {
    ...rest,
    id: node.id,
    ...(hint === undefined ? {} : { type: hint }),
    position: { x: node.position.x, y: node.position.y },
    data: api,
  };
}

export function edgeToApi(edge: FlowEdge): ApiEdge {
  const model = edge.data ?? { condition: "", dataRest: {}, rest: {} };
  return {
    ...model.rest,
    id: edge.id,
    source: edge.source,
    target: edge.target,
    data: {
      ...model.dataRest,
      condition: model.condition,
      ...(model.expression?.trim() ? { expression: model.expression } : {}),
    },
  };
}

/** The edge's expression, when it has one that is not blank (then the variables decide it). */
export function edgeExpression(model: EdgeModel | undefined): string | null {
  const text = model?.expression?.trim();
  return text ? text : null;
}

// Building new pieces ------------------------------------------------------------------

export type NewNodeKind = NodeKind | "global";

const DEFAULT_TITLES: Record<NewNodeKind, string> = {
  start: "Start",
  prompt: "New step",
  global: "New global step",
  goto: "Go to",
  end: "End",
};

/** An id not in `taken`, readable: `prompt_1`, `prompt_2`... */
export function freeId(prefix: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  for (let n = 1; ; n += 1) {
    const id = `${prefix}_${n}`;
    if (!used.has(id)) return id;
  }
}

/** A new node of a kind ("global" is a prompt node with `isGlobalNode`), with no prompt yet. */
export function newNode(kind: NewNodeKind, position: { x: number; y: number }, taken: Iterable<string>): FlowNode {
  const apiKind: NodeKind = kind === "global" ? "prompt" : kind;
  const api: ApiNodeData =
    apiKind === "goto"
      ? { type: "goto", title: DEFAULT_TITLES[kind], referenceNodeId: null }
      : { type: apiKind, title: DEFAULT_TITLES[kind], prompt: "", tools: [], variableKeys: [] };
  if (kind === "global") {
    api.isGlobalNode = true;
    api.globalNodeReason = "";
  }
  return {
    id: freeId(kind, taken),
    type: "pathway",
    position: { x: Math.round(position.x), y: Math.round(position.y) },
    data: { api, hint: apiKind, rest: {} },
    selected: true,
  };
}

/** A new edge; ids follow the server's pattern `edge-{source}-{target}-{epochMillis}`. */
export function newEdge(source: string, target: string, taken: Iterable<string>, now: number = Date.now()): FlowEdge {
  const used = new Set(taken);
  let stamp = now;
  while (used.has(`edge-${source}-${target}-${stamp}`)) stamp += 1;
  return {
    id: `edge-${source}-${target}-${stamp}`,
    source,
    target,
    type: "condition",
    data: { condition: "", dataRest: {}, rest: {} },
    selected: true,
  };
}

// Reading nodes --------------------------------------------------------------------------

/** What the canvas calls a node's kind: start, prompt, global, goto or end (or unknown). */
export type DisplayKind = NewNodeKind | "unknown";

export function displayKind(api: ApiNodeData): DisplayKind {
  switch (api.type) {
    case "prompt":
      return api.isGlobalNode ? "global" : "prompt";
    case "start":
    case "end":
    case "goto":
      return api.type;
    default:
      return "unknown";
  }
}

export function nodeTitle(api: ApiNodeData, id: string): string {
  return (api.title || api.label || "").trim() || id;
}

/**
 * Change a node's kind, dropping what the new kind may not carry: only prompt nodes may be
 * global; a goto keeps a `referenceNodeId`, the others a prompt.
 */
export function withKind(api: ApiNodeData, kind: NewNodeKind): ApiNodeData {
  const next: ApiNodeData = { ...api, type: kind === "global" ? "prompt" : kind };
  if (kind === "global") {
    next.isGlobalNode = true;
    next.globalNodeReason = api.globalNodeReason ?? "";
  } else if ("isGlobalNode" in next) {
    delete next.isGlobalNode;
    delete next.globalNodeReason;
  }
  if (kind === "goto") {
    next.referenceNodeId = api.referenceNodeId ?? null;
  } else {
    if (next.referenceNodeId === null) delete next.referenceNodeId;
    next.prompt = api.prompt ?? "";
  }
  return next;
}

/** Whether an edge may leave a node of this kind (end nodes end; gotos jump instead). */
export function canLeave(api: ApiNodeData): boolean {
  return api.type !== "end" && api.type !== "goto";
}

/** Deleting nodes also deletes the edges attached to them (as the server does). */
export function withoutNodes(graph: FlowGraph, ids: Set<string>): FlowGraph {
  return {
    ...graph,
    nodes: graph.nodes.filter((n) => !ids.has(n.id)),
    edges: graph.edges.filter((e) => !ids.has(e.source) && !ids.has(e.target)),
  };
}
