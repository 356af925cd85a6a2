import { describe, expect, it } from "vitest";
import { ApiError, errorFromBody } from "./errors";
import { joinToolCalls, readChunk, SseParser } from "./sse";

const chunk = (delta: object, finish: string | null = null): string =>
  JSON.stringify({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] });

describe("SseParser", () => {
  it("joins events split across network chunks and splits chunks holding several", () => {
    const parser = new SseParser();
    const whole = `data: ${chunk({ content: "You " })}\n\ndata: ${chunk({ content: "said" })}\n\ndata: [DONE]\n\n`;
    const out: string[] = [];
    for (const piece of [whole.slice(0, 7), whole.slice(7, 50), whole.slice(50, 130), whole.slice(130)])
      out.push(...parser.push(piece));
    expect(out.length).toBe(3);
    expect(out[2]).toBe("[DONE]");
    expect(JSON.parse(out[0]).choices[0].delta.content).toBe("You ");
  });

  it("reads CRLF line ends, multi-line data and a last event without its blank line", () => {
    const parser = new SseParser();
    expect(parser.push("data: a\r\ndata: b\r\n\r\n: comment\n\ndata: c")).toEqual(["a\nb"]);
    expect(parser.flush()).toEqual(["c"]);
  });
});

describe("readChunk", () => {
  it("reads text, tool call pieces, the finish reason and the end", () => {
    expect(readChunk(chunk({ content: "hi" }))).toEqual([{ kind: "text", text: "hi" }]);
    expect(readChunk(chunk({}, "stop"))).toEqual([{ kind: "finish", reason: "stop" }]);
    expect(readChunk("[DONE]")).toEqual([{ kind: "done" }]);
    expect(readChunk(chunk({ role: "assistant", content: "" }))).toEqual([{ kind: "other" }]);
    const tool = readChunk(
      chunk({ tool_calls: [{ index: 0, id: "c1", type: "function", function: { name: "f", arguments: '{"a"' } }] }),
    );
    expect(tool).toEqual([{ kind: "tool", calls: [{ index: 0, id: "c1", name: "f", arguments: '{"a"' }] }]);
  });

  it("turns a mid-stream error event into an error", () => {
    const event = JSON.stringify({ error: { message: "the model timed out", type: "upstream_error", param: null, code: null } });
    expect(readChunk(event)).toEqual([{ kind: "error", message: "the model timed out", type: "upstream_error" }]);
    expect(readChunk("not json")[0].kind).toBe("error");
  });

  it("joins tool calls streamed in pieces", () => {
    expect(
      joinToolCalls([
        { index: 1, id: "b", name: "g", arguments: "{}" },
        { index: 0, id: "a", name: "f", arguments: '{"x":' },
        { index: 0, arguments: "1}" },
      ]),
    ).toEqual([
      { id: "a", name: "f", arguments: '{"x":1}' },
      { id: "b", name: "g", arguments: "{}" },
    ]);
  });
});

describe("errorFromBody", () => {
  it("reads the v1, OpenAI and flat error shapes", () => {
    const v1 = errorFromBody(
      400,
      {
        error: {
          message: "bad",
          type: "invalid_request_error",
          code: "invalid_pathway",
          details: { errors: [{ code: "x", message: "m", nodeId: "a" }, "junk"] },
        },
      },
      "f",
    );
    expect(v1).toBeInstanceOf(ApiError);
    expect([v1.message, v1.code, v1.issues]).toEqual(["bad", "invalid_pathway", [{ code: "x", message: "m", nodeId: "a" }]]);
    expect(errorFromBody(404, { error: "Session not found" }, "f").message).toBe("Session not found");
    expect(errorFromBody(500, null, "fallback").message).toBe("fallback");
    expect(errorFromBody(401, { error: { message: "Invalid authentication" } }, "f").advice).toMatch(/Sign in again/);
  });
});
