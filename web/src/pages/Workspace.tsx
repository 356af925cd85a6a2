/**
 * One project: the canvas with its side panels, the agent settings and the sessions.
 *
 * The pathway draft and the playground conversation live here, above the tabs, so moving
 * between tabs loses neither; leaving the project with unsaved edits asks first.
 */
import { ReactFlowProvider } from "@xyflow/react";
import { useCallback, useEffect, useMemo, useState } from "react";
import type { Agent, Project, Session } from "../api/types";
import Inspector from "../canvas/Inspector";
import PathwayCanvas from "../canvas/PathwayCanvas";
import VersionsPanel from "../canvas/VersionsPanel";
import { CanvasViewContext, type CanvasView } from "../canvas/view";
import ConfirmDialog from "../components/ConfirmDialog";
import { ErrorNotice, Loading, Notice } from "../components/Notice";
import { nodeTitle } from "../graph/convert";
import { indexIssues } from "../graph/issues";
import PlaygroundPanel from "../playground/PlaygroundPanel";
import { keyHint, useAuth, useClient } from "../state/auth";
import { useDraft } from "../state/draft";
import { usePlayground } from "../state/playground";
import { navigate, useLeaveGuard, type Guard, type Route } from "../state/router";
import { conflictSummary, savedNote as describeSave } from "../state/saving";
import { takenPath } from "../trace/path";
import AgentSettings from "./AgentSettings";
import SessionDetail from "./SessionDetail";
import SessionsList from "./SessionsList";

type WorkspaceRoute = Extract<Route, { projectId: string }>;
type Side = "inspect" | "playground" | "versions";

export default function Workspace({ route }: { route: WorkspaceRoute }) {
  const client = useClient();
  const { key, signOut } = useAuth();
  const projectId = route.projectId;
  const [project, setProject] = useState<Project | null>(null);
  const [agent, setAgent] = useState<Agent | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [side, setSide] = useState<Side>("inspect");
  const [savedNote, setSavedNote] = useState<string | null>(null);
  const [overlay, setOverlay] = useState<{ from: "playground" | "session"; session: Session } | null>(null);
  const [overlayError, setOverlayError] = useState<unknown>(null);

  const loadProject = useCallback(async () => {
    setLoadError(null);
    try {
      const [p, a] = await Promise.all([client.getProject(projectId), client.getAgent(projectId)]);
      setProject(p);
      setAgent(a);
    } catch (error) {
      setLoadError(error);
    }
  }, [client, projectId]);

  useEffect(() => {
    void loadProject();
  }, [loadProject]);

  const onSaved = useCallback((saved: { version: number; warnings?: unknown[] }, nothingNew: boolean) => {
    setSavedNote(describeSave(saved, nothingNew));
    setProject((p) => (p ? { ...p, pathwayVersion: saved.version } : p));
  }, []);
  const [draft, actions] = useDraft(client, projectId, onSaved);
  useEffect(() => {
    if (draft.dirty) setSavedNote(null); // "saved" is no longer true once the draft changes
  }, [draft.dirty]);

  const onTurn = useCallback((session: Session) => setOverlay({ from: "playground", session }), []);
  const [playground, play] = usePlayground(client, projectId, onTurn);

  // "Open in canvas" from a session: show the path that conversation took.
  const showSession = route.name === "canvas" ? route.sessionId : null;
  useEffect(() => {
    if (!showSession) return;
    let live = true;
    setOverlayError(null);
    client
      .getSession(projectId, showSession)
      .then((session) => live && setOverlay({ from: "session", session }))
      .catch((error) => live && setOverlayError(error));
    return () => {
      live = false;
    };
  }, [client, projectId, showSession]);

  const save = useCallback(async () => {
    setSavedNote(null);
    await actions.save();
  }, [actions]);

  // Ctrl/Cmd+S saves, from any tab of the project.
  useEffect(() => {
    const onKey = (event: KeyboardEvent): void => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
        event.preventDefault();
        if (!draft.saving && !draft.loading) void save();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [save, draft.saving, draft.loading]);

  const guard = useCallback<Guard>(
    (to) => {
      if (!draft.dirty) return null;
      if (to && "projectId" in to && to.projectId === projectId) return null; // the draft stays with the project
      return "The pathway has unsaved changes. Leave without saving them?";
    },
    [draft.dirty, projectId],
  );
  useLeaveGuard(guard);

  // Selecting something on the canvas shows it in the side panel.
  const selectedKey = useMemo(
    () =>
      [
        ...draft.graph.nodes.filter((n) => n.selected).map((n) => n.id),
        ...draft.graph.edges.filter((e) => e.selected).map((e) => e.id),
      ].join(","),
    [draft.graph.nodes, draft.graph.edges],
  );
  useEffect(() => {
    if (selectedKey) setSide("inspect");
  }, [selectedKey]);

  // Node names change only when a title does: dragging must not redraw every node.
  const titlesKey = JSON.stringify(draft.graph.nodes.map((n) => [n.id, nodeTitle(n.data.api, n.id)]));
  const nameOf = useMemo(() => {
    const titles = new Map(JSON.parse(titlesKey) as [string, string][]);
    return (id: string): string => titles.get(id) ?? id;
  }, [titlesKey]);
  const issues = useMemo(() => indexIssues(draft.issues), [draft.issues]);
  const path = useMemo(() => {
    if (!overlay) return null;
    const session = overlay.session;
    const start = session.state.visitedNodeIds[0] ?? null;
    return takenPath(session.turns, draft.graph.edges, start);
  }, [overlay, draft.graph.edges]);
  const view = useMemo<CanvasView>(
    () => ({ issues, path, nameOf, selectEdge: (edgeId) => actions.select({ edgeId }) }),
    [issues, path, nameOf, actions],
  );

  const go = (to: WorkspaceRoute): void => navigate(to, { guarded: true });
  const tab = route.name === "session" ? "sessions" : route.name;

  if (loadError) {
    return (
      <div className="pw-page">
        <ErrorNotice error={loadError} title="Could not open this project" onRetry={() => void loadProject()}>
          <button type="button" onClick={() => navigate({ name: "home" })}>
            Back to projects
          </button>
        </ErrorNotice>
      </div>
    );
  }

  return (
    <div className="pw-app">
      <header className="pw-topbar">
        <button
          type="button"
          className="pw-brand link"
          onClick={() => navigate({ name: "home" }, { guarded: true })}
          title="All projects"
        >
          Pathweaver Studio
        </button>
        <span className="pw-project-name" data-testid="project-name" title={projectId}>
          {project?.name ?? "…"}
        </span>
        <nav className="pw-tabs" aria-label="Project">
          <button
            type="button"
            className={tab === "canvas" ? "active" : ""}
            onClick={() => go({ name: "canvas", projectId, sessionId: null })}
          >
            Canvas{draft.dirty ? " •" : ""}
          </button>
          <button type="button" className={tab === "agent" ? "active" : ""} onClick={() => go({ name: "agent", projectId })}>
            Agent
          </button>
          <button
            type="button"
            className={tab === "sessions" ? "active" : ""}
            onClick={() => go({ name: "sessions", projectId })}
          >
            Sessions
          </button>
        </nav>
        <span className="pw-spacer" />
        {key && <span className="pw-muted pw-key">{keyHint(key)}</span>}
        <button
          type="button"
          onClick={() => {
            if (
              draft.dirty &&
              !window.confirm("The pathway has unsaved changes (kept in this tab until it closes). Sign out anyway?")
            )
              return;
            signOut(null);
          }}
        >
          Sign out
        </button>
      </header>

      {tab === "agent" && agent && <AgentSettings agent={agent} onSaved={setAgent} />}
      {tab === "agent" && !agent && <Loading what="the agent" />}
      {route.name === "sessions" && <SessionsList projectId={projectId} nameOf={nameOf} />}
      {route.name === "session" && <SessionDetail projectId={projectId} sessionId={route.sessionId} />}

      {tab === "canvas" && (
        <main className="pw-workspace">
          <section className="pw-canvas-area">
            <div className="pw-canvas-bar">
              <button
                type="button"
                className="primary"
                onClick={() => void save()}
                disabled={draft.saving || draft.loading}
                data-testid="save"
              >
                {draft.saving ? "Saving…" : "Save"}
              </button>
              <span className={`pw-save-state ${draft.dirty ? "dirty" : ""}`} data-testid="save-state">
                {draft.loading
                  ? "Loading…"
                  : draft.dirty
                    ? "Unsaved changes"
                    : draft.baseVersion
                      ? `Saved · v${draft.baseVersion}`
                      : ""}
              </span>
              {draft.dirty && (
                <button
                  type="button"
                  className="link"
                  onClick={() => {
                    if (window.confirm("Discard your unsaved changes and reload the saved version?")) void actions.discard();
                  }}
                >
                  Discard changes
                </button>
              )}
              <span className="pw-spacer" />
              {overlay && (
                <span className="pw-overlay-note" data-testid="overlay-note">
                  Showing {overlay.from === "playground" ? "the playground conversation" : `session ${overlay.session.sessionId}`}{" "}
                  ({overlay.session.turnCount} turns, v{overlay.session.pathwayVersion})
                  <button type="button" className="link" onClick={() => setOverlay(null)}>
                    Hide path
                  </button>
                </span>
              )}
            </div>
            {draft.restoredNote && (
              <Notice kind="warning" onClose={actions.dismissRestoredNote}>
                {draft.restoredNote}
              </Notice>
            )}
            {draft.saveError ? (
              <ErrorNotice
                error={draft.saveError}
                title="The server refused the save"
                advice={
                  draft.issues.length
                    ? "Your edits are kept in the browser: fix what is marked on the canvas (listed in the side panel), then save again."
                    : undefined
                }
              >
                {!draft.issues.length && <p>Your edits are kept in the browser; save again when the problem is solved.</p>}
              </ErrorNotice>
            ) : null}
            {savedNote && (
              <Notice kind="success" onClose={() => setSavedNote(null)}>
                <span data-testid="saved-note">{savedNote}</span>
              </Notice>
            )}
            {overlayError ? <ErrorNotice error={overlayError} title="Could not load the session to show its path" /> : null}
            {overlay?.from === "session" && overlay.session.pathwayVersion !== draft.baseVersion && (
              <Notice>
                This session ran on version {overlay.session.pathwayVersion}; the canvas shows version {draft.baseVersion}. Nodes
                changed since are not marked.
              </Notice>
            )}
            {draft.loadError ? (
              <ErrorNotice error={draft.loadError} title="Could not load the pathway" onRetry={() => void actions.reload()} />
            ) : draft.loading && !draft.graph.nodes.length ? (
              <Loading what="the pathway" />
            ) : (
              <CanvasViewContext.Provider value={view}>
                <ReactFlowProvider>
                  <PathwayCanvas draft={draft} actions={actions} path={path} />
                </ReactFlowProvider>
              </CanvasViewContext.Provider>
            )}
          </section>
          <aside className="pw-side">
            <div className="pw-side-tabs" role="tablist">
              {(["inspect", "playground", "versions"] as Side[]).map((name) => (
                <button
                  key={name}
                  type="button"
                  role="tab"
                  aria-selected={side === name}
                  className={side === name ? "active" : ""}
                  onClick={() => setSide(name)}
                >
                  {name === "inspect" ? "Inspect" : name === "playground" ? "Playground" : "Versions"}
                </button>
              ))}
            </div>
            <div className="pw-side-body">
              {side === "inspect" && (
                <Inspector
                  nodes={draft.graph.nodes}
                  edges={draft.graph.edges}
                  variables={agent?.variableConfigs ?? []}
                  issues={draft.issues}
                  actions={actions}
                />
              )}
              {side === "playground" && (
                <PlaygroundPanel
                  playground={playground}
                  actions={play}
                  nameOf={nameOf}
                  savedVersion={draft.baseVersion}
                  dirty={draft.dirty}
                  onOpenSession={(sessionId) => navigate({ name: "session", projectId, sessionId })}
                />
              )}
              {side === "versions" && (
                <VersionsPanel
                  client={client}
                  projectId={projectId}
                  current={draft.baseVersion}
                  dirty={draft.dirty}
                  onRollback={actions.rollback}
                />
              )}
            </div>
          </aside>
        </main>
      )}

      {draft.conflict && (
        <ConfirmDialog
          title="Someone saved a newer version"
          confirmLabel="Keep my edits and overwrite"
          danger
          busy={draft.saving || draft.loading}
          onConfirm={() => void actions.overwrite()}
          onCancel={actions.dismissConflict}
          alternative={{ label: "Reload their version", onClick: () => void actions.reloadTheirs() }}
        >
          <p data-testid="conflict-summary">{conflictSummary(draft.conflict)}</p>
          <p>Nothing was saved; your edits are still on the canvas (and kept in this tab).</p>
          <ul className="pw-conflict-choices">
            <li>
              <strong>Reload their version</strong>: drop your edits and continue from version {draft.conflict.currentVersion}.
            </li>
            <li>
              <strong>Keep my edits and overwrite</strong>: save the canvas as you see it as a new version, replacing their
              changes.
            </li>
            <li>
              <strong>Cancel</strong>: keep editing; nothing is saved.
            </li>
          </ul>
        </ConfirmDialog>
      )}
    </div>
  );
}
