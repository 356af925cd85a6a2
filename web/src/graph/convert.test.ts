import { describe, expect, it } from "vitest";
import type { PathwayDocument } from "../api/types";
import {
  canLeave,
  displayKind,
  edgeExpression,
  freeId,
  newEdge,
  newNode,
  nodeTitle,
  toApi,
  toFlow,
  withKind,
  withoutNodes,
} from "./convert";

const stored: PathwayDocument = {
  schemaHint: "kept",
  nodes: [
    {
      id: "greeting",
      type: "input",
      position: { x: 0, y: 0 },
      data: { type: "start", title: "Greeting", prompt: "Hi", variableKeys: [] },
      width: 200,
    },
    {
      id: "human",
      position: { x: 300.5, y: 10 },
      data: {
        type: "prompt",
        label: "Human",
        prompt: "Hand over",
        isGlobalNode: true,
        globalNodeReason: "asks for a person",
        color: "red",
      },
    },
    { id: "loop", type: null, position: { x: 0, y: 200 }, data: { type: "goto", title: "Back", referenceNodeId: "greeting" } },
    { id: "bye", type: "output", position: { x: 0, y: 400 }, data: { type: "end", title: "Bye", prompt: "Say bye" } },
  ],
  edges: [
    { id: "e1", source: "greeting", target: "bye", data: { condition: "The user says goodbye", weight: 2 }, animated: true },
  ],
};

describe("toFlow / toApi", () => {
  it("round-trips the stored pathway exactly, unknown fields and hints included", () => {
    expect(toApi(toFlow(stored))).toEqual(stored);
  });

  it("drops what only describes the stored version", () => {
    const answer = { ...stored, version: 7, updatedAt: "2026-01-01T00:00:00Z", warnings: [] };
    expect(toApi(toFlow(answer))).toEqual(stored);
  });

  it("draws every node with the pathway component and keeps the API hint apart", () => {
    const { nodes, edges } = toFlow(stored);
    expect(nodes.map((n) => n.type)).toEqual(["pathway", "pathway", "pathway", "pathway"]);
    expect(nodes.map((n) => n.data.hint)).toEqual(["input", undefined, null, "output"]);
    expect(edges[0]).toMatchObject({ id: "e1", type: "condition", data: { condition: "The user says goodbye" } });
  });

  it("writes moved positions and edited data back", () => {
    const graph = toFlow(stored);
    graph.nodes[0] = {
      ...graph.nodes[0],
      position: { x: 40, y: 60 },
      data: { ...graph.nodes[0].data, api: { ...graph.nodes[0].data.api, prompt: "Hello" } },
    };
    graph.edges[0] = { ...graph.edges[0], data: { ...graph.edges[0].data!, condition: "Goodbye" } };
    const doc = toApi(graph);
    expect(doc.nodes[0]).toMatchObject({ position: { x: 40, y: 60 }, data: { prompt: "Hello", title: "Greeting" } });
    expect(doc.edges[0].data).toEqual({ condition: "Goodbye", weight: 2 });
  });
});

describe("expression edges", () => {
  const withExpression: PathwayDocument = {
    ...stored,
    edges: [
      ...stored.edges,
      { id: "big", source: "greeting", target: "human", data: { condition: "Large group", expression: "party_size > 8" } },
    ],
  };

  it("keeps data.expression apart from the condition and writes it back", () => {
    const graph = toFlow(withExpression);
    expect(graph.edges[1].data).toMatchObject({ condition: "Large group", expression: "party_size > 8" });
    expect(graph.edges[1].data?.dataRest).toEqual({});
    expect(edgeExpression(graph.edges[1].data)).toBe("party_size > 8");
    expect(edgeExpression(graph.edges[0].data)).toBeNull();
    expect(toApi(graph)).toEqual(withExpression);
  });

  it("leaves data.expression out when it is blank", () => {
    const graph = toFlow(withExpression);
    graph.edges[1] = { ...graph.edges[1], data: { ...graph.edges[1].data!, expression: "   " } };
    expect(toApi(graph).edges[1].data).toEqual({ condition: "Large group" });
    expect(edgeExpression(graph.edges[1].data)).toBeNull();
  });

  it("carries an expression that is not a text untouched, for the server to name", () => {
    const odd: PathwayDocument = {
      ...stored,
      edges: [{ id: "x", source: "greeting", target: "bye", data: { condition: "c", expression: 8 as unknown as string } }],
    };
    const graph = toFlow(odd);
    expect(graph.edges[0].data?.expression).toBeUndefined();
    expect(toApi(graph)).toEqual(odd);
  });
});

describe("new pieces", () => {
  it("gives new nodes free readable ids and the fields their kind needs", () => {
    expect(freeId("prompt", ["prompt_1", "prompt_3"])).toBe("prompt_2");
    const node = newNode("prompt", { x: 10.4, y: 20.6 }, ["prompt_1"]);
    expect(node).toMatchObject({
      id: "prompt_2",
      position: { x: 10, y: 21 },
      data: { api: { type: "prompt", prompt: "" }, hint: "prompt" },
    });
    const global = newNode("global", { x: 0, y: 0 }, []);
    expect(global.data.api).toMatchObject({ type: "prompt", isGlobalNode: true });
    expect(displayKind(global.data.api)).toBe("global");
    const goto = newNode("goto", { x: 0, y: 0 }, []);
    expect(goto.data.api).toEqual({ type: "goto", title: "Go to", referenceNodeId: null });
  });

  it("makes edge ids like the server's and never repeats one", () => {
    const edge = newEdge("a", "b", ["edge-a-b-1000"], 1000);
    expect(edge.id).toBe("edge-a-b-1001");
    expect(edge.data?.condition).toBe("");
  });
});

describe("reading and changing nodes", () => {
  it("names nodes by title, then label, then id", () => {
    expect(nodeTitle({ type: "prompt", title: "T", label: "L" }, "x")).toBe("T");
    expect(nodeTitle({ type: "prompt", label: "L" }, "x")).toBe("L");
    expect(nodeTitle({ type: "prompt", title: "  " }, "x")).toBe("x");
  });

  it("tells kinds apart, globals included", () => {
    const kinds = toFlow(stored).nodes.map((n) => displayKind(n.data.api));
    expect(kinds).toEqual(["start", "global", "goto", "end"]);
    expect(displayKind({ type: "webhook" })).toBe("unknown");
  });

  it("changes kind without leaving fields the new kind may not carry", () => {
    const global = { type: "prompt", title: "H", prompt: "p", isGlobalNode: true, globalNodeReason: "r" };
    expect(withKind(global, "end")).toEqual({ type: "end", title: "H", prompt: "p" });
    expect(withKind({ type: "prompt", title: "A", prompt: "p" }, "goto")).toMatchObject({ type: "goto", referenceNodeId: null });
    expect(withKind({ type: "goto", title: "G", referenceNodeId: null }, "prompt")).toEqual({
      type: "prompt",
      title: "G",
      prompt: "",
    });
  });

  it("knows which nodes edges may leave", () => {
    expect(canLeave({ type: "prompt" })).toBe(true);
    expect(canLeave({ type: "end" })).toBe(false);
    expect(canLeave({ type: "goto" })).toBe(false);
  });

  it("deletes the edges of deleted nodes", () => {
    const graph = withoutNodes(toFlow(stored), new Set(["bye"]));
    expect(graph.nodes.map((n) => n.id)).toEqual(["greeting", "human", "loop"]);
    expect(graph.edges).toEqual([]);
  });
});
