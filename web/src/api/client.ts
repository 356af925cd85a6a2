/**
 * The studio's only way to the server: the public v1 API, with the user's key.
 *
 * Every call goes to the origin that served the studio. A 401 from any call means the key
 * stopped working: `onUnauthorized` is told (the app sends the person back to sign-in).
 */
import { ApiError, errorFromBody } from "./errors";
import { joinToolCalls, readChunk, SseParser, type ToolCallPiece } from "./sse";
import type {
  Agent,
  AgentPatch,
  PathwayDocument,
  PathwayVersion,
  Project,
  Session,
  SessionFilters,
  SessionPage,
  StoredPathway,
} from "./types";

export interface StreamResult {
  text: string;
  finishReason: string | null;
  toolCalls: { id: string; name: string; arguments: string }[];
  sessionId: string | null;
}

export class ApiClient {
  constructor(
    private readonly key: string,
    private readonly onUnauthorized: (error: ApiError) => void = () => {},
    private readonly base: string = "",
  ) {}

  // Transport ------------------------------------------------------------------------

  private async send(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers: {
          Authorization: `Bearer ${this.key}`,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (cause) {
      if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
      throw new ApiError(0, "The studio could not reach the server (the network request failed).");
    }
    if (!response.ok) {
      const error = errorFromBody(
        response.status,
        await readJson(response),
        `${method} ${path} failed with HTTP ${response.status}`,
      );
      if (response.status === 401) this.onUnauthorized(error);
      throw error;
    }
    return response;
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(method, path, body);
    return (await response.json()) as T;
  }

  private async data<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.json<{ data: T }>(method, path, body)).data;
  }

  private project(projectId: string): string {
    return `/v1/projects/${encodeURIComponent(projectId)}`;
  }

  // Projects, agent, pathway ----------------------------------------------------------

  listProjects(): Promise<Project[]> {
    return this.data("GET", "/v1/projects");
  }

  getProject(projectId: string): Promise<Project> {
    return this.data("GET", this.project(projectId));
  }

  getAgent(projectId: string): Promise<Agent> {
    return this.data("GET", `${this.project(projectId)}/agent`);
  }

  patchAgent(projectId: string, patch: AgentPatch): Promise<Agent> {
    return this.data("PATCH", `${this.project(projectId)}/agent`, patch);
  }

  getPathway(projectId: string): Promise<StoredPathway> {
    return this.data("GET", `${this.project(projectId)}/pathway`);
  }

  /**
   * Save the whole pathway as a new version; the answer carries `warnings`.
   *
   * `version` is the version the edit is based on: when another save made a newer one
   * since, the server refuses with 409 `pathway_version_conflict` (see `versionConflict`),
   * checked in the same transaction as the write. Null saves unchecked. A document equal to
   * the current one makes no version: the answer is the current version, unchanged.
   */
  savePathway(projectId: string, document: PathwayDocument, version: number | null): Promise<StoredPathway> {
    return this.data("PUT", `${this.project(projectId)}/pathway`, saveBody(document, version));
  }

  currentVersion(projectId: string): Promise<PathwayVersion> {
    return this.data("GET", `${this.project(projectId)}/pathway/version`);
  }

  listVersions(projectId: string): Promise<PathwayVersion[]> {
    return this.data("GET", `${this.project(projectId)}/pathway/versions`);
  }

  rollback(projectId: string, targetVersion: number): Promise<StoredPathway> {
    return this.data("POST", `${this.project(projectId)}/pathway/rollback`, { targetVersion });
  }

  // Sessions ---------------------------------------------------------------------------

  createSession(projectId: string, sessionId: string, variables: Record<string, unknown>): Promise<{ sessionId: string }> {
    return this.json("POST", `${this.project(projectId)}/sessions`, { session_id: sessionId, variables, provider: "studio" });
  }

  getSession(projectId: string, sessionId: string): Promise<Session> {
    return this.json("GET", `${this.project(projectId)}/sessions/${encodeURIComponent(sessionId)}`);
  }

  listSessions(projectId: string, filters: SessionFilters): Promise<SessionPage> {
    const query = new URLSearchParams({ page: String(filters.page), pageSize: String(filters.pageSize) });
    if (filters.search.trim()) query.set("search", filters.search.trim());
    if (filters.ended) query.set("ended", filters.ended);
    if (filters.from) query.set("from", filters.from);
    if (filters.to) query.set("to", filters.to);
    return this.json("GET", `${this.project(projectId)}/sessions?${query}`);
  }

  /**
   * One turn, streamed: POST chat/completions with `stream: true`, sending only the new
   * user message (the server keeps the history of `sessionId`). `onText` gets each delta.
   */
  async streamChat(
    projectId: string,
    sessionId: string,
    content: string,
    onText: (text: string) => void,
    signal?: AbortSignal,
  ): Promise<StreamResult> {
    const response = await this.send(
      "POST",
      `${this.project(projectId)}/chat/completions`,
      { stream: true, messages: [{ role: "user", content }] },
      { "X-Session-ID": sessionId, Accept: "text/event-stream" },
      signal,
    );
    const result: StreamResult = { text: "", finishReason: null, toolCalls: [], sessionId: response.headers.get("X-Session-ID") };
    if (!response.body) throw new ApiError(502, "The server answered the stream without a body.");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser();
    const pieces: ToolCallPiece[] = [];
    const handle = (payloads: string[]): void => {
      for (const payload of payloads) {
        for (const event of readChunk(payload)) {
          switch (event.kind) {
            case "text":
              result.text += event.text;
              onText(event.text);
              break;
            case "tool":
              pieces.push(...event.calls);
              break;
            case "finish":
              result.finishReason = event.reason;
              break;
            case "error":
              throw new ApiError(500, event.message, { type: event.type });
            case "done":
            case "other":
              break;
          }
        }
      }
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        handle(parser.push(value));
      }
      handle(parser.flush());
    } catch (error) {
      await reader.cancel().catch(() => undefined); // stop reading a stream that failed
      throw error;
    }
    result.toolCalls = joinToolCalls(pieces);
    return result;
  }
}

/** The body of a pathway PUT: the document, with the version it is based on when known. */
export function saveBody(document: PathwayDocument, version: number | null): PathwayDocument & { version?: number } {
  const { version: _ignored, ...rest } = document;
  return version === null ? rest : { ...rest, version };
}

async function readJson(response: Response): Promise<unknown> {
  try {
    return await response.json();
  } catch {
    return null;
  }
}
