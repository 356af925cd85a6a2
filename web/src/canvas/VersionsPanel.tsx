/** The pathway's saved versions (who, when, what), and rollback with a confirmation. */
import { useCallback, useEffect, useState } from "react";
import type { ApiClient } from "../api/client";
import type { PathwayVersion } from "../api/types";
import ConfirmDialog from "../components/ConfirmDialog";
import { Empty, ErrorNotice, Loading } from "../components/Notice";
import { ago, exact } from "../components/time";

interface Props {
  client: ApiClient;
  projectId: string;
  current: number | null;
  dirty: boolean;
  onRollback: (version: number) => Promise<void>;
}

export default function VersionsPanel({ client, projectId, current, dirty, onRollback }: Props) {
  const [versions, setVersions] = useState<PathwayVersion[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [asking, setAsking] = useState<PathwayVersion | null>(null);
  const [busy, setBusy] = useState(false);
  const [rollbackError, setRollbackError] = useState<unknown>(null);

  const load = useCallback(async () => {
    setError(null);
    try {
      setVersions(await client.listVersions(projectId));
    } catch (caught) {
      setError(caught);
    }
  }, [client, projectId]);

  useEffect(() => {
    void load();
  }, [load, current]);

  const confirm = async (): Promise<void> => {
    if (!asking) return;
    setBusy(true);
    setRollbackError(null);
    try {
      await onRollback(asking.version);
      setAsking(null);
    } catch (caught) {
      setRollbackError(caught);
    } finally {
      setBusy(false);
    }
  };

  if (error) return <ErrorNotice error={error} title="Could not load the versions" onRetry={() => void load()} />;
  if (!versions) return <Loading what="versions" />;
  if (!versions.length) return <Empty title="No versions yet">Saving the pathway makes the first one.</Empty>;
  return (
    <div className="pw-versions">
      <h2>Versions</h2>
      <p className="pw-hint">Every save makes a new version. Rolling back saves a copy of an old one as the newest.</p>
      <ol className="pw-version-list">
        {versions.map((v) => (
          <li key={v.version} className={v.version === current ? "current" : ""} data-testid={`version-${v.version}`}>
            <div className="pw-version-head">
              <strong>v{v.version}</strong>
              {v.version === current && <span className="pw-badge">current</span>}
              <span className="pw-muted" title={exact(v.createdAt)}>
                {ago(v.createdAt)}
              </span>
            </div>
            <div className="pw-version-note">{v.note || "no note"}</div>
            <div className="pw-muted">
              by {v.author || "unknown"} · {v.nodeCount} nodes, {v.edgeCount} edges
            </div>
            {v.version !== current && (
              <button type="button" onClick={() => setAsking(v)}>
                Roll back to v{v.version}
              </button>
            )}
          </li>
        ))}
      </ol>
      {asking && (
        <ConfirmDialog
          title={`Roll back to version ${asking.version}?`}
          confirmLabel={`Roll back to v${asking.version}`}
          danger
          busy={busy}
          onConfirm={() => void confirm()}
          onCancel={() => setAsking(null)}
        >
          <p>
            The pathway of version {asking.version} ({asking.note || "no note"}, {exact(asking.createdAt)}) becomes a new version,
            and new conversations use it.
          </p>
          {dirty && <p className="pw-warning-text">Your unsaved changes on the canvas will be lost.</p>}
          {rollbackError ? <ErrorNotice error={rollbackError} title="The rollback failed" /> : null}
        </ConfirmDialog>
      )}
    </div>
  );
}
