"""Settings: one typed object, read once from ``PATHWEAVER_*`` environment variables.

Nothing else in Pathweaver reads the environment; the settings object is built at the
edge (CLI, ``create_app``) and passed down.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class LLMTarget(BaseModel):
    """A named OpenAI-compatible upstream that agents and nodes may choose by name."""

    base_url: str = Field(min_length=1)
    model: str = Field(min_length=1)
    """The model name sent upstream unless the agent or node names another."""
    api_key: SecretStr | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PATHWEAVER_", extra="ignore")

    data_dir: Path = Path("./pathweaver-data")
    """Where the SQLite database (and the studio's built assets cache) live."""

    database_url: str | None = None
    """SQLAlchemy URL. Default: ``sqlite+aiosqlite:///<data_dir>/pathweaver.db``.
    ``sqlite:///...``, ``postgresql://...`` and ``postgresql+asyncpg://...`` are accepted."""

    database_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """PostgreSQL only: the schema to keep Pathweaver's tables in (created if missing).
    Default: the connection's ``search_path`` (normally ``public``)."""

    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    """WAL+NORMAL survives process crashes; FULL also survives power loss, at a cost."""

    llm_base_url: str | None = None
    """OpenAI-compatible base URL (``https://api.openai.com/v1``, ``http://localhost:11434/v1``).
    Unset: the embedded local model is used."""

    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    """Model name sent upstream; required with ``llm_base_url``."""

    llm_targets: dict[str, LLMTarget] = Field(default_factory=dict)
    """More upstreams, by name, for agents and nodes that choose their model (``model:
    {target: fast}``), as JSON: ``{"fast": {"base_url": "...", "model": "...", "api_key":
    "..."}}``. Keys live here, never in the agent. Timeouts and retries are shared."""

    llm_connect_timeout: float = 5.0
    llm_first_byte_timeout: float = 60.0
    llm_total_timeout: float = 300.0
    llm_max_retries: int = 2
    llm_upstream_streaming: Literal["auto", "always"] = "auto"
    """``auto``: the upstream streams only when the client does; a turn answered as one JSON
    object, and every extraction, asks the upstream for one JSON answer too (no server-sent
    event to parse per token). Such a call is bounded by ``llm_total_timeout`` alone, since
    its first byte comes with its last. ``always``: every call streams, so a silent upstream
    is cut after ``llm_first_byte_timeout`` whatever the client asked."""
    llm_max_connections: int = Field(default=1000, ge=1)
    """Connections a worker opens to one upstream at most, so streams it relays at once (a
    stream holds its connection throughout). A turn that finds them all busy waits up to
    the connect timeout, then gets 503 ``upstream_busy``."""

    local_model: str = "qwen2.5-coder-1.5b"
    """The embedded model: a named choice (``qwen2.5-coder-1.5b``, ``qwen2.5-coder-0.5b``)
    or a path to a GGUF file."""

    local_model_threads: int | None = None
    local_model_context: int = 4096
    local_model_queue: int = 8
    """Requests that may wait for the embedded model before new ones get 503."""

    local_model_seed: int | None = None
    """Seed of the embedded model's sampling (replies). Unset: a new seed at each start.
    Set it for reproducible runs (tests, benchmarks); decisions and extraction are greedy
    and need none."""

    fake_model: bool = False
    """Serve the deterministic scripted model (``pathweaver serve --fake``)."""

    max_body_bytes: int = 1_000_000
    max_pathway_nodes: int = Field(default=2_000, ge=1)
    """What a saved pathway may hold (``agent.validation.SizeLimits``). Raise them together
    with ``max_body_bytes`` (a pathway is sent whole in a save and read whole)."""
    max_pathway_edges: int = Field(default=10_000, ge=1)
    max_pathway_edges_per_node: int = Field(default=200, ge=1)
    max_pathway_bytes: int = Field(default=1_000_000, ge=1)
    body_read_timeout: float = Field(default=15.0, ge=0)
    """Seconds a client may pause while sending a request body before it gets 408 and the
    connection is closed (slow senders cannot hold connections open); 0: no limit."""
    max_messages: int = 500
    max_message_chars: int = 100_000
    max_tools: int = 64
    max_variables: int = 100
    max_variables_bytes: int = 32_000

    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    """A streamed turn whose model is silent this long gets an SSE comment (``: keep-alive``),
    so proxies do not cut it; the stream starts then rather than at the first token."""

    key_cache_seconds: float = Field(default=5.0, ge=0)
    """How long a worker trusts an API key it has checked before reading it again. Revoking a
    key takes effect at once in the worker that revoked it (the API), within this many seconds
    in other workers and after ``pathweaver key revoke``; 0 reads the key on every request."""

    session_lock_timeout: float = 2.0
    """How long a turn waits for the previous turn of its session before answering 409."""

    session_lease_ttl: float = Field(default=10.0, ge=1.0)
    """Seconds a turn holds its session without renewal (renewed every third of it while the
    turn runs). After a worker crash, its sessions accept turns again within this time."""

    session_idle_timeout: float = 86_400.0
    """Seconds without a turn after which a session is ended (and finalized); 0 turns it off."""

    lifecycle_poll_interval: float = 1.0
    """How often each worker looks for end-of-session jobs and due webhook deliveries."""

    webhook_max_attempts: int = 6
    webhook_retry_base: float = 2.0
    """Seconds before the first retry; each next retry waits twice as long (with jitter)."""
    webhook_timeout: float = 10.0
    """Seconds a receiver has to answer one delivery."""

    outbound_allow: str = ""
    """Comma-separated hosts or CIDRs that outbound calls (tools, MCP, webhooks) may reach
    although they are private or loopback, for self-hosters whose services are internal."""

    outbound_ports: str = ""
    """Comma-separated ports outbound calls may use; empty: any port."""
    outbound_connect_timeout: float = 5.0
    outbound_read_timeout: float = 15.0
    outbound_total_timeout: float = 30.0
    outbound_max_response_bytes: int = 1_000_000

    tool_result_max_chars: int = 8000
    """Characters of a tool's output shown to the model (the rest is cut, and says so)."""
    max_dataset_bytes: int = 10_000_000
    """Largest knowledge-base upload (413 above it)."""

    embedding_base_url: str | None = None
    """An OpenAI-compatible embeddings endpoint for knowledge bases that name a remote model;
    unset: the embedded local embedding model only."""
    embedding_api_key: SecretStr | None = None
    embedding_timeout: float = 30.0

    max_steps_per_turn: int = 8
    """Node moves, tool rounds and goto hops one turn may take before it fails."""

    max_model_calls_per_turn: int = Field(default=16, ge=0)
    """Model calls one request may make (reply, decisions, extraction); 0: no cap."""
    max_turns_per_session: int = Field(default=1000, ge=0)
    """Turns after which a session answers 409 and the client starts a new one; 0: no cap."""

    rate_limit_key_per_minute: float = Field(default=60_000, ge=0)
    """Requests a minute per API key, in this worker (429 with Retry-After past it); 0: off.
    High by default: one backend key usually serves every user of a deployment, so this
    guards against a runaway client, not against one user (that is the session limit)."""
    rate_limit_key_burst: int = Field(default=2_000, ge=1)
    rate_limit_project_per_minute: float = Field(default=120_000, ge=0)
    """Requests a minute per project, all its keys together, in this worker; 0: off."""
    rate_limit_project_burst: int = Field(default=4_000, ge=1)
    rate_limit_session_per_minute: float = Field(default=120, ge=0)
    """Turns a minute per conversation (a session named by the client), in this worker; 0:
    off. Whatever shares a key, one conversation cannot flood the server."""
    rate_limit_session_burst: int = Field(default=60, ge=1)
    """Turns of one conversation at once: at least an interactive test's 50, so a script
    replaying a conversation at full speed is not refused."""

    loop_lag_warn_ms: float = Field(default=100.0, ge=0)
    """A step that holds a worker's event loop longer than this many milliseconds is logged
    as a WARNING with its lag (and the code it ran, when caught); ``GET /healthz`` serves
    the lag's figures. 0 turns the monitor off."""

    legacy_sunset: str = "Sat, 11 Jul 2026 00:00:00 GMT"
    """The ``Sunset`` date sent on the legacy (gen 1 and 2) paths."""

    def resolved_database_url(self) -> str:
        """The SQLAlchemy async URL to connect to."""
        url = self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'pathweaver.db').resolve()}"
        if url.startswith("sqlite:///"):
            url = "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
        elif url.startswith("postgresql://"):
            url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
        elif url.startswith("postgres://"):
            url = "postgresql+asyncpg://" + url.removeprefix("postgres://")
        return url


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment, with explicit overrides winning."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]


__all__ = ["Settings", "load_settings"]


def export_to_environment(settings: Settings) -> None:
    """Write ``settings`` to ``PATHWEAVER_*`` variables, for worker processes to read back.

    Used by ``pathweaver serve --workers N``, whose workers build their own settings.
    """
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if name == "llm_targets":
            value = json.dumps(
                {
                    key: {**target.model_dump(mode="json"), "api_key": _reveal(target.api_key)}
                    for key, target in settings.llm_targets.items()
                }
            )
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        os.environ[f"PATHWEAVER_{name.upper()}"] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None
