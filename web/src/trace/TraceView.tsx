/**
 * One turn's trace: where it went, the decisions (options, scores, the one chosen, who
 * chose), notices, the candidates of other transitions, variables, tools, model calls.
 */
import type { Turn } from "../api/types";
import { viewTurn, type DecisionRow, type NameOf } from "./trace";

export default function TraceView({ turn, nameOf }: { turn: Turn; nameOf: NameOf }) {
  const view = viewTurn(turn, nameOf);
  return (
    <div className="pw-trace" data-testid={`trace-${turn.seq}`}>
      <div className="pw-trace-summary">
        <span className="pw-muted">Turn {view.seq}</span> <strong>{view.summary}</strong>
      </div>
      {view.steps.length > 0 && (
        <div className="pw-trace-steps">
          {view.steps.map((step, i) => (
            <span key={i} className="pw-step">
              → {step.name} <span className="pw-muted">via {step.via}</span>
            </span>
          ))}
        </div>
      )}
      {view.notices.length > 0 && (
        <ul className="pw-issues pw-trace-notices" data-testid="trace-notices">
          {view.notices.map((n, i) => (
            <li key={i} className="warning">
              <span className="pw-issue-icon">⚠</span>
              <span>
                <strong>{n.title}</strong> at {n.where}: {n.message}
              </span>
            </li>
          ))}
        </ul>
      )}
      {view.decisions.map((d, i) => (
        <Decision key={i} decision={d} />
      ))}
      {view.transitions.map((t, i) => (
        <section key={i}>
          <h4>
            {t.status === "chosen" ? "Transition" : "Refused transition"} from {t.fromName}
          </h4>
          {t.status === "rejected" && (
            <p className="pw-warning-text">
              The model chose “{t.to}”, which was refused: {t.reason}
            </p>
          )}
          <table className="pw-candidates">
            <thead>
              <tr>
                <th />
                <th>Candidate</th>
                <th>Condition</th>
              </tr>
            </thead>
            <tbody>
              {t.candidates.map((c) => (
                <tr key={c.target} className={c.chosen ? "chosen" : ""}>
                  <td>{c.chosen ? "✔" : ""}</td>
                  <td>{c.name}</td>
                  <td>{c.condition}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
      {(view.variablesSet.length > 0 || view.variablesRejected.length > 0) && (
        <section>
          <h4>Variables</h4>
          <ul className="pw-kv">
            {view.variablesSet.map((v) => (
              <li key={v.key}>
                <code>{v.key}</code> = <strong>{v.value}</strong>
              </li>
            ))}
            {view.variablesRejected.map((v) => (
              <li key={v.key} className="pw-warning-text">
                <code>{v.key}</code> not stored: {v.reason}
              </li>
            ))}
          </ul>
        </section>
      )}
      {view.toolCalls.length > 0 && (
        <section>
          <h4>Tool calls</h4>
          <ul className="pw-kv">
            {view.toolCalls.map((call, i) => (
              <li key={i}>
                <code>
                  {call.name}({call.arguments})
                </code>{" "}
                {call.result !== null ? (
                  <>
                    → <span>{call.result}</span>
                  </>
                ) : (
                  <span className="pw-muted">{call.side === "client" ? "(sent to the client to run)" : ""}</span>
                )}
              </li>
            ))}
          </ul>
        </section>
      )}
      <section>
        <h4>
          Model calls <span className="pw-muted">· {view.totalLatency} in all</span>
        </h4>
        {view.modelCalls.length === 0 ? (
          <p className="pw-muted">None.</p>
        ) : (
          <table className="pw-calls">
            <thead>
              <tr>
                <th>Purpose</th>
                <th>At</th>
                <th>Latency</th>
                <th>Tokens</th>
              </tr>
            </thead>
            <tbody>
              {view.modelCalls.map((call, i) => (
                <tr key={i} className={call.error ? "failed" : ""} title={call.error ?? `${call.model}`}>
                  <td>{call.purpose}</td>
                  <td>{call.where}</td>
                  <td>
                    {call.latency}
                    {call.firstToken && <div className="pw-muted">first token {call.firstToken}</div>}
                  </td>
                  <td>{call.tokens ?? "–"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}

function Decision({ decision: d }: { decision: DecisionRow }) {
  return (
    <section className={`pw-decision by-${d.decidedBy}`} data-testid="trace-decision">
      <h4>
        Decision at {d.nodeName}: <span className={d.stayed ? "" : "pw-decision-moved"}>{d.outcome}</span>
      </h4>
      <p className="pw-decision-by">
        <span className={`pw-badge decided-${d.decidedBy}`}>{d.by}</span>
        {d.latency && (
          <span className="pw-muted">
            {" "}
            · {d.latency}
            {d.tokens && ` · ${d.tokens} tokens`}
          </span>
        )}
      </p>
      {d.expression !== null && (
        <p className="pw-decision-expression">
          <code>ƒ {d.expression}</code>
          {d.edgeId && <span className="pw-muted"> · edge {d.edgeId}</span>}
        </p>
      )}
      {d.check !== null && (
        <p className="pw-muted" title="The model was asked whether the option it picked is true of the user's reply">
          Checked: {d.check}
        </p>
      )}
      {d.error && <p className="pw-error-text">{d.error}</p>}
      {d.expressionErrors.map((e, i) => (
        <p key={i} className="pw-warning-text">
          ⚠ Expression on edge {e.edgeId}: {e.error}
        </p>
      ))}
      {d.options.length > 0 && (
        <table className="pw-candidates pw-options">
          <thead>
            <tr>
              <th />
              <th>Option</th>
              <th>Condition</th>
              {d.scored && <th className="pw-score-col">Score</th>}
              {d.matched && (
                <th className="pw-score-col" title="How close the user's words were to the condition (cosine)">
                  Similarity
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {d.options.map((o, i) => (
              <tr key={i} className={o.chosen ? "chosen" : ""}>
                <td>{o.chosen ? "✔" : ""}</td>
                <td>
                  {o.name}
                  {o.via === "global jump" && <span className="pw-muted"> (global)</span>}
                </td>
                <td>{o.statement}</td>
                {d.scored && (
                  <td className="pw-score-col">
                    {o.score !== null ? (
                      <span className="pw-score" title={`${o.score}`}>
                        <span className="pw-score-bar">
                          <span style={{ width: `${Math.min(100, Math.max(0, o.score * 100))}%` }} />
                        </span>
                        {o.percent}
                      </span>
                    ) : (
                      <span className="pw-muted">–</span>
                    )}
                  </td>
                )}
                {d.matched && <td className="pw-score-col">{o.similarity ?? <span className="pw-muted">–</span>}</td>}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
