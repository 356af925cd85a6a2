"""The agent config (pathors-api.md section 2.6), as typed data.

One agent per project. Field names on the wire are camelCase. ``firstMessage`` and
``language`` are Pathweaver extensions; ``model`` (which model serves the agent, see
:class:`ModelChoice`) is another.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

ExecutionMode = Literal["smart", "balance", "turbo"]
VariableType = Literal["string", "number", "email"]


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class VariableConfig(_Wire):
    key: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: VariableType = "string"
    description: str = Field(default="", max_length=2000)


class ModelChoice(_Wire):
    """Which model serves an agent or a node, instead of the server's default.

    ``target`` names an upstream configured by the operator in ``PATHWEAVER_LLM_TARGETS``
    (its base URL and key stay in the server's settings, never in the agent); ``name``
    overrides the model name sent to that upstream (or to the default upstream when no
    target is named). A node's choice wins over the agent's. Checked against the server's
    configuration when saved (a warning) and when used (an error naming the setting).
    """

    target: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str | None = Field(default=None, min_length=1, max_length=200)

    def describe(self) -> str:
        return "/".join(part for part in (self.target, self.name) if part) or "default"


class PromptModule(_Wire):
    name: str = Field(min_length=1, max_length=128)
    description: str = ""
    content: str = ""
    enabled: bool = True


class AgentConfig(_Wire):
    name: str = Field(default="Agent", min_length=1, max_length=128)
    type: Literal["monolithic", "skill"] = "monolithic"
    status: Literal["draft", "published"] = "draft"
    global_prompt: str | None = None
    execution_mode: ExecutionMode | None = "smart"
    timezone: str | None = "UTC"
    memory_enabled: bool = False
    search_knowledge_base_enabled: bool = False
    prompt_modules: list[PromptModule] | None = None
    before_start_config: dict[str, Any] | None = None
    post_session_webhook: dict[str, Any] | None = None
    post_session_variable_keys: list[str] | None = None
    post_evaluation_config: dict[str, Any] | None = None
    placeholder_messages: dict[str, Any] | None = None
    variable_configs: list[VariableConfig] | None = None
    voice_intelligence: dict[str, Any] | None = None
    first_message: str | None = None
    language: str | None = None
    session_variables: list[str] | None = None
    """Names of the session variables callers pass at session creation (for the lint)."""
    model: ModelChoice | None = None
    """The model serving this agent (nodes may choose their own); unset: the server's default."""
    required_suite_id: str | None = None
    """A test suite that must have passed before ``status`` can become ``published``."""

    @property
    def mode(self) -> ExecutionMode:
        return self.execution_mode or "smart"

    def variable(self, key: str) -> VariableConfig | None:
        return next((v for v in self.variable_configs or () if v.key == key), None)
