"""Where exact numpy search stops being fast enough: query time and load time by size.

For N random unit vectors of 384 dimensions (all-MiniLM-L6-v2's size), reports:

* the time of one query through :class:`pathweaver.knowledge.search.VectorIndex` (the
  matrix product and top-k), best of several runs;
* the memory of the matrix;
* the time to load N chunk vectors from SQLite through :class:`KnowledgeStore.vectors` and
  build the index (what happens after every change of a knowledge base), for N up to
  ``--load-max``.

    python bench/knowledge_search.py [--sizes 1000,10000,100000,1000000] [--load-max 100000]

Nothing here is run by the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pathweaver.knowledge.search import VectorIndex, from_bytes, to_bytes
from pathweaver.store.database import make_engine, migrate
from pathweaver.store.knowledge import KnowledgeStore, NewChunk
from pathweaver.store.projects import ProjectStore

DIMENSION = 384


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, DIMENSION), dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def query_time(n: int, rounds: int = 20) -> float:
    index = VectorIndex([f"c{i}" for i in range(n)], unit_vectors(n))
    query = unit_vectors(1, seed=1)[0]
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        index.search(query, 5, 0.3)
        best = min(best, time.perf_counter() - began)
    return best * 1000


async def load_time(n: int) -> float:
    from pathweaver.agent.config import AgentConfig
    from pathweaver.agent.pathway import default_pathway

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite+aiosqlite:///{folder}/bench.db")
        await migrate(engine)
        project = await ProjectStore(engine).create_project("bench", AgentConfig(), default_pathway())
        store = KnowledgeStore(engine)
        base = await store.create_base(
            project.id, name="b", type="pgvector", embedding_model_name="m", chunk_size=500, chunk_overlap=50
        )
        vectors = unit_vectors(n)
        batch = 20_000
        for begin in range(0, n, batch):
            dataset = await store.add_dataset(
                base, filename="x.txt", extension="txt", content=b"x", content_type="text/plain"
            )
            await store.claim(dataset.id)
            chunks = [
                NewChunk(i, "x" * 500, to_bytes(vectors[i])) for i in range(begin, min(n, begin + batch))
            ]
            await store.finish(dataset.id, chunks, "m")
        began = time.perf_counter()
        ids, blobs = await store.vectors(base.id, "m")
        VectorIndex(ids, from_bytes(blobs))
        elapsed = time.perf_counter() - began
        await engine.dispose()
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--load-max", type=int, default=100_000)
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        line = f"{n:>9,} chunks: query {query_time(n):7.2f} ms, matrix {n * DIMENSION * 4 / 1e6:7.1f} MB"
        if n <= args.load_max:
            line += f", load from SQLite {asyncio.run(load_time(n)):8.0f} ms"
        print(line, flush=True)


if __name__ == "__main__":
    main()
