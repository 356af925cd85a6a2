import { useEffect, useRef, type ReactNode } from "react";

/**
 * A modal question with a confirm and a cancel button (and optionally a second answer,
 * `alternative`, between them); Escape cancels.
 */
export default function ConfirmDialog({
  title,
  children,
  confirmLabel,
  danger,
  busy,
  onConfirm,
  onCancel,
  alternative,
}: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
  alternative?: { label: string; onClick: () => void };
}) {
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    cancel.current?.focus();
    const onKey = (event: KeyboardEvent): void => {
      if (event.key === "Escape") onCancel();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onCancel]);
  return (
    <div className="pw-modal-backdrop" onClick={onCancel}>
      <div
        className="pw-modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby="pw-modal-title"
        onClick={(e) => e.stopPropagation()}
      >
        <h2 id="pw-modal-title">{title}</h2>
        <div className="pw-modal-body">{children}</div>
        <div className="pw-modal-actions">
          <button type="button" ref={cancel} onClick={onCancel} disabled={busy}>
            Cancel
          </button>
          {alternative && (
            <button type="button" onClick={alternative.onClick} disabled={busy}>
              {alternative.label}
            </button>
          )}
          <button type="button" className={danger ? "danger" : "primary"} onClick={onConfirm} disabled={busy}>
            {busy ? "Working…" : confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}
