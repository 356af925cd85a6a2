"""Record every model call of a run into a cassette, and replay it with zero model calls.

``RecordingModel(inner, cassette)`` wraps any :class:`Model` and writes down each call: the
request (in a canonical form), its fingerprint (SHA-256 of that form) and the response (the
streamed events, or the structured value, or the error raised). ``ReplayModel(cassette)``
answers from the cassette alone, so a replayed run is exactly the recorded one, and it
makes no upstream call at all.

Matching. Each call is filed under its *scope* (a label the caller sets with
:func:`scope`, e.g. ``"books a table/turn 2"``; ``"-"`` when none is set) and its
``purpose`` (``route+reply``, ``extract`` ...). Within one (kind, scope, purpose) the calls
are matched in order, so the extraction that runs beside a reply is matched without
depending on which of the two starts first. A call whose fingerprint differs from the
recorded one raises :class:`CassetteMismatch`, which names the call, the scope and shows a
unified diff between the recorded request and the new one; so does a call the cassette
does not have. The scope is a context variable, so tasks started inside it (the engine's
extraction task) inherit it.

Canonical form: messages, tools, schema, name, token limit, temperature and purpose, with
one volatile part masked: the ``Current time: ...`` line the engine puts in every system
prompt (a replay runs at another time; the recorded answer is replayed all the same).

The file (JSON, written atomically: beside the target, then renamed)::

    {"version": 1, "model": "<name>", "entries": [
        {"kind": "model", "call": "stream" | "structured", "scope": ..., "purpose": ...,
         "fingerprint": ..., "request": {...},
         "response": {"events": [...], "error"?: {...}} | {"value": {...}, "usage"?: [p, c]}},
        {"kind": "tool", "call": "<tool name>", ...}       (the same shape, for a tool port)
     ],
     "conversations": [...]}                                (what the test runner adds)

``Cassette.begin`` and ``Player.take`` are kind-agnostic, so a tool port can record and
replay its calls (``kind: "tool"``) through the same matching.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import re
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pathweaver import errors
from pathweaver.errors import LLMError, PathweaverError
from pathweaver.llm.base import (
    ChatEvent,
    ChatRequest,
    Finish,
    Message,
    Model,
    StructuredRequest,
    StructuredResult,
    TextDelta,
    ToolCallDelta,
    Usage,
    step_last,
)

CASSETTE_VERSION = 1
NO_SCOPE = "-"
#: Lines of a mismatch's diff shown before it is cut.
DIFF_LINES = 80

_scope: ContextVar[str] = ContextVar("pathweaver_cassette_scope", default=NO_SCOPE)
_VOLATILE = re.compile(r"^Current time: .*$", re.MULTILINE)
_CUT_OFF = (
    "the recorded call at {scope!r} did not finish while it was recorded (it was cancelled); record again"
)


@contextlib.contextmanager
def scope(label: str) -> Iterator[None]:
    """File the model calls made inside this block (and its tasks) under ``label``."""
    token = _scope.set(label)
    try:
        yield
    finally:
        _scope.reset(token)


def current_scope() -> str:
    return _scope.get()


class CassetteMismatch(PathweaverError):
    """A replayed run asked for a call the cassette does not hold (or holds differently)."""

    type = "cassette_mismatch"
    code = "cassette_mismatch"

    def __init__(self, message: str, *, scope: str, purpose: str, number: int, diff: str = ""):
        super().__init__(message, details={"scope": scope, "purpose": purpose, "call": number, "diff": diff})
        self.scope = scope
        self.purpose = purpose
        self.number = number
        self.diff = diff


# Canonical requests ---------------------------------------------------------------------


def _message_json(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": _mask(message.content)}
    if message.tool_calls:
        out["toolCalls"] = [
            {"id": call.id, "name": call.name, "arguments": call.arguments} for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["toolCallId"] = message.tool_call_id
    return out


def _mask(text: str | None) -> str | None:
    return None if text is None else _VOLATILE.sub("Current time: <masked>", text)


def request_json(request: ChatRequest | StructuredRequest) -> dict[str, Any]:
    """The canonical form of a model request (what is fingerprinted and stored)."""
    messages = [_message_json(message) for message in request.messages]
    if isinstance(request, ChatRequest):
        return {
            "call": "stream",
            "purpose": request.purpose,
            "messages": messages,
            "tools": [
                {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
                for tool in request.tools
            ],
            "maxTokens": request.max_tokens,
            "temperature": request.temperature,
        }
    return {
        "call": "structured",
        "purpose": request.purpose,
        "messages": messages,
        "schema": request.schema,
        "name": request.name,
        "maxTokens": request.max_tokens,
    }


def fingerprint(canonical: Mapping[str, Any]) -> str:
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def readable(canonical: Mapping[str, Any]) -> list[str]:
    """A request as lines a person can diff: one line per line of each message."""
    lines: list[str] = []
    for key, value in canonical.items():
        if key == "messages":
            for number, message in enumerate(value, 1):
                lines.append(f"message {number} ({message['role']}):")
                lines.extend(f"  {line}" for line in str(message.get("content") or "").splitlines())
                for extra in ("toolCalls", "toolCallId"):
                    if extra in message:
                        lines.append(f"  {extra}: {json.dumps(message[extra], sort_keys=True)}")
        elif isinstance(value, list | dict):
            lines.append(f"{key}:")
            pretty = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
            lines.extend(f"  {line}" for line in pretty.splitlines())
        else:
            lines.append(f"{key}: {json.dumps(value, ensure_ascii=False)}")
    return lines


def request_diff(recorded: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    diff = list(
        difflib.unified_diff(readable(recorded), readable(new), "recorded", "this run", n=2, lineterm="")
    )
    if len(diff) > DIFF_LINES:
        diff = [*diff[:DIFF_LINES], f"... ({len(diff) - DIFF_LINES} more lines of diff)"]
    return "\n".join(diff)


# The cassette ---------------------------------------------------------------------------


@dataclass
class Entry:
    """One recorded call. ``response`` is None while the call is still running."""

    kind: str
    call: str
    scope: str
    purpose: str
    request: dict[str, Any]
    fingerprint: str
    response: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "call": self.call,
            "scope": self.scope,
            "purpose": self.purpose,
            "fingerprint": self.fingerprint,
            "request": self.request,
            "response": self.response,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Entry:
        return cls(
            kind=str(raw["kind"]),
            call=str(raw["call"]),
            scope=str(raw["scope"]),
            purpose=str(raw["purpose"]),
            request=dict(raw["request"]),
            fingerprint=str(raw["fingerprint"]),
            response=raw.get("response"),
        )


@dataclass
class Cassette:
    model: str = ""
    entries: list[Entry] = field(default_factory=list)
    #: Free-form records a caller keeps beside the calls (the test runner: user turns).
    conversations: list[dict[str, Any]] = field(default_factory=list)
    #: Whether the recorded model took the step after the history (the embedded model's
    #: prompt layout, :func:`pathweaver.llm.base.step_last`): a replay lays prompts out the same.
    step_last: bool = False

    def begin(self, kind: str, call: str, purpose: str, request: dict[str, Any]) -> Entry:
        """File a call that is starting, under the current scope; fill ``response`` when done."""
        entry = Entry(kind, call, current_scope(), purpose, request, fingerprint(request))
        self.entries.append(entry)
        return entry

    def player(self) -> Player:
        return Player(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CASSETTE_VERSION,
            "model": self.model,
            "stepLast": self.step_last,
            "entries": [entry.to_json() for entry in self.entries],
            "conversations": self.conversations,
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the cassette as JSON in one step (a reader never sees half of it)."""
        target = Path(path)
        text = json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n"
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            with temporary.open("x", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cassette:
        """Read a cassette; a file that is not one raises :class:`UserError` naming it."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise errors.UserError(f"cannot read the cassette {path}: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise errors.UserError(
                f"{path}:{exc.lineno}: the cassette is not valid JSON: {exc.msg}"
            ) from None
        if not isinstance(raw, dict) or raw.get("version") != CASSETTE_VERSION:
            version = raw.get("version") if isinstance(raw, dict) else None
            raise errors.UserError(
                f"{path} is not a version {CASSETTE_VERSION} cassette (version: {version!r}); record it again"
            )
        try:
            entries = [Entry.from_json(item) for item in raw.get("entries", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise errors.UserError(
                f"{path}: a cassette entry is malformed ({exc}); record it again"
            ) from None
        return cls(
            str(raw.get("model", "")),
            entries,
            list(raw.get("conversations", [])),
            bool(raw.get("stepLast", False)),
        )


class Player:
    """Hands out a cassette's entries in recorded order, per (kind, scope, purpose)."""

    def __init__(self, cassette: Cassette) -> None:
        self._queues: dict[tuple[str, str, str], deque[Entry]] = {}
        self._recorded: dict[tuple[str, str, str], int] = {}
        self._taken: dict[tuple[str, str, str], int] = {}
        for entry in cassette.entries:
            key = (entry.kind, entry.scope, entry.purpose)
            self._queues.setdefault(key, deque()).append(entry)
            self._recorded[key] = self._recorded.get(key, 0) + 1

    def take(self, kind: str, purpose: str, request: dict[str, Any]) -> Entry:
        """The next recorded entry for this call, or :class:`CassetteMismatch`."""
        where = current_scope()
        key = (kind, where, purpose)
        number = self._taken.get(key, 0) + 1
        self._taken[key] = number
        queue = self._queues.get(key)
        what = f"{kind} call {number} for {purpose!r} at {where!r}"
        if not queue:
            recorded = self._recorded.get(key, 0)
            diff = request_diff({}, request)
            message = f"cassette mismatch: {what} is not in the cassette (it recorded {recorded} such call"
            message += (
                f"{'' if recorded == 1 else 's'} there); the pathway or prompts changed, so record again"
            )
            raise CassetteMismatch(
                f"{message}\n{diff}", scope=where, purpose=purpose, number=number, diff=diff
            )
        entry = queue.popleft()
        new = fingerprint(request)
        if new != entry.fingerprint:
            diff = request_diff(entry.request, request)
            message = f"cassette mismatch: {what} differs from the recorded request:\n{diff}"
            raise CassetteMismatch(message, scope=where, purpose=purpose, number=number, diff=diff)
        return entry

    def left_over(self, scopes: Callable[[str], bool] | None = None) -> list[Entry]:
        """Recorded entries not asked for (only those whose scope ``scopes`` accepts)."""
        return [
            entry
            for (_, where, _), queue in self._queues.items()
            if scopes is None or scopes(where)
            for entry in queue
        ]


# Encoding responses ---------------------------------------------------------------------


def _usage_json(usage: Usage | None) -> list[int] | None:
    return None if usage is None else [usage.prompt_tokens, usage.completion_tokens]


def _usage(raw: Any) -> Usage | None:
    return None if raw is None else Usage(int(raw[0]), int(raw[1]))


def _event_json(event: ChatEvent) -> dict[str, Any]:
    match event:
        case TextDelta(text=text):
            return {"text": text}
        case ToolCallDelta(index=index, id=call_id, name=name, arguments=arguments):
            return {"tool": {"index": index, "id": call_id, "name": name, "arguments": arguments}}
        case Finish(reason=reason, usage=usage):
            return {"finish": {"reason": reason, "usage": _usage_json(usage)}}


def _event(raw: Mapping[str, Any]) -> ChatEvent:
    if "text" in raw:
        return TextDelta(str(raw["text"]))
    if "tool" in raw:
        tool = raw["tool"]
        return ToolCallDelta(tool["index"], tool.get("id"), tool.get("name"), tool.get("arguments", ""))
    finish = raw["finish"]
    return Finish(finish["reason"], _usage(finish.get("usage")))


def _error_json(error: LLMError) -> dict[str, Any]:
    return {"class": type(error).__name__, "message": error.message, "code": error.code}


def _error(raw: Mapping[str, Any]) -> LLMError:
    kind = getattr(errors, str(raw.get("class")), None)
    if not (isinstance(kind, type) and issubclass(kind, LLMError)):
        kind = LLMError
    return kind(str(raw.get("message", "recorded model error")), code=raw.get("code"))


# The two models -------------------------------------------------------------------------


class RecordingModel:
    """Forwards every call to ``inner`` and records it in ``cassette``.

    Recorded runs take their calls one at a time (``serial_calls``): a ``balance`` turn runs
    as ``smart``, so no speculative reply, cancelled or not, makes the order of calls
    depend on timing, and the replay asks for exactly what was recorded.
    """

    serial_calls = True

    def __init__(self, inner: Model, cassette: Cassette) -> None:
        self.inner = inner
        self.cassette = cassette
        self.name = inner.name
        if not cassette.model:  # the default model: wrapped first
            cassette.model = inner.name
            cassette.step_last = step_last(inner)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        entry = self.cassette.begin("model", "stream", request.purpose, request_json(request))
        events: list[dict[str, Any]] = []
        finished = False
        try:
            async for event in self.inner.stream(request):
                events.append(_event_json(event))
                yield event
            finished = True
        except LLMError as exc:
            entry.response = {"events": events, "error": _error_json(exc)}
            raise
        finally:
            if entry.response is None:  # finished, or abandoned part way (cancelled, closed early)
                entry.response = {"events": events, **({} if finished else {"incomplete": True})}

    async def structured(self, request: StructuredRequest) -> StructuredResult:
        entry = self.cassette.begin("model", "structured", request.purpose, request_json(request))
        try:
            result = await self.inner.structured(request)
        except LLMError as exc:
            entry.response = {"error": _error_json(exc)}
            raise
        entry.response = {"value": result.value, "usage": _usage_json(result.usage)}
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()


class ReplayModel:
    """Answers every call from a cassette: no upstream, the recorded result exactly.

    ``calls`` counts the calls answered. A request that does not match raises
    :class:`CassetteMismatch` (not an :class:`LLMError`, so no caller mistakes it for a
    model failure to tolerate); the first one is also kept in ``mismatch``.
    """

    serial_calls = True  # as when recorded (see RecordingModel)

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette
        self.name = cassette.model or "replay"
        self.prompt_step_last = cassette.step_last
        self.player = cassette.player()
        self.calls = 0
        self.mismatch: CassetteMismatch | None = None

    def _take(self, purpose: str, request: dict[str, Any]) -> Entry:
        try:
            entry = self.player.take("model", purpose, request)
        except CassetteMismatch as exc:
            self.mismatch = self.mismatch or exc
            raise
        self.calls += 1
        return entry

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        entry = self._take(request.purpose, request_json(request))
        response = entry.response or {"incomplete": True}
        for raw in response.get("events", []):
            yield _event(raw)
        if "error" in response:
            raise _error(response["error"])
        if response.get("incomplete"):
            raise LLMError(_CUT_OFF.format(scope=entry.scope))

    async def structured(self, request: StructuredRequest) -> StructuredResult:
        entry = self._take(request.purpose, request_json(request))
        response = entry.response or {}
        if "error" in response:
            raise _error(response["error"])
        if "value" not in response:
            raise LLMError(_CUT_OFF.format(scope=entry.scope))
        return StructuredResult(dict(response["value"]), _usage(response.get("usage")))

    async def aclose(self) -> None:
        return None
