import { describe, expect, it } from "vitest";
import type { Turn } from "../api/types";
import { formatMs, viewTurn } from "./trace";
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
