/**
 * The path a conversation took through the pathway, from its turns' traces, for the canvas.
 *
 * Each turn starts at `nodeBefore` and enters nodes one after another (`entered[]`, each
 * with `via`: an edge, a global jump, or a goto). A step via an edge lights that edge; a
 * global jump or a goto has no edge of its own and is drawn as a dashed jump.
 */
import type { Turn } from "../api/types";

export interface Jump {
  from: string;
  to: string;
  via: string;
}

export interface TakenPath {
  /** Nodes in the order they were visited (repeats kept). */
  visits: string[];
  /** Ids of the edges followed. */
  edgeIds: Set<string>;
  /** Steps with no edge on the canvas (global jumps, gotos, or edges since deleted). */
  jumps: Jump[];
  current: string | null;
}

interface EdgeEnds {
  id: string;
  source: string;
  target: string;
}

export function takenPath(turns: Turn[], edges: EdgeEnds[], start: string | null = null): TakenPath {
  const visits: string[] = [];
  const edgeIds = new Set<string>();
  const jumps: Jump[] = [];
  let at: string | null = start;
  const visit = (id: string): void => {
    if (visits[visits.length - 1] !== id) visits.push(id);
    at = id;
  };
  if (start) visit(start);
  for (const turn of [...turns].sort((a, b) => a.seq - b.seq)) {
    const trace = turn.trace;
    const before = trace?.nodeBefore ?? turn.nodeBefore;
    if (before) visit(before);
    for (const step of trace?.entered ?? []) {
      const from: string | null = at;
      if (from !== null) {
        const edge = step.via === "edge" ? edges.find((e) => e.source === from && e.target === step.nodeId) : undefined;
        if (edge) edgeIds.add(edge.id);
        else jumps.push({ from, to: step.nodeId, via: step.via });
      }
      visit(step.nodeId);
    }
    const after = trace?.nodeAfter ?? turn.nodeAfter;
    if (after) visit(after);
  }
  return { visits, edgeIds, jumps, current: at };
}
