"""Files to text: txt, md, PDF, DOCX, and clear reasons for the ones that cannot be read."""

from __future__ import annotations

import io
import zipfile

import pytest

from pathweaver.errors import DocumentUnreadable
from pathweaver.knowledge.parsing import check_supported, extract_text
from tests.knowledge.documents import corrupt_pdf, make_docx, make_pdf
from tests.knowledge.labelled import DATA, flat

THERMOSTAT = (DATA / "thermostat.txt").read_text()


def test_plain_text_and_markdown() -> None:
    assert extract_text("a.txt", "héllo".encode()) == "héllo"
    assert extract_text("a.md", "\ufeff# Title".encode()) == "# Title"
    assert extract_text("a.txt", "caf\xe9".encode("cp1252")) == "café"


def test_pdf_text_is_extracted_from_every_page() -> None:
    text = extract_text("manual.pdf", make_pdf(THERMOSTAT, lines_per_page=10))
    assert "Nimbus T3" in text and "Returns are accepted within thirty days" in flat(text)


def test_docx_paragraphs_and_tables() -> None:
    data = make_docx("First paragraph.\n\nSecond paragraph.", title="Policy")
    assert extract_text("p.docx", data) == "Policy\n\nFirst paragraph.\n\nSecond paragraph."


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("broken.pdf", corrupt_pdf(make_pdf(THERMOSTAT)), "the PDF is damaged"),
        ("fake.pdf", b"hello, I am not a PDF", "not a PDF"),
        ("blank.pdf", make_pdf(""), "no text layer"),
        ("fake.docx", b"PK\x03\x04 not really a zip", "not a valid .docx"),
        ("empty.txt", b"   \n ", "contains no text"),
        ("binary.txt", b"\x00\x01\x02binary", "looks binary"),
    ],
)
def test_unreadable_files_give_a_reason(filename: str, data: bytes, reason: str) -> None:
    with pytest.raises(DocumentUnreadable, match=reason):
        extract_text(filename, data)


def test_a_zip_that_is_not_word_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(DocumentUnreadable, match="not a valid Word document"):
        extract_text("x.docx", out.getvalue())


def test_supported_types() -> None:
    assert check_supported("Report.PDF") == "pdf"
    with pytest.raises(ValueError, match=r"\.exe files are not supported"):
        check_supported("setup.exe")
    with pytest.raises(ValueError, match="without an extension"):
        check_supported("README")
