"""Uploaded document files, stored outside the database and addressed by their SM3 hash (TJ-9.2, SH-7.1.3).

``<state dir>/documents/<first two hex digits>/<sm3 hex>``: the record keeps the hash, the file system keeps
the bytes. Opening a file hashes it again; a file that no longer matches its hash (altered, truncated,
replaced) is refused with :class:`StoredFileTampered`, never served. Files are validated on the way in by
their magic bytes (what the bytes are, not what the name or the browser claims) and their size.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pharmatrace.kernel import crypto
from pharmatrace.kernel.errors import N_, Conflict, NotFound, ValidationFailed
from pharmatrace.storage.engine import Database

MAX_BYTES = 20 * 1024 * 1024  # 20 MiB per file
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
EXTENSIONS = {"application/pdf": ".pdf", DOCX: ".docx", "image/png": ".png", "image/jpeg": ".jpg"}
_HEX = re.compile(r"^[0-9a-f]{64}$")


class StoredFileTampered(Conflict):
    """A stored file no longer matches the SM3 hash in its record."""

    code = "document_file_tampered"


class UnsupportedFile(ValidationFailed):
    code = "document_file_refused"


@dataclass(frozen=True, slots=True)
class StoredFile:
    sm3: str
    size: int
    media_type: str
    file_name: str


def sm3_hex(data: bytes) -> str:
    return crypto.sm3(data).hex()


def sniff(data: bytes) -> str | None:
    """The media type the bytes themselves show (PDF, DOCX, PNG, JPEG), or ``None``."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, ValueError):
            return None
        if "word/document.xml" in names and "[Content_Types].xml" in names:
            return DOCX
    return None


def clean_name(name: str, media_type: str) -> str:
    """A safe display name: no directories, no control characters, the extension of what the file is."""
    base = os.path.basename(name.replace("\\", "/")).strip()
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*').strip(". ")
    stem = os.path.splitext(base)[0][:200] or "document"
    return stem + EXTENSIONS[media_type]


def _root(db: Database) -> Path:
    return db.state_dir / "documents"


def path_of(db: Database, digest: str) -> Path:
    if not _HEX.match(digest):
        raise NotFound(N_("No stored file {sm3}"), sm3=digest)
    return _root(db) / digest[:2] / digest


def check(data: bytes, file_name: str) -> StoredFile:
    """Validate an upload: not empty, not over the limit, a PDF, DOCX, PNG or JPEG by its bytes."""
    if not data:
        raise UnsupportedFile(N_("The file is empty"))
    if len(data) > MAX_BYTES:
        raise UnsupportedFile(
            N_("The file is {size} bytes; at most {limit} bytes are accepted"),
            size=len(data),
            limit=MAX_BYTES,
        )
    media_type = sniff(data)
    if media_type is None:
        raise UnsupportedFile(N_("Only PDF, DOCX, PNG and JPEG files are accepted; “{name}” is none of them"),
                              name=file_name[:100])  # fmt: skip
    return StoredFile(sm3_hex(data), len(data), media_type, clean_name(file_name, media_type))


def put(db: Database, data: bytes, file_name: str) -> StoredFile:
    """Store the bytes under their hash (idempotent: the same content is stored once)."""
    stored = check(data, file_name)
    target = path_of(db, stored.sm3)
    if target.exists() and sm3_hex(target.read_bytes()) == stored.sm3:
        return stored
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return stored


def read(db: Database, digest: str, *, number: str = "", version: int = 0) -> bytes:
    """The stored bytes, after checking them against ``digest``; a mismatch or a missing file is refused."""
    target = path_of(db, digest)
    if not target.is_file():
        raise StoredFileTampered(
            N_("The stored file of {number} version {version} is missing (SM3 {sm3})"),
            number=number, version=version, sm3=digest,
        )  # fmt: skip
    data = target.read_bytes()
    actual = sm3_hex(data)
    if actual != digest:
        raise StoredFileTampered(
            N_("The stored file of {number} version {version} does not match its SM3 hash and is refused "
               "(recorded {sm3}, found {actual})"),
            number=number, version=version, sm3=digest, actual=actual,
        )  # fmt: skip
    return data


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
