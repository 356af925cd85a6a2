/**
 * The playground's conversation: one session at a time against the saved pathway.
 *
 * A reply streams in token by token; once it is done the session is read back, so the
 * transcript, the current node and the turn traces are the server's, not a guess.
 */
import { useCallback, useRef, useState } from "react";
import type { ApiClient } from "../api/client";
import type { Session } from "../api/types";
import { transcript, userMessages, type ChatLine } from "../trace/transcript";

export interface VariableRow {
  key: string;
  value: string;
}

export interface Playground {
  session: Session | null;
  lines: ChatLine[];
  /** The reply being streamed, shown after `lines` until the turn is read back. */
  pending: { user: string; reply: string } | null;
  variables: VariableRow[];
  busy: boolean;
  error: unknown;
  selectedTurn: number | null;
}

export interface PlaygroundActions {
  setVariables: (rows: VariableRow[]) => void;
  start: () => Promise<Session | null>;
  send: (text: string) => Promise<boolean>;
  restart: () => Promise<void>;
  replay: () => Promise<void>;
  selectTurn: (seq: number | null) => void;
}

const sessionsKey = (projectId: string): string => `pathweaver.studio.sessions.${projectId}`;

/** Sessions this tab started (a fallback list when the server cannot list sessions). */
export function startedHere(projectId: string): { sessionId: string; startTime: string }[] {
  try {
    return JSON.parse(sessionStorage.getItem(sessionsKey(projectId)) ?? "[]") as { sessionId: string; startTime: string }[];
  } catch {
    return [];
  }
}

function remember(projectId: string, sessionId: string): void {
  const list = [{ sessionId, startTime: new Date().toISOString() }, ...startedHere(projectId)].slice(0, 50);
  sessionStorage.setItem(sessionsKey(projectId), JSON.stringify(list));
}

function newSessionId(): string {
  const random = Math.random().toString(36).slice(2, 8);
  return `studio-${Date.now().toString(36)}-${random}`;
}

export function usePlayground(
  client: ApiClient,
  projectId: string,
  onTurn?: (session: Session) => void,
): [Playground, PlaygroundActions] {
  const [session, setSession] = useState<Session | null>(null);
  const [variables, setVariables] = useState<VariableRow[]>([]);
  const [pending, setPending] = useState<Playground["pending"]>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [selectedTurn, setSelectedTurn] = useState<number | null>(null);
  const sessionRef = useRef<Session | null>(null);
  const variablesRef = useRef(variables);
  variablesRef.current = variables;

  const adopt = useCallback(
    (next: Session) => {
      sessionRef.current = next;
      setSession(next);
      setSelectedTurn(next.turns.length ? next.turns[next.turns.length - 1].seq : null);
      onTurn?.(next);
    },
    [onTurn],
  );

  const start = useCallback(async (): Promise<Session | null> => {
    setError(null);
    const id = newSessionId();
    const values = Object.fromEntries(
      variablesRef.current.filter((row) => row.key.trim()).map((row) => [row.key.trim(), row.value]),
    );
    try {
      await client.createSession(projectId, id, values);
      remember(projectId, id);
      const created = await client.getSession(projectId, id);
      adopt(created);
      return created;
    } catch (caught) {
      setError(caught);
      return null;
    }
  }, [client, projectId, adopt]);

  const sendOne = useCallback(
    async (text: string, current: Session): Promise<Session | null> => {
      setPending({ user: text, reply: "" });
      try {
        await client.streamChat(projectId, current.sessionId, text, (delta) =>
          setPending((p) => (p ? { ...p, reply: p.reply + delta } : p)),
        );
        const next = await client.getSession(projectId, current.sessionId);
        adopt(next);
        return next;
      } catch (caught) {
        setError(caught);
        // What the server stored is the truth: read it back if it can be read.
        const after = await client.getSession(projectId, current.sessionId).catch(() => null);
        if (after) adopt(after);
        return null;
      } finally {
        setPending(null);
      }
    },
    [client, projectId, adopt],
  );

  const send = useCallback(
    async (text: string): Promise<boolean> => {
      if (!text.trim()) return false;
      setBusy(true);
      setError(null);
      try {
        const current = sessionRef.current ?? (await start());
        if (!current) return false;
        return (await sendOne(text, current)) !== null;
      } finally {
        setBusy(false);
      }
    },
    [start, sendOne],
  );

  const restart = useCallback(async () => {
    setBusy(true);
    try {
      await start();
    } finally {
      setBusy(false);
    }
  }, [start]);

  const replay = useCallback(async () => {
    const before = sessionRef.current;
    if (!before) return;
    const texts = userMessages(before.state.messages);
    setBusy(true);
    try {
      let current = await start();
      for (const text of texts) {
        if (!current || current.isEnded) break;
        current = await sendOne(text, current);
      }
    } finally {
      setBusy(false);
    }
  }, [start, sendOne]);

  const state: Playground = {
    session,
    lines: session ? transcript(session.state.messages) : [],
    pending,
    variables,
    busy,
    error,
    selectedTurn,
  };
  return [state, { setVariables, start, send, restart, replay, selectTurn: setSelectedTurn }];
}
