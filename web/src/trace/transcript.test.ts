import { describe, expect, it } from "vitest";
import { transcript, userMessages } from "./transcript";

describe("transcript", () => {
  it("ties each reply to its turn and leaves the first message without one", () => {
    const lines = transcript([
      { role: "assistant", content: "Welcome" },
      { role: "user", content: "hi" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "c", type: "function", function: { name: "lookup", arguments: "{}" } }],
      },
      { role: "tool", content: "found", tool_call_id: "c" },
      { role: "assistant", content: "Here it is" },
      { role: "system", content: "ignored" },
      { role: "user", content: "thanks" },
      { role: "assistant", content: "Bye" },
    ]);
    expect(lines.map((l) => [l.role, l.turnSeq])).toEqual([
      ["assistant", null],
      ["user", null],
      ["assistant", 1],
      ["tool", null],
      ["assistant", 2],
      ["user", null],
      ["assistant", 3],
    ]);
    expect(lines[2].toolCalls).toEqual(["lookup({})"]);
  });

  it("lists the user's messages for a replay", () => {
    expect(
      userMessages([
        { role: "assistant", content: "a" },
        { role: "user", content: "one" },
        { role: "user", content: "two" },
      ]),
    ).toEqual(["one", "two"]);
  });
});
