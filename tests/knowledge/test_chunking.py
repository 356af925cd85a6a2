"""Chunking by characters: sizes, overlap, breaks at words and paragraphs."""

from __future__ import annotations

import random

import pytest

from pathweaver.knowledge.chunking import normalise, split
from tests.knowledge.labelled import DATA, DOCUMENTS


@pytest.mark.parametrize(("size", "overlap"), [(500, 50), (200, 40), (1000, 0), (120, 60)])
def test_chunks_respect_the_size_and_cover_every_short_passage(size: int, overlap: int) -> None:
    text = normalise("\n\n".join((DATA / name).read_text() for name in DOCUMENTS))
    chunks = split(text, size, overlap)
    assert all(len(c.content) <= size for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    rng = random.Random(size)
    for _ in range(300):
        length = rng.randint(1, max(1, overlap))
        start = rng.randrange(0, len(text) - length)
        passage = text[start : start + length].strip()
        if passage:
            assert any(passage in c.content for c in chunks), passage


def test_chunks_end_at_breaks_not_inside_words() -> None:
    text = "alpha beta gamma. " * 100
    for chunk in split(text, 100, 20):
        assert not chunk.content.startswith(("lpha", "eta", "amma"))
        assert chunk.content.endswith((".", "alpha", "beta", "gamma"))


def test_a_text_without_spaces_still_advances() -> None:
    chunks = split("x" * 10_000, 500, 50)
    assert 20 <= len(chunks) <= 24


def test_empty_text_has_no_chunk_and_bad_sizes_are_refused() -> None:
    assert split("  \n\n ", 500, 50) == []
    with pytest.raises(ValueError, match="chunkSize"):
        split("text", 10, 0)
    with pytest.raises(ValueError, match="chunkOverlap"):
        split("text", 500, 400)
