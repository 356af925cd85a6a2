import { describe, expect, it } from "vitest";
import type { PathwayDocument } from "../api/types";
import { indexIssues, placeIssues, stillPresent, worst } from "./issues";

const sent: PathwayDocument = {
  nodes: [
    { id: "a", position: { x: 0, y: 0 }, data: { type: "start" } },
    { id: "b", position: { x: 0, y: 0 }, data: { type: "prompt" } },
  ],
  edges: [{ id: "e1", source: "a", target: "b", data: { condition: "" } }],
};

describe("placing issues", () => {
  it("keeps ids the server gave and resolves positions in the document as sent", () => {
    const placed = placeIssues(
      [
        { code: "missing_prompt", message: "b has no prompt", nodeId: "b" },
        { code: "wrong_type", message: "nodes[1]: bad", field: "nodes[1].data.prompt" },
        { code: "empty_condition", message: "edges[0]: empty", field: "edges[0].data.condition" },
        { code: "no_start_node", message: "no start" },
        { code: "x", message: "out of range", field: "nodes[9]" },
      ],
      "error",
      sent,
    );
    expect(placed.map((i) => [i.nodeId, i.edgeId, i.level])).toEqual([
      ["b", undefined, "error"],
      ["b", undefined, "error"],
      [undefined, "e1", "error"],
      [undefined, undefined, "error"],
      [undefined, undefined, "error"],
    ]);
  });

  it("pins an invalid expression to its edge", () => {
    const [placed] = placeIssues(
      [{ code: "invalid_expression", message: "the expression is not valid", field: "edges[0].data.expression" }],
      "error",
      sent,
    );
    expect(placed).toMatchObject({ edgeId: "e1", field: "edges[0].data.expression" });
    expect(indexIssues([placed]).byEdge.get("e1")).toEqual([placed]);
  });

  it("indexes by node and edge, with pathway-wide issues apart", () => {
    const index = indexIssues([
      ...placeIssues([{ code: "c", message: "m", nodeId: "a" }], "warning", sent),
      ...placeIssues(
        [
          { code: "c", message: "m", nodeId: "a" },
          { code: "e", message: "m", edgeId: "e1", nodeId: "a" },
        ],
        "error",
        sent,
      ),
      ...placeIssues([{ code: "g", message: "general" }], "warning", sent),
    ]);
    expect(index.byNode.get("a")?.length).toBe(2);
    expect(index.byEdge.get("e1")?.length).toBe(1);
    expect(index.general.map((i) => i.code)).toEqual(["g"]);
    expect(worst(index.byNode.get("a"))).toBe("error");
    expect(worst(index.general)).toBe("warning");
    expect(worst(undefined)).toBeNull();
  });

  it("forgets issues of nodes and edges that were deleted since", () => {
    const placed = placeIssues(
      [
        { code: "c", message: "m", nodeId: "a" },
        { code: "e", message: "m", edgeId: "e1" },
        { code: "g", message: "m" },
      ],
      "error",
      sent,
    );
    expect(stillPresent(placed, new Set(["b"]), new Set()).map((i) => i.code)).toEqual(["g"]);
  });
});
