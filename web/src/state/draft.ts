/**
 * The pathway being edited: a draft in the browser until it is saved as a new version.
 *
 * The draft survives what would otherwise lose it: a refused save keeps every edit (the
 * errors are pinned to the nodes and edges they name), and unsaved edits are copied to
 * sessionStorage, so a reload or a sign-in after a key stopped working brings them back.
 */
import {
  applyEdgeChanges,
  applyNodeChanges,
  type Connection,
  type EdgeChange,
  type NodeChange,
  type XYPosition,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { ApiClient } from "../api/client";
import { ApiError, versionConflict, type VersionConflict } from "../api/errors";
import type { ApiNodeData, PathwayDocument, StoredPathway } from "../api/types";
import {
  canLeave,
  newEdge,
  newNode,
  toApi,
  toFlow,
  type FlowEdge,
  type FlowGraph,
  type FlowNode,
  type NewNodeKind,
} from "../graph/convert";
import { placeIssues, stillPresent, type PlacedIssue } from "../graph/issues";
import { unchanged } from "./saving";

export interface Draft {
  loading: boolean;
  loadError: unknown;
  graph: FlowGraph;
  /** The saved version the draft started from (null before the first load). */
  baseVersion: number | null;
  dirty: boolean;
  saving: boolean;
  /** Why the last save was refused (the edits are still here). */
  saveError: unknown;
  /**
   * Set when the last save was refused because someone saved a newer version meanwhile:
   * the person chooses to reload theirs, overwrite it, or keep editing (the edits stay).
   */
  conflict: VersionConflict | null;
  /** Errors of a refused save, or warnings of the last save, pinned to nodes and edges. */
  issues: PlacedIssue[];
  /** Set when unsaved edits were brought back from this tab's storage, with a note. */
  restoredNote: string | null;
  /** Counts whole-graph replacements (load, rollback, discard), so the canvas can re-frame. */
  generation: number;
}

export interface DraftActions {
  reload: () => Promise<void>;
  onNodesChange: (changes: NodeChange<FlowNode>[]) => void;
  onEdgesChange: (changes: EdgeChange<FlowEdge>[]) => void;
  onConnect: (connection: Connection) => void;
  isValidConnection: (connection: Connection | FlowEdge) => boolean;
  addNode: (kind: NewNodeKind, position: XYPosition) => void;
  updateNode: (id: string, change: (api: ApiNodeData) => ApiNodeData) => void;
  setCondition: (edgeId: string, condition: string) => void;
  /** An edge's `data.expression` ("" removes it). */
  setExpression: (edgeId: string, expression: string) => void;
  select: (target: { nodeId?: string; edgeId?: string } | null) => void;
  deleteSelection: () => void;
  /** Save as a new version, based on `baseVersion`; resolves true when saved. */
  save: () => Promise<boolean>;
  /** After a conflict: save the draft over the newer version, knowingly. */
  overwrite: () => Promise<boolean>;
  /** After a conflict: drop the draft and load the current version. */
  reloadTheirs: () => Promise<void>;
  /** After a conflict: keep editing, nothing saved. */
  dismissConflict: () => void;
  rollback: (version: number) => Promise<void>;
  discard: () => Promise<void>;
  dismissRestoredNote: () => void;
}

const EMPTY: FlowGraph = { nodes: [], edges: [], extra: {} };

/** Changes that alter the pathway (selection and measuring do not). */
const MEANINGFUL = new Set(["position", "add", "remove", "replace"]);

interface Stored {
  baseVersion: number | null;
  document: PathwayDocument;
}

const storageKey = (projectId: string): string => `pathweaver.studio.draft.${projectId}`;

/** Unsaved edits kept in this tab, or null (none, or not readable: then they are dropped). */
function readStored(projectId: string): Stored | null {
  const raw = sessionStorage.getItem(storageKey(projectId));
  if (!raw) return null;
  try {
    const stored = JSON.parse(raw) as Stored;
    if (Array.isArray(stored.document?.nodes) && Array.isArray(stored.document?.edges)) return stored;
  } catch {
    // not JSON: written by something else
  }
  sessionStorage.removeItem(storageKey(projectId));
  return null;
}

/**
 * `onSaved` is told of every save and rollback the server answered, with `nothingNew` true
 * when it made no version (the document equalled the current one).
 */
export function useDraft(
  client: ApiClient,
  projectId: string,
  onSaved?: (saved: StoredPathway, nothingNew: boolean) => void,
): [Draft, DraftActions] {
  const [graph, setGraph] = useState<FlowGraph>(EMPTY);
  const [loading, setLoading] = useState(true);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [baseVersion, setBaseVersion] = useState<number | null>(null);
  const [revision, setRevision] = useState(0);
  const [savedRevision, setSavedRevision] = useState(0);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [conflict, setConflict] = useState<VersionConflict | null>(null);
  const [issues, setIssues] = useState<PlacedIssue[]>([]);
  const [restoredNote, setRestoredNote] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);
  const graphRef = useRef(graph);
  graphRef.current = graph;
  // The revision counts meaningful edits; the draft is dirty until the revision that was
  // last saved (or loaded) catches up with it. The ref is the counter, the state renders it.
  const revisionRef = useRef(0);
  const dirty = revision !== savedRevision;

  const touch = useCallback(() => {
    revisionRef.current += 1;
    setRevision(revisionRef.current);
  }, []);

  const adopt = useCallback((stored: StoredPathway, warnings: PlacedIssue[] = []) => {
    setGraph(toFlow(stored));
    setGeneration((g) => g + 1);
    setBaseVersion(stored.version);
    revisionRef.current += 1;
    setRevision(revisionRef.current);
    setSavedRevision(revisionRef.current);
    setIssues(warnings);
    setSaveError(null);
    setConflict(null);
  }, []);

  const reload = useCallback(async () => {
    setLoading(true);
    setLoadError(null);
    try {
      const stored = await client.getPathway(projectId);
      const kept = readStored(projectId);
      adopt(stored);
      if (kept) {
        setGraph(toFlow(kept.document));
        // Still based on the version they were made on: saving them over a version saved
        // since is refused by the server and asked about, never done silently.
        setBaseVersion(kept.baseVersion ?? stored.version);
        touch();
        setRestoredNote(
          kept.baseVersion === null || kept.baseVersion === stored.version
            ? `Your unsaved edits to version ${stored.version} were restored.`
            : `Your unsaved edits (made on version ${kept.baseVersion}) were restored; the server now has version ${stored.version}: saving will ask before replacing it.`,
        );
      }
    } catch (error) {
      setLoadError(error);
    } finally {
      setLoading(false);
    }
  }, [client, projectId, adopt, touch]);

  useEffect(() => {
    void reload();
  }, [reload]);

  // Keep unsaved edits in this tab's storage after every edit (selecting is not one);
  // forget them once saved or discarded.
  useEffect(() => {
    if (loading) return;
    if (dirty) {
      const stored: Stored = { baseVersion, document: toApi(graphRef.current) };
      sessionStorage.setItem(storageKey(projectId), JSON.stringify(stored));
    } else {
      sessionStorage.removeItem(storageKey(projectId));
    }
  }, [revision, dirty, baseVersion, projectId, loading]);

  const onNodesChange = useCallback(
    (changes: NodeChange<FlowNode>[]) => {
      setGraph((g) => {
        const removed = new Set(changes.flatMap((c) => (c.type === "remove" ? [c.id] : [])));
        const nodes = applyNodeChanges(changes, g.nodes);
        const edges = removed.size ? g.edges.filter((e) => !removed.has(e.source) && !removed.has(e.target)) : g.edges;
        return { ...g, nodes, edges };
      });
      if (changes.some((c) => MEANINGFUL.has(c.type) && (c.type !== "position" || c.position))) touch();
    },
    [touch],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange<FlowEdge>[]) => {
      const own = changes.filter((c) => !("id" in c) || !isDerived(c.id));
      if (!own.length) return;
      setGraph((g) => ({ ...g, edges: applyEdgeChanges(own, g.edges) }));
      if (own.some((c) => MEANINGFUL.has(c.type))) touch();
    },
    [touch],
  );

  const isValidConnection = useCallback((connection: Connection | FlowEdge) => {
    const source = graphRef.current.nodes.find((n) => n.id === connection.source);
    if (!source || !connection.target || connection.source === connection.target) return false;
    return canLeave(source.data.api);
  }, []);

  const onConnect = useCallback(
    (connection: Connection) => {
      if (!isValidConnection(connection)) return;
      setGraph((g) => {
        const edge = newEdge(
          connection.source,
          connection.target,
          g.edges.map((e) => e.id),
        );
        return { ...g, nodes: g.nodes.map(unselect), edges: [...g.edges.map(unselect), edge] };
      });
      touch();
    },
    [isValidConnection, touch],
  );

  const addNode = useCallback(
    (kind: NewNodeKind, position: XYPosition) => {
      setGraph((g) => {
        const node = newNode(
          kind,
          position,
          g.nodes.map((n) => n.id),
        );
        return { ...g, nodes: [...g.nodes.map(unselect), node], edges: g.edges.map(unselect) };
      });
      touch();
    },
    [touch],
  );

  const updateNode = useCallback(
    (id: string, change: (api: ApiNodeData) => ApiNodeData) => {
      setGraph((g) => ({
        ...g,
        nodes: g.nodes.map((n) => (n.id === id ? { ...n, data: { ...n.data, api: change(n.data.api) } } : n)),
      }));
      touch();
    },
    [touch],
  );

  const setCondition = useCallback(
    (edgeId: string, condition: string) => {
      setGraph((g) => ({
        ...g,
        edges: g.edges.map((e) => (e.id === edgeId && e.data ? { ...e, data: { ...e.data, condition } } : e)),
      }));
      touch();
    },
    [touch],
  );

  const setExpression = useCallback(
    (edgeId: string, expression: string) => {
      setGraph((g) => ({
        ...g,
        edges: g.edges.map((e) => (e.id === edgeId && e.data ? { ...e, data: { ...e.data, expression } } : e)),
      }));
      touch();
    },
    [touch],
  );

  const select = useCallback((target: { nodeId?: string; edgeId?: string } | null) => {
    setGraph((g) => ({
      ...g,
      nodes: g.nodes.map((n) => ({ ...n, selected: n.id === target?.nodeId })),
      edges: g.edges.map((e) => ({ ...e, selected: e.id === target?.edgeId })),
    }));
  }, []);

  const deleteSelection = useCallback(() => {
    const g = graphRef.current;
    const nodeIds = new Set(g.nodes.filter((n) => n.selected).map((n) => n.id));
    const edgeIds = new Set(g.edges.filter((e) => e.selected).map((e) => e.id));
    if (!nodeIds.size && !edgeIds.size) return;
    setGraph((current) => ({
      ...current,
      nodes: current.nodes.filter((n) => !nodeIds.has(n.id)),
      edges: current.edges.filter((e) => !edgeIds.has(e.id) && !nodeIds.has(e.source) && !nodeIds.has(e.target)),
    }));
    touch();
  }, [touch]);

  // A save replaces the whole pathway, so it carries the version the draft is based on: the
  // server refuses it (409) when another save made a newer version since, in the same
  // transaction as the write. There is no check here first: it could not stop a save that
  // lands between the check and this one.
  const saveBasedOn = useCallback(
    async (basedOn: number | null) => {
      const document = toApi(graphRef.current);
      const sentRevision = revisionRef.current;
      setSaving(true);
      setSaveError(null);
      try {
        const saved = await client.savePathway(projectId, document, basedOn);
        setBaseVersion(saved.version);
        setSavedRevision(sentRevision);
        setIssues(placeIssues(saved.warnings ?? [], "warning", document));
        setConflict(null);
        setRestoredNote(null);
        onSaved?.(saved, unchanged(basedOn, saved));
        return true;
      } catch (error) {
        const stale = versionConflict(error);
        if (stale) {
          setConflict(stale); // the edits stay (and stay in this tab's storage) until the person chooses
        } else {
          setConflict(null);
          setSaveError(error);
          if (error instanceof ApiError) setIssues(placeIssues(error.issues, "error", document));
        }
        return false;
      } finally {
        setSaving(false);
      }
    },
    [client, projectId, onSaved],
  );

  const save = useCallback(() => saveBasedOn(baseVersion), [saveBasedOn, baseVersion]);

  const overwrite = useCallback(
    // Based on the version the person was shown: a save made after that one is refused again.
    async () => (conflict ? saveBasedOn(conflict.currentVersion) : false),
    [saveBasedOn, conflict],
  );

  const dismissConflict = useCallback(() => setConflict(null), []);

  const rollback = useCallback(
    async (version: number) => {
      const restored = await client.rollback(projectId, version);
      sessionStorage.removeItem(storageKey(projectId));
      setRestoredNote(null);
      adopt(restored, placeIssues(restored.warnings ?? [], "warning", restored));
      onSaved?.(restored, unchanged(baseVersion, restored));
    },
    [client, projectId, adopt, onSaved, baseVersion],
  );

  const discard = useCallback(async () => {
    sessionStorage.removeItem(storageKey(projectId));
    setRestoredNote(null);
    await reload();
  }, [projectId, reload]);

  const reloadTheirs = useCallback(async () => {
    setConflict(null);
    await discard();
  }, [discard]);

  const dismissRestoredNote = useCallback(() => setRestoredNote(null), []);

  // Recomputed when nodes or edges come and go, not on every drag frame.
  const nodeIds = graph.nodes.map((n) => n.id).join("\n");
  const edgeIds = graph.edges.map((e) => e.id).join("\n");
  const liveIssues = useMemo(
    () => stillPresent(issues, new Set(nodeIds.split("\n")), new Set(edgeIds.split("\n"))),
    [issues, nodeIds, edgeIds],
  );

  const draft: Draft = {
    loading,
    loadError,
    graph,
    baseVersion,
    dirty,
    saving,
    saveError,
    conflict,
    issues: liveIssues,
    restoredNote,
    generation,
  };
  const actions = useMemo<DraftActions>(
    () => ({
      reload,
      onNodesChange,
      onEdgesChange,
      onConnect,
      isValidConnection,
      addNode,
      updateNode,
      setCondition,
      setExpression,
      select,
      deleteSelection,
      save,
      overwrite,
      reloadTheirs,
      dismissConflict,
      rollback,
      discard,
      dismissRestoredNote,
    }),
    [
      reload,
      onNodesChange,
      onEdgesChange,
      onConnect,
      isValidConnection,
      addNode,
      updateNode,
      setCondition,
      setExpression,
      select,
      deleteSelection,
      save,
      overwrite,
      reloadTheirs,
      dismissConflict,
      rollback,
      discard,
      dismissRestoredNote,
    ],
  );
  return [draft, actions];
}

/** Edges drawn by the canvas that are not part of the pathway (goto references, jumps). */
export function isDerived(id: string): boolean {
  return id.startsWith("goto:") || id.startsWith("jump:");
}

function unselect<T extends { selected?: boolean }>(item: T): T {
  return item.selected ? { ...item, selected: false } : item;
}
