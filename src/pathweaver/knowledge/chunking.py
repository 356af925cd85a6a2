"""Cutting a document's text into chunks of ``chunk_size`` characters with ``chunk_overlap``.

Pathors measures both in characters (defaults 500 and 50, pathors-api.md section 2.9). A
chunk ends at the best break inside its second half (a blank line, else the end of a
sentence or a line, else a space), so words are not cut unless one is longer than half a
chunk. The next chunk starts ``chunk_overlap`` characters before the previous end, moved
back to the start of a word, so consecutive chunks share *at least* ``chunk_overlap``
characters. It follows that every passage of up to ``chunk_overlap`` characters lies whole
inside some chunk: a fact is never only ever seen cut in two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_CHUNK_SIZE = 500
DEFAULT_CHUNK_OVERLAP = 50
MIN_CHUNK_SIZE = 50
MAX_CHUNK_SIZE = 8000

_LONGEST_WORD = 64
_SPACES = re.compile(r"[ \t\f\v\r]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
# Preferred break points, best first: the cut is made before a blank line, after the others.
_PARAGRAPH = re.compile(r"\n\n")
_BREAKS = (_PARAGRAPH, re.compile(r"[.!?\u3002\uff01\uff1f]\s|\n"), re.compile(r"\s"))


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document: its text and where it starts in the normalised text."""

    position: int
    start: int
    content: str


def check_sizes(chunk_size: int, chunk_overlap: int) -> None:
    """Raise ValueError, naming the field, when the sizes cannot chunk anything sensibly."""
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunkSize must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} characters")
    if not 0 <= chunk_overlap <= chunk_size // 2:
        raise ValueError("chunkOverlap must be between 0 and half of chunkSize")


def normalise(text: str) -> str:
    """Collapse runs of spaces, keep paragraph breaks (one blank line), strip the ends."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def split(
    text: str, chunk_size: int = DEFAULT_CHUNK_SIZE, chunk_overlap: int = DEFAULT_CHUNK_OVERLAP
) -> list[Chunk]:
    """The chunks of ``text`` in document order (empty text gives no chunk)."""
    check_sizes(chunk_size, chunk_overlap)
    text = normalise(text)
    chunks: list[Chunk] = []
    start = 0
    while start < len(text):
        end = _end_of_chunk(text, start, chunk_size)
        content = text[start:end].strip()
        if content:
            chunks.append(Chunk(position=len(chunks), start=start, content=content))
        if end >= len(text):
            break
        start = _next_start(text, start, end, chunk_overlap)
    return chunks


def _end_of_chunk(text: str, start: int, size: int) -> int:
    limit = start + size
    if limit >= len(text):
        return len(text)
    floor = start + size // 2
    for pattern in _BREAKS:
        best = -1
        for match in pattern.finditer(text, floor, limit):
            best = match.start() if pattern is _PARAGRAPH else match.end()
        if best > floor:
            return best
    return limit


def _next_start(text: str, start: int, end: int, overlap: int) -> int:
    """``overlap`` characters before ``end``, moved back to the start of its word.

    The move back is bounded (a word of more than 64 characters is cut), so a text
    without spaces still advances by about a chunk each time.
    """
    candidate = max(end - overlap, start + 1)
    floor = max(start + 1, candidate - _LONGEST_WORD)
    word_start = candidate
    while word_start > floor and not text[word_start - 1].isspace():
        word_start -= 1
    return word_start if word_start > floor or text[word_start - 1].isspace() else candidate
