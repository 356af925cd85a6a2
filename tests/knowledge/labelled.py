"""The labelled retrieval set (``data/queries.json`` over three documents) and its scoring.

A query is answered by the chunk holding its ``needle``: scoring does not depend on where
the chunker cut, only on whether the chunk with the answer is ranked high. Used by the
tests (recall@k asserted) and by ``bench/knowledge_embeddings.py`` (the model comparison).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"
DOCUMENTS = ("restaurant.md", "thermostat.txt", "travel_policy.txt")


@dataclass(frozen=True)
class Query:
    q: str
    doc: str
    needle: str


def queries() -> list[Query]:
    raw = json.loads((DATA / "queries.json").read_text(encoding="utf-8"))
    return [Query(**item) for item in raw["queries"]]


def flat(text: str) -> str:
    return " ".join(text.split())


def answers(query: Query, doc: str, content: str) -> bool:
    return doc == query.doc and query.needle in flat(content)


@dataclass(frozen=True)
class Scores:
    recall: dict[int, float]
    mrr: float

    def line(self) -> str:
        parts = [f"recall@{k} {value:.3f}" for k, value in sorted(self.recall.items())]
        return ", ".join([*parts, f"MRR {self.mrr:.3f}"])


def score(
    rankings: Sequence[Sequence[tuple[str, str]]], labelled: Sequence[Query], ks: Sequence[int] = (1, 3, 5)
) -> Scores:
    """``rankings[i]`` is the ranked (document, chunk text) list returned for ``labelled[i]``."""
    hits = {k: 0 for k in ks}
    reciprocal = 0.0
    for query, ranking in zip(labelled, rankings, strict=True):
        rank = next((i for i, (doc, text) in enumerate(ranking) if answers(query, doc, text)), None)
        if rank is None:
            continue
        reciprocal += 1.0 / (rank + 1)
        for k in ks:
            hits[k] += rank < k
    return Scores({k: hits[k] / len(labelled) for k in ks}, reciprocal / len(labelled))
