"""The ``mcp`` tool: an external MCP server over streamable HTTP, with the official SDK.

Every HTTP request the SDK makes goes through an ``httpx2`` client built by
:meth:`OutboundClient.http_client`, so MCP traffic passes the same SSRF guard as every
other outbound call: the URL check, the allow-list, resolution and vetting of every
address, the connection pinned to the vetted IP, no proxies. The SDK follows a redirect
only on the endpoint's own origin, and the guard vets that connection too. The whole
exchange (connect, handshake, call) is bounded by the policy's total timeout; the SDK
bounds each buffered SSE event (1 MB by default) and the text kept is capped like any
tool output.

A session is opened per operation (list or call) and closed after it: simple and
stateless, at the cost of one handshake per call (the runner caches listings).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from pathweaver.errors import OutboundError, ToolError
from pathweaver.tools.config import McpTool
from pathweaver.tools.outbound import OutboundClient, check_url

T = TypeVar("T")
MAX_TOOLS = 64
MAX_PAGES = 10


@dataclass(frozen=True, slots=True)
class RemoteTool:
    """A tool as an MCP server lists it."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RemoteResult:
    text: str
    is_error: bool


class McpConnector:
    """Lists and calls the tools of MCP servers, under the outbound client's policy."""

    def __init__(self, outbound: OutboundClient):
        self.outbound = outbound

    @asynccontextmanager
    async def _client(self, tool: McpTool) -> AsyncIterator[Client]:
        check_url(tool.metadata.server_url, self.outbound.policy)
        http = self.outbound.http_client(headers=tool.metadata.headers)
        async with http:
            transport = streamable_http_client(tool.metadata.server_url, http_client=http)
            async with Client(transport, read_timeout_seconds=self.outbound.policy.read_timeout) as client:
                yield client

    async def list_tools(self, tool: McpTool) -> list[RemoteTool]:
        """The server's tools (at most :data:`MAX_TOOLS`). Raises OutboundError or ToolError."""

        async def go() -> list[RemoteTool]:
            found: list[RemoteTool] = []
            async with self._client(tool) as client:
                cursor: str | None = None
                for _ in range(MAX_PAGES):
                    page = await client.list_tools(cursor=cursor)
                    for remote in page.tools:
                        found.append(
                            RemoteTool(remote.name, remote.description or "", dict(remote.input_schema))
                        )
                    cursor = page.next_cursor
                    if not cursor or len(found) >= MAX_TOOLS:
                        break
            return found[:MAX_TOOLS]

        return await self._bounded(tool, "list the tools of", go)

    async def call(self, tool: McpTool, name: str, arguments: dict[str, Any]) -> RemoteResult:
        """Call ``name`` on the server. A tool-level failure is a result with ``is_error``."""

        async def go() -> RemoteResult:
            async with self._client(tool) as client:
                result = await client.call_tool(name, arguments)
            parts: list[str] = []
            for block in result.content:
                text = getattr(block, "text", None)
                parts.append(
                    text if isinstance(text, str) else f"[{getattr(block, 'type', 'content')} not shown]"
                )
            if not parts and result.structured_content is not None:
                parts.append(json.dumps(result.structured_content, ensure_ascii=False))
            return RemoteResult("\n".join(parts), bool(result.is_error))

        return await self._bounded(tool, f"call {name!r} on", go)

    async def _bounded(self, tool: McpTool, doing: str, operation: Callable[[], Awaitable[T]]) -> T:
        server = tool.metadata.server_url
        try:
            async with asyncio.timeout(self.outbound.policy.total_timeout):
                return await operation()
        except TimeoutError:
            raise ToolError(
                f"could not {doing} the MCP server {server} within {self.outbound.policy.total_timeout:g}s"
            ) from None
        except OutboundError:
            raise
        except Exception as exc:  # the SDK raises many kinds, often grouped; all become one ToolError
            cause = _first_cause(exc)
            if isinstance(cause, OutboundError):
                raise cause from None
            raise ToolError(f"could not {doing} the MCP server {server}: {_describe(cause)}") from None


def _first_cause(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (the SDK runs on anyio task groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
