import { describe, expect, it } from "vitest";
import type { Agent } from "../api/types";
import { changedFields, formOf, KEY_PATTERN } from "./form";

const agent: Agent = {
  id: "agent_1",
  projectId: "proj_1",
  name: "Luna",
  type: "monolithic",
  status: "draft",
  globalPrompt: null,
  executionMode: "smart",
  timezone: "UTC",
  variableConfigs: [{ key: "name", type: "string", description: "" }],
  firstMessage: null,
  updatedAt: null,
  memoryEnabled: true,
};

describe("agent form", () => {
  it("sends nothing when nothing changed", () => {
    expect(changedFields(formOf(agent), formOf(agent))).toEqual({});
  });

  it("sends only the changed fields, blank text as null", () => {
    const saved = formOf({ ...agent, globalPrompt: "Be brief", firstMessage: "Hi" });
    const form = {
      ...saved,
      status: "published" as const,
      globalPrompt: "   ",
      firstMessage: "Hello",
      timezone: " Europe/Paris ",
    };
    expect(changedFields(saved, form)).toEqual({
      status: "published",
      globalPrompt: null,
      firstMessage: "Hello",
      timezone: "Europe/Paris",
    });
  });

  it("sends the whole variable list when one variable changed, keys trimmed", () => {
    const saved = formOf(agent);
    const form = {
      ...saved,
      variableConfigs: [...saved.variableConfigs, { key: " party_size ", type: "number" as const, description: "How many" }],
    };
    expect(changedFields(saved, form)).toEqual({
      variableConfigs: [
        { key: "name", type: "string", description: "" },
        { key: "party_size", type: "number", description: "How many" },
      ],
    });
  });

  it("checks keys as the server does", () => {
    expect(["customer_name", "_x", "A1"].every((k) => KEY_PATTERN.test(k))).toBe(true);
    expect(["1a", "a-b", "", "a b"].some((k) => KEY_PATTERN.test(k))).toBe(false);
  });
});
