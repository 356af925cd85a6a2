/** Every conversation of the project, newest first, with search by text, date and state. */
import { useCallback, useEffect, useState } from "react";
import { ApiError } from "../api/errors";
import type { SessionFilters, SessionPage } from "../api/types";
import { Empty, ErrorNotice, Loading, Notice } from "../components/Notice";
import { ago, exact } from "../components/time";
import { useClient } from "../state/auth";
import { startedHere } from "../state/playground";
import { navigate } from "../state/router";

const FIRST: SessionFilters = { page: 1, pageSize: 20, search: "", ended: "", from: "", to: "" };

/** `nameOf` names nodes by their title on the canvas (the id when a node is gone). */
export default function SessionsList({ projectId, nameOf }: { projectId: string; nameOf: (nodeId: string) => string }) {
  const client = useClient();
  const [filters, setFilters] = useState<SessionFilters>(FIRST);
  const [form, setForm] = useState<SessionFilters>(FIRST);
  const [page, setPage] = useState<SessionPage | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [openId, setOpenId] = useState("");

  const load = useCallback(async () => {
    setLoading(true);
    setError(null);
    try {
      // The date inputs give days; "to" includes the whole day.
      const to = filters.to ? new Date(`${filters.to}T23:59:59.999`).toISOString() : "";
      const from = filters.from ? new Date(`${filters.from}T00:00:00`).toISOString() : "";
      setPage(await client.listSessions(projectId, { ...filters, from, to }));
    } catch (caught) {
      setError(caught);
      setPage(null);
    } finally {
      setLoading(false);
    }
  }, [client, projectId, filters]);

  useEffect(() => {
    void load();
  }, [load]);

  const open = (sessionId: string): void => navigate({ name: "session", projectId, sessionId });
  const unsupported = error instanceof ApiError && (error.status === 404 || error.status === 405);
  const filtered = filters.search || filters.ended || filters.from || filters.to;
  const total = page?.pagination.total ?? 0;
  const pages = page ? Math.max(1, Math.ceil(total / page.pagination.pageSize)) : 1;

  return (
    <main className="pw-page pw-sessions">
      <div className="pw-page-head">
        <h1>Sessions</h1>
        <span className="pw-spacer" />
        <form
          className="pw-row"
          onSubmit={(e) => {
            e.preventDefault();
            if (openId.trim()) open(openId.trim());
          }}
        >
          <input
            aria-label="Session id"
            placeholder="Open a session by id"
            value={openId}
            onChange={(e) => setOpenId(e.target.value)}
          />
          <button type="submit" disabled={!openId.trim()}>
            Open
          </button>
        </form>
      </div>
      <form
        className="pw-filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters({ ...form, page: 1 });
        }}
      >
        <input
          type="search"
          aria-label="Search"
          placeholder="Search messages or session id"
          value={form.search}
          onChange={(e) => setForm({ ...form, search: e.target.value })}
        />
        <label>
          From <input type="date" value={form.from} onChange={(e) => setForm({ ...form, from: e.target.value })} />
        </label>
        <label>
          To <input type="date" value={form.to} onChange={(e) => setForm({ ...form, to: e.target.value })} />
        </label>
        <select
          aria-label="State"
          value={form.ended}
          onChange={(e) => setForm({ ...form, ended: e.target.value as SessionFilters["ended"] })}
        >
          <option value="">Active and ended</option>
          <option value="false">Active only</option>
          <option value="true">Ended only</option>
        </select>
        <button type="submit" className="primary">
          Search
        </button>
        {filtered && (
          <button
            type="button"
            className="link"
            onClick={() => {
              setForm(FIRST);
              setFilters(FIRST);
            }}
          >
            Clear
          </button>
        )}
      </form>

      {loading && <Loading what="sessions" />}
      {!loading && unsupported && (
        <>
          <Notice kind="warning">
            This server cannot list sessions yet (update Pathweaver). Below are the sessions started in this browser tab; any
            session opens by its id.
          </Notice>
          <table className="pw-table">
            <tbody>
              {startedHere(projectId).map((s) => (
                <tr
                  key={s.sessionId}
                  className="clickable"
                  onClick={() => open(s.sessionId)}
                  data-testid={`session-row-${s.sessionId}`}
                >
                  <td title={exact(s.startTime)}>{ago(s.startTime)}</td>
                  <td>
                    <code>{s.sessionId}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {!loading && error && !unsupported ? (
        <ErrorNotice error={error} title="Could not load the sessions" onRetry={() => void load()} />
      ) : null}
      {!loading && page && page.data.length === 0 && (
        <Empty title={filtered ? "No session matches these filters" : "No sessions yet"}>
          {filtered ? (
            <p>Change or clear the filters.</p>
          ) : (
            <p>Talk to the agent in the playground (Canvas tab), or through the API, and conversations appear here.</p>
          )}
        </Empty>
      )}
      {!loading && page && page.data.length > 0 && (
        <>
          <div className="pw-table-wrap">
            <table className="pw-table">
              <thead>
                <tr>
                  <th>Started</th>
                  <th>Session</th>
                  <th>First words</th>
                  <th>Messages</th>
                  <th>Now at</th>
                  <th>State</th>
                </tr>
              </thead>
              <tbody>
                {page.data.map((s) => (
                  <tr
                    key={s.sessionId}
                    className="clickable"
                    onClick={() => open(s.sessionId)}
                    data-testid={`session-row-${s.sessionId}`}
                  >
                    <td title={exact(s.startTime)}>{ago(s.startTime)}</td>
                    <td>
                      <code>{s.sessionId}</code>
                      {s.provider && <span className="pw-muted"> · {s.provider}</span>}
                    </td>
                    <td className="pw-preview">{s.preview || <span className="pw-muted">–</span>}</td>
                    <td>{s.messageCount}</td>
                    <td title={s.currentNodeId ?? undefined}>{s.currentNodeId ? nameOf(s.currentNodeId) : "–"}</td>
                    <td>
                      {s.isEnded ? <span className="pw-badge ended">ended</span> : <span className="pw-badge">active</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="pw-pager">
            <button type="button" disabled={filters.page <= 1} onClick={() => setFilters({ ...filters, page: filters.page - 1 })}>
              ← Newer
            </button>
            <span className="pw-muted">
              Page {filters.page} of {pages} · {total} session{total === 1 ? "" : "s"}
            </span>
            <button
              type="button"
              disabled={filters.page >= pages}
              onClick={() => setFilters({ ...filters, page: filters.page + 1 })}
            >
              Older →
            </button>
          </div>
        </>
      )}
    </main>
  );
}
