"""OpenAICompatModel against a real mock upstream on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import json
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pathweaver.errors import LLMConfigError, LLMError, LLMTimeout, ModelBusy, ModelOutputError
from pathweaver.llm.base import (
    ChatEvent,
    ChatRequest,
    Finish,
    Message,
    StructuredRequest,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
    collect,
)
from pathweaver.llm.openai_compat import OpenAICompatModel
from tests.support.mock_llm import MockLLM, MockReply, MockToolCall

from .conftest import API_KEY

HELLO = ChatRequest(messages=(Message("system", "Be brief."), Message("user", "Hello")))
CONTACT = {
    "type": "object",
    "properties": {
        "name": {"type": ["string", "null"], "maxLength": 80},
        "phone": {"type": ["string", "null"], "maxLength": 30},
    },
    "required": ["name", "phone"],
    "additionalProperties": False,
}
CONTACT_REQUEST = StructuredRequest(
    messages=(Message("user", "I'm Ada Lovelace, call me on 555-0134."),), schema=CONTACT, name="contact"
)


async def events_of(model: OpenAICompatModel, request: ChatRequest = HELLO) -> list[ChatEvent]:
    return [event async for event in model.stream(request)]


def client_for(upstream: MockLLM, **overrides: Any) -> OpenAICompatModel:
    options: dict[str, Any] = {"first_byte_timeout": 1, "total_timeout": 10, "backoff": 0.01} | overrides
    return OpenAICompatModel(upstream.base_url, API_KEY, "mock-model", **options)


# Replies --------------------------------------------------------------------------------


async def test_plain_reply_with_usage(mock_llm: MockLLM, http_model: OpenAICompatModel) -> None:
    mock_llm.push(MockReply(text="Hi there, how can I help?", usage=(12, 7)))

    result = await collect(http_model.stream(HELLO))

    assert result.text == "Hi there, how can I help?"
    assert result.finish_reason == "stop"
    assert result.usage is not None and (result.usage.prompt_tokens, result.usage.completion_tokens) == (
        12,
        7,
    )
    sent = mock_llm.chat_requests[0].json()
    assert sent["model"] == "mock-model"
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
    ]
    assert mock_llm.chat_requests[0].headers["authorization"] == f"Bearer {API_KEY}"


async def test_stream_relays_each_chunk_as_it_arrives(
    mock_llm: MockLLM, http_model: OpenAICompatModel
) -> None:
    mock_llm.push(MockReply(text="one two three four five six", chunk_size=4, gap=0.1))
    arrivals: list[tuple[float, str]] = []

    async for event in http_model.stream(HELLO):
        if isinstance(event, TextDelta):
            arrivals.append((time.monotonic(), event.text))

    assert "".join(text for _, text in arrivals) == "one two three four five six"
    assert len(arrivals) == 7
    # Not buffered: the deltas arrive spread over the stream, one gap apart.
    assert arrivals[-1][0] - arrivals[0][0] >= 0.4


async def test_streams_one_after_another_share_one_connection(
    mock_llm: MockLLM, http_model: OpenAICompatModel
) -> None:
    """A stream read to its end goes back to the pool: no new TCP (or TLS) handshake per turn."""
    for _ in range(3):
        events = await events_of(http_model)
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "You said: Hello"

    assert mock_llm.calls == 3
    assert mock_llm.connections == 1


async def test_an_upstream_that_never_ends_its_stream_after_done_still_answers(mock_llm: MockLLM) -> None:
    """``[DONE]`` ends the reply even when the response itself never ends: the connection is
    closed instead of reused, and the turn does not wait for the total timeout."""
    model = client_for(mock_llm, total_timeout=60)
    mock_llm.push(MockReply(text="one", fault="linger"), MockReply(text="two", fault="linger"))
    try:
        async with asyncio.timeout(10):
            first = await events_of(model)
            second = await events_of(model)
            third = await events_of(model)
    finally:
        await model.aclose()

    texts = ["".join(e.text for e in events if isinstance(e, TextDelta)) for events in (first, second, third)]
    assert texts == ["one", "two", "You said: Hello"]
    assert all(isinstance(events[-1], Finish) and events[-1].reason == "stop" for events in (first, second))
    assert mock_llm.connections == 3  # the lingering ones could not be reused


@pytest.mark.parametrize("cut", [1, 7, 9, 10, 31])
async def test_line_ends_of_every_kind_split_anywhere_across_reads(cut: int) -> None:
    """CRLF, LF and CR all end a line, even when a read ends between the CR and the LF (or
    inside a character's UTF-8 bytes)."""
    from pathweaver.llm.openai_stream import sse_events

    raw = (
        'data: {"choices":[{"delta":{"content":"Hel"}}]}\r\n\r\n'
        'data: {"choices":[{"delta":{"content":"lo"}}]}\r\r'
        'data: {"choices":[{"delta":{"content":"!\u2028"},"finish_reason":"stop"}]}\n\n'
        "data: [DONE]\r\n\r\n"
    )

    data = raw.encode()

    class Content:
        async def iter_any(self) -> Any:
            for start in range(0, len(data), cut):
                yield data[start : start + cut]

    class Reads:
        content = Content()

    deadline = asyncio.get_running_loop().time() + 5
    events = [event async for event in sse_events(Reads(), deadline)]  # type: ignore[arg-type]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello!\u2028"
    assert isinstance(events[-1], Finish) and events[-1].reason == "stop"


async def test_tool_call_with_streamed_argument_fragments(
    mock_llm: MockLLM, http_model: OpenAICompatModel
) -> None:
    mock_llm.push(
        MockReply(tool_calls=[MockToolCall("lookup", '{"city": "Paris"}', id="call_a")], chunk_size=3)
    )
    request = ChatRequest(messages=HELLO.messages, tools=(ToolSpec("lookup", "Find a city."),))

    events = await events_of(http_model, request)

    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert deltas[0] == ToolCallDelta(index=0, id="call_a", name="lookup", arguments="")
    assert all(d.index == 0 and d.name is None for d in deltas[1:])
    assert len(deltas) == 7  # the header, then 6 fragments of 3 characters
    assert "".join(d.arguments for d in deltas) == '{"city": "Paris"}'
    assert events[-1] == Finish(reason="tool_calls", usage=events[-1].usage)  # type: ignore[union-attr]
    sent = mock_llm.chat_requests[0].json()
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {}},
                "description": "Find a city.",
            },
        }
    ]


async def test_two_parallel_tool_calls(mock_llm: MockLLM, http_model: OpenAICompatModel) -> None:
    calls = [MockToolCall("weather", '{"city": "Oslo"}'), MockToolCall("time", '{"zone": "CET"}')]
    mock_llm.push(MockReply(text="Checking.", tool_calls=calls, chunk_size=5))

    result = await collect(http_model.stream(HELLO))

    assert result.text == "Checking."
    assert [(c.name, c.arguments) for c in result.tool_calls] == [
        ("weather", '{"city": "Oslo"}'),
        ("time", '{"zone": "CET"}'),
    ]
    assert len({c.id for c in result.tool_calls}) == 2
    assert result.finish_reason == "tool_calls"


async def test_tool_results_are_sent_in_openai_form(mock_llm: MockLLM, http_model: OpenAICompatModel) -> None:
    from pathweaver.llm.base import ToolCall

    call = ToolCall(id="call_1", name="lookup", arguments='{"q": 1}')
    request = ChatRequest(
        messages=(
            Message("user", "Look it up"),
            Message("assistant", None, tool_calls=(call,)),
            Message("tool", '{"answer": 42}', tool_call_id="call_1"),
        ),
        max_tokens=50,
        temperature=0.2,
    )

    await collect(http_model.stream(request))

    sent = mock_llm.chat_requests[0].json()
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}
        ],
    }
    assert sent["messages"][2] == {"role": "tool", "content": '{"answer": 42}', "tool_call_id": "call_1"}
    assert (sent["max_tokens"], sent["temperature"]) == (50, 0.2)


async def test_upstream_without_stream_options_still_streams() -> None:
    with MockLLM(reject={"stream_options"}) as upstream:
        model = OpenAICompatModel(upstream.base_url, None, "mock-model", backoff=0.01)
        try:
            first = await collect(model.stream(HELLO))
            second = await collect(model.stream(HELLO))
        finally:
            await model.aclose()
    assert first.text == second.text == "You said: Hello"
    assert first.usage is None
    # Learnt once: the second call goes straight to the form that works.
    assert ["stream_options" in r.json() for r in upstream.chat_requests] == [True, False, False]


# Retries and failures -------------------------------------------------------------------


async def test_429_waits_for_retry_after_then_succeeds(
    mock_llm: MockLLM, http_model: OpenAICompatModel
) -> None:
    mock_llm.push(
        MockReply(status=429, error="slow down", headers={"Retry-After": "0.5"}), MockReply(text="ok")
    )

    started = time.monotonic()
    result = await collect(http_model.stream(HELLO))

    assert result.text == "ok"
    assert mock_llm.calls == 2
    assert time.monotonic() - started >= 0.5


async def test_500_then_success(mock_llm: MockLLM, http_model: OpenAICompatModel) -> None:
    mock_llm.push(MockReply(status=500), MockReply(status=503), MockReply(text="recovered"))

    result = await collect(http_model.stream(HELLO))

    assert result.text == "recovered"
    assert mock_llm.calls == 3


async def test_500_after_all_retries_is_an_upstream_error(
    mock_llm: MockLLM, http_model: OpenAICompatModel
) -> None:
    mock_llm.push(*[MockReply(status=500, error="boom")] * 3)

    with pytest.raises(LLMError, match=r"HTTP 500.*boom"):
        await collect(http_model.stream(HELLO))
    assert mock_llm.calls == 3  # one try and two retries


async def test_retry_after_beyond_the_limit_is_not_waited_for(mock_llm: MockLLM) -> None:
    mock_llm.push(MockReply(status=429, headers={"Retry-After": "120"}))
    model = client_for(mock_llm, max_retry_wait=5)
    try:
        with pytest.raises(LLMError, match="rate limiting") as raised:
            await collect(model.stream(HELLO))
    finally:
        await model.aclose()
    assert raised.value.details["retry_after"] == 120
    assert mock_llm.calls == 1


async def test_wrong_key_names_the_key_setting(mock_llm: MockLLM) -> None:
    model = OpenAICompatModel(mock_llm.base_url, "sk-wrong", "mock-model")
    try:
        with pytest.raises(LLMConfigError, match="PATHWEAVER_LLM_API_KEY") as raised:
            await collect(model.stream(HELLO))
    finally:
        await model.aclose()
    assert "sk-wrong" not in raised.value.message
    assert mock_llm.requests and len(mock_llm.requests) == 1  # not retried


async def test_unknown_model_names_the_model_setting(mock_llm: MockLLM) -> None:
    model = OpenAICompatModel(mock_llm.base_url, API_KEY, "no-such-model")
    try:
        with pytest.raises(LLMConfigError, match="PATHWEAVER_LLM_MODEL"):
            await collect(model.stream(HELLO))
    finally:
        await model.aclose()


async def test_connection_refused_names_the_url_setting() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = OpenAICompatModel(f"http://127.0.0.1:{port}/v1", None, "m", max_retries=1, backoff=0.01)
    try:
        with pytest.raises(LLMError, match="PATHWEAVER_LLM_BASE_URL"):
            await collect(model.stream(HELLO))
        with pytest.raises(LLMConfigError, match="PATHWEAVER_LLM_BASE_URL"):
            await model.check()
    finally:
        await model.aclose()


async def test_an_upstream_that_never_answers_times_out(mock_llm: MockLLM) -> None:
    mock_llm.push(MockReply(fault="hang"))
    model = client_for(mock_llm, first_byte_timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(LLMTimeout, match="first-byte"):
            await collect(model.stream(HELLO))
    finally:
        await model.aclose()
    assert time.monotonic() - started < 2
    assert mock_llm.calls == 1  # a timeout is not retried: it would only multiply the wait


async def test_streams_beyond_the_connection_pool_get_a_clear_busy_error(mock_llm: MockLLM) -> None:
    """Each relayed stream holds a connection: the pool's size bounds the streams at once, and
    the one past it says which setting to raise (httpx's own default stopped at 100)."""
    assert OpenAICompatModel(mock_llm.base_url, API_KEY, "m").max_connections == 1000
    mock_llm.push(MockReply(text="a slow reply " * 4, chunk_size=4, gap=0.1))
    model = client_for(mock_llm, max_connections=1, connect_timeout=0.2)
    try:
        holding = model.stream(HELLO)
        first = await anext(holding)  # the first stream has the only connection
        assert isinstance(first, TextDelta)
        with pytest.raises(ModelBusy, match="PATHWEAVER_LLM_MAX_CONNECTIONS") as busy:
            await collect(model.stream(HELLO))
        assert busy.value.status == 503 and busy.value.code == "upstream_busy"
        await holding.aclose()  # type: ignore[attr-defined]
        mock_llm.push(MockReply(text="free again"))
        assert "free again" in "".join(e.text for e in await events_of(model) if isinstance(e, TextDelta))
    finally:
        await model.aclose()


async def test_a_stream_that_goes_silent_times_out(mock_llm: MockLLM) -> None:
    mock_llm.push(MockReply(fault="hang_stream"))
    model = client_for(mock_llm, first_byte_timeout=0.3)
    try:
        with pytest.raises(LLMTimeout):
            await collect(model.stream(HELLO))
    finally:
        await model.aclose()


async def test_total_timeout_bounds_a_slow_stream(mock_llm: MockLLM) -> None:
    mock_llm.push(MockReply(text="x" * 40, chunk_size=1, gap=0.1))
    model = client_for(mock_llm, total_timeout=0.5)
    try:
        with pytest.raises(LLMTimeout, match="total timeout"):
            await collect(model.stream(HELLO))
    finally:
        await model.aclose()


async def test_total_timeout_bounds_a_stream_whose_reads_each_come_in_time(mock_llm: MockLLM) -> None:
    """No read waits as long as the read timeout (first byte), but the stream as a whole
    outlasts the total timeout: it is cut at the total timeout, not at its end."""
    mock_llm.push(MockReply(text="x" * 40, chunk_size=1, gap=0.05))  # 2 s in all
    model = client_for(mock_llm, first_byte_timeout=0.3, total_timeout=0.8)
    try:
        with pytest.raises(LLMTimeout, match="total timeout"):
            await collect(model.stream(HELLO))
    finally:
        await model.aclose()


async def test_stream_cut_in_the_middle_fails_after_the_partial_text(
    mock_llm: MockLLM, http_model: OpenAICompatModel
) -> None:
    mock_llm.push(MockReply(text="This reply will be cut short", chunk_size=5, fault="cut", cut_after=3))
    received: list[str] = []

    with pytest.raises(LLMError, match="cut"):
        async for event in http_model.stream(HELLO):
            if isinstance(event, TextDelta):
                received.append(event.text)

    assert "".join(received) == "This reply"
    assert mock_llm.calls == 1  # nothing is retried once text went out


@pytest.mark.parametrize("fault", ["malformed", "bad_json"])
async def test_malformed_sse_is_an_upstream_error(
    mock_llm: MockLLM, http_model: OpenAICompatModel, fault: Any
) -> None:
    mock_llm.push(MockReply(text="Hello world", fault=fault, cut_after=2))

    with pytest.raises(LLMError, match=r"malformed|not JSON"):
        await collect(http_model.stream(HELLO))


async def test_closing_the_stream_closes_the_upstream_connection(
    mock_llm: MockLLM, http_model: OpenAICompatModel
) -> None:
    mock_llm.push(MockReply(text="a long and slow reply " * 20, chunk_size=2, gap=0.05))

    stream = http_model.stream(HELLO)
    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]

    assert isinstance(first, TextDelta)
    assert await asyncio.to_thread(mock_llm.wait_for_disconnect, 5)


async def test_cancelling_the_consumer_closes_the_upstream_connection(
    mock_llm: MockLLM, http_model: OpenAICompatModel
) -> None:
    mock_llm.push(MockReply(text="a long and slow reply " * 20, chunk_size=2, gap=0.05))
    received = asyncio.Event()

    async def consume() -> None:
        async for _ in http_model.stream(HELLO):
            received.set()

    task = asyncio.create_task(consume())
    await received.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await asyncio.to_thread(mock_llm.wait_for_disconnect, 5)
    assert mock_llm.disconnects == 1


# A reply nobody reads as it comes ----------------------------------------------------------

WHOLE = dataclasses.replace(HELLO, stream=False)


async def test_a_reply_nobody_reads_as_it_comes_is_asked_in_one_piece(
    mock_llm: MockLLM, http_model: OpenAICompatModel
) -> None:
    mock_llm.push(MockReply(text="Hi there, how can I help?", usage=(12, 7)))
    mock_llm.push(MockReply(tool_calls=[MockToolCall("lookup", '{"city": "Paris"}', id="call_a")]))
    request = dataclasses.replace(WHOLE, tools=(ToolSpec("lookup", "Find a city."),))

    text = await collect(http_model.stream(WHOLE))
    call = await collect(http_model.stream(request))

    assert text.text == "Hi there, how can I help?" and text.usage == Usage(12, 7)
    assert call.tool_calls == (ToolCall("call_a", "lookup", '{"city": "Paris"}'),)
    assert call.finish_reason == "tool_calls"
    for sent in mock_llm.chat_requests:
        assert sent.json()["stream"] is False and "stream_options" not in sent.json()


async def test_a_reply_in_one_piece_may_take_longer_than_the_first_byte_timeout(mock_llm: MockLLM) -> None:
    """Its first byte comes with its last: only the total timeout bounds it."""
    mock_llm.push(MockReply(text="x" * 20, chunk_size=1, gap=0.03))  # about 0.6 s to answer
    model = client_for(mock_llm, first_byte_timeout=0.2, total_timeout=10)
    try:
        assert (await collect(model.stream(WHOLE))).text == "x" * 20
    finally:
        await model.aclose()


async def test_the_total_timeout_bounds_a_reply_in_one_piece(mock_llm: MockLLM) -> None:
    mock_llm.push(MockReply(fault="hang"))
    model = client_for(mock_llm, first_byte_timeout=5, total_timeout=0.5, max_retries=0)
    try:
        with pytest.raises(LLMTimeout, match="total timeout"):
            await collect(model.stream(WHOLE))
    finally:
        await model.aclose()


async def test_always_stream_streams_even_a_reply_nobody_reads_as_it_comes(mock_llm: MockLLM) -> None:
    mock_llm.push(MockReply(text="Hello!"))
    model = client_for(mock_llm, always_stream=True)
    try:
        assert (await collect(model.stream(WHOLE))).text == "Hello!"
    finally:
        await model.aclose()
    assert mock_llm.chat_requests[0].json()["stream"] is True


# Structured output ----------------------------------------------------------------------


async def test_structured_uses_json_schema(mock_llm: MockLLM, http_model: OpenAICompatModel) -> None:
    mock_llm.push(MockReply(text='{"name": "Ada Lovelace", "phone": "555-0134"}'))

    result = await http_model.structured(CONTACT_REQUEST)

    assert result.value == {"name": "Ada Lovelace", "phone": "555-0134"}
    sent = mock_llm.chat_requests[0].json()
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "contact", "schema": CONTACT, "strict": True},
    }
    assert sent["temperature"] == 0 and sent["max_tokens"] == 256
    assert sent["stream"] is False  # an object is read whole: asked in one piece


async def test_structured_falls_back_to_a_forced_tool_call_and_remembers() -> None:
    answer = MockToolCall("contact", '{"name": "Ada", "phone": null}')
    with MockLLM(reject={"json_schema"}) as upstream:
        upstream.push(MockReply(tool_calls=[answer]), MockReply(tool_calls=[answer]))
        model = OpenAICompatModel(upstream.base_url, None, "mock-model")
        try:
            first = await model.structured(CONTACT_REQUEST)
            second = await model.structured(CONTACT_REQUEST)
        finally:
            await model.aclose()
    assert first.value == second.value == {"name": "Ada", "phone": None}
    forms = [
        r.json().get("response_format", {}).get("type") or r.json()["tool_choice"]["type"]
        for r in upstream.chat_requests
    ]
    assert forms == ["json_schema", "function", "function"]


async def test_a_form_that_worked_stays_first_after_a_rejection_for_one_schema() -> None:
    answer = '{"name": "Ada", "phone": null}'
    with MockLLM() as upstream:
        upstream.push(MockReply(text=answer), MockReply(tool_calls=[MockToolCall("contact", answer)]))
        upstream.push(MockReply(text=answer))
        model = OpenAICompatModel(upstream.base_url, None, "mock-model")
        try:
            await model.structured(CONTACT_REQUEST)
            upstream.reject.add("json_schema")  # say, a schema this upstream's strict mode refuses
            second = await model.structured(CONTACT_REQUEST)
            upstream.reject.clear()
            await model.structured(CONTACT_REQUEST)
        finally:
            await model.aclose()
    assert second.value == {"name": "Ada", "phone": None}
    forms = [r.json().get("response_format", {}).get("type", "tool") for r in upstream.chat_requests]
    assert forms == ["json_schema", "json_schema", "tool", "json_schema"]


async def test_structured_falls_back_to_json_object() -> None:
    with MockLLM(reject={"json_schema", "tool_choice"}) as upstream:
        upstream.push(MockReply(text='```json\n{"name": "Ada", "phone": "555"}\n```'))
        model = OpenAICompatModel(upstream.base_url, None, "mock-model")
        try:
            result = await model.structured(CONTACT_REQUEST)
        finally:
            await model.aclose()
    assert result.value == {"name": "Ada", "phone": "555"}
    last = upstream.chat_requests[-1].json()
    assert last["response_format"] == {"type": "json_object"}
    assert "JSON Schema" in last["messages"][-1]["content"]


async def test_structured_invalid_json_is_a_model_output_error(
    mock_llm: MockLLM, http_model: OpenAICompatModel
) -> None:
    mock_llm.push(MockReply(text='{"name": "Ada", "phone": '))

    with pytest.raises(ModelOutputError, match="not valid JSON"):
        await http_model.structured(CONTACT_REQUEST)


async def test_structured_truncated_output_is_a_model_output_error(
    mock_llm: MockLLM, http_model: OpenAICompatModel
) -> None:
    mock_llm.push(MockReply(text='{"name": "Ada", "phone": "555"}', finish_reason="length"))

    with pytest.raises(ModelOutputError, match="cut off"):
        await http_model.structured(CONTACT_REQUEST)


async def test_structured_invalid_choice_is_a_model_output_error(
    mock_llm: MockLLM, http_model: OpenAICompatModel
) -> None:
    choice = {
        "type": "object",
        "properties": {"next": {"oneOf": [{"const": "billing"}, {"const": "support"}]}},
    }
    mock_llm.push(MockReply(text='{"next": "sales"}'))

    with pytest.raises(ModelOutputError, match='"billing", "support"'):
        await http_model.structured(StructuredRequest(messages=HELLO.messages, schema=choice))
    sent_schema = mock_llm.chat_requests[0].json()["response_format"]["json_schema"]
    assert sent_schema["schema"]["properties"]["next"] == {
        "anyOf": [{"const": "billing"}, {"const": "support"}]
    }
    assert sent_schema["strict"] is False


# Start-up check -------------------------------------------------------------------------


async def test_check_passes_for_a_good_configuration(
    mock_llm: MockLLM, http_model: OpenAICompatModel
) -> None:
    await http_model.check()
    assert mock_llm.requests[0].path == "/v1/models"


async def test_check_reports_a_wrong_key_and_an_unknown_model(mock_llm: MockLLM) -> None:
    wrong_key = OpenAICompatModel(mock_llm.base_url, "sk-nope", "mock-model")
    wrong_model = OpenAICompatModel(mock_llm.base_url, API_KEY, "gpt-imaginary")
    try:
        with pytest.raises(LLMConfigError, match="PATHWEAVER_LLM_API_KEY"):
            await wrong_key.check()
        with pytest.raises(LLMConfigError, match=r"PATHWEAVER_LLM_MODEL") as raised:
            await wrong_model.check()
    finally:
        await wrong_key.aclose()
        await wrong_model.aclose()
    assert "mock-model" in raised.value.message


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
    }


@contextlib.asynccontextmanager
async def _one_answer_server(
    body: bytes, headers: bytes, heads: list[bytes], tls: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    """A server on 127.0.0.1 that answers every request with ``body`` (``headers`` added,
    one per line) and records each request's head in ``heads``; yields its port."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        heads.append(head)
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\n%scontent-length: %d\r\n\r\n" % (headers, len(body)))
        writer.write(body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


_PROXY_VARIABLES = ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")
_PROXY_VARIABLES += ("HTTPS_PROXY", "https_proxy")


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY"])
async def test_chat_calls_go_through_the_proxy_the_environment_names(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy set in the environment (``HTTP_PROXY``, or ``ALL_PROXY`` for every scheme)
    carries the chat calls, as it does httpx's."""
    heads: list[bytes] = []
    body = json.dumps(_completion("via the proxy")).encode()
    async with _one_answer_server(body, b"content-type: application/json\r\n", heads) as port:
        for name in _PROXY_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv(variable, f"http://127.0.0.1:{port}")
        # Never resolved: the proxy answers for it.
        model = OpenAICompatModel("http://upstream.invalid:9/v1", API_KEY, "mock-model", max_retries=0)
        try:
            assert (await collect(model.stream(WHOLE))).text == "via the proxy"
        finally:
            await model.aclose()
    assert [head.split(b"\r\n", 1)[0] for head in heads] == [
        b"POST http://upstream.invalid:9/v1/chat/completions HTTP/1.1"
    ]


def test_a_socks_proxy_is_refused_with_the_settings_to_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Model calls go through http:// and https:// proxies: a SOCKS one is an error at start,
    not a proxy silently skipped or spoken to in the wrong protocol."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(LLMConfigError, match=r"ALL_PROXY.*is a socks5:// proxy"):
        OpenAICompatModel("https://api.example.test/v1", API_KEY, "mock-model")


async def test_a_proxy_that_refuses_is_named_and_not_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy that answers CONNECT with 407 gets one request, and the error names it."""
    asked: list[bytes] = []

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked.append((await reader.readuntil(b"\r\n\r\n")).split(b"\r\n", 1)[0])
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    model = OpenAICompatModel("https://upstream.invalid/v1", API_KEY, "mock-model", backoff=0.01)
    try:
        with pytest.raises(LLMConfigError, match=rf"proxy http://127.0.0.1:{port}.*407.*HTTPS_PROXY"):
            await collect(model.stream(WHOLE))
    finally:
        await model.aclose()
        server.close()
        await server.wait_closed()
    assert asked == [b"CONNECT upstream.invalid:443 HTTP/1.1"]


async def test_a_compressed_answer_in_one_piece_is_decoded() -> None:
    """An upstream that gzips its one-piece answer is read as the JSON it is."""
    heads: list[bytes] = []
    body = gzip.compress(json.dumps(_completion("squeezed")).encode())
    headers = b"content-type: application/json\r\ncontent-encoding: gzip\r\n"
    async with _one_answer_server(body, headers, heads) as port:
        model = OpenAICompatModel(f"http://127.0.0.1:{port}/v1", API_KEY, "mock-model", max_retries=0)
        try:
            assert (await collect(model.stream(WHOLE))).text == "squeezed"
        finally:
            await model.aclose()
    assert b"accept-encoding: gzip" in heads[0].lower()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (made with the openssl command)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    subprocess.run(
        [openssl, *request, "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_an_upstream_over_tls_is_trusted_as_ssl_cert_file_says(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS trusts what the rest of Pathweaver's outbound calls trust (httpx's rules):
    certifi's bundle, or the certificates ``SSL_CERT_FILE`` names."""
    cert, key = certificate
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    heads: list[bytes] = []
    body = json.dumps(_completion("over TLS")).encode()
    async with _one_answer_server(body, b"content-type: application/json\r\n", heads, tls) as port:
        url = f"https://127.0.0.1:{port}/v1"
        doubting = OpenAICompatModel(url, API_KEY, "mock-model", max_retries=0)
        try:
            with pytest.raises(LLMError, match="certificate verify failed"):
                await collect(doubting.stream(WHOLE))
        finally:
            await doubting.aclose()
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        trusting = OpenAICompatModel(url, API_KEY, "mock-model", max_retries=0)
        try:
            assert (await collect(trusting.stream(WHOLE))).text == "over TLS"
        finally:
            await trusting.aclose()
    assert len(heads) == 1  # the refused handshake never got to a request


async def test_a_name_lookup_that_hangs_is_cut_at_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The connect timeout bounds the DNS lookup too (as httpx's did), not only the socket's
    connect: a resolver that hangs is reported as a connect problem, not left to the total
    timeout."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    loop = asyncio.get_running_loop()

    async def hanging_lookup(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(30)

    monkeypatch.setattr(loop, "getaddrinfo", hanging_lookup)
    model = OpenAICompatModel(
        "http://upstream.test:8000/v1", API_KEY, "m", connect_timeout=0.3, total_timeout=5, max_retries=0
    )
    started = time.monotonic()
    try:
        with pytest.raises(LLMTimeout, match="connect timeout"):
            await collect(model.stream(WHOLE))
    finally:
        await model.aclose()
    assert time.monotonic() - started < 2
