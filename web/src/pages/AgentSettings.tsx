/** The agent's settings: what every node shares (global prompt, variables...), saved with PATCH. */
import { useCallback, useMemo, useState } from "react";
import { ApiError } from "../api/errors";
import type { Agent, ExecutionMode, VariableConfig, VariableType } from "../api/types";
import { changedFields, formOf, KEY_PATTERN, type Form } from "../agent/form";
import { ErrorNotice, Notice } from "../components/Notice";
import { useClient } from "../state/auth";
import { useLeaveGuard, type Guard } from "../state/router";

const MODES: { value: ExecutionMode; label: string }[] = [
  { value: "smart", label: "Smart: the current node's tools; variables of the nodes visited" },
  { value: "balance", label: "Balance: like smart" },
  { value: "turbo", label: "Turbo: every tool and every variable at each step" },
];
const TYPES: VariableType[] = ["string", "number", "email"];

export default function AgentSettings({ agent, onSaved }: { agent: Agent; onSaved: (agent: Agent) => void }) {
  const client = useClient();
  const saved = useMemo(() => formOf(agent), [agent]);
  const [form, setForm] = useState<Form>(saved);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const patch = changedFields(saved, form);
  const dirty = Object.keys(patch).length > 0;
  const zones = useMemo(() => (typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : []), []);

  const guard = useCallback<Guard>(
    (to) => (dirty && to?.name !== "agent" ? "The agent settings have unsaved changes. Leave without saving them?" : null),
    [dirty],
  );
  useLeaveGuard(guard);

  const set = <K extends keyof Form>(key: K, value: Form[K]): void => {
    setDone(false);
    setForm((f) => ({ ...f, [key]: value }));
  };
  const setVariable = (index: number, change: Partial<VariableConfig>): void =>
    set(
      "variableConfigs",
      form.variableConfigs.map((v, i) => (i === index ? { ...v, ...change } : v)),
    );

  const badKeys = form.variableConfigs.filter((v) => !KEY_PATTERN.test(v.key.trim())).length;
  const fieldErrors = error instanceof ApiError ? error.issues.filter((i) => i.field) : [];
  const errorAt = (field: string): string | undefined =>
    fieldErrors.find((i) => i.field === field || i.field?.startsWith(`${field}.`))?.message;

  const save = async (): Promise<void> => {
    setSaving(true);
    setError(null);
    try {
      const updated = await client.patchAgent(agent.projectId, patch);
      onSaved(updated);
      setForm(formOf(updated));
      setDone(true);
    } catch (caught) {
      setError(caught);
    } finally {
      setSaving(false);
    }
  };

  return (
    <main className="pw-page pw-agent">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <div className="pw-page-head">
          <h1>Agent settings</h1>
          <span className="pw-spacer" />
          {dirty && <span className="pw-save-state dirty">Unsaved changes</span>}
          <button
            type="button"
            disabled={!dirty || saving}
            onClick={() => {
              setForm(saved);
              setError(null);
            }}
          >
            Reset
          </button>
          <button type="submit" className="primary" disabled={!dirty || saving || badKeys > 0}>
            {saving ? "Saving…" : "Save settings"}
          </button>
        </div>
        {done && <Notice kind="success">Agent settings saved.</Notice>}
        {error ? <ErrorNotice error={error} title="The settings were not saved" /> : null}
        <div className="pw-grid">
          <label>
            Name
            <input value={form.name} maxLength={128} onChange={(e) => set("name", e.target.value)} required />
          </label>
          <label>
            Status
            <select aria-label="Status" value={form.status} onChange={(e) => set("status", e.target.value as Form["status"])}>
              <option value="draft">Draft</option>
              <option value="published">Published</option>
            </select>
          </label>
          <label>
            Execution mode
            <select
              aria-label="Execution mode"
              value={form.executionMode ?? "smart"}
              onChange={(e) => set("executionMode", e.target.value as ExecutionMode)}
            >
              {MODES.map((m) => (
                <option key={m.value} value={m.value}>
                  {m.label}
                </option>
              ))}
            </select>
          </label>
          <label>
            Timezone
            <input
              list="pw-zones"
              value={form.timezone ?? ""}
              onChange={(e) => set("timezone", e.target.value)}
              placeholder="UTC, Europe/London…"
            />
            <datalist id="pw-zones">
              {zones.map((z) => (
                <option key={z} value={z} />
              ))}
            </datalist>
            {errorAt("timezone") && <span className="pw-field-error">{errorAt("timezone")}</span>}
          </label>
        </div>
        <label>
          First message <span className="pw-muted">(what the agent says before the user speaks; empty for none)</span>
          <input value={form.firstMessage ?? ""} onChange={(e) => set("firstMessage", e.target.value)} />
        </label>
        <label>
          Global prompt <span className="pw-muted">(every node sees it: who the agent is, how it talks, what it knows)</span>
          <textarea rows={12} value={form.globalPrompt ?? ""} onChange={(e) => set("globalPrompt", e.target.value)} />
        </label>
        <fieldset>
          <legend>Variables to extract</legend>
          <p className="pw-hint">Nodes list the keys they collect; the model fills them from the conversation.</p>
          {form.variableConfigs.length === 0 && <p className="pw-muted">No variables yet.</p>}
          {form.variableConfigs.map((v, index) => {
            const bad = !KEY_PATTERN.test(v.key.trim());
            const serverError = errorAt(`variableConfigs.${index}`);
            return (
              <div key={index} className="pw-var-row">
                <input
                  aria-label="Key"
                  placeholder="key, e.g. customer_name"
                  value={v.key}
                  onChange={(e) => setVariable(index, { key: e.target.value })}
                  className={bad ? "invalid" : ""}
                />
                <select
                  aria-label="Type"
                  value={v.type}
                  onChange={(e) => setVariable(index, { type: e.target.value as VariableType })}
                >
                  {TYPES.map((t) => (
                    <option key={t} value={t}>
                      {t}
                    </option>
                  ))}
                </select>
                <input
                  aria-label="Description"
                  placeholder="What it is, for the model"
                  value={v.description}
                  onChange={(e) => setVariable(index, { description: e.target.value })}
                />
                <button
                  type="button"
                  aria-label={`Remove variable ${v.key}`}
                  onClick={() =>
                    set(
                      "variableConfigs",
                      form.variableConfigs.filter((_, i) => i !== index),
                    )
                  }
                >
                  ×
                </button>
                {bad && (
                  <span className="pw-field-error">A key starts with a letter or _ and has only letters, digits and _.</span>
                )}
                {serverError && <span className="pw-field-error">{serverError}</span>}
              </div>
            );
          })}
          <button
            type="button"
            onClick={() => set("variableConfigs", [...form.variableConfigs, { key: "", type: "string", description: "" }])}
          >
            + Variable
          </button>
        </fieldset>
      </form>
    </main>
  );
}
