import { BaseEdge, EdgeLabelRenderer, getBezierPath, type EdgeProps } from "@xyflow/react";
import { memo } from "react";
import { edgeExpression, type FlowEdge } from "../graph/convert";
import { worst } from "../graph/issues";
import { useCanvasView } from "./view";

const LABEL_CHARS = 48;

/**
 * An edge and its condition; marked when the server named it, lit when a conversation took it.
 * An edge with an expression (decided by the variables, not the model) is drawn in its own
 * colour with an "ƒ" before its label.
 */
function ConditionEdge(props: EdgeProps<FlowEdge>) {
  const { id, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, data, selected, markerEnd } = props;
  const view = useCanvasView();
  const [path, labelX, labelY] = getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  const level = worst(view.issues.byEdge.get(id));
  const taken = !!view.path?.edgeIds.has(id);
  const condition = data?.condition.trim() ?? "";
  const expression = edgeExpression(data);
  const text = condition || expression || "";
  const marks = [selected ? "selected" : "", taken ? "taken" : "", level ? `has-${level}` : "", expression ? "expression" : ""]
    .filter(Boolean)
    .join(" ");
  return (
    <>
      <BaseEdge id={id} path={path} markerEnd={markerEnd} className={`pw-edge ${marks}`} />
      <EdgeLabelRenderer>
        <button
          type="button"
          className={`pw-edge-label nodrag nopan ${marks}`}
          style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}
          data-testid={`edge-label-${id}`}
          title={
            expression
              ? `Decided by the variables: ${expression}${condition ? ` (${condition})` : ""}`
              : condition || "No condition yet: click to write when to follow this edge"
          }
          onClick={() => view.selectEdge(id)}
        >
          {level === "error" ? "✖ " : level === "warning" ? "⚠ " : ""}
          {expression && <span className="pw-expression-mark">ƒ </span>}
          {text ? (text.length > LABEL_CHARS ? `${text.slice(0, LABEL_CHARS - 1)}…` : text) : "needs a condition"}
        </button>
      </EdgeLabelRenderer>
    </>
  );
}

export default memo(ConditionEdge);
