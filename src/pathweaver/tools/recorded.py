"""Server-side tool calls recorded into a cassette, and replayed with no outbound request.

The tool half of hermetic conversation tests (the model half is ``llm/cassette.py``, and
both share one :class:`~pathweaver.llm.cassette.Cassette`). ``RecordingTools(inner,
cassette)`` wraps any :class:`~pathweaver.tools.runner.ToolPort` and files two kinds of
call as ``kind: "tool"`` entries, under the current cassette scope:

* ``offer`` (purpose ``tool-offer``): what a step offers, when it offers tool configs. An
  MCP server's tool list comes from the network, so it is recorded too; and the offer is
  where an edited tool is caught. The request holds each config's id, type and name, and
  fingerprints (SHA-256, cut to 16 hex digits) of the whole config and of each of its
  parts (``description``, ``inputSchema``, ``metadata.url``, ``metadata.body``, each
  header by name ...): never a value of its metadata, whose URL, headers and body may
  carry secrets. So a replay whose tool's URL or body template changed stops at the first
  offer of that tool, and the diff names the part that changed. A step that offers no
  config (only built-ins, or nothing) is not recorded: that offer is computed locally, the
  same way, on both sides (so a pathway without tools records no tool entry at all);
* ``run`` (purpose ``tool-run``): one call (tool name, arguments, the session variables
  the call may fill its templates from) and its :class:`~pathweaver.tools.result.ToolResult`.
  Every call is recorded, built-ins too.

``ReplayTools(cassette)`` answers both from the cassette alone; a request that differs from
the recorded one raises :class:`~pathweaver.llm.cassette.CassetteMismatch`, with the diff.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pathweaver.llm.base import ToolCall, ToolSpec
from pathweaver.llm.cassette import Cassette, CassetteMismatch, Player
from pathweaver.tools.builtins import builtin_spec, is_builtin
from pathweaver.tools.config import McpTool, RestfulTool
from pathweaver.tools.result import SessionAction, ToolResult
from pathweaver.tools.runner import Offer, OfferedTool, ToolPort

KIND = "tool"
OFFER = "tool-offer"
RUN = "tool-run"


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _config_json(config: RestfulTool | McpTool) -> dict[str, Any]:
    """A config as the cassette keeps it: names, and fingerprints of every part."""
    whole = config.to_json()
    parts: dict[str, str] = {}
    for key, value in sorted(whole.items()):
        if key in ("id", "type", "name"):
            continue
        if key == "metadata" and isinstance(value, dict):
            for field, inner in sorted(value.items()):
                if field == "headers" and isinstance(inner, dict):
                    for header, text in sorted(inner.items()):
                        parts[f"metadata.headers.{header}"] = _digest(text)
                else:
                    parts[f"metadata.{field}"] = _digest(inner)
        else:
            parts[key] = _digest(value)
    return {
        "id": config.id,
        "type": config.type,
        "name": config.name,
        "sha256": hashlib.sha256(json.dumps(whole, sort_keys=True, ensure_ascii=False).encode()).hexdigest(),
        "parts": parts,
    }


def local_offer(builtins: Sequence[str], descriptions: Mapping[str, str] | None) -> Offer:
    """What a step offers when it offers no tool config: the built-ins (as ``ToolRunner``)."""
    tools: list[OfferedTool] = []
    for name in dict.fromkeys(builtins):
        if is_builtin(name):
            tools.append(OfferedTool(builtin_spec(name, (descriptions or {}).get(name)), "builtin"))
    return Offer(tuple(tools))


def offer_request(
    configs: Sequence[RestfulTool | McpTool], builtins: Sequence[str], descriptions: Mapping[str, str] | None
) -> dict[str, Any]:
    return {
        "call": "offer",
        "configs": [_config_json(config) for config in configs],
        "builtins": list(builtins),
        "descriptions": dict(descriptions or {}),
    }


def run_request(call: ToolCall, variables: Mapping[str, Any]) -> dict[str, Any]:
    return {"call": "run", "name": call.name, "arguments": call.arguments, "variables": dict(variables)}


def _offer_json(offer: Offer) -> dict[str, Any]:
    return {
        "tools": [
            {
                "spec": {
                    "name": t.spec.name,
                    "description": t.spec.description,
                    "parameters": t.spec.parameters,
                },
                "kind": t.kind,
                "configId": t.config.id if t.config is not None else None,
                "remoteName": t.remote_name,
            }
            for t in offer.tools
        ],
        "problems": [dict(problem) for problem in offer.problems],
    }


def _result_json(result: ToolResult) -> dict[str, Any]:
    action = result.action
    return {
        "name": result.name,
        "content": result.content,
        "isError": result.is_error,
        "record": result.record,
        "action": None
        if action is None
        else {"kind": action.kind, "tool": action.tool, "reason": action.reason},
    }


class RecordingTools:
    """Forwards to ``inner`` and records every offer and run in ``cassette``."""

    def __init__(self, inner: ToolPort, cassette: Cassette) -> None:
        self.inner = inner
        self.cassette = cassette

    async def offer(
        self,
        configs: Sequence[RestfulTool | McpTool],
        *,
        builtins: Sequence[str] = (),
        descriptions: Mapping[str, str] | None = None,
    ) -> Offer:
        if not configs:  # nothing from outside: not recorded (replayed by local_offer)
            return await self.inner.offer(configs, builtins=builtins, descriptions=descriptions)
        entry = self.cassette.begin(KIND, "offer", OFFER, offer_request(configs, builtins, descriptions))
        offer = await self.inner.offer(configs, builtins=builtins, descriptions=descriptions)
        entry.response = _offer_json(offer)
        return offer

    async def run(self, offer: Offer, call: ToolCall, variables: Mapping[str, Any]) -> ToolResult:
        entry = self.cassette.begin(KIND, call.name, RUN, run_request(call, variables))
        result = await self.inner.run(offer, call, variables)
        entry.response = _result_json(result)
        return result


class ReplayTools:
    """Answers offers and runs from a cassette: no tool is called, nothing goes out.

    ``runs`` counts the tool calls answered. Pass the same ``player`` as the
    :class:`~pathweaver.llm.cassette.ReplayModel` of the run (``replay.player``) so that
    left-over entries of both kinds are reported together.
    """

    def __init__(self, cassette: Cassette, player: Player | None = None) -> None:
        self.player = player or cassette.player()
        self.runs = 0

    async def offer(
        self,
        configs: Sequence[RestfulTool | McpTool],
        *,
        builtins: Sequence[str] = (),
        descriptions: Mapping[str, str] | None = None,
    ) -> Offer:
        if not configs:
            return local_offer(builtins, descriptions)
        entry = self.player.take(KIND, OFFER, offer_request(configs, builtins, descriptions))
        response = entry.response or {}
        by_id = {config.id: config for config in configs}
        tools = []
        for item in response.get("tools", []):
            spec = item["spec"]
            config = by_id.get(item["configId"]) if item["configId"] is not None else None
            if item["configId"] is not None and config is None:
                raise CassetteMismatch(
                    f"cassette mismatch: the recorded offer names tool config {item['configId']!r}, which this "
                    "run does not offer; record again",
                    scope=entry.scope,
                    purpose=OFFER,
                    number=0,
                )
            kind: Literal["builtin", "restful", "mcp"] = item["kind"]
            tools.append(
                OfferedTool(
                    ToolSpec(spec["name"], spec["description"], spec["parameters"]),
                    kind,
                    config,
                    item["remoteName"],
                )
            )
        return Offer(tuple(tools), tuple(response.get("problems", [])))

    async def run(self, offer: Offer, call: ToolCall, variables: Mapping[str, Any]) -> ToolResult:
        entry = self.player.take(KIND, RUN, run_request(call, variables))
        response = entry.response or {}
        action = response.get("action")
        self.runs += 1
        return ToolResult(
            call_id=call.id,
            name=response.get("name", call.name),
            content=response.get("content", ""),
            is_error=bool(response.get("isError")),
            record=dict(response.get("record") or {}),
            action=SessionAction(action["kind"], action["tool"], action["reason"]) if action else None,
        )
