/**
 * The wire shapes of the Pathweaver v1 API that the studio reads and writes.
 *
 * They mirror src/pathweaver/api/{projects,management,wire}.py. Unknown fields on nodes,
 * node data and edges must survive a round trip, so those types stay open.
 */

export type NodeKind = "start" | "prompt" | "end" | "goto";
export const NODE_KINDS: readonly NodeKind[] = ["start", "prompt", "end", "goto"];

export interface Project {
  id: string;
  name: string;
  pathwayVersion: number;
  createdAt: string | null;
  updatedAt: string | null;
}

export type VariableType = "string" | "number" | "email";
export type ExecutionMode = "smart" | "balance" | "turbo";

export interface VariableConfig {
  key: string;
  type: VariableType;
  description: string;
}

export interface Agent {
  id: string;
  projectId: string;
  name: string;
  type: string;
  status: "draft" | "published";
  globalPrompt: string | null;
  executionMode: ExecutionMode | null;
  timezone: string | null;
  variableConfigs: VariableConfig[] | null;
  firstMessage: string | null;
  updatedAt: string | null;
  [extra: string]: unknown;
}

/** The fields of an agent the settings form edits (sent with PATCH). */
export type AgentPatch = Partial<
  Pick<Agent, "name" | "status" | "globalPrompt" | "executionMode" | "timezone" | "variableConfigs" | "firstMessage">
>;

export interface ApiNodeData {
  type: string;
  title?: string | null;
  label?: string | null;
  prompt?: string | null;
  tools?: string[];
  variableKeys?: string[];
  isGlobalNode?: boolean;
  globalNodeReason?: string | null;
  referenceNodeId?: string | null;
  knowledgeBaseId?: string | null;
  [extra: string]: unknown;
}

export interface ApiNode {
  id: string;
  /** A canvas hint ("input", "output", "prompt"...), stored untouched. */
  type?: string | null;
  position: { x: number; y: number };
  data: ApiNodeData;
  [extra: string]: unknown;
}

export interface ApiEdge {
  id: string;
  source: string;
  target: string;
  /** `expression`: a condition over variables (`party_size > 8`), decided without the model. */
  data: { condition: string; expression?: string; [extra: string]: unknown };
  [extra: string]: unknown;
}

/** What PUT /pathway takes. */
export interface PathwayDocument {
  nodes: ApiNode[];
  edges: ApiEdge[];
  [extra: string]: unknown;
}

/** What GET/PUT /pathway answer: the document, its version and (after a save) warnings. */
export interface StoredPathway extends PathwayDocument {
  version: number;
  updatedAt: string | null;
  warnings?: Issue[];
}

/** One validation problem, as `error.details.errors[]` and `warnings[]` carry it. */
export interface Issue {
  code: string;
  message: string;
  nodeId?: string;
  edgeId?: string;
  field?: string;
}

export interface PathwayVersion {
  version: number;
  createdAt: string | null;
  author: string | null;
  note: string | null;
  schemaVersion: number;
  nodeCount: number;
  edgeCount: number;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string | null;
  tool_calls?: { id: string; type: "function"; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

export interface Candidate {
  target: string;
  condition: string;
}

export interface TraceTransition {
  from: string;
  to: string;
  status: "chosen" | "rejected";
  reason?: string;
  candidates: Candidate[];
}

/** One option a routing decision offered; the first (target null) is "None of them: stay". */
export interface TraceDecisionOption {
  target: string | null;
  statement: string;
  via?: "edge" | "global" | string;
  /** The model's probability for this option (0..1), where the model reports it. */
  score?: number;
  /** How close the user's words were to the statement (cosine, -1..1), where the model
   * weighed it in (the embedded model). */
  similarity?: number;
}

/** Why the conversation moved or stayed after the user's message (smart and balance modes). */
export interface TraceDecision {
  nodeId: string;
  decidedBy: "model" | "expression" | "filled" | "greeting" | "error" | "none" | string;
  chosen: string | null;
  options: TraceDecisionOption[];
  /** The model's P(yes) when asked whether the option it picked is true (the embedded model). */
  check?: number;
  expression?: string;
  edgeId?: string | null;
  expressionErrors?: { edgeId: string; error: string }[];
  latencyMs?: number;
  promptTokens?: number | null;
  completionTokens?: number | null;
  error?: string;
}

/** Stored configuration the turn could not use as written (a model not served, a goto cycle). */
export interface TraceNotice {
  kind: string;
  nodeId: string;
  message: string;
}

export interface TraceModelCall {
  purpose: string;
  model: string;
  nodeId: string;
  latencyMs: number;
  firstTokenMs: number | null;
  promptTokens: number | null;
  completionTokens: number | null;
  error?: string;
}

export interface TraceToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** A turn's trace as stored by the engine (src/pathweaver/engine/events.py, Trace.to_json). */
export interface Trace {
  nodeBefore: string | null;
  nodeAfter: string | null;
  entered: { nodeId: string; via: string }[];
  transitions: TraceTransition[];
  /** Routing decisions (servers before expression edges and execution modes have none). */
  decisions?: TraceDecision[];
  notices?: TraceNotice[];
  variables: { set: Record<string, unknown>; rejected: Record<string, string> };
  modelCalls: TraceModelCall[];
  clientToolCalls: TraceToolCall[];
  /** Server-side tool events, when the engine runs tools (optional: not every version has them). */
  toolEvents?: Record<string, unknown>[];
  ended: boolean;
}

export interface Turn {
  seq: number;
  status: string;
  nodeBefore: string | null;
  nodeAfter: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  trace: Trace;
}

export interface SessionEvent {
  type: string;
  timestamp: string | null;
  data: Record<string, unknown>;
}

export interface Session {
  sessionId: string;
  state: {
    variables: Record<string, unknown>;
    messages: ChatMessage[];
    currentNodeId: string | null;
    extractedVariables: Record<string, unknown>;
    visitedNodeIds: string[];
    isEnded: boolean;
  };
  currentNodeId: string | null;
  extractedVariables: Record<string, unknown>;
  isEnded: boolean;
  status: string;
  endReason: string | null;
  provider: string | null;
  pathwayVersion: number;
  messageCount: number;
  turnCount: number;
  startTime: string | null;
  endTime: string | null;
  events: SessionEvent[];
  turns: Turn[];
}

export interface SessionSummary {
  sessionId: string;
  startTime: string | null;
  endTime: string | null;
  provider: string | null;
  messageCount: number;
  turnCount: number;
  marked: boolean;
  evaluation: unknown;
  currentNodeId: string | null;
  isEnded: boolean;
  preview: string | null;
}

export interface SessionPage {
  data: SessionSummary[];
  pagination: { page: number; pageSize: number; total: number };
}

export interface SessionFilters {
  page: number;
  pageSize: number;
  search: string;
  ended: "" | "true" | "false";
  from: string;
  to: string;
}
