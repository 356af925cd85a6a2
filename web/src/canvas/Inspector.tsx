/**
 * The side panel of the canvas: edits the selected node or edge, or, with nothing
 * selected, lists what the server said about the pathway and how to use the canvas.
 */
import { useState } from "react";
import type { ApiNodeData, VariableConfig } from "../api/types";
import {
  displayKind,
  edgeExpression,
  nodeTitle,
  withKind,
  type FlowEdge,
  type FlowNode,
  type NewNodeKind,
} from "../graph/convert";
import type { PlacedIssue } from "../graph/issues";
import type { DraftActions } from "../state/draft";
import { KIND_LABELS } from "./PathwayNodeView";

const BUILTIN_TOOLS = ["end_call", "transfer_call", "transfer_to_human"];
const KINDS: NewNodeKind[] = ["start", "prompt", "global", "goto", "end"];

interface Props {
  nodes: FlowNode[];
  edges: FlowEdge[];
  variables: VariableConfig[];
  issues: PlacedIssue[];
  actions: DraftActions;
}

export default function Inspector({ nodes, edges, variables, issues, actions }: Props) {
  const selectedNodes = nodes.filter((n) => n.selected);
  const selectedEdges = edges.filter((e) => e.selected);
  const count = selectedNodes.length + selectedEdges.length;
  const nameOf = (id: string): string => {
    const node = nodes.find((n) => n.id === id);
    return node ? nodeTitle(node.data.api, id) : id;
  };
  if (count > 1) {
    return (
      <div className="pw-inspector">
        <h2>{count} items selected</h2>
        <p className="pw-hint">Press Delete to remove them, or click one to edit it.</p>
        <button type="button" className="danger" onClick={actions.deleteSelection}>
          Delete {count} items
        </button>
      </div>
    );
  }
  if (selectedNodes.length === 1) {
    const node = selectedNodes[0];
    return (
      <NodeInspector
        key={node.id}
        node={node}
        nodes={nodes}
        variables={variables}
        issues={issues.filter((i) => i.nodeId === node.id && !i.edgeId)}
        actions={actions}
      />
    );
  }
  if (selectedEdges.length === 1) {
    const edge = selectedEdges[0];
    return (
      <EdgeInspector
        key={edge.id}
        edge={edge}
        nameOf={nameOf}
        issues={issues.filter((i) => i.edgeId === edge.id)}
        actions={actions}
      />
    );
  }
  return <Overview issues={issues} actions={actions} nodeCount={nodes.length} edgeCount={edges.length} />;
}

/** A problem with the edge's expression, shown under the expression field. */
function isExpressionIssue(issue: PlacedIssue): boolean {
  return /(^|\.)data\.expression$/.test(issue.field ?? "");
}

function IssueList({ issues, onPick }: { issues: PlacedIssue[]; onPick?: (issue: PlacedIssue) => void }) {
  if (!issues.length) return null;
  return (
    <ul className="pw-issues">
      {issues.map((issue, index) => (
        <li key={index} className={issue.level}>
          <span className="pw-issue-icon">{issue.level === "error" ? "✖" : "⚠"}</span>
          {onPick && (issue.nodeId || issue.edgeId) ? (
            <button type="button" className="link" onClick={() => onPick(issue)}>
              {issue.message}
            </button>
          ) : (
            <span>{issue.message}</span>
          )}
        </li>
      ))}
    </ul>
  );
}

function NodeInspector({
  node,
  nodes,
  variables,
  issues,
  actions,
}: {
  node: FlowNode;
  nodes: FlowNode[];
  variables: VariableConfig[];
  issues: PlacedIssue[];
  actions: DraftActions;
}) {
  const api = node.data.api;
  const kind = displayKind(api);
  const update = (change: Partial<ApiNodeData>): void => actions.updateNode(node.id, (old) => ({ ...old, ...change }));
  const keys = api.variableKeys ?? [];
  const known = new Set(variables.map((v) => v.key));
  return (
    <div className="pw-inspector" data-testid="node-inspector">
      <h2>
        <span className={`pw-kind-dot kind-${kind}`} /> {KIND_LABELS[kind]} node
      </h2>
      <p className="pw-id">id: {node.id}</p>
      <IssueList issues={issues} />
      <label>
        Kind
        <select
          aria-label="Kind"
          value={kind === "unknown" ? "" : kind}
          onChange={(e) => actions.updateNode(node.id, (old) => withKind(old, e.target.value as NewNodeKind))}
        >
          {kind === "unknown" && <option value="">{api.type} (unknown)</option>}
          {KINDS.map((k) => (
            <option key={k} value={k}>
              {KIND_LABELS[k]}
            </option>
          ))}
        </select>
      </label>
      <label>
        Title
        <input
          value={api.title ?? api.label ?? ""}
          onChange={(e) => update({ title: e.target.value })}
          placeholder="What this step is, e.g. Ask for the name"
        />
      </label>
      {kind === "goto" ? (
        <label>
          Go to
          <select
            aria-label="Go to"
            value={api.referenceNodeId ?? ""}
            onChange={(e) => update({ referenceNodeId: e.target.value || null })}
          >
            <option value="">Nowhere: stay at the current node</option>
            {nodes
              .filter((n) => n.id !== node.id)
              .map((n) => (
                <option key={n.id} value={n.id}>
                  {nodeTitle(n.data.api, n.id)} ({n.id})
                </option>
              ))}
          </select>
        </label>
      ) : (
        <>
          <label>
            Prompt
            <textarea
              rows={7}
              value={api.prompt ?? ""}
              onChange={(e) => update({ prompt: e.target.value })}
              placeholder="What the agent does in this step. The model sees the global prompt and this prompt only."
            />
          </label>
          {kind === "prompt" || kind === "global" ? (
            <label className="pw-check">
              <input
                type="checkbox"
                checked={kind === "global"}
                onChange={(e) => actions.updateNode(node.id, (old) => withKind(old, e.target.checked ? "global" : "prompt"))}
              />
              Global: reachable from any step, without an edge
            </label>
          ) : null}
          {kind === "global" && (
            <label>
              When to jump here
              <textarea
                rows={3}
                value={api.globalNodeReason ?? ""}
                onChange={(e) => update({ globalNodeReason: e.target.value })}
                placeholder="The user asks to talk to a human"
              />
            </label>
          )}
          <fieldset>
            <legend>Variables to collect here</legend>
            {variables.length === 0 && <p className="pw-hint">The agent defines no variables yet; add them in Agent settings.</p>}
            {variables.map((v) => (
              <label key={v.key} className="pw-check">
                <input
                  type="checkbox"
                  checked={keys.includes(v.key)}
                  onChange={(e) =>
                    update({ variableKeys: e.target.checked ? [...keys, v.key] : keys.filter((k) => k !== v.key) })
                  }
                />
                <code>{v.key}</code> <span className="pw-muted">({v.type})</span>
              </label>
            ))}
            {keys
              .filter((k) => !known.has(k))
              .map((k) => (
                <div key={k} className="pw-unknown-key">
                  ⚠ <code>{k}</code> is not a variable of the agent.{" "}
                  <button type="button" className="link" onClick={() => update({ variableKeys: keys.filter((x) => x !== k) })}>
                    Remove it
                  </button>
                </div>
              ))}
          </fieldset>
          <ToolsEditor tools={api.tools ?? []} onChange={(tools) => update({ tools })} />
        </>
      )}
      <button type="button" className="danger" onClick={actions.deleteSelection}>
        Delete node
      </button>
    </div>
  );
}

function ToolsEditor({ tools, onChange }: { tools: string[]; onChange: (tools: string[]) => void }) {
  const [text, setText] = useState("");
  const add = (): void => {
    const name = text.trim();
    if (name && !tools.includes(name)) onChange([...tools, name]);
    setText("");
  };
  return (
    <fieldset>
      <legend>Tools</legend>
      <div className="pw-chips">
        {tools.map((tool) => (
          <span key={tool} className="pw-chip tool">
            {tool}
            <button type="button" aria-label={`Remove tool ${tool}`} onClick={() => onChange(tools.filter((t) => t !== tool))}>
              ×
            </button>
          </span>
        ))}
        {tools.length === 0 && <span className="pw-muted">No tools: the model only talks and moves on.</span>}
      </div>
      <div className="pw-row">
        <input
          list="pw-builtin-tools"
          value={text}
          placeholder="Tool id, or end_call, transfer_call…"
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter") {
              e.preventDefault();
              add();
            }
          }}
        />
        <button type="button" onClick={add} disabled={!text.trim()}>
          Add
        </button>
      </div>
      <datalist id="pw-builtin-tools">
        {BUILTIN_TOOLS.map((t) => (
          <option key={t} value={t} />
        ))}
      </datalist>
    </fieldset>
  );
}

function EdgeInspector({
  edge,
  nameOf,
  issues,
  actions,
}: {
  edge: FlowEdge;
  nameOf: (id: string) => string;
  issues: PlacedIssue[];
  actions: DraftActions;
}) {
  const expression = edgeExpression(edge.data);
  const expressionIssues = issues.filter(isExpressionIssue);
  return (
    <div className="pw-inspector" data-testid="edge-inspector">
      <h2>Edge</h2>
      <p className="pw-edge-ends">
        <strong>{nameOf(edge.source)}</strong> → <strong>{nameOf(edge.target)}</strong>
      </p>
      <IssueList issues={issues.filter((i) => !isExpressionIssue(i))} />
      <label>
        {expression ? "Label (optional)" : "Condition"}
        <textarea
          rows={expression ? 2 : 4}
          value={edge.data?.condition ?? ""}
          onChange={(e) => actions.setCondition(edge.id, e.target.value)}
          placeholder={
            expression
              ? "A name for people reading the pathway: Large group"
              : "When to follow this edge, in plain words: The user wants to book a table"
          }
          autoFocus={!edge.data?.condition && !expression}
          data-testid="edge-condition"
        />
      </label>
      <p className="pw-hint">
        {expression
          ? "The expression decides this edge; the model never reads this text. It labels the edge on the canvas."
          : "The model reads this to decide whether the conversation moves on. Write it broadly enough to match how people speak."}
      </p>
      <label>
        Expression (optional)
        <input
          type="text"
          className={`pw-code-input${expressionIssues.some((i) => i.level === "error") ? " invalid" : ""}`}
          value={edge.data?.expression ?? ""}
          onChange={(e) => actions.setExpression(edge.id, e.target.value)}
          placeholder="party_size > 8"
          spellCheck={false}
          data-testid="edge-expression"
        />
      </label>
      <IssueList issues={expressionIssues} />
      <p className="pw-hint" data-testid="expression-hint">
        A condition over variables, decided without the model and before the plain-language edges: <code>party_size &gt; 8</code>,{" "}
        <code>customer_tier in ["gold", "platinum"] and phone is not set</code>. Use <code>== != &lt; &lt;= &gt; &gt;=</code>,{" "}
        <code>and</code>, <code>or</code>, <code>not</code>, <code>in</code>, <code>is set</code>; texts in "quotes". Leave it
        empty to let the model decide.
      </p>
      <button type="button" className="danger" onClick={actions.deleteSelection}>
        Delete edge
      </button>
    </div>
  );
}

function Overview({
  issues,
  actions,
  nodeCount,
  edgeCount,
}: {
  issues: PlacedIssue[];
  actions: DraftActions;
  nodeCount: number;
  edgeCount: number;
}) {
  const errors = issues.filter((i) => i.level === "error");
  const warnings = issues.filter((i) => i.level === "warning");
  return (
    <div className="pw-inspector">
      <h2>Pathway</h2>
      <p className="pw-muted">
        {nodeCount} nodes, {edgeCount} edges. Select a node or an edge to edit it.
      </p>
      {errors.length > 0 && <h3>{errors.length === 1 ? "1 error blocks saving" : `${errors.length} errors block saving`}</h3>}
      <IssueList issues={errors} onPick={(i) => actions.select(i.edgeId ? { edgeId: i.edgeId } : { nodeId: i.nodeId })} />
      {warnings.length > 0 && <h3>{warnings.length === 1 ? "1 warning" : `${warnings.length} warnings`}</h3>}
      <IssueList issues={warnings} onPick={(i) => actions.select(i.edgeId ? { edgeId: i.edgeId } : { nodeId: i.nodeId })} />
      <h3>How to</h3>
      <ul className="pw-help">
        <li>Add a node with the buttons above the canvas; drag it to move it.</li>
        <li>
          Connect two nodes by dragging from the dot at the bottom of one to the dot at the top of the other, then write the
          edge's condition here.
        </li>
        <li>
          <kbd>Delete</kbd> removes the selection; <kbd>Ctrl</kbd>/<kbd>⌘</kbd>+<kbd>S</kbd> saves a new version.
        </li>
        <li>Shift+drag selects several nodes.</li>
      </ul>
    </div>
  );
}
