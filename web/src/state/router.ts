/**
 * A small router for the studio's few routes, on the History API under `/studio`.
 *
 * The server answers index.html for every client route (src/pathweaver/api/studio.py), so
 * a reload or a shared link lands on the same screen. One leave guard at a time can ask
 * the person to confirm before unsaved work is left behind.
 */
import { useEffect, useState } from "react";

/** Where the studio is served: Vite's `base` (vite.config.ts) without its last slash. */
export const BASE = "/studio";

export type Route =
  | { name: "home" }
  | { name: "canvas"; projectId: string; sessionId: string | null }
  | { name: "agent"; projectId: string }
  | { name: "sessions"; projectId: string }
  | { name: "session"; projectId: string; sessionId: string }
  | { name: "missing"; path: string };

export function parseRoute(pathname: string, search: string): Route {
  const path = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { name: "home" };
  if (parts[0] === "p" && parts[1]) {
    const projectId = parts[1];
    const tab = parts[2] ?? "canvas";
    if (tab === "canvas" && parts.length <= 3)
      return { name: "canvas", projectId, sessionId: new URLSearchParams(search).get("session") };
    if (tab === "agent" && parts.length === 3) return { name: "agent", projectId };
    if (tab === "sessions" && parts.length === 3) return { name: "sessions", projectId };
    if (tab === "sessions" && parts.length === 4) return { name: "session", projectId, sessionId: parts[3] };
  }
  return { name: "missing", path };
}

export function hrefOf(route: Route): string {
  const project = (id: string): string => `${BASE}/p/${encodeURIComponent(id)}`;
  switch (route.name) {
    case "home":
      return `${BASE}/`;
    case "canvas":
      return `${project(route.projectId)}/canvas${route.sessionId ? `?session=${encodeURIComponent(route.sessionId)}` : ""}`;
    case "agent":
      return `${project(route.projectId)}/agent`;
    case "sessions":
      return `${project(route.projectId)}/sessions`;
    case "session":
      return `${project(route.projectId)}/sessions/${encodeURIComponent(route.sessionId)}`;
    case "missing":
      return `${BASE}${route.path}`;
  }
}

/** A check run before leaving for `to` (null: the page itself is closing or reloading). */
export type Guard = (to: Route | null) => string | null;
const guards = new Set<Guard>();

/** Register a check run before leaving a screen; it returns a warning, or null to let go. */
export function useLeaveGuard(guard: Guard): void {
  useEffect(() => {
    guards.add(guard);
    const onBeforeUnload = (event: BeforeUnloadEvent): void => {
      if (guard(null)) {
        event.preventDefault();
        event.returnValue = "";
      }
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    return () => {
      guards.delete(guard);
      window.removeEventListener("beforeunload", onBeforeUnload);
    };
  }, [guard]);
}

/** Whether every guard lets the person leave (asking them where one objects). */
export function mayLeave(to: Route | null): boolean {
  for (const guard of guards) {
    const warning = guard(to);
    if (warning && !window.confirm(warning)) return false;
  }
  return true;
}

/** Go to a route; `guarded` asks the leave guards first (and stays when the person says no). */
export function navigate(route: Route, options: { replace?: boolean; guarded?: boolean } = {}): void {
  if (options.guarded && !mayLeave(route)) return;
  const href = hrefOf(route);
  if (options.replace) window.history.replaceState(null, "", href);
  else window.history.pushState(null, "", href);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.pathname, window.location.search));
  useEffect(() => {
    const update = (): void => setRoute(parseRoute(window.location.pathname, window.location.search));
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  return route;
}
