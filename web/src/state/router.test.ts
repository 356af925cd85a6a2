import { describe, expect, it } from "vitest";
import { BASE, hrefOf, parseRoute, type Route } from "./router";

describe("routes", () => {
  it("live under the studio's base", () => {
    expect(BASE).toBe("/studio");
  });

  it("read every screen's address and write it back the same", () => {
    const routes: Route[] = [
      { name: "home" },
      { name: "canvas", projectId: "proj_1", sessionId: null },
      { name: "canvas", projectId: "proj_1", sessionId: "studio-a b" },
      { name: "agent", projectId: "proj_1" },
      { name: "sessions", projectId: "proj_1" },
      { name: "session", projectId: "proj_1", sessionId: "s/1" },
    ];
    for (const route of routes) {
      const url = new URL(hrefOf(route), "http://localhost");
      expect(parseRoute(url.pathname, url.search)).toEqual(route);
    }
  });

  it("opens a project on its canvas and knows an unknown address", () => {
    expect(parseRoute("/studio/p/proj_1", "")).toEqual({ name: "canvas", projectId: "proj_1", sessionId: null });
    expect(parseRoute("/studio", "")).toEqual({ name: "home" });
    expect(parseRoute("/studio/p/proj_1/nowhere", "")).toEqual({ name: "missing", path: "/p/proj_1/nowhere" });
  });
});
