import { describe, expect, it } from "vitest";
import type { Turn } from "../api/types";
import { formatMs, formatPercent, viewDecision, viewTurn } from "./trace";
import { takenPath } from "./path";

const names: Record<string, string> = { greeting: "Greeting", ask_name: "Ask for the name", human: "Talk to a human" };
const nameOf = (id: string): string => names[id] ?? id;

const moved: Turn = {
  seq: 1,
  status: "completed",
  nodeBefore: "greeting",
  nodeAfter: "ask_name",
  startedAt: null,
  finishedAt: null,
  trace: {
    nodeBefore: "greeting",
    nodeAfter: "ask_name",
    entered: [{ nodeId: "ask_name", via: "edge" }],
    transitions: [
      {
        from: "greeting",
        to: "ask_name",
        status: "chosen",
        candidates: [
          { target: "ask_name", condition: "The user wants to book a table" },
          { target: "human", condition: "The user asks for a person" },
        ],
      },
    ],
    variables: { set: { party_size: 4 }, rejected: { email: "not an email address" } },
    modelCalls: [
      {
        purpose: "route+reply",
        model: "scripted",
        nodeId: "greeting",
        latencyMs: 12.3,
        firstTokenMs: 2.1,
        promptTokens: 100,
        completionTokens: 5,
      },
      {
        purpose: "reply",
        model: "scripted",
        nodeId: "ask_name",
        latencyMs: 1500,
        firstTokenMs: null,
        promptTokens: null,
        completionTokens: null,
      },
    ],
    clientToolCalls: [{ id: "c1", name: "lookup", arguments: '{"q":1}' }],
    ended: false,
  },
};

describe("viewTurn", () => {
  it("says where the turn went and marks the chosen candidate", () => {
    const view = viewTurn(moved, nameOf);
    expect(view.summary).toBe("Greeting → Ask for the name");
    expect(view.moved).toBe(true);
    expect(view.transitions[0].candidates.map((c) => [c.name, c.chosen])).toEqual([
      ["Ask for the name", true],
      ["Talk to a human", false],
    ]);
    expect(view.steps).toEqual([{ nodeId: "ask_name", name: "Ask for the name", via: "edge" }]);
  });

  it("lists variables, tool calls and model calls with their latency", () => {
    const view = viewTurn(moved, nameOf);
    expect(view.variablesSet).toEqual([{ key: "party_size", value: "4" }]);
    expect(view.variablesRejected).toEqual([{ key: "email", reason: "not an email address" }]);
    expect(view.toolCalls).toEqual([{ name: "lookup", arguments: '{"q":1}', result: null, side: "client" }]);
    expect(view.modelCalls[0]).toMatchObject({
      where: "Greeting",
      latency: "12 ms",
      firstToken: "2 ms",
      tokens: "100 in / 5 out",
    });
    expect(view.modelCalls[1]).toMatchObject({ latency: "1.50 s", firstToken: null, tokens: null });
    expect(view.totalLatency).toBe("1.51 s");
  });

  it("says when the conversation stayed, and why", () => {
    const stayed = viewTurn(
      {
        seq: 2,
        nodeBefore: "ask_name",
        nodeAfter: "ask_name",
        trace: { ...moved.trace, nodeBefore: "ask_name", nodeAfter: "ask_name", entered: [], transitions: [] },
      },
      nameOf,
    );
    expect(stayed.summary).toBe("Stayed at Ask for the name (no transition taken)");
    const refused = viewTurn(
      {
        seq: 3,
        nodeBefore: "greeting",
        nodeAfter: "greeting",
        trace: {
          ...moved.trace,
          entered: [],
          nodeAfter: "greeting",
          transitions: [{ from: "greeting", to: "nowhere", status: "rejected", reason: "not a candidate", candidates: [] }],
        },
      },
      nameOf,
    );
    expect(refused.summary).toBe("Stayed at Greeting (the model's choice was refused)");
    expect(refused.transitions[0]).toMatchObject({ status: "rejected", reason: "not a candidate", toName: "nowhere" });
  });

  it("reads a partial trace from an older server without failing", () => {
    const view = viewTurn({ seq: 1, nodeBefore: "greeting", nodeAfter: "greeting", trace: {} as Turn["trace"] }, nameOf);
    expect(view.summary).toBe("Stayed at Greeting (no transition taken)");
    expect(view.modelCalls).toEqual([]);
  });

  it("shows server-side tool results and the end of the conversation", () => {
    const view = viewTurn(
      {
        seq: 1,
        nodeBefore: "greeting",
        nodeAfter: "greeting",
        trace: {
          ...moved.trace,
          entered: [],
          transitions: [],
          ended: true,
          clientToolCalls: [],
          toolEvents: [{ name: "weather", arguments: { city: "Paris" }, result: "sunny" }],
        },
      },
      nameOf,
    );
    expect(view.summary).toContain("conversation ended");
    expect(view.toolCalls).toEqual([{ name: "weather", arguments: '{"city":"Paris"}', result: "sunny", side: "server" }]);
  });

  it("formats durations", () => {
    expect(formatMs(0.2)).toBe("<1 ms");
    expect(formatMs(null)).toBe("–");
    expect(formatMs(12_345)).toBe("12.3 s");
  });
});

describe("decisions", () => {
  const decided: Turn = {
    seq: 4,
    status: "completed",
    nodeBefore: "greeting",
    nodeAfter: "ask_name",
    startedAt: null,
    finishedAt: null,
    trace: {
      ...moved.trace,
      decisions: [
        {
          nodeId: "greeting",
          decidedBy: "model",
          chosen: "ask_name",
          options: [
            { target: null, statement: "None of them: stay", score: 0.08 },
            { target: "ask_name", statement: "The user wants to book a table", via: "edge", score: 0.9 },
            { target: "human", statement: "The user asks for a person", via: "global", score: 0.002 },
          ],
          latencyMs: 84.6,
          promptTokens: 412,
          completionTokens: 1,
        },
      ],
      notices: [{ kind: "model_unavailable", nodeId: "ask_name", message: 'model "big" is not served; used the default' }],
    },
  };

  it("shows the options with their scores, the one chosen, who chose and the call's cost", () => {
    const view = viewTurn(decided, nameOf);
    expect(view.decisions).toHaveLength(1);
    const d = view.decisions[0];
    expect(d).toMatchObject({
      nodeName: "Greeting",
      decidedBy: "model",
      by: "The model",
      outcome: "Moved to Ask for the name",
      stayed: false,
      latency: "85 ms",
      tokens: "412 in / 1 out",
      error: null,
      expression: null,
      scored: true,
    });
    expect(d.options.map((o) => [o.name, o.via, o.percent, o.chosen])).toEqual([
      ["Stay", null, "8%", false],
      ["Ask for the name", "edge", "90%", true],
      ["Talk to a human", "global jump", "<1%", false],
    ]);
    // The transition the decision made is not listed a second time.
    expect(view.transitions).toEqual([]);
  });

  it("shows the embedded model's similarities and its check of the option it picked", () => {
    const raw = decided.trace.decisions![0];
    const view = viewTurn(
      {
        ...decided,
        trace: {
          ...decided.trace,
          decisions: [
            {
              ...raw,
              check: 0.734,
              options: raw.options.map((o, i) => (i === 0 ? o : { ...o, similarity: i === 1 ? 0.612 : -0.05 })),
            },
          ],
        },
      },
      nameOf,
    );
    const d = view.decisions[0];
    expect(d).toMatchObject({ matched: true, check: "P(yes) 73%" });
    expect(d.options.map((o) => o.similarity)).toEqual([null, "0.61", "-0.05"]);
    expect(viewTurn(decided, nameOf).decisions[0]).toMatchObject({ matched: false, check: null });
  });

  it("names a step left because all its values were given", () => {
    const raw = decided.trace.decisions![0];
    const filled = {
      ...decided,
      trace: {
        ...decided.trace,
        decisions: [{ ...raw, decidedBy: "filled", options: [], expression: "customer_name is set", edgeId: "e1" }],
      },
    };
    const d = viewTurn(filled, nameOf).decisions[0];
    expect(d).toMatchObject({
      by: "Every value of the step was given",
      outcome: "Moved to Ask for the name",
      expression: "customer_name is set",
    });
  });

  it("says a first message that only greets stayed without a model call", () => {
    const raw = decided.trace.decisions![0];
    const greeted = {
      ...decided,
      trace: {
        ...decided.trace,
        decisions: [{ ...raw, decidedBy: "greeting", chosen: null, check: undefined, latencyMs: undefined }],
      },
    };
    const d = viewTurn(greeted, nameOf).decisions[0];
    expect(d.by).toBe("The first message only greets");
    expect(d.options.every((o) => !o.chosen)).toBe(true);
  });

  it("shows notices as warnings", () => {
    expect(viewTurn(decided, nameOf).notices).toEqual([
      {
        kind: "model_unavailable",
        title: "Model not served",
        nodeId: "ask_name",
        where: "Ask for the name",
        message: 'model "big" is not served; used the default',
      },
    ]);
    const cycle = viewTurn(
      { ...decided, trace: { ...decided.trace, notices: [{ kind: "goto_cycle", nodeId: "greeting", message: "loop" }] } },
      nameOf,
    );
    expect(cycle.notices[0]).toMatchObject({ title: "Goto cycle", where: "Greeting" });
  });

  it("marks the stay option when the model chose to stay, without scores when there are none", () => {
    const view = viewTurn(
      {
        seq: 5,
        nodeBefore: "greeting",
        nodeAfter: "greeting",
        trace: {
          ...moved.trace,
          nodeAfter: "greeting",
          entered: [],
          transitions: [],
          decisions: [
            {
              nodeId: "greeting",
              decidedBy: "model",
              chosen: null,
              options: [
                { target: null, statement: "None of them: stay" },
                { target: "ask_name", statement: "The user wants to book a table", via: "edge" },
              ],
              latencyMs: 1200,
              promptTokens: null,
              completionTokens: null,
            },
          ],
        },
      },
      nameOf,
    );
    expect(view.summary).toBe("Stayed at Greeting (the model chose to stay)");
    const d = view.decisions[0];
    expect(d).toMatchObject({ outcome: "Stayed", stayed: true, scored: false, latency: "1.20 s", tokens: null });
    expect(d.options.map((o) => [o.name, o.score, o.percent, o.chosen])).toEqual([
      ["Stay", null, null, true],
      ["Ask for the name", null, null, false],
    ]);
  });

  it("shows the expression and the edge when an expression decided", () => {
    const d = viewDecision(
      {
        nodeId: "greeting",
        decidedBy: "expression",
        chosen: "human",
        options: [],
        expression: "party_size > 8",
        edgeId: "big-group",
      },
      nameOf,
    );
    expect(d).toMatchObject({
      by: "An expression",
      outcome: "Moved to Talk to a human",
      expression: "party_size > 8",
      edgeId: "big-group",
      latency: null,
      tokens: null,
      options: [],
    });
  });

  it("shows a failed decision, its error and the expressions that could not be read", () => {
    const failed = viewDecision(
      {
        nodeId: "greeting",
        decidedBy: "error",
        chosen: null,
        options: [
          { target: null, statement: "None of them: stay", score: 0.4 },
          { target: "ask_name", statement: "The user wants to book a table", via: "edge", score: 0.6 },
        ],
        latencyMs: 30,
        error: "the answer was not one of the options",
      },
      nameOf,
    );
    expect(failed).toMatchObject({ by: "The decision failed", outcome: "Stayed: the decision failed", stayed: true });
    expect(failed.error).toBe("the answer was not one of the options");
    expect(failed.options.every((o) => !o.chosen)).toBe(true);
    const none = viewDecision(
      {
        nodeId: "greeting",
        decidedBy: "none",
        chosen: null,
        options: [],
        expressionErrors: [{ edgeId: "gold", error: 'cannot compare "gold" with 3' }],
      },
      nameOf,
    );
    expect(none).toMatchObject({ by: "No option applied", outcome: "Stayed: no option applied" });
    expect(none.expressionErrors).toEqual([{ edgeId: "gold", error: 'cannot compare "gold" with 3' }]);
  });

  it("keeps transitions no decision explains (turbo mode) and reads decisions with missing fields", () => {
    const view = viewTurn({ ...moved, trace: { ...moved.trace, decisions: [], notices: [] } }, nameOf);
    expect(view.decisions).toEqual([]);
    expect(view.transitions).toHaveLength(1);
    const bare = viewDecision({ nodeId: "greeting" }, nameOf);
    expect(bare).toMatchObject({ decidedBy: "none", options: [], expressionErrors: [], latency: null, error: null });
  });

  it("formats scores as percentages", () => {
    expect(formatPercent(0.873)).toBe("87%");
    expect(formatPercent(0)).toBe("0%");
    expect(formatPercent(0.001)).toBe("<1%");
    expect(formatPercent(1.2)).toBe("100%");
  });
});

describe("takenPath", () => {
  const edges = [
    { id: "e1", source: "greeting", target: "ask_name" },
    { id: "e2", source: "human", target: "ask_name" },
  ];

  it("lights the edges followed and draws jumps that have no edge", () => {
    const second: Turn = {
      ...moved,
      seq: 2,
      nodeBefore: "ask_name",
      nodeAfter: "ask_name",
      trace: {
        ...moved.trace,
        nodeBefore: "ask_name",
        nodeAfter: "ask_name",
        entered: [
          { nodeId: "human", via: "global" },
          { nodeId: "ask_name", via: "edge" },
        ],
      },
    };
    const path = takenPath([second, moved], edges, "greeting");
    expect(path.visits).toEqual(["greeting", "ask_name", "human", "ask_name"]);
    expect([...path.edgeIds].sort()).toEqual(["e1", "e2"]);
    expect(path.jumps).toEqual([{ from: "ask_name", to: "human", via: "global" }]);
    expect(path.current).toBe("ask_name");
  });

  it("is just the start before the first turn", () => {
    expect(takenPath([], edges, "greeting")).toEqual({
      visits: ["greeting"],
      edgeIds: new Set(),
      jumps: [],
      current: "greeting",
    });
  });
});
