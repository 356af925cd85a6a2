/**
 * What a pathway save answered, in words: a new version, nothing to save, or a newer
 * version saved meanwhile by someone else (the server's 409 is the check; the studio does
 * not ask the server first, which could not stop a save landing in between).
 */
import type { VersionConflict } from "../api/errors";
import { exact } from "../components/time";

/**
 * True when a save answered the version it was based on: the document equalled the current
 * one, so the server made no version.
 */
export function unchanged(basedOn: number | null, saved: { version: number }): boolean {
  return basedOn !== null && saved.version === basedOn;
}

/** The note after a save (or a rollback) that answered `saved`. */
export function savedNote(saved: { version: number; warnings?: unknown[] }, nothingNew: boolean): string {
  if (nothingNew) return `No changes to save: version ${saved.version} is current.`;
  const warnings = saved.warnings?.length ?? 0;
  return `Saved as version ${saved.version}${warnings ? `, with ${warnings} warning${warnings > 1 ? "s" : ""} (marked on the canvas)` : ""}.`;
}

/** Who saved which version when, and why the draft's save was refused. */
export function conflictSummary(conflict: VersionConflict, when: (iso: string) => string = exact): string {
  const who = conflict.author ? ` by ${conflict.author}` : "";
  const at = conflict.savedAt ? ` at ${when(conflict.savedAt)}` : "";
  const note = conflict.note ? ` (“${conflict.note}”)` : "";
  const saved = `Version ${conflict.currentVersion} was saved${who}${at}${note}`;
  if (conflict.basedOn === null) return `${saved}.`;
  if (conflict.basedOn < conflict.currentVersion) {
    return `${saved}, after version ${conflict.basedOn} that your edits are based on.`;
  }
  return `Your edits are based on version ${conflict.basedOn}, which the server does not have. ${saved} and is current.`;
}
