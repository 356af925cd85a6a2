"""The local embedding model: the published similarities, the tokenizer, retrieval quality."""

from __future__ import annotations

import numpy as np
import pytest

from pathweaver.knowledge.chunking import split
from pathweaver.knowledge.minilm import MiniLM
from tests.knowledge.labelled import DATA, DOCUMENTS, queries, score


@pytest.fixture(scope="module")
def model() -> MiniLM:
    return MiniLM()


def test_the_similarities_sentence_transformers_publishes(model: MiniLM) -> None:
    """The sentence-transformers README prints these for all-MiniLM-L6-v2: they pin the
    weights, the tokenizer and the forward pass together."""
    vectors = model.embed(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    similarities = vectors @ vectors.T
    assert similarities[0, 1] == pytest.approx(0.6660, abs=5e-4)
    assert similarities[0, 2] == pytest.approx(0.1046, abs=5e-4)
    assert similarities[1, 2] == pytest.approx(0.1411, abs=5e-4)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_the_tokenizer_matches_bert_uncased(model: MiniLM) -> None:
    vocab = {index: token for token, index in model.tokenizer.ids.items()}
    tokens = [vocab[i] for i in model.tokenizer.encode("Café naïve: e-mail a.b@c.com 東京 😀 ﬁx")]
    assert tokens == [
        "[CLS]",
        "cafe",
        "naive",
        ":",
        "e",
        "-",
        "mail",
        "a",
        ".",
        "b",
        "@",
        "c",
        ".",
        "com",
        "東",
        "京",
        "[UNK]",
        "ﬁ",
        "##x",
        "[SEP]",
    ]
    assert len(model.tokenizer.encode("word " * 1000)) == 256


def test_batching_does_not_change_vectors(model: MiniLM) -> None:
    texts = ["short", "a somewhat longer sentence about thermostats and wiring", "x " * 300]
    together = model.embed(texts, batch_size=8)
    alone = np.vstack([model.embed([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_recall_on_the_labelled_set(model: MiniLM) -> None:
    docs, texts = [], []
    for name in DOCUMENTS:
        for chunk in split((DATA / name).read_text(), 500, 50):
            docs.append(name)
            texts.append(chunk.content)
    matrix = model.embed(texts)
    labelled = queries()
    rankings = []
    for vector in model.embed([q.q for q in labelled]):
        order = np.argsort(-(matrix @ vector))[:5]
        rankings.append([(docs[i], texts[i]) for i in order])
    scores = score(rankings, labelled)
    assert scores.recall[1] >= 0.85
    assert scores.recall[3] >= 0.95
