/**
 * A turn's trace, as the trace panel shows it: why the conversation went where it went.
 *
 * Pure: takes the stored trace and a way to name nodes, returns plain rows. Both the
 * playground and the session view render these rows with the same component.
 */
import type { Trace, TraceDecision, Turn } from "../api/types";

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

export interface DecisionOptionRow {
  /** null: "None of them: stay". */
  target: string | null;
  /** The node's name, or "Stay" for the first option. */
  name: string;
  statement: string;
  /** "edge" or "global jump"; null for the stay option. */
  via: string | null;
  /** The model's probability (0..1), where known. */
  score: number | null;
  /** The score as a percentage ("87%"), where known. */
  percent: string | null;
  /** How close the user's words were to the statement ("0.61"), where known. */
  similarity: string | null;
  chosen: boolean;
}

export interface DecisionRow {
  nodeId: string;
  nodeName: string;
  decidedBy: string;
  /** Who decided, for a person: "The model", "An expression"... */
  by: string;
  /** "Moved to Ask for the name", "Stayed", "Stayed: the decision failed". */
  outcome: string;
  chosen: string | null;
  chosenName: string | null;
  stayed: boolean;
  options: DecisionOptionRow[];
  /** Whether any option has a score (the embedded model reports them; others may not). */
  scored: boolean;
  /** Whether any option has a similarity (the embedded model weighs them in). */
  matched: boolean;
  /** The model's own check of its pick, "P(yes) 73%", where it was asked. */
  check: string | null;
  /** The expression that held (decidedBy "expression"), and its edge. */
  expression: string | null;
  edgeId: string | null;
  expressionErrors: { edgeId: string; error: string }[];
  latency: string | null;
  tokens: string | null;
  error: string | null;
}

export interface NoticeRow {
  kind: string;
  /** The kind for a person: "Model not served", "Goto cycle". */
  title: string;
  nodeId: string;
  where: string;
  message: string;
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
  /** Routing decisions, in order (traces from servers before execution modes have none). */
  decisions: DecisionRow[];
  /** Stored configuration the turn could not use: shown as warnings. */
  notices: NoticeRow[];
  /** Transitions no decision explains (turbo mode, older traces). */
  transitions: TransitionRow[];
  variablesSet: { key: string; value: string }[];
  variablesRejected: { key: string; reason: string }[];
  modelCalls: ModelCallRow[];
  toolCalls: ToolCallRow[];
  totalLatency: string;
  ended: boolean;
}

const VIA: Record<string, string> = { edge: "edge", global: "global jump", goto: "goto" };

const DECIDED_BY: Record<string, string> = {
  model: "The model",
  expression: "An expression",
  filled: "Every value of the step was given",
  error: "The decision failed",
  none: "No option applied",
  greeting: "The first message only greets",
};

const STAYED_BECAUSE: Record<string, string> = {
  model: "the model chose to stay",
  error: "the decision failed",
  none: "no option applied",
  expression: "no transition taken",
  greeting: "the first message only greets",
};

const NOTICE_TITLES: Record<string, string> = {
  model_unavailable: "Model not served",
  goto_cycle: "Goto cycle",
};

/** One routing decision: the options with their scores, the one chosen, who chose, the cost. */
export function viewDecision(raw: Partial<TraceDecision>, nameOf: NameOf): DecisionRow {
  const decidedBy = raw.decidedBy ?? "none";
  const chosen = raw.chosen ?? null;
  const nodeId = raw.nodeId ?? "";
  // An error or "none" chose nothing; the model choosing "stay" chose the first option.
  const picked = decidedBy === "model" || decidedBy === "expression" || decidedBy === "filled";
  const options = (raw.options ?? []).map((o): DecisionOptionRow => {
    const target = o.target ?? null;
    const score = typeof o.score === "number" && Number.isFinite(o.score) ? o.score : null;
    return {
      target,
      name: target === null ? "Stay" : nameOf(target),
      statement: o.statement ?? "",
      via: target === null ? null : (VIA[o.via ?? "edge"] ?? o.via ?? "edge"),
      score,
      percent: score === null ? null : formatPercent(score),
      similarity: typeof o.similarity === "number" && Number.isFinite(o.similarity) ? o.similarity.toFixed(2) : null,
      chosen: picked && target === chosen,
    };
  });
  let outcome: string;
  if (chosen !== null && picked) outcome = `Moved to ${nameOf(chosen)}`;
  else if (decidedBy === "error") outcome = "Stayed: the decision failed";
  else if (decidedBy === "none") outcome = "Stayed: no option applied";
  else outcome = "Stayed";
  const latency = raw.latencyMs == null ? null : formatMs(raw.latencyMs);
  return {
    nodeId,
    nodeName: nameOf(nodeId),
    decidedBy,
    by: DECIDED_BY[decidedBy] ?? decidedBy,
    outcome,
    chosen,
    chosenName: chosen === null ? null : nameOf(chosen),
    stayed: chosen === null || !picked,
    options,
    scored: options.some((o) => o.score !== null),
    matched: options.some((o) => o.similarity !== null),
    check: typeof raw.check === "number" && Number.isFinite(raw.check) ? `P(yes) ${formatPercent(raw.check)}` : null,
    expression: raw.expression ?? null,
    edgeId: raw.edgeId ?? null,
    expressionErrors: raw.expressionErrors ?? [],
    latency,
    tokens: formatTokens(raw.promptTokens ?? null, raw.completionTokens ?? null),
    error: raw.error ?? null,
  };
}

/** A probability as a percentage: "87%", "<1%" for a small one that is not zero. */
export function formatPercent(score: number): string {
  const clamped = Math.min(1, Math.max(0, score));
  if (clamped > 0 && clamped < 0.005) return "<1%";
  return `${Math.round(clamped * 100)}%`;
}

export function viewTurn(turn: Pick<Turn, "seq" | "trace" | "nodeBefore" | "nodeAfter">, nameOf: NameOf): TurnView {
  const trace: Trace = normalise(turn.trace, turn.nodeBefore, turn.nodeAfter);
  const before = trace.nodeBefore;
  const after = trace.nodeAfter;
  const moved = trace.entered.length > 0 && before !== after;
  let summary: string;
  if (!before && !after) summary = "No node recorded for this turn";
  else if (moved) summary = [before, ...trace.entered.map((s) => s.nodeId)].filter(isText).map(nameOf).join(" → ");
  else summary = `Stayed at ${nameOf(after ?? before ?? "")}`;
  const decisions = trace.decisions ?? [];
  const last = decisions[decisions.length - 1];
  if (!moved && last) {
    summary += ` (${STAYED_BECAUSE[last.decidedBy] ?? "no transition taken"})`;
  } else if (!moved && trace.transitions.every((t) => t.status !== "chosen")) {
    summary += trace.transitions.length ? " (the model's choice was refused)" : " (no transition taken)";
  }
  if (trace.ended) summary += " · conversation ended";

  const totalMs = trace.modelCalls.reduce((sum, call) => sum + (call.latencyMs ?? 0), 0);
  return {
    seq: turn.seq,
    summary,
    moved,
    steps: trace.entered.map((step) => ({ nodeId: step.nodeId, name: nameOf(step.nodeId), via: VIA[step.via] ?? step.via })),
    decisions: decisions.map((d) => viewDecision(d, nameOf)),
    notices: (trace.notices ?? []).map((n) => ({
      kind: n.kind,
      title: NOTICE_TITLES[n.kind] ?? n.kind.replace(/_/g, " "),
      nodeId: n.nodeId,
      where: nameOf(n.nodeId),
      message: n.message,
    })),
    // A decision already shows the transition it made or refused; list only the others.
    transitions: trace.transitions
      .filter((t) => !decisions.some((d) => d.nodeId === t.from))
      .map((t) => ({
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
    decisions: trace.decisions ?? [],
    notices: trace.notices ?? [],
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
