/**
 * Errors from the server, in words a person can act on.
 *
 * The API answers errors in three shapes (src/pathweaver/api/errors.py): the v1 envelope
 * `{"error": {message, type, code, details}}`, the OpenAI one (with `param`), and the flat
 * `{"error": "<message>"}` of the session routes. All become an `ApiError`.
 */
import type { Issue } from "./types";

export class ApiError extends Error {
  /** HTTP status; 0 when the server could not be reached at all. */
  readonly status: number;
  readonly type: string | null;
  readonly code: string | null;
  /** Validation problems (`error.details.errors`), each naming a node, edge or field. */
  readonly issues: Issue[];
  /** `error.details` as the server sent it ({} when none). */
  readonly details: Record<string, unknown>;

  constructor(
    status: number,
    message: string,
    options: { type?: string | null; code?: string | null; issues?: Issue[]; details?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = options.type ?? null;
    this.code = options.code ?? null;
    this.issues = options.issues ?? [];
    this.details = options.details ?? {};
  }

  /** What the person can do about it. */
  get advice(): string {
    return adviceFor(this.status);
  }
}

export function adviceFor(status: number): string {
  if (status === 0) return "Check that the Pathweaver server is running and reachable, then try again.";
  if (status === 400 || status === 422) return "Fix what the message says, then try again.";
  if (status === 401 || status === 403) return "Sign in again with a key that reaches this project.";
  if (status === 404) return "It may have been deleted or never existed; go back and reload.";
  if (status === 405) return "This server does not offer this feature yet; update Pathweaver.";
  if (status === 409) return "Something changed meanwhile (or a turn is still running); reload and try again.";
  if (status === 413) return "The request is too large; send less data.";
  if (status === 429) return "Too many requests; wait a moment and try again.";
  if (status === 502 || status === 504) {
    return "The model upstream failed or timed out; check the server's model settings and its log, then try again.";
  }
  if (status === 503) return "The server is busy or not ready; wait a moment and try again.";
  return "The server failed; check its log, then try again.";
}

/** Build an `ApiError` from a status and a parsed JSON body (or `null` when not JSON). */
export function errorFromBody(status: number, body: unknown, fallback: string): ApiError {
  if (body && typeof body === "object" && "error" in body) {
    const error = (body as { error: unknown }).error;
    if (typeof error === "string") return new ApiError(status, error);
    if (error && typeof error === "object") {
      const e = error as { message?: unknown; type?: unknown; code?: unknown; details?: unknown };
      const details = e.details && typeof e.details === "object" ? (e.details as { errors?: unknown }) : {};
      const issues = Array.isArray(details.errors) ? details.errors.filter(isIssue) : [];
      return new ApiError(status, typeof e.message === "string" ? e.message : fallback, {
        type: typeof e.type === "string" ? e.type : null,
        code: typeof e.code === "string" ? e.code : null,
        issues,
        details: details as Record<string, unknown>,
      });
    }
  }
  if (body && typeof body === "object" && "detail" in body) {
    const detail = (body as { detail: unknown }).detail;
    if (typeof detail === "string") return new ApiError(status, detail);
  }
  return new ApiError(status, fallback);
}

/**
 * A save refused because another save made a newer version since the one the edit is based
 * on (409 `pathway_version_conflict`): who saved which version, and when.
 */
export interface VersionConflict {
  /** The version the refused save was based on. */
  basedOn: number | null;
  /** The version the server has now: send it as `version` to overwrite it knowingly. */
  currentVersion: number;
  author: string | null;
  /** ISO time the current version was saved. */
  savedAt: string | null;
  note: string | null;
}

/** The conflict a refused pathway save names, or null when `error` is not one. */
export function versionConflict(error: unknown): VersionConflict | null {
  if (!(error instanceof ApiError) || error.status !== 409 || error.code !== "pathway_version_conflict") return null;
  const d = error.details;
  if (!Number.isInteger(d.currentVersion)) return null;
  const text = (value: unknown): string | null => (typeof value === "string" && value ? value : null);
  return {
    basedOn: Number.isInteger(d.basedOn) ? (d.basedOn as number) : null,
    currentVersion: d.currentVersion as number,
    author: text(d.author),
    savedAt: text(d.savedAt),
    note: text(d.note),
  };
}

function isIssue(value: unknown): value is Issue {
  return !!value && typeof value === "object" && typeof (value as Issue).message === "string";
}

/** One line for a person: the server's message, then what to do. */
export function describeError(error: unknown): { message: string; advice: string } {
  if (error instanceof ApiError) return { message: error.message, advice: error.advice };
  if (error instanceof Error) return { message: error.message, advice: "Reload the page and try again." };
  return { message: String(error), advice: "Reload the page and try again." };
}
