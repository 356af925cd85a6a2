"""The embedded model's routing choice on a fake backend: the numbers scored, weighed with
how close the user's words are to each statement, then the pick checked with a yes or no."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pathweaver.errors import EmbeddingError
from pathweaver.llm.base import Message, StructuredRequest
from pathweaver.llm.local import Backend, LocalModel, pick
from pathweaver.llm.similarity import SCALE, StatementMatcher, latin
from tests.llm.test_local import FakeBackend

OPTIONS = ("None of them", "The user wants to book a table", "The user asks a question")
WORDS = {"yes": 100, "Yes": 101, "no": 102, "No": 103}


@dataclass
class ScoringBackend(FakeBackend):
    """Numbers are their own token ids; the choice scores them with ``logits``, the check
    answers yes with ``p_yes``; every scored prompt is kept."""

    logits: Sequence[float] = (0.0, 0.0, 0.0)
    p_yes: float = 0.9
    scored: list[str] = field(default_factory=list)

    def tokenize(self, text: str) -> list[int]:
        self.prompts.append(text)
        if text in WORDS:
            return [WORDS[text]]
        if text.isdigit():
            return [int(text)]
        return list(range(len(text.split())))

    def score_next(self, prompt: list[int], candidates: Sequence[int], *, slot: str = "main") -> list[float]:
        text = self.prompts[-1]
        self.scored.append(text)
        if "Is the statement true" in text:
            yes = math.log(self.p_yes / 2)
            no = math.log((1 - self.p_yes) / 2)
            return [yes, yes, no, no]
        return [self.logits[c] for c in candidates]


class FakeMatcher:
    def __init__(self, similarities: tuple[float, ...] | None) -> None:
        self.value = similarities
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    def similarities(self, said: str, statements: Sequence[str]) -> tuple[float, ...] | None:
        self.asked.append((said, tuple(statements)))
        return self.value


def choice(said: str = "Hi, I'd like a table for two") -> StructuredRequest:
    return StructuredRequest(
        messages=(Message("user", said),),
        schema={"type": "object", "properties": {"choice": {"type": "integer", "enum": [0, 1, 2]}}},
        name="route",
        purpose="decide",
        options=OPTIONS,
        exchange=("Welcome! How can I help?", said),
    )


def model(backend: ScoringBackend, matcher: FakeMatcher | None) -> LocalModel:
    def load() -> Backend:
        return backend

    return LocalModel(load, matcher=matcher)


async def test_without_similarities_the_models_highest_score_is_the_pick_and_it_is_checked() -> None:
    backend = ScoringBackend(logits=(0.0, 1.0, 1.5))
    result = await model(backend, None).structured(choice())
    assert result.value == {"choice": 2}
    assert result.similarities is None
    assert result.check is not None and abs(result.check - 0.9) < 1e-6
    assert "The user asks a question" in backend.scored[-1]  # the pick is what gets checked


async def test_the_users_words_close_to_a_statement_tip_a_near_tie_and_the_new_pick_is_checked() -> None:
    backend = ScoringBackend(logits=(0.0, 1.0, 1.5))  # the model leans to 2, not by much
    matcher = FakeMatcher((0.7, 0.1))  # the words are close to statement 1
    result = await model(backend, matcher).structured(choice())
    assert result.value == {"choice": 1}
    assert result.similarities == (0.0, 0.7, 0.1)
    assert matcher.asked == [("Hi, I'd like a table for two", OPTIONS[1:])]
    assert "The user wants to book a table" in backend.scored[-1]
    assert result.scores is not None and result.scores[2] > result.scores[1]  # the model's own, kept


async def test_a_clear_preference_of_the_model_outweighs_a_mild_similarity() -> None:
    backend = ScoringBackend(logits=(0.0, 0.0, 4.0))
    result = await model(backend, FakeMatcher((0.5, 0.2))).structured(choice())
    assert result.value == {"choice": 2}


def test_the_pick_weighs_probability_and_similarity_and_none_has_no_statement() -> None:
    assert pick((0.1, 0.5, 0.4), None) == 1
    assert pick((0.1, 0.5, 0.4), (0.0, 0.0, 0.3)) == 2  # 0.4 * e^(0.3 * SCALE) > 0.5
    assert pick((0.6, 0.2, 0.2), (0.0, 0.1, 0.1)) == 0
    assert math.isclose(0.4 * math.exp(0.3 * SCALE), 1.087, rel_tol=0.01)


class CountingEmbedder:
    """Unit vectors: the message along x, each statement given its own direction."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if self.fail:
            raise EmbeddingError("the embedding model is not installed: run pip install ...")
        rows = []
        for text in texts:
            angle = 0.0 if "table" in text else 1.2
            rows.append([math.cos(angle), math.sin(angle)])
        return np.asarray(rows, dtype=np.float32)


def test_the_matcher_embeds_each_statement_once() -> None:
    embedder = CountingEmbedder()
    matcher = StatementMatcher(embedder)  # type: ignore[arg-type]
    first = matcher.similarities("a table please", ["book a table", "ask a question"])
    assert first is not None and first[0] > 0.99 and first[1] < 0.4
    again = matcher.similarities("a table for two", ["book a table", "ask a question"])
    assert again == first
    assert embedder.calls[1] == ["a table for two"]  # the statements' vectors were kept


def test_the_matcher_stays_out_of_texts_it_was_not_trained_on_and_without_its_model() -> None:
    embedder = CountingEmbedder()
    matcher = StatementMatcher(embedder)  # type: ignore[arg-type]
    assert matcher.similarities("我想订一张桌子", ["用户想订桌", "用户有问题"]) is None
    assert embedder.calls == []
    assert latin("Café crème, s'il vous plaît") and not latin("Привет, как дела?")
    missing = StatementMatcher(CountingEmbedder(fail=True))  # type: ignore[arg-type]
    assert missing.similarities("a table", ["book a table"]) is None
    assert missing.similarities("a table", ["book a table"]) is None
    assert len(missing._embedder.calls) == 1  # type: ignore[attr-defined]  # and it does not retry


async def test_the_trace_shows_each_options_score_and_similarity_and_the_check() -> None:
    from pathweaver.agent.config import AgentConfig
    from tests.engine.test_routing import BOOKING, run
    from tests.engine.test_turn import session

    backend = ScoringBackend(logits=(0.0, 1.0, 1.2), pieces=("How many people?",))
    matcher = FakeMatcher((0.6, 0.05))
    outcome, _ = await run(
        BOOKING,
        session("start"),
        "a table for two",
        model(backend, matcher),
        agent=AgentConfig(executionMode="smart"),
    )
    assert outcome.node_after == "ask_size"
    decision = outcome.trace["decisions"][0]
    assert [(o["target"], o.get("similarity")) for o in decision["options"]] == [
        (None, None),
        ("ask_size", 0.6),
        ("human", 0.05),
    ]
    assert all("score" in o for o in decision["options"])
    assert decision["check"] == 0.9


@dataclass
class DigitBackend(ScoringBackend):
    """Numbers as Qwen's tokenizer splits them: one token per digit, ``<|im_end|>`` its own.
    ``second``: the logits of the end and of each digit after a first digit."""

    second: dict[int, float] = field(default_factory=dict)
    seconds_scored: list[list[int]] = field(default_factory=list)

    def tokenize(self, text: str) -> list[int]:
        if text == "<|im_end|>":
            return [99]
        if text.isdigit() and len(text) > 1:
            return [int(c) for c in text]
        return super().tokenize(text)

    def score_next(self, prompt: list[int], candidates: Sequence[int], *, slot: str = "main") -> list[float]:
        if 99 in candidates:  # after a first digit: the end of the answer, or a second digit
            self.seconds_scored.append([*candidates])
            return [self.second.get(c, 0.0) for c in candidates]
        return super().score_next(prompt, candidates, slot=slot)


async def test_on_an_eleven_way_hub_the_two_digit_numbers_are_scored_not_decoded() -> None:
    options = ("None of them", *(f"The user asks about topic {n}" for n in range(1, 12)))
    logits = [0.0] * 10
    logits[1] = 3.0  # the model's first digit is "1": the start of 1, 10 and 11
    backend = DigitBackend(logits=logits, second={99: 0.0, 0: 0.5, 1: 2.5})
    request = StructuredRequest(
        messages=(Message("user", "topic eleven please"),),
        schema={"type": "object", "properties": {"choice": {"type": "integer", "enum": list(range(12))}}},
        name="route",
        purpose="decide",
        options=options,
        exchange=("What can I help with?", "topic eleven please"),
    )
    result = await model(backend, None).structured(request)
    assert result.value == {"choice": 11}
    assert result.scores is not None and len(result.scores) == 12
    assert math.isclose(sum(result.scores), 1.0)
    assert result.scores[11] > result.scores[10] > result.scores[1] > result.scores[2]
    assert backend.seconds_scored == [[99, 0, 1]]  # one more token read, for "1" only
    assert "topic 11" in backend.scored[-1]  # and the pick is checked
    assert backend.grammars == []  # nothing decoded greedily
