"""The embedded model: llama.cpp in this process, through llama-cpp-python.

Used when no upstream is configured (see :mod:`pathweaver.llm.factory`). Contract:

* **One at a time.** A llama.cpp context must never be used by two threads at once (it
  crashes the process), so every call on an instance, loading included, runs on the
  instance's single worker thread: that thread is the lock. Calls queue for it; when
  ``queue_limit`` calls are already waiting, the next one raises :class:`ModelBusy` (503).
* **Streaming without blocking.** Generation runs on the worker thread; each piece of text
  crosses to the event loop through an asyncio queue as soon as it is decoded.
* **Cancellation.** Closing or cancelling a stream stops generation after the current
  token (prompt evaluation, once started, runs to its end); a call still waiting in the
  queue is dropped.
* **Prompts** are rendered by :mod:`pathweaver.llm.chatml`, not by the GGUF's template.
* **Tools.** With tools offered, decoding is constrained by
  :func:`~pathweaver.llm.grammar.tool_call_grammar`: the reply is plain text, streamed as
  soon as it cannot be a tool call, or exactly one call of an offered tool with arguments
  that follow its schema (tagged ``<tool_call>`` or bare), emitted as one
  :class:`ToolCallDelta` once complete. The embedded model makes at most one call per reply.
* **Structured output** is decoded greedily under :func:`~pathweaver.llm.grammar.json_grammar`
  and validated; output cut by ``max_tokens`` raises :class:`ModelOutputError`.
"""

from __future__ import annotations

import asyncio
import codecs
import ctypes
import json
import math
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from pathweaver.errors import LLMConfigError, LLMError, ModelBusy, ModelOutputError
from pathweaver.llm import chatml
from pathweaver.llm.base import (
    ChatEvent,
    ChatRequest,
    Finish,
    FinishReason,
    Message,
    StructuredRequest,
    StructuredResult,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
    Usage,
)
from pathweaver.llm.grammar import TOOL_CALL_CLOSE, TOOL_CALL_OPEN, json_grammar, tool_call_grammar
from pathweaver.llm.schema import parse_object

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sampling:
    temperature: float = 0.7
    top_p: float = 0.8
    top_k: int = 20
    repeat_penalty: float = 1.05


#: Qwen's recommended sampling for chat; structured output is greedy.
CHAT_SAMPLING = Sampling()
GREEDY = Sampling(temperature=0.0, top_p=1.0, top_k=1, repeat_penalty=1.0)


@dataclass(frozen=True, slots=True)
class Done:
    """The end of one generation."""

    reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    #: Of ``prompt_tokens``, those found already evaluated in the context's cache.
    cached_tokens: int = 0


#: The kinds of call whose evaluated prompts a backend keeps apart, each with its own
#: cached prefix: ``main`` for replies (the conversation's prompt grows turn after turn, so
#: its prefix is reused), ``decide`` for routing questions, ``extract`` for extraction.
#: Calls of one kind never evict another kind's cached prefix.
Slot = Literal["main", "decide", "extract"]


class Matcher(Protocol):
    def similarities(self, said: str, statements: Sequence[str]) -> tuple[float, ...] | None:
        """One cosine per statement, or ``None`` where it does not apply (on the worker thread)."""
        ...


class Backend(Protocol):
    """The part of llama.cpp the embedded model uses; called from one thread only."""

    context_size: int

    def tokenize(self, text: str) -> list[int]: ...

    def complete(
        self,
        prompt: list[int],
        *,
        max_tokens: int,
        sampling: Sampling,
        grammar: str | None,
        stop: threading.Event,
        slot: Slot = "main",
    ) -> Iterator[str | Done]:
        """Yield decoded text pieces as tokens are sampled, then one :class:`Done`."""
        ...

    def close(self) -> None: ...


class LlamaBackend:
    """:class:`Backend` over ``llama_cpp.Llama`` (imported here: it is an optional extra)."""

    def __init__(
        self, path: Path, *, context_size: int, threads: int | None, seed: int | None = None
    ) -> None:
        try:
            import llama_cpp
            from llama_cpp.llama_grammar import LlamaGrammar
        except ImportError:
            raise LLMConfigError(
                "the embedded model needs llama-cpp-python: install the 'local' extra "
                "(pip install 'pathweaver[local]'), or set PATHWEAVER_LLM_BASE_URL to use an upstream",
                code="local_model_unavailable",
            ) from None
        self._grammar_type = LlamaGrammar
        threads = threads or os.cpu_count() or 1
        try:
            self._llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=context_size,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
                seed=seed if seed is not None else llama_cpp.LLAMA_DEFAULT_SEED,
            )
        except (ValueError, RuntimeError) as error:
            raise LLMConfigError(
                f"cannot load the embedded model from {path} ({error}); check PATHWEAVER_LOCAL_MODEL",
                code="local_model_unloadable",
            ) from None
        self.context_size = context_size
        self._api = llama_cpp
        #: The slot whose evaluated tokens are in the context now, and the others' parked
        #: caches: (their tokens, their KV cells as llama.cpp serialises them).
        self._slot: Slot = "main"
        self._parked: dict[str, tuple[Any, bytes]] = {}
        self._stops = {self._llama.token_eos()}
        for marker in chatml.END_MARKERS:
            ids = self.tokenize(marker)
            if len(ids) == 1:  # a special token of this vocabulary
                self._stops.add(ids[0])

    def tokenize(self, text: str) -> list[int]:
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def complete(
        self,
        prompt: list[int],
        *,
        max_tokens: int,
        sampling: Sampling,
        grammar: str | None,
        stop: threading.Event,
        slot: Slot = "main",
    ) -> Iterator[str | Done]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        llama = self._use(slot)
        cached = min(llama.longest_token_prefix(llama._input_ids.tolist(), prompt), len(prompt) - 1)
        tokens = llama.generate(
            prompt,
            temp=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            min_p=0.0,
            repeat_penalty=sampling.repeat_penalty,
            grammar=self._grammar_type.from_string(grammar, verbose=False) if grammar else None,
        )
        count, reason = 0, "length"
        try:
            for token in tokens:
                if token in self._stops:
                    reason = "stop"
                    break
                count += 1
                text = decoder.decode(llama.detokenize([token], special=True))
                if text:
                    yield text
                if stop.is_set() or count >= max_tokens:
                    break
        finally:
            tokens.close()
        if tail := decoder.decode(b"", final=True):
            yield tail
        yield Done("stop" if reason == "stop" else "length", len(prompt), count, max(cached, 0))

    def _use(self, slot: Slot) -> Any:
        """The context, holding ``slot``'s cached prefix.

        One llama.cpp context serves every slot (a second context cost about 2 GB of memory
        more with this build, measured 2026-12-07): switching parks the current slot's KV
        cells (llama.cpp's per-sequence state, about 28 KB a token for the 1.5B model, so a
        few milliseconds to copy) and puts back the other slot's, so that an extraction or a
        routing question never makes the next reply evaluate the whole conversation again.
        """
        llama, api = self._llama, self._api
        if slot == self._slot:
            return llama
        ctx = llama._ctx.ctx
        if llama.n_tokens:
            size = api.llama_state_seq_get_size(ctx, 0)
            buffer = (ctypes.c_uint8 * size)()
            written = api.llama_state_seq_get_data(ctx, buffer, size, 0)
            if written:
                self._parked[self._slot] = (llama.input_ids[: llama.n_tokens].copy(), bytes(buffer)[:written])
        api.llama_memory_clear(api.llama_get_memory(ctx), True)
        llama.n_tokens = 0
        llama._requires_eval = True
        parked = self._parked.pop(slot, None)
        if parked is not None:
            tokens, state = parked
            data = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
            if api.llama_state_seq_set_data(ctx, data, len(state), 0) == len(state):
                llama.input_ids[: len(tokens)] = tokens
                llama.n_tokens = len(tokens)
            else:  # nothing reused: the prompt is evaluated from the start
                api.llama_memory_clear(api.llama_get_memory(ctx), True)
        self._slot = slot
        return llama

    def score_next(self, prompt: list[int], candidates: Sequence[int], *, slot: Slot = "main") -> list[float]:
        """The logits of ``candidates`` as the token after ``prompt``, sampling nothing.

        The evaluated prefix that ``prompt`` shares with the slot's previous call is
        reused, as ``Llama.generate`` does.
        """
        import numpy as np

        llama = self._use(slot)
        cached = llama._input_ids.tolist()
        reuse = min(llama.longest_token_prefix(cached, prompt), len(prompt) - 1)
        llama.n_tokens = max(reuse, 0)
        llama.eval(prompt[llama.n_tokens :])
        logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(llama.n_vocab(),))
        return [float(logits[token]) for token in candidates]

    def close(self) -> None:
        self._parked.clear()
        self._llama.close()


class LocalModel:
    """A :class:`~pathweaver.llm.base.Model` running in-process on one worker thread.

    ``backend`` is called on the worker thread, on first use, to load the model; tests
    pass a fake. ``max_tokens`` is the reply length when a request sets none.
    """

    #: One call at a time (see :func:`pathweaver.llm.base.serial`).
    serial_calls = True
    #: The step's part of the prompt comes just before the user's last message
    #: (:func:`pathweaver.engine.prompt.context`), so the rest stays in llama.cpp's cache.
    prompt_step_last = True

    def __init__(
        self,
        backend: Callable[[], Backend],
        *,
        name: str = "local",
        queue_limit: int = 8,
        max_tokens: int = 512,
        matcher: Matcher | None = None,
    ) -> None:
        self.name = name
        #: The second opinion on routing choices (:mod:`pathweaver.llm.similarity`); none
        #: with a fake backend unless a test passes one.
        self.matcher = matcher
        self.queue_limit = queue_limit
        self.max_tokens = max_tokens
        self._load = backend
        self._backend: Backend | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pathweaver-llama")
        self._waiting = 0
        self._waiting_lock = threading.Lock()
        self._closed = False
        self._running: set[threading.Event] = set()

    @classmethod
    def from_path(
        cls,
        path: Path,
        *,
        context_size: int = 4096,
        threads: int | None = None,
        queue_limit: int = 8,
        seed: int | None = None,
    ) -> LocalModel:
        from pathweaver.llm.similarity import StatementMatcher

        def load() -> Backend:
            return LlamaBackend(path, context_size=context_size, threads=threads, seed=seed)

        return cls(load, name=path.stem, queue_limit=queue_limit, matcher=StatementMatcher())

    @property
    def waiting(self) -> int:
        """Calls queued behind the one running."""
        return self._waiting

    async def load(self) -> None:
        """Load the weights now (start-up) rather than on the first call."""

        def nothing(backend: Backend, stop: threading.Event) -> Iterator[str]:
            return iter(())

        async for _ in self._on_worker(nothing):
            pass

    # The Model protocol -------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        max_tokens = request.max_tokens or self.max_tokens
        sampling = CHAT_SAMPLING
        if request.temperature is not None:
            sampling = Sampling(temperature=request.temperature)
        grammar = tool_call_grammar(request.tools) if request.tools else None

        def generate(backend: Backend, stop: threading.Event) -> Iterator[str | Done]:
            prompt = _fit(backend, request.messages, request.tools, "", max_tokens)
            return backend.complete(
                prompt, max_tokens=max_tokens, sampling=sampling, grammar=grammar, stop=stop
            )

        splitter = _ToolCallSplitter() if request.tools else None
        async for item in self._on_worker(generate):
            if isinstance(item, Done):
                usage = Usage(item.prompt_tokens, item.completion_tokens, item.cached_tokens)
                if splitter is not None and splitter.calling:
                    yield splitter.tool_call(item.reason)
                    yield Finish("tool_calls", usage)
                else:
                    if splitter is not None and (text := splitter.flush()):
                        yield TextDelta(text)
                    yield Finish(item.reason, usage)
            elif splitter is None:
                yield TextDelta(item)
            elif text := splitter.feed(item):
                yield TextDelta(text)

    async def structured(self, request: StructuredRequest) -> StructuredResult:
        if request.options:
            return await self._choose(request)
        grammar = json_grammar(request.schema)
        messages, instructions = list(request.messages), schema_instructions(request.schema)
        if messages and messages[-1].role == "user" and len(messages) > 1:
            # The question comes last, after a context shared with the turn's other calls:
            # the format goes with it, so that the cached prefix stays the same.
            last = messages[-1]
            messages[-1] = Message(role="user", content=f"{last.content}\n\n{instructions}")
            instructions = ""

        def generate(backend: Backend, stop: threading.Event) -> Iterator[str | Done]:
            prompt = _fit(backend, messages, request.context_tools, instructions, request.max_tokens)
            return backend.complete(
                prompt,
                max_tokens=request.max_tokens,
                sampling=GREEDY,
                grammar=grammar,
                stop=stop,
                slot="extract",
            )

        pieces: list[str] = []
        done: Done | None = None
        async for item in self._on_worker(generate):
            if isinstance(item, Done):
                done = item
            else:
                pieces.append(item)
        if done is None:
            raise LLMError("the embedded model stopped without finishing its answer")
        value = parse_object("".join(pieces), request.schema, truncated=done.reason == "length")
        return StructuredResult(value, Usage(done.prompt_tokens, done.completion_tokens, done.cached_tokens))

    async def _choose(self, request: StructuredRequest) -> StructuredResult:
        """A choice among numbered options: the numbers scored, none sampled, then checked.

        The prompt asks for the number of the true statement; the model's next-token logits
        for "0", "1", ... give the scores. Each option's score is weighed with how close the
        user's words are to its statement (the :attr:`matcher`, where there is one): the
        pick is the highest ``p * exp(similarity * SCALE)``. The 1.5B model almost never
        answers "0" (none of them), so the statement picked is then put to it as a
        yes-or-no question; its P(yes) is the result's ``check``, and the engine moves only
        when it is high enough (``bench/routing/README.md``). Numbers of two digits are scored
        digit by digit (:func:`_number_scores`). Past a hundred options, or on a backend that
        cannot score, the number is decoded greedily under a grammar instead.
        """
        labels = [str(number) for number in range(len(request.options))]

        def generate(backend: Backend, stop: threading.Event) -> Iterator[_Chosen]:
            scorer = getattr(backend, "score_next", None)
            if scorer is not None and request.exchange is not None and len(labels) <= 100:
                digits = [backend.tokenize(str(digit)) for digit in range(10)]
                if all(len(d) == 1 for d in digits):
                    yield _side_choice(backend, scorer, request, [d[0] for d in digits], self.matcher)
                    return
            ids = [backend.tokenize(label) for label in labels]
            prompt = _fit(backend, request.messages, request.context_tools, "", 4)
            if scorer is not None and all(len(i) == 1 for i in ids):
                scores = _softmax(scorer(prompt, [i[0] for i in ids]))
                yield _Chosen(scores, None, len(prompt), max(range(len(scores)), key=scores.__getitem__))
                return
            grammar = "root ::= " + " | ".join(f'"{label}"' for label in labels)
            text = ""
            for piece in backend.complete(prompt, max_tokens=4, sampling=GREEDY, grammar=grammar, stop=stop):
                if isinstance(piece, Done):
                    yield _Chosen(text, None, piece.prompt_tokens, 0)
                else:
                    text += piece

        chosen: _Chosen | None = None
        async for item in self._on_worker(generate):
            chosen = item
        if chosen is None:
            raise LLMError("the embedded model stopped without choosing")
        if isinstance(chosen.scores, str):
            if chosen.scores.strip() not in labels:
                raise ModelOutputError(
                    "the embedded model's choice is not one of the options",
                    details={"output": chosen.scores[:50]},
                )
            return StructuredResult({"choice": int(chosen.scores)}, Usage(chosen.tokens, len(chosen.scores)))
        # The pick and the check, as the model gave them: how sure it must be to move is
        # the engine's choice (``pathweaver.engine.routing.CHECK_BAR``).
        return StructuredResult(
            {"choice": chosen.best},
            Usage(chosen.tokens, 0),
            tuple(chosen.scores),
            chosen.check,
            chosen.similarities,
        )

    async def aclose(self) -> None:
        """Stop what runs, drop what waits, and free the weights."""
        if self._closed:
            return
        self._closed = True
        for stop in list(self._running):
            stop.set()

        def close() -> None:
            if self._backend is not None:
                self._backend.close()
                self._backend = None

        await asyncio.wrap_future(self._worker.submit(close))
        self._worker.shutdown(wait=False)

    # The worker thread --------------------------------------------------------------

    async def _on_worker(self, work: Callable[[Backend, threading.Event], Iterator[T]]) -> AsyncIterator[T]:
        """Run ``work`` on the worker thread and relay what it yields, as it yields it."""
        if self._closed:
            raise LLMError("the embedded model is closed")
        with self._waiting_lock:
            if self._waiting >= self.queue_limit:
                raise ModelBusy(
                    f"the embedded model is busy ({self._waiting} requests waiting; "
                    "PATHWEAVER_LOCAL_MODEL_QUEUE sets how many may wait)"
                )
            self._waiting += 1
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[T | _End] = asyncio.Queue()
        stop = threading.Event()
        self._running.add(stop)

        def send(item: T | _End) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is closed: nobody is listening any more
                stop.set()

        def run() -> None:
            with self._waiting_lock:
                self._waiting -= 1
            try:
                if not stop.is_set():
                    if self._backend is None:
                        self._backend = self._load()
                    for item in work(self._backend, stop):
                        if not stop.is_set():  # once stopped, the generation winds down by itself
                            send(item)
            except Exception as error:
                send(_End(error))
            else:
                send(
                    _End(LLMError("the embedded model was closed during the call") if stop.is_set() else None)
                )

        job = self._worker.submit(run)
        try:
            while not isinstance(item := await queue.get(), _End):
                yield item
            if item.error is not None:
                raise _model_error(item.error)
        finally:
            stop.set()
            self._running.discard(stop)
            if job.cancel():  # never started: it no longer waits
                with self._waiting_lock:
                    self._waiting -= 1


@dataclass(frozen=True, slots=True)
class _End:
    error: Exception | None


class _ToolCallSplitter:
    """Decides from the first characters whether a reply is text or a tool call.

    A call starts with ``{`` or ``<tool_call>`` (the grammar admits no text starting so);
    text is released as soon as it cannot be either; a call is held until the generation
    ends, then parsed.
    """

    def __init__(self) -> None:
        self.buffer = ""
        self.calling = False
        self.decided = False

    def feed(self, piece: str) -> str:
        if self.decided:
            if self.calling:
                self.buffer += piece
                return ""
            return piece
        self.buffer += piece
        if self.buffer.startswith(("{", TOOL_CALL_OPEN)):
            self.decided = self.calling = True
            return ""
        if TOOL_CALL_OPEN.startswith(self.buffer):
            return ""
        self.decided = True
        text, self.buffer = self.buffer, ""
        return text

    def flush(self) -> str:
        """Text still held back when the reply ends undecided (e.g. a lone ``<``)."""
        text, self.buffer = ("", self.buffer) if self.calling else (self.buffer, "")
        return text

    def tool_call(self, reason: FinishReason) -> ToolCallDelta:
        body = self.buffer.strip()
        tagged = body.startswith(TOOL_CALL_OPEN)
        if reason == "length" or (tagged and not body.endswith(TOOL_CALL_CLOSE)):
            raise ModelOutputError(
                "the embedded model's tool call was cut off (max_tokens reached)",
                details={"output": self.buffer[-500:]},
            )
        if tagged:
            body = body.removeprefix(TOOL_CALL_OPEN).removesuffix(TOOL_CALL_CLOSE)
        try:
            call = json.loads(body)
            name, arguments = str(call["name"]), call["arguments"]
        except (ValueError, KeyError, TypeError):
            raise ModelOutputError(
                "the embedded model produced a malformed tool call", details={"output": self.buffer[:500]}
            ) from None
        call_id = "call_" + uuid.uuid4().hex[:24]
        return ToolCallDelta(
            index=0, id=call_id, name=name, arguments=json.dumps(arguments, ensure_ascii=False)
        )


_CHOICE_SYSTEM = "You read a conversation and decide which statement about the user's reply is true."


def _softmax(logits: Sequence[float]) -> tuple[float, ...]:
    top = max(logits)
    weights = [math.exp(logit - top) for logit in logits]
    total = sum(weights)
    return tuple(weight / total for weight in weights)


def choice_prompt(options: Sequence[str], asked: str, said: str) -> list[Message]:
    """The choice as the embedded model is asked it, in the ``decide`` slot: the last exchange,
    the numbered statements, the question (the framing measured best on ``bench/routing``)."""
    lines = [f'Assistant said: "{asked}"'] if asked else []
    lines.append(f'User replied: "{said}"')
    lines.append("")
    lines.append("Which of these statements is true of the user's reply?")
    lines.extend(f"{number}. {text}" for number, text in enumerate(options))
    lines.append("")
    lines.append("Answer with the number only.")
    return [Message(role="system", content=_CHOICE_SYSTEM), Message(role="user", content="\n".join(lines))]


@dataclass(frozen=True, slots=True)
class _Chosen:
    """What the worker thread found: scores (or the decoded number), the check, tokens read."""

    scores: tuple[float, ...] | str
    check: float | None
    tokens: int
    best: int
    similarities: tuple[float, ...] | None = None


_CHECK_SYSTEM = "You check whether a statement about a user's reply is true. Answer yes or no."


def check_prompt(statement: str, asked: str, said: str) -> list[Message]:
    """The yes-or-no question that checks the option the model picked."""
    lines = [f'Assistant said: "{asked}"'] if asked else []
    lines.append(f'User replied: "{said}"')
    lines.append("")
    lines.append(f"Statement: {statement}")
    lines.append("")
    lines.append("Is the statement true of the user's reply? Answer yes or no.")
    return [Message(role="system", content=_CHECK_SYSTEM), Message(role="user", content="\n".join(lines))]


def _side_choice(
    backend: Backend,
    scorer: Callable[..., list[float]],
    request: StructuredRequest,
    digits: list[int],
    matcher: Matcher | None,
) -> _Chosen:
    """The choice in the ``decide`` slot, weighed with the matcher's similarities, then the
    check of the statement picked (if not 0). ``digits``: the token of each digit."""
    assert request.exchange is not None
    asked, said = request.exchange
    tokens = backend.tokenize(chatml.render(choice_prompt(request.options, asked, said)))
    scores, read = _number_scores(backend, scorer, tokens, digits, len(request.options))
    found = matcher.similarities(said, request.options[1:]) if matcher is not None else None
    similarities = (0.0, *found) if found is not None else None
    best = pick(scores, similarities)
    if best == 0:
        return _Chosen(scores, None, read, best, similarities)
    answers = [backend.tokenize(word)[0] for word in ("yes", "Yes", "no", "No")]
    question = backend.tokenize(chatml.render(check_prompt(request.options[best], asked, said)))
    yes_yes, yes_cap, _, _ = _softmax(scorer(question, answers, slot="decide"))
    return _Chosen(scores, yes_yes + yes_cap, read + len(question), best, similarities)


def _number_scores(
    backend: Backend, scorer: Callable[..., list[float]], prompt: list[int], digits: list[int], count: int
) -> tuple[tuple[float, ...], int]:
    """The probability of each answer ``0`` to ``count - 1`` after ``prompt``, and the tokens
    read. Numbers are read digit by digit (Qwen's tokenizer splits them), so with ten options
    or more, "1" is also the start of "10" to "19": its probability is shared out by scoring
    the token after it (one more token evaluated; the prompt is cached), the end of the
    answer against each second digit. Before, past ten options the number was decoded
    greedily instead, and on an 11-way hub the model answered "1" on every turn
    (``bench/routing``: 0 of 9 first turns of the telecom agent right)."""
    firsts = sorted({int(str(number)[0]) for number in range(count)})
    first = dict(
        zip(firsts, _softmax(scorer(prompt, [digits[d] for d in firsts], slot="decide")), strict=True)
    )
    scores = [0.0] * count
    read = len(prompt)
    for digit in firsts:
        longer = [number for number in range(10, count) if str(number)[0] == str(digit)]
        if not longer:
            scores[digit] = first[digit]
            continue
        end = backend.tokenize("<|im_end|>")[0]
        seconds = [digits[number % 10] for number in longer]
        then = _softmax(scorer([*prompt, digits[digit]], [end, *seconds], slot="decide"))
        read += 1
        scores[digit] = first[digit] * then[0]
        for number, p in zip(longer, then[1:], strict=True):
            scores[number] = first[digit] * p
    return tuple(scores), read


def pick(scores: Sequence[float], similarities: Sequence[float] | None) -> int:
    """The option with the highest ``p * exp(similarity * SCALE)`` ("none", at 0, has no
    statement and counts its probability alone); the highest ``p`` without similarities."""
    from pathweaver.llm.similarity import SCALE

    def weight(index: int) -> float:
        p = max(scores[index], 1e-12)
        bonus = similarities[index] * SCALE if similarities is not None and index > 0 else 0.0
        return math.log(p) + bonus

    return max(range(len(scores)), key=weight)


def schema_instructions(schema: Mapping[str, Any]) -> str:
    """What the prompt says about the expected object: its keys and their kinds, in a line.

    The grammar enforces the schema, so the prompt only has to tell the model what to fill
    in; a whole JSON Schema is several hundred tokens of prompt to evaluate on every call
    (an extraction of six keys read 1.5x as many tokens). Schemas that are not a flat object
    are given whole.
    """
    properties = schema.get("properties")
    if schema.get("type") == "object" and isinstance(properties, Mapping) and properties:
        kinds = [f"{json.dumps(key, ensure_ascii=False)}: {_kind(sub)}" for key, sub in properties.items()]
        return "Answer with one JSON object only, of this form: {" + ", ".join(kinds) + "}"
    return "Answer with one JSON object that validates against this JSON Schema:\n" + json.dumps(
        dict(schema), ensure_ascii=False
    )


def _kind(schema: Any) -> str:
    if not isinstance(schema, Mapping):
        return "any value"
    if isinstance(schema.get("enum"), list):
        return "one of " + json.dumps(schema["enum"], ensure_ascii=False)
    kind = schema.get("type")
    if isinstance(kind, str) and kind not in ("object", "array"):
        return kind
    if isinstance(kind, list) and all(isinstance(k, str) and k not in ("object", "array") for k in kind):
        return " or ".join(kind)
    return json.dumps(dict(schema), ensure_ascii=False)


def _fit(
    backend: Backend,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    instructions: str,
    max_tokens: int,
) -> list[int]:
    """Tokenize the prompt, dropping the oldest turns until it fits the context with the reply."""
    budget = backend.context_size - max_tokens
    kept = list(messages)
    while True:
        tokens = backend.tokenize(chatml.render(kept, tools, instructions=instructions))
        if len(tokens) <= budget:
            return tokens
        oldest = next((i for i, m in enumerate(kept[:-1]) if m.role != "system"), None)
        if oldest is None:
            raise LLMError(
                f"the prompt ({len(tokens)} tokens) and the reply ({max_tokens} tokens) do not fit "
                f"the embedded model's context of {backend.context_size} tokens (PATHWEAVER_LOCAL_MODEL_CONTEXT)",
                code="context_length_exceeded",
            )
        del kept[oldest]
        while oldest < len(kept) - 1 and kept[oldest].role == "tool":
            del kept[oldest]  # results whose call was dropped would confuse the model


def _model_error(error: Exception) -> LLMError:
    if isinstance(error, LLMError):
        return error
    return LLMError(f"the embedded model failed ({type(error).__name__}: {error})")
