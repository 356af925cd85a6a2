import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiClient, saveBody } from "./client";
import { ApiError, versionConflict } from "./errors";
import type { PathwayDocument } from "./types";

const document: PathwayDocument = {
  nodes: [{ id: "start", position: { x: 0, y: 0 }, data: { type: "start" } }],
  edges: [],
  extension: { kept: true },
};

const conflictBody = {
  error: {
    message: "the pathway changed since version 3: version 4 is current (saved by teammate (sk_…abcd) at 2026-01-02T03:04:05Z)",
    type: "conflict",
    code: "pathway_version_conflict",
    details: { basedOn: 3, currentVersion: 4, author: "teammate (sk_…abcd)", savedAt: "2026-01-02T03:04:05Z", note: null },
  },
};

function answer(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("saving a pathway", () => {
  it("sends the version the edit is based on, in one request", async () => {
    const fetch = vi.fn(async () => answer(200, { data: { ...document, version: 4, updatedAt: null, warnings: [] } }));
    vi.stubGlobal("fetch", fetch);
    const saved = await new ApiClient("sk_test").savePathway("p1", document, 3);
    expect(saved.version).toBe(4);
    expect(fetch).toHaveBeenCalledTimes(1); // no check of the current version first
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/v1/projects/p1/pathway");
    expect(init.method).toBe("PUT");
    expect(JSON.parse(init.body as string)).toEqual({ ...document, version: 3 });
  });

  it("turns a 409 pathway_version_conflict into who saved which version when", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => answer(409, conflictBody)),
    );
    const refused = await new ApiClient("sk_test").savePathway("p1", document, 3).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ApiError);
    expect(versionConflict(refused)).toEqual({
      basedOn: 3,
      currentVersion: 4,
      author: "teammate (sk_…abcd)",
      savedAt: "2026-01-02T03:04:05Z",
      note: null,
    });
  });
});

describe("the body of a save", () => {
  it("carries the base version, replacing any version the document had", () => {
    expect(saveBody({ ...document, version: 9 }, 3)).toEqual({ ...document, version: 3 });
  });

  it("leaves the version out when there is none (saved unchecked)", () => {
    const body = saveBody({ ...document, version: 9 }, null);
    expect(body).toEqual(document);
    expect("version" in body).toBe(false);
  });
});

describe("version conflicts", () => {
  it("are only 409s with the conflict code and a current version", () => {
    const details = conflictBody.error.details;
    expect(versionConflict(new ApiError(409, "x", { code: "pathway_version_conflict", details }))?.currentVersion).toBe(4);
    expect(versionConflict(new ApiError(409, "a turn is running", { code: "session_busy", details }))).toBeNull();
    expect(versionConflict(new ApiError(400, "x", { code: "pathway_version_conflict", details }))).toBeNull();
    expect(versionConflict(new ApiError(409, "x", { code: "pathway_version_conflict" }))).toBeNull();
    expect(versionConflict(new Error("x"))).toBeNull();
  });
});
