/** Sign in with an API key; it is checked against the server before it is kept. */
import { useState } from "react";
import { ApiClient } from "../api/client";
import { ApiError } from "../api/errors";
import { ErrorNotice, Notice } from "../components/Notice";
import { useAuth } from "../state/auth";

export default function SignIn() {
  const { signIn, notice } = useAuth();
  const [key, setKey] = useState("");
  const [checking, setChecking] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (): Promise<void> => {
    const value = key.trim();
    if (!/^(sk|dk)_/.test(value)) {
      setError(new ApiError(400, "An API key starts with sk_ (one project) or dk_ (a developer key)."));
      return;
    }
    setChecking(true);
    setError(null);
    try {
      await new ApiClient(value).listProjects();
      signIn(value);
    } catch (caught) {
      setError(
        caught instanceof ApiError && caught.status === 401
          ? new ApiError(401, "The server does not accept this key: it is unknown or was revoked.")
          : caught,
      );
    } finally {
      setChecking(false);
    }
  };

  return (
    <main className="pw-signin">
      <form
        className="pw-card"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <h1>Pathweaver Studio</h1>
        <p className="pw-muted">Build a pathway on a canvas, talk to it, and see why it did what it did.</p>
        {notice && <Notice kind="warning">{notice}</Notice>}
        <label>
          API key
          <input
            type="password"
            autoComplete="off"
            autoFocus
            placeholder="sk_… or dk_…"
            value={key}
            onChange={(e) => setKey(e.target.value)}
            data-testid="api-key"
          />
        </label>
        {error ? <ErrorNotice error={error} title="Could not sign in" /> : null}
        <button type="submit" className="primary" disabled={checking || !key.trim()}>
          {checking ? "Checking…" : "Sign in"}
        </button>
        <p className="pw-hint">
          The key stays in this browser tab only (sessionStorage) and is sent to this server only. The first{" "}
          <code>pathweaver serve</code> prints one; <code>pathweaver key create --project ID</code> makes another.
        </p>
      </form>
    </main>
  );
}
