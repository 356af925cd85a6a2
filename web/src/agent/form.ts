/**
 * The agent settings form: what it edits, and the PATCH that saves only what changed.
 *
 * Sending only changed fields keeps a save from overwriting fields someone else changed
 * meanwhile, and from touching fields the studio does not edit (webhooks, prompt modules...).
 */
import type { Agent, AgentPatch, VariableConfig } from "../api/types";

export type Form = Required<
  Pick<AgentPatch, "name" | "status" | "globalPrompt" | "executionMode" | "timezone" | "firstMessage">
> & {
  variableConfigs: VariableConfig[];
};

/** What a variable key may look like (the server's rule). */
export const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function formOf(agent: Agent): Form {
  return {
    name: agent.name,
    status: agent.status,
    globalPrompt: agent.globalPrompt ?? "",
    executionMode: agent.executionMode ?? "smart",
    timezone: agent.timezone ?? "",
    firstMessage: agent.firstMessage ?? "",
    variableConfigs: (agent.variableConfigs ?? []).map((v) => ({ ...v })),
  };
}

/** The fields that differ from the saved agent, as PATCH takes them (blank text -> null). */
export function changedFields(saved: Form, form: Form): AgentPatch {
  const patch: AgentPatch = {};
  const text = (value: string | null): string | null => (value && value.trim() ? value : null);
  if (form.name !== saved.name) patch.name = form.name.trim();
  if (form.status !== saved.status) patch.status = form.status;
  if (form.executionMode !== saved.executionMode) patch.executionMode = form.executionMode;
  if (form.globalPrompt !== saved.globalPrompt) patch.globalPrompt = text(form.globalPrompt);
  if (form.timezone !== saved.timezone) patch.timezone = text(form.timezone?.trim() ?? null);
  if (form.firstMessage !== saved.firstMessage) patch.firstMessage = text(form.firstMessage);
  if (JSON.stringify(form.variableConfigs) !== JSON.stringify(saved.variableConfigs)) {
    patch.variableConfigs = form.variableConfigs.map((v) => ({ ...v, key: v.key.trim() }));
  }
  return patch;
}
