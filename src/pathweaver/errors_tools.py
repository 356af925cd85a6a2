"""Errors of server-side tools, outbound HTTP and knowledge bases.

Subclasses of the hierarchy in :mod:`pathweaver.errors`, kept apart only until they are
moved there (nothing else lives here). The tool runner never lets these escape a turn: a
failing tool becomes an error result for the model. They reach HTTP only from the
management API (a tool URL refused at save time, an upload that cannot be read).
"""

from __future__ import annotations

from pathweaver.errors import PathweaverError, UserError


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
