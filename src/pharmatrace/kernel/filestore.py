"""Files kept outside the database, addressed by their SM3 hash: documents, photos of evidence (SH-7.1.3).

``<state dir>/<area>/<first two hex digits>/<sm3 hex>``: the record keeps the hash, the file system keeps the
bytes. Reading a file hashes it again; a file that no longer matches its hash (altered, truncated,
replaced) or is gone is refused, never served. Files are validated on the way in by their magic bytes (what
the bytes are, not what the name or the browser claims) and their size. Each area declares its
:class:`FileStore`: its directory, the media types it accepts and its own error types and messages
(:mod:`pharmatrace.documents.store` for controlled documents, :mod:`pharmatrace.mes.dispensing` for the
photo of a manual weighing).
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

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PNG = "image/png"
JPEG = "image/jpeg"
EXTENSIONS = {PDF: ".pdf", DOCX: ".docx", PNG: ".png", JPEG: ".jpg"}
_HEX = re.compile(r"^[0-9a-f]{64}$")


class StoredFileTampered(Conflict):
    """A stored file no longer matches the SM3 hash in its record (or is missing)."""

    code = "stored_file_tampered"

    def __init__(self, message: str, /, **params: object) -> None:
        super().__init__(message, **params)
        self.missing = False
        self.actual = ""


class UnsupportedFile(ValidationFailed):
    code = "stored_file_refused"


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
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, ValueError):
            return None
        if "word/document.xml" in names and "[Content_Types].xml" in names:
            return DOCX
    return None


def clean_name(name: str, media_type: str, default: str = "file") -> str:
    """A safe display name: no directories, no control characters, the extension of what the file is."""
    base = os.path.basename(name.replace("\\", "/")).strip()
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*').strip(". ")
    stem = os.path.splitext(base)[0][:200] or default
    return stem + EXTENSIONS[media_type]


@dataclass(frozen=True)
class FileStore:
    """The files of one area: ``<state dir>/<area>/``, the media types accepted, the errors raised."""

    area: str
    accepted: tuple[str, ...]
    max_bytes: int = 20 * 1024 * 1024
    refused_message: str = N_("This kind of file is not accepted; “{name}” is refused")
    tampered: type[StoredFileTampered] = StoredFileTampered
    refused: type[UnsupportedFile] = UnsupportedFile
    default_name: str = "file"

    def root(self, db: Database) -> Path:
        return db.state_dir / self.area

    def path_of(self, db: Database, digest: str) -> Path:
        if not _HEX.match(digest):
            raise NotFound(N_("No stored file {sm3}"), sm3=digest)
        return self.root(db) / digest[:2] / digest

    def check(self, data: bytes, file_name: str) -> StoredFile:
        """Validate an upload: not empty, not over the limit, one of the accepted types by its bytes."""
        if not data:
            raise self.refused(N_("The file is empty"))
        if len(data) > self.max_bytes:
            raise self.refused(
                N_("The file is {size} bytes; at most {limit} bytes are accepted"),
                size=len(data),
                limit=self.max_bytes,
            )
        media_type = sniff(data)
        if media_type is None or media_type not in self.accepted:
            raise self.refused(self.refused_message, name=file_name[:100])
        return StoredFile(
            sm3_hex(data), len(data), media_type, clean_name(file_name, media_type, self.default_name)
        )

    def put(self, db: Database, data: bytes, file_name: str) -> StoredFile:
        """Store the bytes under their hash (idempotent: the same content is stored once)."""
        stored = self.check(data, file_name)
        target = self.path_of(db, stored.sm3)
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

    def read(self, db: Database, digest: str) -> bytes:
        """The stored bytes, after checking them against ``digest``; a mismatch or a missing file is refused
        (``error.missing`` / ``error.actual`` tell which, for an area that words its own message)."""
        target = self.path_of(db, digest)
        if not target.is_file():
            error = self.tampered(N_("The stored file {sm3} is missing"), sm3=digest)
            error.missing = True
            raise error
        data = target.read_bytes()
        actual = sm3_hex(data)
        if actual != digest:
            error = self.tampered(
                N_(
                    "The stored file does not match its SM3 hash and is refused (recorded {sm3}, found {actual})"
                ),
                sm3=digest,
                actual=actual,
            )
            error.actual = actual
            raise error
        return data
