/**
 * Talk to the saved pathway: session variables, a chat that streams token by token,
 * restart and replay, and the trace of the selected turn.
 */
import { useEffect, useRef, useState } from "react";
import { ErrorNotice, Notice } from "../components/Notice";
import type { Playground, PlaygroundActions, VariableRow } from "../state/playground";
import TraceView from "../trace/TraceView";

interface Props {
  playground: Playground;
  actions: PlaygroundActions;
  nameOf: (id: string) => string;
  savedVersion: number | null;
  dirty: boolean;
  onOpenSession: (sessionId: string) => void;
}

export default function PlaygroundPanel({ playground, actions, nameOf, savedVersion, dirty, onOpenSession }: Props) {
  const { session, lines, pending, busy, error, selectedTurn } = playground;
  const [text, setText] = useState("");
  const scroller = useRef<HTMLDivElement>(null);

  useEffect(() => {
    scroller.current?.scrollTo({ top: scroller.current.scrollHeight });
  }, [lines.length, pending?.reply]);

  const submit = async (): Promise<void> => {
    const message = text.trim();
    if (!message || busy) return;
    setText("");
    const sent = await actions.send(message);
    if (!sent) setText((current) => current || message);
  };

  const turn = session?.turns.find((t) => t.seq === selectedTurn) ?? null;
  const stale = session && savedVersion !== null && session.pathwayVersion !== savedVersion;

  return (
    <div className="pw-playground" data-testid="playground">
      <div className="pw-play-head">
        <div className="pw-play-status">
          {session ? (
            <>
              <span className="pw-muted">Session</span>{" "}
              <button
                type="button"
                className="link"
                onClick={() => onOpenSession(session.sessionId)}
                title="Open in the sessions list"
              >
                {session.sessionId}
              </button>
              <span className="pw-muted"> · v{session.pathwayVersion} · at </span>
              <strong data-testid="playground-current-node">{session.currentNodeId ? nameOf(session.currentNodeId) : "–"}</strong>
              {session.isEnded && <span className="pw-badge ended">ended</span>}
            </>
          ) : (
            <span className="pw-muted">No conversation yet: set variables if you need them, then say something.</span>
          )}
        </div>
        <div className="pw-row">
          <button
            type="button"
            onClick={() => void actions.restart()}
            disabled={busy}
            title="Start a new conversation with the same variables"
          >
            Restart
          </button>
          <button
            type="button"
            onClick={() => void actions.replay()}
            disabled={busy || !session || !lines.some((l) => l.role === "user")}
            title="Send the same user messages again, in a new conversation on the saved version"
          >
            Replay
          </button>
        </div>
      </div>
      {dirty && (
        <Notice kind="warning">
          The canvas has unsaved changes. The playground talks to the saved version{savedVersion ? ` (v${savedVersion})` : ""}:
          save (Ctrl+S) to try your edits.
        </Notice>
      )}
      {stale && !dirty && (
        <Notice>
          This conversation runs on v{session.pathwayVersion}; the pathway is now v{savedVersion}. Replay to send the same
          messages to v{savedVersion}.
        </Notice>
      )}
      <VariablesEditor rows={playground.variables} onChange={actions.setVariables} open={!session} />
      <div className="pw-chat" ref={scroller} aria-live="polite">
        {lines.length === 0 && !pending && <p className="pw-muted pw-chat-empty">Messages appear here.</p>}
        {lines.map((line) => (
          <div
            key={line.key}
            className={`pw-msg ${line.role} ${line.turnSeq !== null && line.turnSeq === selectedTurn ? "selected" : ""}`}
            onClick={line.turnSeq !== null ? () => actions.selectTurn(line.turnSeq) : undefined}
            title={line.turnSeq !== null ? "Show this turn's trace" : undefined}
          >
            {line.text || (line.toolCalls.length ? "" : <em className="pw-muted">(empty)</em>)}
            {line.toolCalls.map((call) => (
              <code key={call} className="pw-msg-tool">
                calls {call}
              </code>
            ))}
          </div>
        ))}
        {pending && (
          <>
            <div className="pw-msg user">{pending.user}</div>
            <div className="pw-msg assistant streaming" data-testid="streaming-reply">
              {pending.reply || <span className="pw-typing">…</span>}
            </div>
          </>
        )}
      </div>
      {error ? <ErrorNotice error={error} title="The message was not answered" /> : null}
      <form
        className="pw-chat-input"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <input
          aria-label="Message"
          placeholder={session?.isEnded ? "The conversation ended: Restart to talk again" : "Say something to the agent…"}
          value={text}
          onChange={(e) => setText(e.target.value)}
          disabled={busy || !!session?.isEnded}
        />
        <button type="submit" className="primary" disabled={busy || !text.trim() || !!session?.isEnded}>
          Send
        </button>
      </form>
      {turn && (
        <div className="pw-trace-panel">
          <h3>Why it did that</h3>
          <TraceView turn={turn} nameOf={nameOf} />
        </div>
      )}
    </div>
  );
}

function VariablesEditor({
  rows,
  onChange,
  open,
}: {
  rows: VariableRow[];
  onChange: (rows: VariableRow[]) => void;
  open: boolean;
}) {
  const set = (index: number, change: Partial<VariableRow>): void =>
    onChange(rows.map((row, i) => (i === index ? { ...row, ...change } : row)));
  return (
    <details className="pw-vars" open={open}>
      <summary>Session variables ({rows.filter((r) => r.key.trim()).length})</summary>
      <p className="pw-hint">Sent when a conversation starts (Restart applies changes). Prompts can use them as {"{{name}}"}.</p>
      {rows.map((row, index) => (
        <div className="pw-row" key={index}>
          <input
            aria-label="Variable name"
            placeholder="name"
            value={row.key}
            onChange={(e) => set(index, { key: e.target.value })}
          />
          <input
            aria-label="Variable value"
            placeholder="value"
            value={row.value}
            onChange={(e) => set(index, { value: e.target.value })}
          />
          <button type="button" aria-label="Remove variable" onClick={() => onChange(rows.filter((_, i) => i !== index))}>
            ×
          </button>
        </div>
      ))}
      <button type="button" onClick={() => onChange([...rows, { key: "", value: "" }])}>
        + Variable
      </button>
    </details>
  );
}
