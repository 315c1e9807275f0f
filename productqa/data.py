"""Reading AmazonTitles trn.json(.gz) one line at a time, and the dataset's record rules.

A line that is not a good record gets a reason (a key of stats.json["dropped"]), never an exception:
the real file has 2.2M lines and one bad byte must not cost the other 2,248,618.
"""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Iterator

from productqa.errors import UserError

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
REQUIRED_FIELDS = ("uid", "title", "content")
SPLITS = ("train", "val", "test")


class LineReader:
    """Iterate the raw lines of a JSON Lines file, plain or gzip (detected by content, not name)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"input file {self.path} does not exist: pass --input path/to/trn.json(.gz)")
        self.size = self.path.stat().st_size
        self._raw = open(self.path, "rb")
        is_gzip = self._raw.read(2) == GZIP_MAGIC
        self._raw.seek(0)
        self._stream = gzip.GzipFile(fileobj=self._raw, mode="rb") if is_gzip else self._raw

    def position(self) -> int:
        """Bytes of the file consumed so far (compressed bytes for .gz), for a progress bar."""
        return self._raw.tell()

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except (EOFError, gzip.BadGzipFile, OSError) as err:
            raise UserError(f"{self.path} is damaged or truncated ({err}); download it again") from None

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


def split_of(uid: str, val_size: float, test_size: float) -> str:
    """Deterministic split by a hash of the uid: a record's split never depends on its neighbours."""
    digest = hashlib.blake2b(uid.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    position = int.from_bytes(digest, "big") / 2**64
    if position < test_size:
        return "test"
    if position < test_size + val_size:
        return "val"
    return "train"
