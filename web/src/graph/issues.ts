/**
 * Validation problems from the server, pinned to the nodes and edges they name.
 *
 * An issue names its node or edge by id (`nodeId`, `edgeId`) or only by a path into the
 * document as sent (`nodes[3].data.prompt`). Paths are resolved against that document at
 * once, so the marks stay on the right node after the person edits the graph further.
 */
import type { Issue, PathwayDocument } from "../api/types";

export type Level = "error" | "warning";

export interface PlacedIssue extends Issue {
  level: Level;
}

export interface IssueIndex {
  byNode: Map<string, PlacedIssue[]>;
  byEdge: Map<string, PlacedIssue[]>;
  /** Issues about the pathway as a whole (no start node...). */
  general: PlacedIssue[];
  all: PlacedIssue[];
}

const PATH = /^(nodes|edges)\[(\d+)\]/;

/** Fill in `nodeId` / `edgeId` from `field` where the server named only a position. */
export function placeIssues(issues: Issue[], level: Level, sent: PathwayDocument): PlacedIssue[] {
  return issues.map((issue) => {
    const placed: PlacedIssue = { ...issue, level };
    if (placed.nodeId || placed.edgeId || !issue.field) return placed;
    const match = PATH.exec(issue.field);
    if (!match) return placed;
    const index = Number(match[2]);
    if (match[1] === "nodes" && sent.nodes[index]) placed.nodeId = sent.nodes[index].id;
    if (match[1] === "edges" && sent.edges[index]) placed.edgeId = sent.edges[index].id;
    return placed;
  });
}

export function indexIssues(issues: PlacedIssue[]): IssueIndex {
  const index: IssueIndex = { byNode: new Map(), byEdge: new Map(), general: [], all: issues };
  for (const issue of issues) {
    if (issue.edgeId) push(index.byEdge, issue.edgeId, issue);
    else if (issue.nodeId) push(index.byNode, issue.nodeId, issue);
    else index.general.push(issue);
  }
  return index;
}

/** The worst level among issues (errors beat warnings), or null when there are none. */
export function worst(issues: PlacedIssue[] | undefined): Level | null {
  if (!issues?.length) return null;
  return issues.some((i) => i.level === "error") ? "error" : "warning";
}

/** Issues that still apply: drop those on nodes or edges that no longer exist. */
export function stillPresent(issues: PlacedIssue[], nodeIds: Set<string>, edgeIds: Set<string>): PlacedIssue[] {
  return issues.filter((i) => (i.edgeId ? edgeIds.has(i.edgeId) : i.nodeId ? nodeIds.has(i.nodeId) : true));
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
