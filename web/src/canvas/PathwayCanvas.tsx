/**
 * The pathway on a canvas: add, connect, move, select and delete nodes and edges.
 *
 * The graph is the draft's (controlled React Flow); this component adds what is only
 * drawn: dashed arrows from gotos to their targets and, when a conversation is shown,
 * dashed arrows for its jumps that follow no edge (global nodes, gotos).
 */
import {
  Background,
  Controls,
  MarkerType,
  MiniMap,
  ReactFlow,
  useReactFlow,
  type DefaultEdgeOptions,
  type Edge,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef } from "react";
import type { FlowEdge, NewNodeKind } from "../graph/convert";
import { freeSpot, NODE_SIZE } from "../graph/layout";
import type { Draft, DraftActions } from "../state/draft";
import type { TakenPath } from "../trace/path";
import ConditionEdge from "./ConditionEdge";
import PathwayNodeView, { KIND_LABELS } from "./PathwayNodeView";

const nodeTypes = { pathway: PathwayNodeView };
const edgeTypes = { condition: ConditionEdge };
// Arrow sizes in pixels, so a lit (thicker) edge keeps a normal arrow.
const defaultEdgeOptions: DefaultEdgeOptions = {
  markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16, markerUnits: "userSpaceOnUse" },
};
const ADDABLE: NewNodeKind[] = ["start", "prompt", "global", "goto", "end"];
const FIT = { maxZoom: 1, padding: 0.2 };

interface Props {
  draft: Draft;
  actions: DraftActions;
  path: TakenPath | null;
}

export default function PathwayCanvas({ draft, actions, path }: Props) {
  const flow = useReactFlow();
  const wrapper = useRef<HTMLDivElement>(null);

  // A new graph (rollback, discard) is framed again; the first one is framed by `fitView`.
  const framed = useRef(draft.generation);
  useEffect(() => {
    if (framed.current === draft.generation) return;
    framed.current = draft.generation;
    const frame = requestAnimationFrame(() => void flow.fitView(FIT));
    return () => cancelAnimationFrame(frame);
  }, [draft.generation, flow]);

  const derived = useMemo(() => {
    const ids = new Set(draft.graph.nodes.map((n) => n.id));
    const extra: Edge[] = [];
    for (const node of draft.graph.nodes) {
      const target = node.data.api.referenceNodeId;
      if (node.data.api.type === "goto" && target && ids.has(target)) {
        extra.push(decoration(`goto:${node.id}`, node.id, target, "pw-derived goto", "goto"));
      }
    }
    for (const [index, jump] of (path?.jumps ?? []).entries()) {
      if (ids.has(jump.from) && ids.has(jump.to) && jump.via !== "goto") {
        extra.push(
          decoration(`jump:${index}`, jump.from, jump.to, "pw-derived jump", jump.via === "global" ? "global jump" : jump.via),
        );
      }
    }
    return extra;
  }, [draft.graph.nodes, path]);

  // Drawn-only edges are plain React Flow edges; the draft's change handlers skip them by id
  // (isDerived), so typing them all as the draft's edges is safe.
  const edges = useMemo(() => [...draft.graph.edges, ...derived] as FlowEdge[], [draft.graph.edges, derived]);

  const add = useCallback(
    (kind: NewNodeKind) => {
      const box = wrapper.current?.getBoundingClientRect();
      const centre = box ? { x: box.left + box.width / 2, y: box.top + box.height / 3 } : { x: 200, y: 200 };
      const at = flow.screenToFlowPosition(centre);
      const taken = draft.graph.nodes.map((n) => ({
        ...n.position,
        width: n.measured?.width ?? NODE_SIZE.width,
        height: n.measured?.height ?? NODE_SIZE.height,
      }));
      actions.addNode(kind, freeSpot(taken, { x: at.x - NODE_SIZE.width / 2, y: at.y }));
    },
    [flow, actions, draft.graph.nodes],
  );

  return (
    <div className="pw-canvas" ref={wrapper}>
      <div className="pw-palette" role="toolbar" aria-label="Add a node">
        {ADDABLE.map((kind) => (
          <button
            key={kind}
            type="button"
            className={`pw-add kind-${kind}`}
            onClick={() => add(kind)}
            title={`Add a ${KIND_LABELS[kind].toLowerCase()} node`}
          >
            + {KIND_LABELS[kind]}
          </button>
        ))}
      </div>
      <ReactFlow
        nodes={draft.graph.nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        defaultEdgeOptions={defaultEdgeOptions}
        onNodesChange={actions.onNodesChange}
        onEdgesChange={actions.onEdgesChange}
        onConnect={actions.onConnect}
        isValidConnection={actions.isValidConnection}
        deleteKeyCode={["Delete", "Backspace"]}
        fitView
        fitViewOptions={FIT}
        minZoom={0.1}
        maxZoom={1.5}
        proOptions={{ hideAttribution: true }}
      >
        <Background gap={20} size={1} />
        <Controls showInteractive={false} fitViewOptions={FIT} />
        <MiniMap className="pw-minimap" style={{ width: 140, height: 90 }} pannable zoomable nodeStrokeWidth={3} />
      </ReactFlow>
      {draft.graph.nodes.length === 0 && (
        <div className="pw-canvas-empty">
          <p>This pathway is empty.</p>
          <p>
            Add a <strong>Start</strong> node first: conversations begin there.
          </p>
        </div>
      )}
    </div>
  );
}

function decoration(id: string, source: string, target: string, className: string, label: string): Edge {
  return {
    id,
    source,
    target,
    className,
    label,
    selectable: false,
    deletable: false,
    focusable: false,
    animated: className.includes("jump"),
    markerEnd: { type: MarkerType.ArrowClosed, width: 14, height: 14, markerUnits: "userSpaceOnUse" },
  };
}
