"""One error hierarchy that says who is at fault.

Library code raises these; ``pathweaver.api.errors`` maps them to HTTP in one place, the
CLI prints their message. ``message`` is always safe to show to the caller: it never holds
keys, stack traces or another project's data.
"""

from __future__ import annotations

from typing import Any


class PathweaverError(Exception):
    """Base of every error Pathweaver raises on purpose."""

    status = 500
    #: OpenAI-style error type (``error.type`` on the OpenAI-compatible routes).
    type = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code is not None:
            self.code = code
        #: Seconds a client should wait before trying again (the ``Retry-After`` header).
        self.retry_after = retry_after


class UserError(PathweaverError):
    """The caller sent something invalid; the message says what to fix."""

    status = 400
    type = "invalid_request_error"


class AuthError(PathweaverError):
    status = 401
    type = "authentication_error"


class Forbidden(PathweaverError):
    """A valid key that may not do this (reach the project in the path)."""

    status = 403
    type = "permission_error"


class NotFound(PathweaverError):
    status = 404
    type = "not_found_error"


class Conflict(PathweaverError):
    """The request is valid but clashes with stored state (duplicate id, busy session)."""

    status = 409
    type = "conflict_error"


class StorageBusy(PathweaverError):
    """The database stayed locked by other writers for longer than its busy timeout."""

    status = 503
    type = "overloaded_error"
    code = "storage_busy"


class PayloadTooLarge(UserError):
    status = 413


class RateLimited(PathweaverError):
    status = 429
    type = "rate_limit_error"

    def __init__(self, message: str, **kwargs: Any):
        super().__init__(message, **kwargs)
        #: The bucket that refused, for the ``x-ratelimit-*`` headers (``api/ratelimit.py``).
        self.quota: Any = None


class PathwayError(UserError):
    """A pathway (or agent config) that cannot be saved or run; ``details`` names where."""


class TurnError(PathweaverError):
    """A turn could not complete for a reason of the pathway at run time (step cap ...)."""

    status = 500
    type = "server_error"


class SessionTurnLimit(Conflict):
    code = "session_turn_limit"


class StepLimitExceeded(TurnError):
    code = "step_limit_exceeded"


class LLMError(PathweaverError):
    """The model upstream failed (connection, timeout, HTTP error, bad stream)."""

    status = 502
    type = "upstream_error"


class LLMConfigError(LLMError):
    """The model is misconfigured (URL, key, model name); the message names the setting."""


class LLMTimeout(LLMError):
    status = 504
    code = "upstream_timeout"


class ModelBusy(LLMError):
    """The model cannot take another call now: the embedded model's queue is full, or every
    connection to the upstream is in use."""

    status = 503
    type = "overloaded_error"
    code = "model_busy"


class ModelOutputError(LLMError):
    """The model answered, but not in the required format (invalid or truncated JSON)."""

    code = "invalid_model_output"


class Unprocessable(UserError):
    """Valid JSON that cannot be processed as sent (an idempotency key reused for another body)."""

    status = 422


# Server-side tools, outbound HTTP and knowledge bases ------------------------------------
# The tool runner never lets these escape a turn: a failing tool becomes an error result for
# the model. They reach HTTP only from the management API (a tool URL refused at save time,
# an upload that cannot be read).


class OutboundError(PathweaverError):
    """A call to a user-configured URL failed (connection, protocol, HTTP framing)."""

    status = 502
    type = "upstream_error"
    code = "outbound_failed"


class OutboundRefused(OutboundError):
    """The destination is not allowed: scheme, port, or an address that is private,
    loopback, link-local, metadata, reserved... (after resolution). Nothing was sent."""

    status = 400
    type = "invalid_request_error"
    code = "destination_refused"


class OutboundTimeout(OutboundError):
    status = 504
    code = "outbound_timeout"


class OutboundNotSent(OutboundError):
    """The request certainly never left: the host did not resolve, or no connection was
    made. Sending it again cannot deliver it twice."""


class OutboundConnectTimeout(OutboundTimeout, OutboundNotSent):
    """Resolving the host or connecting to it took too long: nothing was sent."""


class ToolError(PathweaverError):
    """A server-side tool failed in a way that is not the model's fault (MCP protocol error)."""

    status = 502
    type = "upstream_error"
    code = "tool_failed"


class EmbeddingError(PathweaverError):
    """The embedding model failed or is missing (endpoint error, weights not installed)."""

    status = 502
    type = "upstream_error"
    code = "embedding_failed"


class DocumentUnreadable(UserError):
    """A dataset file could not be turned into text; the message says why."""

    code = "document_unreadable"
