/**
 * A turn's trace, as the trace panel shows it: why the conversation went where it went.
 *
 * Pure: takes the stored trace and a way to name nodes, returns plain rows. Both the
 * playground and the session view render these rows with the same component.
 */
import type { Trace, Turn } from "../api/types";

export type NameOf = (nodeId: string) => string;

export interface CandidateRow {
  target: string;
  name: string;
  condition: string;
  chosen: boolean;
}

export interface TransitionRow {
  from: string;
  fromName: string;
  to: string;
  toName: string;
  status: "chosen" | "rejected";
  reason: string | null;
  candidates: CandidateRow[];
}

export interface ModelCallRow {
  purpose: string;
  model: string;
  where: string;
  latency: string;
  firstToken: string | null;
  tokens: string | null;
  error: string | null;
}

export interface ToolCallRow {
  name: string;
  arguments: string;
  result: string | null;
  side: "client" | "server";
}

export interface TurnView {
  seq: number;
  /** One line: "Greeting → Ask for the name" or "Stayed at Greeting". */
  summary: string;
  moved: boolean;
  steps: { nodeId: string; name: string; via: string }[];
  transitions: TransitionRow[];
  variablesSet: { key: string; value: string }[];
  variablesRejected: { key: string; reason: string }[];
  modelCalls: ModelCallRow[];
  toolCalls: ToolCallRow[];
  totalLatency: string;
  ended: boolean;
}

const VIA: Record<string, string> = { edge: "edge", global: "global jump", goto: "goto" };

export function viewTurn(turn: Pick<Turn, "seq" | "trace" | "nodeBefore" | "nodeAfter">, nameOf: NameOf): TurnView {
  const trace: Trace = normalise(turn.trace, turn.nodeBefore, turn.nodeAfter);
  const before = trace.nodeBefore;
  const after = trace.nodeAfter;
  const moved = trace.entered.length > 0 && before !== after;
  let summary: string;
  if (!before && !after) summary = "No node recorded for this turn";
  else if (moved) summary = [before, ...trace.entered.map((s) => s.nodeId)].filter(isText).map(nameOf).join(" → ");
  else summary = `Stayed at ${nameOf(after ?? before ?? "")}`;
  if (!moved && trace.transitions.every((t) => t.status !== "chosen")) {
    summary += trace.transitions.length ? " (the model's choice was refused)" : " (no transition taken)";
  }
  if (trace.ended) summary += " · conversation ended";

  const totalMs = trace.modelCalls.reduce((sum, call) => sum + (call.latencyMs ?? 0), 0);
  return {
    seq: turn.seq,
    summary,
    moved,
    steps: trace.entered.map((step) => ({ nodeId: step.nodeId, name: nameOf(step.nodeId), via: VIA[step.via] ?? step.via })),
    transitions: trace.transitions.map((t) => ({
      from: t.from,
      fromName: nameOf(t.from),
      to: t.to,
      toName: t.status === "chosen" ? nameOf(t.to) : t.to,
      status: t.status,
      reason: t.reason ?? null,
      candidates: (t.candidates ?? []).map((c) => ({
        target: c.target,
        name: nameOf(c.target),
        condition: c.condition,
        chosen: t.status === "chosen" && c.target === t.to,
      })),
    })),
    variablesSet: Object.entries(trace.variables.set).map(([key, value]) => ({ key, value: formatValue(value) })),
    variablesRejected: Object.entries(trace.variables.rejected).map(([key, reason]) => ({ key, reason })),
    modelCalls: trace.modelCalls.map((call) => ({
      purpose: call.purpose,
      model: call.model,
      where: nameOf(call.nodeId),
      latency: formatMs(call.latencyMs),
      firstToken: call.firstTokenMs == null ? null : formatMs(call.firstTokenMs),
      tokens: formatTokens(call.promptTokens, call.completionTokens),
      error: call.error ?? null,
    })),
    toolCalls: [
      ...(trace.toolEvents ?? []).map(serverTool),
      ...trace.clientToolCalls.map((call) => ({
        name: call.name,
        arguments: call.arguments,
        result: null,
        side: "client" as const,
      })),
    ],
    totalLatency: formatMs(totalMs),
    ended: trace.ended,
  };
}

/** A trace from any server version: missing parts become empty. */
function normalise(raw: Partial<Trace> | undefined, before: string | null, after: string | null): Trace {
  const trace = raw ?? {};
  return {
    nodeBefore: trace.nodeBefore ?? before,
    nodeAfter: trace.nodeAfter ?? after,
    entered: trace.entered ?? [],
    transitions: trace.transitions ?? [],
    variables: { set: trace.variables?.set ?? {}, rejected: trace.variables?.rejected ?? {} },
    modelCalls: trace.modelCalls ?? [],
    clientToolCalls: trace.clientToolCalls ?? [],
    toolEvents: trace.toolEvents ?? [],
    ended: trace.ended ?? false,
  };
}

function serverTool(event: Record<string, unknown>): ToolCallRow {
  const name = typeof event.name === "string" ? event.name : typeof event.tool === "string" ? event.tool : "tool";
  return {
    name,
    arguments: formatValue(event.arguments ?? event.args ?? ""),
    result: "result" in event ? formatValue(event.result) : "error" in event ? `error: ${formatValue(event.error)}` : null,
    side: "server",
  };
}

export function formatMs(ms: number | null | undefined): string {
  if (ms == null || Number.isNaN(ms)) return "–";
  if (ms < 1) return "<1 ms";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

function formatTokens(prompt: number | null, completion: number | null): string | null {
  if (prompt == null && completion == null) return null;
  return `${prompt ?? "?"} in / ${completion ?? "?"} out`;
}

export function formatValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  return JSON.stringify(value);
}

function isText(value: string | null | undefined): value is string {
  return typeof value === "string" && value.length > 0;
}
