/** The projects the key reaches; pick one to work on. */
import { useCallback, useEffect, useState } from "react";
import type { Project } from "../api/types";
import { Empty, ErrorNotice, Loading } from "../components/Notice";
import { ago, exact } from "../components/time";
import { keyHint, useAuth, useClient } from "../state/auth";
import { navigate } from "../state/router";

export default function ProjectPicker() {
  const client = useClient();
  const { key, signOut } = useAuth();
  const [projects, setProjects] = useState<Project[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async () => {
    setError(null);
    try {
      setProjects(await client.listProjects());
    } catch (caught) {
      setError(caught);
    }
  }, [client]);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <main className="pw-page pw-projects">
      <div className="pw-page-head">
        <h1>Projects</h1>
        <span className="pw-spacer" />
        {key && <span className="pw-muted">{keyHint(key)}</span>}
        <button type="button" onClick={() => signOut(null)}>
          Sign out
        </button>
      </div>
      {error ? <ErrorNotice error={error} title="Could not list the projects" onRetry={() => void load()} /> : null}
      {!projects && !error && <Loading what="projects" />}
      {projects?.length === 0 && (
        <Empty title="This key reaches no project">
          <p>
            Create one with <code>pathweaver project create NAME</code>, or sign in with a key that reaches one.
          </p>
        </Empty>
      )}
      <ul className="pw-project-list">
        {projects?.map((p) => (
          <li key={p.id}>
            <button
              type="button"
              className="pw-project"
              onClick={() => navigate({ name: "canvas", projectId: p.id, sessionId: null })}
              data-testid={`project-${p.id}`}
            >
              <strong>{p.name}</strong>
              <span className="pw-muted">
                <code>{p.id}</code> · pathway v{p.pathwayVersion} · changed{" "}
                <span title={exact(p.updatedAt)}>{ago(p.updatedAt)}</span>
              </span>
            </button>
          </li>
        ))}
      </ul>
    </main>
  );
}
