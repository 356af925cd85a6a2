import { describe, expect, it } from "vitest";
import type { VersionConflict } from "../api/errors";
import { conflictSummary, savedNote, unchanged } from "./saving";

const when = (iso: string): string => `[${iso}]`;

describe("what a save answered", () => {
  it("is nothing new when the answer is the version the save was based on", () => {
    expect(unchanged(4, { version: 4 })).toBe(true);
    expect(unchanged(4, { version: 5 })).toBe(false);
    expect(unchanged(null, { version: 1 })).toBe(false);
  });

  it("says so instead of claiming a new version", () => {
    expect(savedNote({ version: 4 }, true)).toBe("No changes to save: version 4 is current.");
    expect(savedNote({ version: 5 }, false)).toBe("Saved as version 5.");
    expect(savedNote({ version: 5, warnings: [{}, {}] }, false)).toBe(
      "Saved as version 5, with 2 warnings (marked on the canvas).",
    );
  });
});

describe("a conflict in words", () => {
  const conflict: VersionConflict = {
    basedOn: 3,
    currentVersion: 4,
    author: "Ana (sk_…abcd)",
    savedAt: "2026-01-02T03:04:05Z",
    note: "shorter greeting",
  };

  it("names the newer version, who saved it, when, and the version the edits are based on", () => {
    expect(conflictSummary(conflict, when)).toBe(
      "Version 4 was saved by Ana (sk_…abcd) at [2026-01-02T03:04:05Z] (“shorter greeting”), after version 3 that your edits are based on.",
    );
  });

  it("leaves out what the server did not say", () => {
    expect(conflictSummary({ ...conflict, author: null, savedAt: null, note: null }, when)).toBe(
      "Version 4 was saved, after version 3 that your edits are based on.",
    );
  });

  it("explains a base version the server does not have", () => {
    expect(conflictSummary({ ...conflict, basedOn: 7, note: null }, when)).toBe(
      "Your edits are based on version 7, which the server does not have. Version 4 was saved by Ana (sk_…abcd) at [2026-01-02T03:04:05Z] and is current.",
    );
  });
});
