"""Any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, Ollama, llama.cpp's server,
Groq, OpenRouter ...), spoken to directly with aiohttp's client.

Directly rather than through the ``openai`` client, because the contract here is about the
wire: every upstream delta is relayed as soon as it is parsed, the three timeouts are
separate, retries happen only before the first event reaches the caller, and a malformed
stream is an error rather than something a client library papers over. aiohttp rather than
httpx (which the rest of Pathweaver's outbound calls use) because a model call is on every
turn's path: on this project's machines an httpx call to a local upstream cost about
500 µs of CPU, aiohttp's about 155 µs, a sixth of what Pathweaver spends on a whole turn
(bench/README.md).

Contract, in short:

* ``connect_timeout`` bounds opening the TCP/TLS connection (the name lookup and a
  proxy's CONNECT included), and the wait for a free
  connection when ``max_connections`` calls already hold one (then 503 ``upstream_busy``);
  ``first_byte_timeout`` bounds the wait for the response to start and any later silence
  of the stream; ``total_timeout`` bounds the whole call, retries and streaming included.
* Connection failures, 408, 429 and 5xx are retried up to ``max_retries`` times, with
  exponential backoff and jitter, honouring ``Retry-After``, and only before anything was
  yielded. Once the first event is out, a failure raises :class:`LLMError`.
* Errors name the setting to fix: a rejected key ``PATHWEAVER_LLM_API_KEY``, an unknown
  model ``PATHWEAVER_LLM_MODEL``, an unreachable host ``PATHWEAVER_LLM_BASE_URL``.
* Closing or cancelling the stream closes the upstream connection; a stream read to its end
  leaves it open for the next call.
* A proxy named by the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``,
  ``NO_PROXY``, read as httpx reads them) is resolved once, when the model is built; a
  proxy's failure names the proxy and those variables, and a proxy that refuses is not
  asked again. TLS trusts what httpx trusts: ``SSL_CERT_FILE``
  or ``SSL_CERT_DIR``, else certifi's bundle. No cookie an upstream sets is sent back;
  redirects are not followed; compressed answers are decoded.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import re
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import httpx
from yarl import URL

from pathweaver.errors import LLMConfigError, LLMError, LLMTimeout, ModelBusy
from pathweaver.llm.base import (
    ChatEvent,
    ChatRequest,
    Message,
    StructuredRequest,
    StructuredResult,
    ToolSpec,
    collect,
)
from pathweaver.llm.openai_stream import StreamState, error_message, json_events, sse_events
from pathweaver.llm.schema import parse_object

KEY_SETTING = "PATHWEAVER_LLM_API_KEY"
#: Where a proxy for the model calls comes from (see :func:`_env_proxy`).
PROXY_SETTINGS = "HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY"
MODEL_SETTING = "PATHWEAVER_LLM_MODEL"
URL_SETTING = "PATHWEAVER_LLM_BASE_URL"


@dataclass(frozen=True, slots=True)
class SettingNames:
    """The settings an error tells the operator to check (a named target has its own)."""

    key: str = KEY_SETTING
    model: str = MODEL_SETTING
    url: str = URL_SETTING

    @classmethod
    def for_target(cls, target: str) -> SettingNames:
        where = f"PATHWEAVER_LLM_TARGETS.{target}"
        return cls(key=f"{where}.api_key", model=f"{where}.model", url=f"{where}.base_url")


StructuredMode = Literal["json_schema", "tool", "json_object"]
#: Tried in this order; the first form an upstream accepts is kept for the instance.
STRUCTURED_MODES: tuple[StructuredMode, ...] = ("json_schema", "tool", "json_object")

#: Seconds to wait after a stream's ``[DONE]`` for its body to end (see ``sse_events``):
#: the last HTTP chunk normally comes with ``[DONE]`` or right after it.
SETTLE_AFTER_DONE = 0.1
_RETRY_STATUSES = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))
#: Failures before a response that another attempt may get past: no connection (the DNS
#: included), a connection that timed out opening or was dropped by the upstream, an
#: answer that broke off or was not HTTP.
_RETRIED = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientOSError,
    aiohttp.ClientPayloadError,
    aiohttp.ClientResponseError,
)


class UpstreamRejected(LLMError):
    """The upstream answered 400/422: it does not accept this request as formed."""


class OpenAICompatModel:
    """A :class:`~pathweaver.llm.base.Model` over an OpenAI-compatible HTTP API.

    ``backoff`` is the first retry delay in seconds, doubled on each retry; a
    ``Retry-After`` longer than ``max_retry_wait`` is not waited for: the error is raised.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        *,
        connect_timeout: float = 5.0,
        first_byte_timeout: float = 60.0,
        total_timeout: float = 300.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        max_retry_wait: float = 20.0,
        max_connections: int = 1000,
        always_stream: bool = False,
        settings: SettingNames = SettingNames(),
    ) -> None:
        self.name = model
        self.settings = settings
        self.base_url = base_url.rstrip("/")
        self.total_timeout = total_timeout
        self.first_byte_timeout = first_byte_timeout
        #: Stream every call, even one whose reply nobody reads as it comes (see ``_chat``).
        self.always_stream = always_stream
        self.connect_timeout = connect_timeout
        # ``connect`` bounds the name lookup, the connection and a proxy's CONNECT together
        # (``sock_connect`` alone would leave a hanging DNS lookup to the total timeout).
        self._timeout = aiohttp.ClientTimeout(connect=connect_timeout, sock_read=first_byte_timeout)
        #: A call answered in one piece has no first byte before its last: no read timeout.
        self._whole_timeout = aiohttp.ClientTimeout(connect=connect_timeout)
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_retry_wait = max_retry_wait
        self._api_key = api_key
        headers = {"User-Agent": "pathweaver", "Accept": "application/json, text/event-stream"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._headers = headers
        self._chat_headers = {**headers, "Content-Type": "application/json"}
        self._chat_url = URL(self.base_url + "/chat/completions")
        self._models_url = URL(self.base_url + "/models")
        #: The proxy the environment names for the upstream, if any (with its credentials).
        self._proxy, self._proxy_auth = _env_proxy(self._chat_url)
        #: A streamed turn holds its connection to the end: the calls at once are bounded
        #: here (not by the connector, whose wait would read as a connect timeout) so that
        #: the one past the bound gets a clear ``upstream_busy``.
        self.max_connections = max_connections
        self._slots = asyncio.Semaphore(max_connections)
        #: Trusted certificates as httpx (the rest of the outbound calls) trusts them:
        #: ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` when set, certifi's bundle otherwise, so a
        #: machine without system CA certificates still reaches a hosted model.
        self._ssl = httpx.create_ssl_context()
        #: Made on first use, in the event loop that uses it (see :meth:`_client`).
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        #: Whether the upstream accepts ``stream_options`` (None: not known yet).
        self._usage_option: bool | None = None
        self._structured_mode: StructuredMode = STRUCTURED_MODES[0]
        self._structured_confirmed = False
        #: How long to wait, after ``[DONE]``, for a stream's body to end so that its
        #: connection can be reused; 0 from the first time an upstream lets a body linger
        #: (such an upstream would cost every turn this wait).
        self._settle = SETTLE_AFTER_DONE

    # The Model protocol -------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        body: dict[str, Any] = {"model": self.name, "messages": [_wire_message(m) for m in request.messages]}
        if request.tools:
            body["tools"] = [_wire_tool(tool) for tool in request.tools]
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        async for event in self._chat(body, stream=request.stream):
            yield event

    async def structured(self, request: StructuredRequest) -> StructuredResult:
        """Ask for one object, in the first form the upstream accepts, and validate it.

        The forms, in order: ``response_format`` ``json_schema``, a forced tool call,
        ``json_object`` with the schema in the instructions. A form the upstream answers
        with 400 is skipped for this call; until one form has worked, that also moves the
        instance to the next form for good (a form that worked once stays the first tried:
        a later 400 may be about this schema only).
        """
        modes = STRUCTURED_MODES[STRUCTURED_MODES.index(self._structured_mode) :]
        for mode in modes:
            try:
                result = await collect(self._chat(_structured_body(self.name, request, mode), stream=False))
            except UpstreamRejected:
                if mode == modes[-1]:
                    raise
                continue
            if not self._structured_confirmed:
                self._structured_mode, self._structured_confirmed = mode, True
            text = result.text
            if mode == "tool" and result.tool_calls:
                text = result.tool_calls[0].arguments
            truncated = result.finish_reason == "length"
            return StructuredResult(parse_object(text, request.schema, truncated=truncated), result.usage)
        raise AssertionError("unreachable: the last structured mode raises")

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._session_loop is asyncio.get_running_loop():
            await session.close()

    async def check(self) -> None:
        """Verify the configuration cheaply (``GET /models``); raise :class:`LLMConfigError`.

        A rejected key, an unreachable host, or a model missing from the upstream's list
        are reported with the setting to fix. Upstreams without a ``/models`` route pass.
        """
        try:
            async with asyncio.timeout(self.total_timeout):
                async with self._client().get(
                    self._models_url,
                    headers=self._headers,
                    timeout=self._timeout,
                    proxy=self._proxy,
                    proxy_auth=self._proxy_auth,
                ) as response:
                    status, text = response.status, (await response.read()).decode("utf-8", "replace")
        except (aiohttp.ClientError, TimeoutError) as error:
            raise self._failed(error, config=True) from None
        if status in (401, 403):
            raise self._status_error(status, text) from None
        if status != 200:
            return
        try:
            listed = [str(item["id"]) for item in json.loads(text)["data"]]
        except (ValueError, KeyError, TypeError):
            return
        if listed and self.name not in listed and f"models/{self.name}" not in listed:
            shown = ", ".join(sorted(listed)[:10])
            raise LLMConfigError(
                f"the upstream at {self.base_url} does not list the model {self.name!r} "
                f"(it lists {shown}{', ...' if len(listed) > 10 else ''}); check {self.settings.model}",
                code="model_not_found",
            )

    # The wire -------------------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        """The session (connection pool) of the running event loop, made on first use."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session_loop is not loop or self._session.closed:
            self._session = aiohttp.ClientSession(
                # The calls at once are bounded by ``_slots``; idle connections are kept
                # for the next turns (aiohttp closes them after 15 s unused).
                connector=aiohttp.TCPConnector(limit=0, ssl=self._ssl),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._session_loop = loop
        return self._session

    async def _chat(self, body: dict[str, Any], *, stream: bool = True) -> AsyncIterator[ChatEvent]:
        """POST a chat completion and relay its events.

        ``stream=False`` (nobody reads the reply as it comes) asks for one JSON answer unless
        ``always_stream``: one body to parse instead of an event per token. Its wait for the
        first byte is then bounded by the total timeout only (the first byte comes last).
        """
        if not stream and not self.always_stream:
            async for event in self._whole(body):
                yield event
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.total_timeout
        body = {**body, "stream": True}
        if self._usage_option is not False:
            body["stream_options"] = {"include_usage": True}
        await self._take_slot()
        try:
            try:
                response = await self._open(body, deadline)
            except UpstreamRejected as rejected:
                if self._usage_option is not None or "stream_options" not in rejected.message:
                    raise
                # Some upstreams refuse stream_options: ask again without it, and remember.
                body.pop("stream_options")
                response = await self._open(body, deadline)
                self._usage_option = False
            else:
                if "stream_options" in body:
                    self._usage_option = True
            state: StreamState | None = None
            try:
                if "text/event-stream" in response.headers.get("content-type", ""):
                    state = StreamState()
                    events = sse_events(
                        response,
                        deadline,
                        settle=self._settle,
                        state=state,
                        read_timeout=self.first_byte_timeout,
                    )
                else:
                    events = json_events(response, deadline)
                async for event in events:
                    yield event
            except (aiohttp.ClientError, TimeoutError) as error:
                raise _stream_error(error) from None
            finally:
                if state is not None and state.lingered:
                    self._settle = 0.0
                # Back to the pool when read to its end; closed otherwise.
                response.release()
        finally:
            self._slots.release()

    async def _whole(self, body: dict[str, Any]) -> AsyncIterator[ChatEvent]:
        """A call answered in one piece (``"stream": false``), as the same events."""
        deadline = asyncio.get_running_loop().time() + self.total_timeout
        await self._take_slot()
        try:
            response = await self._open({**body, "stream": False}, deadline, whole=True)
            try:
                async for event in json_events(response, deadline):
                    yield event
            except (aiohttp.ClientError, TimeoutError) as error:
                raise _stream_error(error) from None
            finally:
                response.release()
        finally:
            self._slots.release()

    async def _take_slot(self) -> None:
        """Take one of the ``max_connections`` calls at once, waiting at most the connect
        timeout for one to end; :class:`ModelBusy` then."""
        if not self._slots.locked():
            await self._slots.acquire()  # returns at once
            return
        try:
            async with asyncio.timeout(self.connect_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise ModelBusy(
                f"all connections to {self.base_url} are in use by other turns; retry shortly, or raise "
                "PATHWEAVER_LLM_MAX_CONNECTIONS",
                code="upstream_busy",
            ) from None

    async def _open(
        self,
        body: dict[str, Any],
        deadline: float,
        *,
        whole: bool = False,
    ) -> aiohttp.ClientResponse:
        """Send the request until it gets a 200 response, retrying what may be retried.

        ``whole``: the answer comes in one piece, so no first-byte timeout (``deadline`` only).
        """
        loop = asyncio.get_running_loop()
        attempt = 0
        timeout = self._whole_timeout if whole else self._timeout
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        session = self._client()
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    response = await session.post(
                        self._chat_url,
                        data=content,
                        headers=self._chat_headers,
                        timeout=timeout,
                        proxy=self._proxy,
                        proxy_auth=self._proxy_auth,
                        allow_redirects=False,
                    )
            except aiohttp.ClientHttpProxyError as error:  # the proxy refused: asking again won't help
                raise self._failed(error) from None
            except _RETRIED as error:
                failure: LLMError = self._failed(error)
                wait = self._backoff(attempt)
            except (aiohttp.ClientError, TimeoutError) as error:
                raise self._failed(error) from None
            else:
                if response.status == 200:
                    return response
                try:
                    async with asyncio.timeout_at(deadline):
                        text = (await response.read()).decode("utf-8", "replace")
                except (aiohttp.ClientError, TimeoutError) as error:
                    raise self._failed(error) from None
                finally:
                    response.release()
                failure = self._status_error(response.status, text)
                if response.status not in _RETRY_STATUSES:
                    raise failure
                retry_after = _retry_after(response.headers)
                if retry_after is not None and retry_after > self.max_retry_wait:
                    failure.details["retry_after"] = retry_after
                    raise failure
                wait = self._backoff(attempt) if retry_after is None else retry_after
            if attempt >= self.max_retries or loop.time() + wait >= deadline:
                raise failure
            attempt += 1
            await asyncio.sleep(wait)

    def _failed(self, error: Exception, *, config: bool = False) -> LLMError:
        """What a failure before a response means, naming the setting to check."""
        return _transport_error(error, self.base_url, self.settings, config=config, proxy=self._proxy)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: between half and all of ``backoff * 2**attempt``."""
        return float(self.backoff * 2**attempt * random.uniform(0.5, 1.0))

    def _status_error(self, status: int, body: str) -> LLMError:
        try:
            detail = error_message(json.loads(body))
        except json.JSONDecodeError:
            detail = body.strip()[:300] or "no details"
        if self._api_key:
            detail = detail.replace(self._api_key, "***")
        return _status_error(status, detail, self.base_url, self.name, self.settings)


# Requests -------------------------------------------------------------------------------


def _wire_message(message: Message) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.content is None and not message.tool_calls:
        wire["content"] = ""
    if message.tool_calls:
        wire["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        wire["tool_call_id"] = message.tool_call_id
    return wire


def _wire_tool(tool: ToolSpec) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": dict(tool.parameters)}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def _structured_body(model: str, request: StructuredRequest, mode: StructuredMode) -> dict[str, Any]:
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", request.name)[:64] or "answer"
    schema = _upstream_schema(request.schema)
    messages = [_wire_message(m) for m in request.messages]
    body: dict[str, Any] = {"model": model, "max_tokens": request.max_tokens, "temperature": 0}
    match mode:
        case "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": _strict_compatible(schema)},
            }
        case "tool":
            body["tools"] = [
                _wire_tool(ToolSpec(name=name, description="Record the answer.", parameters=schema))
            ]
            body["tool_choice"] = {"type": "function", "function": {"name": name}}
        case "json_object":
            body["response_format"] = {"type": "json_object"}
            instructions = (
                "Answer with one JSON object and nothing else. It must validate against this JSON Schema:\n"
                + json.dumps(schema)
            )
            messages.append({"role": "system", "content": instructions})
    body["messages"] = messages
    return body


def _upstream_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema as sent upstream: ``oneOf`` becomes ``anyOf``, which strict modes accept.

    The answer is still validated against the original schema.
    """
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs") and isinstance(value, Mapping):
            converted[key] = {name: _upstream_schema(sub) for name, sub in value.items()}
        elif key in ("oneOf", "anyOf", "allOf") and isinstance(value, list):
            converted["anyOf" if key == "oneOf" else key] = [_upstream_schema(sub) for sub in value]
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            converted[key] = _upstream_schema(value)
        else:
            converted[key] = value
    return converted


def _strict_compatible(schema: Mapping[str, Any]) -> bool:
    """Whether OpenAI's strict mode accepts the schema: closed objects, every property required."""
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False or set(schema.get("required", ())) != set(
            properties
        ):
            return False
        if not all(_strict_compatible(sub) for sub in properties.values()):
            return False
    items = schema.get("items")
    if isinstance(items, Mapping) and not _strict_compatible(items):
        return False
    return all(_strict_compatible(sub) for sub in schema.get("anyOf", ()))


# Errors ---------------------------------------------------------------------------------


def _status_error(status: int, detail: str, base_url: str, model: str, names: SettingNames) -> LLMError:
    details: dict[str, Any] = {"upstream_status": status}
    match status:
        case 401 | 403:
            return LLMConfigError(
                f"the upstream rejected the API key (HTTP {status}: {detail}); check {names.key}",
                code="upstream_auth_failed",
                details=details,
            )
        case 404:
            return LLMConfigError(
                f"the upstream at {base_url} answered 404 for model {model!r} ({detail}); "
                f"check {names.model}, and that {names.url} includes the API prefix (e.g. /v1)",
                code="model_not_found",
                details=details,
            )
        case 400 | 422:
            return UpstreamRejected(
                f"the upstream rejected the request (HTTP {status}): {detail}", code="upstream_bad_request"
            )
        case 429:
            return LLMError(
                f"the upstream is rate limiting (HTTP 429): {detail}",
                code="upstream_rate_limited",
                details=details,
            )
        case _:
            return LLMError(
                f"the upstream failed (HTTP {status}): {detail}", code="upstream_error", details=details
            )


def _transport_error(
    error: Exception, base_url: str, names: SettingNames, *, config: bool = False, proxy: URL | None = None
) -> LLMError:
    if proxy is not None and isinstance(error, aiohttp.ClientHttpProxyError):
        return LLMConfigError(
            f"the proxy {proxy} refused to reach {base_url} (HTTP {error.status}: {error.message}); "
            f"check {PROXY_SETTINGS}",
            code="upstream_unreachable",
        )
    if proxy is not None and isinstance(error, aiohttp.ClientConnectorError) and error.host == proxy.host:
        return LLMError(
            f"cannot connect to the proxy {proxy} ({error.os_error or error}); check {PROXY_SETTINGS}",
            code="upstream_unreachable",
        )
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return LLMTimeout(
            f"could not connect to {base_url} within the connect timeout; check {names.url} "
            "(or raise PATHWEAVER_LLM_CONNECT_TIMEOUT)"
        )
    if isinstance(error, aiohttp.ServerTimeoutError):
        return LLMTimeout(
            f"the upstream at {base_url} did not answer within the first-byte timeout "
            "(PATHWEAVER_LLM_FIRST_BYTE_TIMEOUT)"
        )
    if isinstance(error, TimeoutError):
        return LLMTimeout(
            f"the upstream call exceeded the total timeout (PATHWEAVER_LLM_TOTAL_TIMEOUT) at {base_url}"
        )
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return LLMConfigError(
            f"cannot resolve the host of {base_url}; check {names.url}", code="upstream_unreachable"
        )
    if isinstance(error, aiohttp.ClientConnectorError):
        kind = LLMConfigError if config else LLMError
        return kind(
            f"cannot connect to {base_url} ({error.os_error or error}); check {names.url}",
            code="upstream_unreachable",
        )
    return LLMError(
        f"the connection to {base_url} failed before a response ({type(error).__name__}: {error})"
    )


def _stream_error(error: Exception) -> LLMError:
    if isinstance(error, aiohttp.ServerTimeoutError):
        return LLMTimeout(
            "the upstream stream stalled past the first-byte timeout (PATHWEAVER_LLM_FIRST_BYTE_TIMEOUT)"
        )
    if isinstance(error, TimeoutError):
        return LLMTimeout("the upstream call exceeded the total timeout (PATHWEAVER_LLM_TOTAL_TIMEOUT)")
    return LLMError(f"the upstream stream was cut in the middle ({type(error).__name__}: {error})")


def _env_proxy(url: URL) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy the environment names for ``url``, as httpx reads it: ``HTTPS_PROXY`` or
    ``HTTP_PROXY`` by the URL's scheme, else ``ALL_PROXY``; none for a host ``NO_PROXY``
    lists. http:// and https:// proxies only: :class:`LLMConfigError` for another scheme
    (a SOCKS proxy would otherwise be spoken to as an HTTP one, or skipped)."""
    if urllib.request.proxy_bypass(url.host or ""):
        return None, None
    proxies = urllib.request.getproxies()
    named = proxies.get(url.scheme) or proxies.get("all")
    if not named:
        return None, None
    proxy = URL(named if "://" in named else f"http://{named}")
    if proxy.scheme not in ("http", "https"):
        raise LLMConfigError(
            f"the proxy {proxy.with_user(None)} named by {PROXY_SETTINGS} is a {proxy.scheme}:// proxy; "
            "model calls go through http:// and https:// proxies only",
            code="upstream_unreachable",
        )
    auth = aiohttp.BasicAuth(proxy.user, proxy.password or "") if proxy.user else None
    return proxy.with_user(None), auth


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if "retry-after-ms" in headers:
        try:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = email.utils.parsedate_to_datetime(email.utils.formatdate(usegmt=True))
    return max(0.0, (when - now).total_seconds())
