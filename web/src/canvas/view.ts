/**
 * What the canvas shows on top of the pathway: validation marks, the current node of a
 * conversation and the path it took. Nodes and edges read it from context, so the
 * pathway's data never carries display state (and drawing it never makes the draft dirty).
 */
import { createContext, useContext } from "react";
import type { IssueIndex } from "../graph/issues";
import type { TakenPath } from "../trace/path";

export interface CanvasView {
  issues: IssueIndex;
  path: TakenPath | null;
  nameOf: (nodeId: string) => string;
  selectEdge: (edgeId: string) => void;
}

export const CanvasViewContext = createContext<CanvasView | null>(null);

export function useCanvasView(): CanvasView {
  const view = useContext(CanvasViewContext);
  if (!view) throw new Error("useCanvasView needs a CanvasViewContext");
  return view;
}
