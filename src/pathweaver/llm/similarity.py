"""The embedded model's second opinion on a routing choice: how close the user's words are
to each option's statement, by sentence embeddings (all-MiniLM-L6-v2, the knowledge bases'
local model, :mod:`pathweaver.knowledge.minilm`).

Why. On the 34 single decisions of ``bench/routing/decisions.yaml`` the 1.5B model's scores
picked the right option of 20 of the 26 turns that move; the cosine similarity of the
user's message to each statement picked 22; their product (the model's probability times
``exp(similarity * SCALE)``) picked 25. They fail on different turns: the model reads the
exchange ("ok that fixed it" after a fix was suggested), the embeddings read the request
("I was charged twice" is a billing issue). Embeddings cannot say "none of them": staying
is still the model's own yes-or-no check of the option picked.

Where it does not apply, it is not used: the encoder was trained on English, so a choice
whose texts are mostly in other scripts is left to the model alone; and when the encoder's
package is not installed, the choice is the model's alone (a warning, once).

Everything here runs on the embedded model's worker thread, between two llama.cpp calls:
about 10 ms for a short message; statements are embedded once (the cache below).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from pathweaver.errors import EmbeddingError
from pathweaver.knowledge.embeddings import LocalEmbedder, Vectors

log = logging.getLogger("pathweaver.llm")

#: How much a unit of cosine similarity weighs against the model's log-probability: the
#: product above is ``p * exp(similarity * SCALE)``. Decisions came out the same from 2 to
#: 5 on the tuning set (``bench/routing/README.md``); 1/0.3 sits in the middle.
SCALE = 1 / 0.3
#: Statements whose vectors are kept (the options of every node of the pathways in use).
CACHED = 4096
#: The share of letters that must be Latin for the encoder to be asked.
LATIN_SHARE = 0.8


class StatementMatcher:
    """Cosine similarities of a message to statements; ``None`` where they do not apply."""

    def __init__(self, embedder: LocalEmbedder | None = None) -> None:
        self._embedder = embedder or LocalEmbedder()
        self._vectors: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self._missing = False

    def similarities(self, said: str, statements: Sequence[str]) -> tuple[float, ...] | None:
        """One cosine per statement (-1 to 1), or ``None``: no statements, a message that
        is not mostly in Latin script, or no encoder."""
        if not statements or not said.strip() or self._missing:
            return None
        if not latin(" ".join((said, *statements))):
            return None
        try:
            with self._lock:
                wanted = [s for s in dict.fromkeys(statements) if s not in self._vectors]
                vectors = self._embedder.embed_sync([said, *wanted])
                for statement, vector in zip(wanted, vectors[1:], strict=True):
                    self._vectors[statement] = vector
                for statement in statements:
                    self._vectors.move_to_end(statement)
                while len(self._vectors) > CACHED:
                    self._vectors.popitem(last=False)
                table = np.stack([self._vectors[s] for s in statements])
        except EmbeddingError as error:
            self._missing = True
            log.warning("routing choices on the embedded model use its scores alone: %s", error)
            return None
        return tuple(float(x) for x in table @ vectors[0])


def latin(text: str) -> bool:
    """Whether at least :data:`LATIN_SHARE` of the letters of ``text`` are Latin (Basic
    Latin and the Latin-1, Extended-A and Extended-B blocks)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    return sum(c < "\u0250" for c in letters) >= LATIN_SHARE * len(letters)
