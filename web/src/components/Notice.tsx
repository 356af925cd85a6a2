import type { ReactNode } from "react";
import { describeError } from "../api/errors";

/** A server error in words: what happened, and what to do about it. */
export function ErrorNotice({
  error,
  title,
  advice: override,
  onRetry,
  children,
}: {
  error: unknown;
  title?: string;
  advice?: string;
  onRetry?: () => void;
  children?: ReactNode;
}) {
  const described = describeError(error);
  const { message } = described;
  const advice = override ?? described.advice;
  return (
    <div className="pw-notice error" role="alert">
      <strong>{title ?? "Something went wrong"}</strong>
      <p>{message}</p>
      <p className="pw-advice">{advice}</p>
      {children}
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Notice({
  kind = "info",
  children,
  onClose,
}: {
  kind?: "info" | "warning" | "success";
  children: ReactNode;
  onClose?: () => void;
}) {
  return (
    <div className={`pw-notice ${kind}`} role={kind === "warning" ? "alert" : "status"}>
      <div className="pw-notice-body">{children}</div>
      {onClose && (
        <button type="button" className="pw-close" aria-label="Dismiss" onClick={onClose}>
          ×
        </button>
      )}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <div className="pw-loading" role="status" aria-live="polite">
      <span className="pw-spinner" aria-hidden="true" /> Loading {what}…
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="pw-empty">
      <strong>{title}</strong>
      {children}
    </div>
  );
}
