"""A fast, deterministic embedder for tests that exercise plumbing, not retrieval quality."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from pathweaver.knowledge.embeddings import Vectors, normalised


class HashingEmbedder:
    """Bag of words hashed into 256 buckets: texts sharing words are similar."""

    name = "hashing-test"

    def __init__(self) -> None:
        self.calls = 0

    async def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        matrix = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                matrix[row, zlib.crc32(word.encode()) % 256] += 1.0
        return normalised(matrix)
