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

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code is not None:
            self.code = code


class UserError(PathweaverError):
    """The caller sent something invalid; the message says what to fix."""

    status = 400
    type = "invalid_request_error"


class AuthError(PathweaverError):
    status = 401
    type = "authentication_error"


class NotFound(PathweaverError):
    status = 404
    type = "not_found_error"


class Conflict(PathweaverError):
    """The request is valid but clashes with stored state (duplicate id, busy session)."""

    status = 409
    type = "conflict_error"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PayloadTooLarge(UserError):
    status = 413


class RateLimited(PathweaverError):
    status = 429
    type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


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
    """The embedded model's queue is full."""

    status = 503
    type = "overloaded_error"
    code = "model_busy"


class ModelOutputError(LLMError):
    """The model answered, but not in the required format (invalid or truncated JSON)."""

    code = "invalid_model_output"


class Unprocessable(UserError):
    """Valid JSON that cannot be processed as sent (an idempotency key reused for another body)."""

    status = 422
