"""Turning an uploaded file into text: plain text and Markdown, PDF (pypdf), DOCX (python-docx).

Every failure is a :class:`DocumentUnreadable` whose message says what is wrong in words
a user can act on (a corrupt PDF, an encrypted one, a scan without a text layer, a DOCX
that is not a valid Word file). Files are untrusted: a DOCX is a zip, and its declared
uncompressed size is checked before anything is inflated; a PDF is read page by page up to
a page limit. Parsing is CPU-bound and synchronous: callers run it in a thread.
"""

from __future__ import annotations

import codecs
import io
import zipfile
from collections.abc import Callable
from pathlib import PurePath

from pathweaver.errors import DocumentUnreadable

TEXT_TYPES = ("txt", "md", "markdown", "csv")
EXTENSIONS = (*TEXT_TYPES, "pdf", "docx")
MAX_PDF_PAGES = 2000
MAX_DOCX_INFLATED_BYTES = 200_000_000


def extension_of(filename: str) -> str:
    """The lower-case extension without its dot (``""`` when there is none)."""
    return PurePath(filename).suffix.lower().removeprefix(".")


def check_supported(filename: str) -> str:
    """The extension of a supported file; ValueError saying which types are accepted."""
    extension = extension_of(filename)
    if extension not in EXTENSIONS:
        shown = f".{extension} files are" if extension else "files without an extension are"
        raise ValueError(f"{shown} not supported; upload one of: {', '.join('.' + e for e in EXTENSIONS)}")
    return extension


def extract_text(filename: str, data: bytes) -> str:
    """The text of the file (may be long); :class:`DocumentUnreadable` when it has none."""
    extension = extension_of(filename)
    readers: dict[str, Callable[[bytes], str]] = {"pdf": _pdf, "docx": _docx}
    reader = readers.get(extension, _plain)
    text = reader(data)
    if not text.strip():
        raise DocumentUnreadable(f"{filename} contains no text")
    return text


def _plain(data: bytes) -> str:
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\x00" in data[:8192]:
        raise DocumentUnreadable("the file looks binary, not text; upload .txt, .md, .pdf or .docx")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.lstrip()[:5].startswith(b"%PDF-"):
        raise DocumentUnreadable("the file is not a PDF (it does not start with %PDF-)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentUnreadable("the PDF is password-protected; upload an unprotected copy")
        pages = reader.pages
        if len(pages) > MAX_PDF_PAGES:
            raise DocumentUnreadable(f"the PDF has {len(pages)} pages; at most {MAX_PDF_PAGES} are accepted")
        texts = [page.extract_text() or "" for page in pages]
    except DocumentUnreadable:
        raise
    except PdfReadError as exc:
        raise DocumentUnreadable(f"the PDF is damaged and cannot be read ({exc})") from None
    except Exception as exc:  # pypdf raises many kinds on malformed input; all mean "unreadable"
        raise DocumentUnreadable(
            f"the PDF is damaged and cannot be read ({type(exc).__name__}: {exc})"
        ) from None
    if not any(t.strip() for t in texts):
        raise DocumentUnreadable(
            "the PDF has no text layer (a scan?); text recognition (OCR) is not supported"
        )
    return "\n\n".join(t.strip() for t in texts if t.strip())


def _docx(data: bytes) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise DocumentUnreadable("the file is not a valid .docx (it is not a zip package)") from None
    if inflated > MAX_DOCX_INFLATED_BYTES:
        raise DocumentUnreadable(
            f"the .docx unpacks to {inflated} bytes, more than {MAX_DOCX_INFLATED_BYTES}"
        )
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DocumentUnreadable(f"the file is not a valid Word document ({type(exc).__name__})") from None
    except Exception as exc:  # lxml and python-docx raise various kinds on malformed parts
        raise DocumentUnreadable(f"the Word document is damaged ({type(exc).__name__}: {exc})") from None
    blocks = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells]
            blocks.append(" | ".join(c for c in cells if c))
    return "\n\n".join(b.strip() for b in blocks if b.strip())
