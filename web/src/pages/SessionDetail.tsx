/** One conversation: its transcript with each turn's trace, and a way to see its path on the canvas. */
import { useCallback, useEffect, useMemo, useState } from "react";
import type { Session, StoredPathway } from "../api/types";
import { ErrorNotice, Loading } from "../components/Notice";
import { exact } from "../components/time";
import { nodeTitle } from "../graph/convert";
import { useClient } from "../state/auth";
import { navigate } from "../state/router";
import TraceView from "../trace/TraceView";
import { formatValue } from "../trace/trace";
import { transcript } from "../trace/transcript";

export default function SessionDetail({ projectId, sessionId }: { projectId: string; sessionId: string }) {
  const client = useClient();
  const [session, setSession] = useState<Session | null>(null);
  const [pathway, setPathway] = useState<StoredPathway | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async () => {
    setError(null);
    try {
      const [s, p] = await Promise.all([client.getSession(projectId, sessionId), client.getPathway(projectId)]);
      setSession(s);
      setPathway(p);
    } catch (caught) {
      setError(caught);
    }
  }, [client, projectId, sessionId]);

  useEffect(() => {
    void load();
  }, [load]);

  const nameOf = useMemo(() => {
    const titles = new Map((pathway?.nodes ?? []).map((n) => [n.id, nodeTitle(n.data, n.id)]));
    return (id: string): string => titles.get(id) ?? id;
  }, [pathway]);

  if (error) {
    return (
      <main className="pw-page">
        <ErrorNotice error={error} title={`Could not open session ${sessionId}`} onRetry={() => void load()}>
          <button type="button" onClick={() => navigate({ name: "sessions", projectId })}>
            Back to sessions
          </button>
        </ErrorNotice>
      </main>
    );
  }
  if (!session) return <Loading what="the session" />;

  const lines = transcript(session.state.messages);
  const turns = new Map(session.turns.map((t) => [t.seq, t]));
  const variables = Object.entries(session.extractedVariables ?? {});
  const given = Object.entries(session.state.variables ?? {});
  return (
    <main className="pw-page pw-session">
      <div className="pw-page-head">
        <button type="button" className="link" onClick={() => navigate({ name: "sessions", projectId })}>
          ← Sessions
        </button>
        <h1>
          Session <code>{session.sessionId}</code>
        </h1>
        <span className="pw-spacer" />
        <button
          type="button"
          className="primary"
          onClick={() => navigate({ name: "canvas", projectId, sessionId: session.sessionId })}
          data-testid="open-in-canvas"
        >
          Open in canvas
        </button>
      </div>
      <div className="pw-session-facts">
        <span>Started {exact(session.startTime)}</span>
        <span>
          {session.isEnded ? `Ended ${exact(session.endTime)}${session.endReason ? ` (${session.endReason})` : ""}` : "Active"}
        </span>
        <span>Pathway v{session.pathwayVersion}</span>
        <span>
          {session.turnCount} turns, {session.messageCount} messages
        </span>
        <span>Now at: {session.currentNodeId ? nameOf(session.currentNodeId) : "–"}</span>
        {session.provider && <span>via {session.provider}</span>}
      </div>
      <div className="pw-session-body">
        <section className="pw-transcript">
          <h2>Transcript</h2>
          {lines.length === 0 && <p className="pw-muted">No messages.</p>}
          {lines.map((line) => {
            const turn = line.turnSeq !== null ? turns.get(line.turnSeq) : undefined;
            return (
              <div key={line.key} className="pw-transcript-item">
                <div className={`pw-msg ${line.role}`}>
                  {line.text}
                  {line.toolCalls.map((call) => (
                    <code key={call} className="pw-msg-tool">
                      calls {call}
                    </code>
                  ))}
                </div>
                {turn && (
                  <details className="pw-turn-trace" open={line.turnSeq === session.turns.length}>
                    <summary>Trace of turn {turn.seq}</summary>
                    <TraceView turn={turn} nameOf={nameOf} />
                  </details>
                )}
              </div>
            );
          })}
        </section>
        <aside className="pw-session-side">
          <h2>Variables</h2>
          {given.length === 0 && variables.length === 0 && <p className="pw-muted">None.</p>}
          {given.length > 0 && <h3>Given at start</h3>}
          <ul className="pw-kv">
            {given.map(([k, v]) => (
              <li key={k}>
                <code>{k}</code> = {formatValue(v)}
              </li>
            ))}
          </ul>
          {variables.length > 0 && <h3>Extracted</h3>}
          <ul className="pw-kv">
            {variables.map(([k, v]) => (
              <li key={k}>
                <code>{k}</code> = <strong>{formatValue(v)}</strong>
              </li>
            ))}
          </ul>
          <h2>Nodes visited</h2>
          <ol className="pw-path">
            {session.state.visitedNodeIds.map((id) => (
              <li key={id}>{nameOf(id)}</li>
            ))}
          </ol>
        </aside>
      </div>
    </main>
  );
}
