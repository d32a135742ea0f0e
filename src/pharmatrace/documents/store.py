"""Uploaded document files, stored outside the database and addressed by their SM3 hash (TJ-9.2, SH-7.1.3).

``<state dir>/documents/<first two hex digits>/<sm3 hex>``: the record keeps the hash, the file system keeps
the bytes. Opening a file hashes it again; a file that no longer matches its hash (altered, truncated,
replaced) is refused with :class:`StoredFileTampered`, never served. The store itself is the kernel's
(:mod:`pharmatrace.kernel.filestore`, shared with the MES evidence); this module keeps what is documents'
own: the types accepted, the messages naming a document version, and text extraction. Files are validated
on the way in by their magic bytes (what the bytes are, not what the name or the browser claims) and size.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from pharmatrace.kernel import filestore
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.filestore import DOCX, EXTENSIONS, StoredFile, sm3_hex, sniff
from pharmatrace.storage.engine import Database

__all__ = ["DOCX", "EXTENSIONS", "MAX_BYTES", "StoredFile", "StoredFileTampered", "UnsupportedFile", "check",
           "clean_name", "extract_text", "path_of", "put", "read", "sm3_hex", "sniff"]  # fmt: skip

MAX_BYTES = 20 * 1024 * 1024  # 20 MiB per file


class StoredFileTampered(filestore.StoredFileTampered):
    """A stored document file no longer matches the SM3 hash in its record."""

    code = "document_file_tampered"


class UnsupportedFile(filestore.UnsupportedFile):
    code = "document_file_refused"


# The documents' share of the kernel's content-addressed store (kernel/filestore.py).
STORE = filestore.FileStore(
    "documents",
    accepted=(filestore.PDF, DOCX, filestore.PNG, filestore.JPEG),
    max_bytes=MAX_BYTES,
    refused_message=N_("Only PDF, DOCX, PNG and JPEG files are accepted; “{name}” is none of them"),
    tampered=StoredFileTampered,
    refused=UnsupportedFile,
    default_name="document",
)


def clean_name(name: str, media_type: str) -> str:
    """A safe display name: no directories, no control characters, the extension of what the file is."""
    return filestore.clean_name(name, media_type, "document")


def path_of(db: Database, digest: str) -> Path:
    return STORE.path_of(db, digest)


def check(data: bytes, file_name: str) -> StoredFile:
    """Validate an upload: not empty, not over the limit, a PDF, DOCX, PNG or JPEG by its bytes."""
    return STORE.check(data, file_name)


def put(db: Database, data: bytes, file_name: str) -> StoredFile:
    """Store the bytes under their hash (idempotent: the same content is stored once)."""
    return STORE.put(db, data, file_name)


def read(db: Database, digest: str, *, number: str = "", version: int = 0) -> bytes:
    """The stored bytes, after checking them against ``digest``; a mismatch or a missing file is refused."""
    try:
        return STORE.read(db, digest)
    except filestore.StoredFileTampered as error:
        if error.missing:
            raise StoredFileTampered(
                N_("The stored file of {number} version {version} is missing (SM3 {sm3})"),
                number=number, version=version, sm3=digest,
            ) from None  # fmt: skip
        raise StoredFileTampered(
            N_("The stored file of {number} version {version} does not match its SM3 hash and is refused "
               "(recorded {sm3}, found {actual})"),
            number=number, version=version, sm3=digest, actual=error.actual,
        ) from None  # fmt: skip


def extract_text(data: bytes, media_type: str) -> str:
    """Plain text of a PDF (pypdf) or DOCX (its XML), for search and printing; images have none."""
    if media_type == "application/pdf":
        try:
            from pypdf import PdfReader

            reader = PdfReader(io.BytesIO(data))
            return "\n".join((page.extract_text() or "") for page in reader.pages[:200])
        except Exception:  # a PDF whose text cannot be read is still a valid document
            return ""
    if media_type == DOCX:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                info = archive.getinfo("word/document.xml")
                if info.file_size > 50 * 1024 * 1024:  # a zip bomb is not read
                    return ""
                xml = archive.read(info).decode("utf-8", errors="replace")
        except (zipfile.BadZipFile, KeyError, ValueError):
            return ""
        xml = re.sub(r"</w:p>", "\n", xml)
        return re.sub(r"<[^>]+>", "", xml).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return ""
