import { Handle, Position, type NodeProps } from "@xyflow/react";
import { memo } from "react";
import { canLeave, displayKind, nodeTitle, type FlowNode } from "../graph/convert";
import { worst } from "../graph/issues";
import { useCanvasView } from "./view";

export const KIND_LABELS: Record<string, string> = {
  start: "Start",
  prompt: "Prompt",
  global: "Global",
  goto: "Go to",
  end: "End",
  unknown: "Unknown kind",
};

/** One node on the canvas: its kind, title and what it does, with its marks. */
function PathwayNodeView({ id, data, selected }: NodeProps<FlowNode>) {
  const view = useCanvasView();
  const api = data.api;
  const kind = displayKind(api);
  const issues = view.issues.byNode.get(id) ?? [];
  const level = worst(issues);
  const current = view.path?.current === id;
  const visited = !current && !!view.path?.visits.includes(id);
  const classes = [
    "pw-node",
    `kind-${kind}`,
    selected ? "selected" : "",
    level ? `has-${level}` : "",
    current ? "current" : "",
    visited ? "visited" : "",
  ];
  return (
    <div
      className={classes.filter(Boolean).join(" ")}
      data-testid={`node-${id}`}
      data-kind={kind}
      data-current={current ? "true" : undefined}
      data-visited={visited ? "true" : undefined}
      data-issue={level ?? undefined}
    >
      <Handle type="target" position={Position.Top} className="pw-handle" data-testid={`handle-in-${id}`} />
      <div className="pw-node-head">
        <span className="pw-kind">{KIND_LABELS[kind]}</span>
        {current && <span className="pw-here">● here</span>}
      </div>
      <div className="pw-node-title">{nodeTitle(api, id)}</div>
      {kind === "goto" ? (
        <div className="pw-node-body">→ {api.referenceNodeId ? view.nameOf(api.referenceNodeId) : "nowhere (stays)"}</div>
      ) : (
        <div className="pw-node-body">{api.prompt?.trim() || <em className="pw-missing">No prompt yet</em>}</div>
      )}
      {kind === "global" && (
        <div className="pw-node-reason">
          Jumps here when: {api.globalNodeReason?.trim() || <em className="pw-missing">no reason given</em>}
        </div>
      )}
      {api.variableKeys?.length || api.tools?.length ? (
        <div className="pw-chips">
          {api.variableKeys?.map((key) => (
            <span key={`v-${key}`} className="pw-chip var">{`{${key}}`}</span>
          ))}
          {api.tools?.map((tool) => (
            <span key={`t-${tool}`} className="pw-chip tool">
              ⚙ {tool}
            </span>
          ))}
        </div>
      ) : null}
      {issues.length > 0 && (
        <div className={`pw-node-issues ${level}`} title={issues.map((i) => i.message).join("\n")}>
          {level === "error" ? "✖" : "⚠"} {issues[0].message}
          {issues.length > 1 ? ` (+${issues.length - 1} more)` : ""}
        </div>
      )}
      {canLeave(api) ? (
        <Handle type="source" position={Position.Bottom} className="pw-handle" data-testid={`handle-out-${id}`} />
      ) : (
        // Anchors the dashed goto arrow (and a conversation's jumps); nothing connects from here.
        <Handle type="source" position={Position.Bottom} className="pw-handle pw-handle-inert" isConnectable={false} />
      )}
    </div>
  );
}

export default memo(PathwayNodeView);
