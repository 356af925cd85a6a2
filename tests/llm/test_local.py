"""LocalModel's machinery (worker thread, queue, cancellation, tool calls, structured output)
on a fake llama.cpp backend; the real model is exercised in test_local_model.py."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pytest

from pathweaver.errors import LLMConfigError, LLMError, ModelBusy, ModelOutputError
from pathweaver.llm.base import (
    ChatRequest,
    Finish,
    Message,
    StructuredRequest,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
    Usage,
    collect,
)
from pathweaver.llm.local import Backend, Done, LocalModel, Sampling

HELLO = ChatRequest(messages=(Message("user", "Hello"),))
ROUTE = ToolSpec(
    "go_to",
    "Move the conversation to another step.",
    {
        "type": "object",
        "properties": {
            "choice": {
                "oneOf": [
                    {"const": "billing", "description": "invoices, payments, refunds"},
                    {"const": "support", "description": "technical problems"},
                ]
            }
        },
        "required": ["choice"],
    },
)


@dataclass
class FakeBackend:
    """Plays generations from a script; ``gate`` (if set) must open before each later piece."""

    pieces: Sequence[str] = ("Hello", " there", "!")
    reason: str = "stop"
    context_size: int = 4096
    gate: threading.Event | None = None
    endless: bool = False
    prompts: list[str] = field(default_factory=list)
    grammars: list[str | None] = field(default_factory=list)
    slots: list[str] = field(default_factory=list)
    samplings: list[Sampling] = field(default_factory=list)
    threads: set[str] = field(default_factory=set)
    active: int = 0
    most_active: int = 0
    stopped: threading.Event = field(default_factory=threading.Event)
    closed: bool = False

    def tokenize(self, text: str) -> list[int]:
        self.prompts.append(text)
        return list(range(len(text.split())))

    def complete(
        self,
        prompt: list[int],
        *,
        max_tokens: int,
        sampling: Sampling,
        grammar: str | None,
        stop: threading.Event,
        slot: str = "main",
    ) -> Iterator[str | Done]:
        self.slots.append(slot)
        self.grammars.append(grammar)
        self.samplings.append(sampling)
        self.threads.add(threading.current_thread().name)
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            count = 0
            while True:
                for piece in self.pieces:
                    if stop.is_set():
                        self.stopped.set()
                        return
                    if count and self.gate is not None:
                        self.gate.wait(5)
                    count += 1
                    yield piece
                if not self.endless:
                    break
                time.sleep(0.01)
            yield Done("length" if self.reason == "length" else "stop", len(prompt), count)
        finally:
            self.active -= 1

    def close(self) -> None:
        self.closed = True


async def queued(model: LocalModel) -> None:
    """Wait until a call waits in the model's queue."""
    for _ in range(200):
        if model.waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no call is waiting")


def local(backend: FakeBackend, **options: int) -> LocalModel:
    def load() -> Backend:
        return backend

    return LocalModel(load, name="fake", **options)


async def test_text_streams_while_the_model_is_still_generating() -> None:
    gate = threading.Event()
    backend = FakeBackend(gate=gate)
    model = local(backend)
    stream = model.stream(HELLO)

    first = await asyncio.wait_for(anext(stream), 2)  # the backend now waits on the gate
    gate.set()
    rest = [event async for event in stream]
    await model.aclose()

    assert first == TextDelta("Hello")
    usage = Usage(prompt_tokens=len(backend.prompts[0].split()), completion_tokens=3)
    assert rest == [TextDelta(" there"), TextDelta("!"), Finish("stop", usage)]


async def test_calls_are_serialised_on_one_worker_thread() -> None:
    backend = FakeBackend(pieces=["a"] * 20)
    model = local(backend)

    results = await asyncio.gather(*(collect(model.stream(HELLO)) for _ in range(5)))
    await model.aclose()

    assert [r.text for r in results] == ["a" * 20] * 5
    assert backend.most_active == 1
    assert len(backend.threads) == 1
    assert backend.closed


async def test_a_full_queue_answers_model_busy() -> None:
    gate = threading.Event()
    model = local(FakeBackend(gate=gate), queue_limit=1)
    running = model.stream(HELLO)
    await anext(running)  # running, and holding the worker
    waiting = asyncio.create_task(collect(model.stream(HELLO)))
    await queued(model)

    with pytest.raises(ModelBusy, match="PATHWEAVER_LOCAL_MODEL_QUEUE") as raised:
        await anext(model.stream(HELLO))
    assert raised.value.status == 503

    gate.set()
    await running.aclose()  # type: ignore[attr-defined]
    assert (await waiting).text == "Hello there!"
    await model.aclose()


async def test_closing_the_stream_stops_generation() -> None:
    backend = FakeBackend(pieces=["tick "], endless=True)
    model = local(backend)
    stream = model.stream(HELLO)
    for _ in range(3):
        await anext(stream)

    await stream.aclose()  # type: ignore[attr-defined]

    assert await asyncio.to_thread(backend.stopped.wait, 2)
    await model.aclose()


async def test_cancelling_a_waiting_call_drops_it() -> None:
    gate = threading.Event()
    backend = FakeBackend(gate=gate)
    model = local(backend)
    running = model.stream(HELLO)
    await anext(running)
    waiting = asyncio.create_task(collect(model.stream(HELLO)))
    await queued(model)

    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert model.waiting == 0

    gate.set()
    await running.aclose()  # type: ignore[attr-defined]
    await model.aclose()
    assert len(backend.grammars) == 1  # the cancelled call never reached the model


async def test_a_tool_call_becomes_one_tool_call_delta() -> None:
    pieces = [
        "<tool",
        "_call>\n{",
        '"name": "go_to", ',
        '"arguments": {"choice": "billing"}}',
        "\n</tool_call>",
    ]
    backend = FakeBackend(pieces=pieces)
    model = local(backend)

    events = [e async for e in model.stream(ChatRequest(messages=HELLO.messages, tools=(ROUTE,)))]
    await model.aclose()

    assert len(events) == 2
    call, finish = events
    assert isinstance(call, ToolCallDelta) and isinstance(finish, Finish)
    assert (call.index, call.name, call.arguments) == (0, "go_to", '{"choice": "billing"}')
    assert call.id and call.id.startswith("call_")
    assert finish.reason == "tool_calls"
    grammar = backend.grammars[0]
    assert grammar is not None and '("\\"billing\\"" | "\\"support\\"")' in grammar
    assert "<tools>" in backend.prompts[0] and '"const": "billing"' in backend.prompts[0]


async def test_a_bare_json_tool_call_is_a_tool_call_too() -> None:
    model = local(FakeBackend(pieces=['{"name": "go_to", ', '"arguments": {"choice": "support"}}']))

    result = await collect(model.stream(ChatRequest(messages=HELLO.messages, tools=(ROUTE,))))
    await model.aclose()

    assert result.text == ""
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("go_to", '{"choice": "support"}')]
    assert result.finish_reason == "tool_calls"


async def test_text_is_released_once_it_cannot_be_a_tool_call() -> None:
    gate = threading.Event()
    model = local(FakeBackend(pieces=["<", "b>", "Bold", " move"], gate=gate))
    stream = model.stream(ChatRequest(messages=HELLO.messages, tools=(ROUTE,)))

    gate.set()
    events = [event async for event in stream]
    await model.aclose()

    assert events[:3] == [TextDelta("<b>"), TextDelta("Bold"), TextDelta(" move")]
    assert isinstance(events[-1], Finish) and events[-1].reason == "stop"


async def test_a_cut_tool_call_is_a_model_output_error() -> None:
    model = local(FakeBackend(pieces=["<tool_call>", '\n{"name": "go_to", "argu'], reason="length"))

    with pytest.raises(ModelOutputError, match="cut off"):
        await collect(model.stream(ChatRequest(messages=HELLO.messages, tools=(ROUTE,))))
    await model.aclose()


async def test_structured_output_is_greedy_constrained_and_validated() -> None:
    backend = FakeBackend(pieces=['{"name": ', '"Ada", "phone": ', '"555-0134"}'])
    model = local(backend)
    schema = {
        "type": "object",
        "properties": {"name": {"type": ["string", "null"]}, "phone": {"type": ["string", "null"]}},
        "required": ["name", "phone"],
    }

    result = await model.structured(StructuredRequest(messages=HELLO.messages, schema=schema))
    await model.aclose()

    assert result.value == {"name": "Ada", "phone": "555-0134"}
    assert result.usage == Usage(prompt_tokens=len(backend.prompts[0].split()), completion_tokens=3)
    assert backend.samplings[0].temperature == 0
    assert backend.grammars[0] is not None and backend.grammars[0].startswith('root ::= "{"')
    # The keys and their kinds in one line (the grammar enforces the rest).
    assert '{"name": string or null, "phone": string or null}' in backend.prompts[0]


async def test_replies_and_structured_calls_keep_their_own_cached_prefixes() -> None:
    """A structured call (extraction) runs in its own llama.cpp context, so it never evicts
    the conversation's evaluated prefix that the next reply reuses."""
    backend = FakeBackend(pieces=['{"name": "Ada"}'])
    model = local(backend)
    schema = {"type": "object", "properties": {"name": {"type": ["string", "null"]}}, "required": ["name"]}

    await model.structured(StructuredRequest(messages=HELLO.messages, schema=schema))
    backend.pieces = ["Hello"]
    await collect(model.stream(HELLO))
    await model.aclose()

    assert backend.slots == ["extract", "main"]


@pytest.mark.parametrize(
    ("pieces", "reason", "message"),
    [
        (['{"name": "Ada", "pho'], "length", "cut off"),
        (['{"name": 7, "phone": null}'], "stop", "does not match"),
    ],
)
async def test_structured_output_failures(pieces: list[str], reason: str, message: str) -> None:
    model = local(FakeBackend(pieces=pieces, reason=reason))
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}

    with pytest.raises(ModelOutputError, match=message):
        await model.structured(StructuredRequest(messages=HELLO.messages, schema=schema))
    await model.aclose()


async def test_old_turns_are_dropped_to_fit_the_context() -> None:
    backend = FakeBackend(context_size=60)
    model = local(backend, max_tokens=10)
    history = [Message("system", "Be kind.")]
    for n in range(10):
        history += [Message("user", f"question number {n} " * 2), Message("assistant", f"answer {n}")]
    history.append(Message("user", "the last question"))

    await collect(model.stream(ChatRequest(messages=tuple(history))))
    await model.aclose()

    final = backend.prompts[-1]
    assert len(final.split()) <= 50
    assert "Be kind." in final and "the last question" in final
    assert "question number 0" not in final


async def test_a_prompt_that_cannot_fit_is_an_error() -> None:
    model = local(FakeBackend(context_size=20), max_tokens=10)

    with pytest.raises(LLMError, match="PATHWEAVER_LOCAL_MODEL_CONTEXT"):
        await collect(model.stream(ChatRequest(messages=(Message("user", "word " * 50),))))
    await model.aclose()


async def test_a_load_failure_is_reported_on_the_call() -> None:
    def broken() -> Backend:
        raise LLMConfigError("cannot load the embedded model; check PATHWEAVER_LOCAL_MODEL")

    model = LocalModel(broken)
    with pytest.raises(LLMConfigError, match="PATHWEAVER_LOCAL_MODEL"):
        await model.load()
    await model.aclose()


def test_fake_backend_satisfies_the_protocol() -> None:
    backend: Backend = FakeBackend()
    factory: Callable[[], Backend] = lambda: backend  # noqa: E731
    assert factory() is backend


async def test_closing_the_model_ends_calls_in_flight() -> None:
    backend = FakeBackend(pieces=["tick "], endless=True)
    model = local(backend)
    stream = model.stream(HELLO)
    await anext(stream)

    await model.aclose()

    with pytest.raises(LLMError, match="closed"):
        async for _ in stream:
            pass
    assert backend.stopped.is_set() and backend.closed
    with pytest.raises(LLMError, match="closed"):
        await collect(model.stream(HELLO))
