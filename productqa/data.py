"""Reading AmazonTitles trn.json(.gz) one line at a time, and the dataset's record rules.

A line that is not a good record gets a reason (a key of stats.json["dropped"]), never an exception:
the real file has 2.2M lines and one bad byte must not cost the other 2,248,618.

Speed (01_prepare reads 1 GB of JSON Lines): gzip is inflated by ISA-L (python-isal, ~3x zlib) where
its wheel is installed, and a line is read by msgspec into just the three fields (~5x json.loads);
any line msgspec rejects goes through parse_line, so every reason is the one json.loads gives.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Iterator

import msgspec

from productqa.errors import UserError
from productqa.hashing import unit_hash

try:  # ISA-L's inflate; plain zlib (the same bytes, slower) where python-isal has no wheel
    from isal.igzip import GzipFile
    from isal.isal_zlib import error as _InflateError
except ImportError:  # pragma: no cover - python-isal is in requirements.txt
    from gzip import GzipFile
    _InflateError = zlib.error

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
REQUIRED_FIELDS = ("uid", "title", "content")
SPLITS = ("train", "val", "test")
_DAMAGED = (EOFError, OSError, zlib.error, _InflateError)


class LineReader:
    """Iterate the raw lines of a JSON Lines file, plain or gzip (detected by content, not name)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            why = "is not a file" if self.path.exists() else "does not exist"
            raise UserError(f"input {self.path} {why}: pass --input path/to/trn.json(.gz)")
        self.size = self.path.stat().st_size
        self._raw = open(self.path, "rb")
        is_gzip = self._raw.read(2) == GZIP_MAGIC
        self._raw.seek(0)
        self.compressed = is_gzip
        self._stream = GzipFile(fileobj=self._raw, mode="rb") if is_gzip else self._raw

    def fileno(self) -> int:
        """The input file's descriptor (its bytes, compressed or not)."""
        return self._raw.fileno()

    def position(self) -> int:
        """Bytes of the file consumed so far (compressed bytes for .gz), for a progress bar."""
        return self._raw.tell()

    def _damaged(self, err: Exception) -> UserError:
        return UserError(f"{self.path} is damaged or truncated ({err}); download it again")

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except _DAMAGED as err:
            raise self._damaged(err) from None

    def blocks(self, size: int = 1 << 20) -> Iterator[bytes]:
        """The file in pieces of about `size` bytes that end at a line end (the last piece may not):
        the same lines as iterating, without a Python object per line."""
        tail = b""
        try:
            while data := self._stream.read(size):
                cut = data.rfind(b"\n") + 1
                if not cut:
                    tail += data
                    continue
                yield tail + data[:cut]
                tail = data[cut:]
        except _DAMAGED as err:
            raise self._damaged(err) from None
        if tail:
            yield tail

    def close(self) -> None:
        self._stream.close()
        self._raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_line(raw: bytes) -> tuple[dict | None, str | None]:
    """Raw bytes -> (record, None), or (None, drop reason). Tolerates a BOM and CRLF endings."""
    raw = raw.rstrip(b"\r\n")
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "invalid_utf8"
    try:
        record = json.loads(text)
    except ValueError:
        return None, "invalid_json"
    if not isinstance(record, dict):
        return None, "not_an_object"
    if any(field not in record for field in REQUIRED_FIELDS):
        return None, "missing_field"
    if not all(isinstance(record[field], str) for field in REQUIRED_FIELDS):
        return None, "wrong_type"
    return record, None


class _Fields(msgspec.Struct):
    """The fields a record must have, as strings; msgspec skips the others (target_ind, ...)."""
    uid: str
    title: str
    content: str


_decode_fields = msgspec.json.Decoder(_Fields).decode


def parse_fields(raw: bytes, utf8_checked: bool = False) -> tuple[str, str, str] | str:
    """Raw bytes -> (uid, title, content), or the drop reason parse_line gives.

    msgspec reads well-formed lines; it is stricter than json.loads (lone surrogates, NaN), so a line
    it rejects is read again by parse_line. It does not check the UTF-8 of fields it skips, so that is
    checked here unless the caller has (`utf8_checked`: e.g. a whole block of ASCII).
    """
    line = raw.rstrip(b"\r\n")
    if line.startswith(BOM):
        line = line[len(BOM):]
    if not utf8_checked and not line.isascii():
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return "invalid_utf8"
    try:
        fields = _decode_fields(line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        record, reason = parse_line(raw)
        return reason if record is None else (record["uid"], record["title"], record["content"])
    return fields.uid, fields.title, fields.content


def split_of(uid: str, val_size: float, test_size: float) -> str:
    """Deterministic split by a hash of the uid: a record's split never depends on its neighbours."""
    position = unit_hash(uid)
    if position < test_size:
        return "test"
    if position < test_size + val_size:
        return "val"
    return "train"
