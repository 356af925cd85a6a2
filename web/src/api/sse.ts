/**
 * Server-sent events, as the chat completions route streams them.
 *
 * `SseParser` turns arbitrary network chunks into whole `data:` payloads (an event may be
 * split across chunks, and one chunk may hold many events); `readChunk` turns one payload
 * of an OpenAI `chat.completion.chunk` into what the chat panel needs.
 */

export class SseParser {
  private buffer = "";

  /** Feed decoded text; returns the `data` of every event completed by it. */
  push(text: string): string[] {
    this.buffer += text.replace(/\r\n?/g, "\n");
    const events: string[] = [];
    let end = this.buffer.indexOf("\n\n");
    while (end !== -1) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""));
      if (data.length) events.push(data.join("\n"));
      end = this.buffer.indexOf("\n\n");
    }
    return events;
  }

  /** Whatever is left when the stream closes (an event without its blank line). */
  flush(): string[] {
    const rest = this.buffer.trim();
    this.buffer = "";
    return rest ? this.push(rest + "\n\n") : [];
  }
}

export interface ToolCallPiece {
  index: number;
  id?: string;
  name?: string;
  arguments: string;
}

export type ChunkEvent =
  | { kind: "text"; text: string }
  | { kind: "tool"; calls: ToolCallPiece[] }
  | { kind: "finish"; reason: string }
  | { kind: "error"; message: string; type: string | null }
  | { kind: "done" }
  | { kind: "other" };

/** Interpret one SSE payload of the chat completions stream. */
export function readChunk(data: string): ChunkEvent[] {
  if (data.trim() === "[DONE]") return [{ kind: "done" }];
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return [{ kind: "error", message: `the server sent a stream event that is not JSON: ${data.slice(0, 80)}`, type: null }];
  }
  const chunk = parsed as {
    error?: { message?: string; type?: string } | string;
    choices?: { delta?: { content?: string | null; tool_calls?: unknown[] }; finish_reason?: string | null }[];
  };
  if (chunk.error) {
    const error = chunk.error;
    return [
      typeof error === "string"
        ? { kind: "error", message: error, type: null }
        : { kind: "error", message: error.message ?? "the stream failed", type: error.type ?? null },
    ];
  }
  const out: ChunkEvent[] = [];
  for (const choice of chunk.choices ?? []) {
    const delta = choice.delta ?? {};
    if (delta.content) out.push({ kind: "text", text: delta.content });
    if (Array.isArray(delta.tool_calls) && delta.tool_calls.length) {
      out.push({ kind: "tool", calls: delta.tool_calls.map(toolPiece) });
    }
    if (choice.finish_reason) out.push({ kind: "finish", reason: choice.finish_reason });
  }
  return out.length ? out : [{ kind: "other" }];
}

function toolPiece(raw: unknown): ToolCallPiece {
  const call = raw as { index?: number; id?: string; function?: { name?: string; arguments?: string } };
  return {
    index: call.index ?? 0,
    id: call.id,
    name: call.function?.name,
    arguments: call.function?.arguments ?? "",
  };
}

/** Join tool call pieces streamed by index into whole calls. */
export function joinToolCalls(pieces: ToolCallPiece[]): { id: string; name: string; arguments: string }[] {
  const calls = new Map<number, { id: string; name: string; arguments: string }>();
  for (const piece of pieces) {
    const call = calls.get(piece.index) ?? { id: "", name: "", arguments: "" };
    if (piece.id) call.id = piece.id;
    if (piece.name) call.name = piece.name;
    call.arguments += piece.arguments;
    calls.set(piece.index, call);
  }
  return [...calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
}
