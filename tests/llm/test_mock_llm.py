"""The mock upstream itself, from plain synchronous code (as a benchmark or a subprocess test
would use it)."""

from __future__ import annotations

import httpx

from tests.support.mock_llm import MockLLM, MockReply, MockToolCall


def test_a_non_streamed_completion_and_what_is_recorded() -> None:
    with MockLLM() as upstream:
        upstream.push(
            MockReply(text="Bonjour", tool_calls=[MockToolCall("f", "{}", id="call_9")], usage=(3, 2))
        )
        body = {"model": "mock-model", "messages": [{"role": "user", "content": "Hi"}]}
        with httpx.Client(base_url=upstream.base_url) as client:
            answer = client.post("/chat/completions", json=body).json()
            echoed = client.post("/chat/completions", json=body).json()
            listed = client.get("/models").json()

    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Bonjour",
        "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    assert answer["choices"][0]["finish_reason"] == "tool_calls"
    assert answer["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert echoed["choices"][0]["message"]["content"] == "You said: Hi"
    assert [m["id"] for m in listed["data"]] == ["mock-model"]
    assert upstream.calls == 2
    assert upstream.prompt_bytes == 2 * len(httpx.Request("POST", "http://x", json=body).content)
    assert [r.path for r in upstream.requests] == [
        "/v1/chat/completions",
        "/v1/chat/completions",
        "/v1/models",
    ]


def test_a_streamed_completion_is_chunked_sse() -> None:
    with MockLLM() as upstream:
        upstream.push(MockReply(text="abcdef", chunk_size=2))
        body = {
            "model": "mock-model",
            "messages": [],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        with (
            httpx.Client(base_url=upstream.base_url) as client,
            client.stream("POST", "/chat/completions", json=body) as response,
        ):
            lines = [line for line in response.iter_lines() if line]

    assert response.headers["content-type"] == "text/event-stream"
    assert lines[-1] == "data: [DONE]"
    contents = [
        chunk["choices"][0]["delta"].get("content")
        for chunk in (httpx.Response(200, content=line.removeprefix("data: ")).json() for line in lines[:-1])
        if chunk["choices"]
    ]
    assert contents == ["", "ab", "cd", "ef", None]
    assert '"usage"' in lines[-2]
