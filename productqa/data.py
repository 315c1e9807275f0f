"""Reading AmazonTitles trn.json(.gz) one line at a time, and the dataset's record rules.

A line that is not a good record gets a reason (a key of stats.json["dropped"]), never an exception:
the real file has 2.2M lines and one bad byte must not cost the other 2,248,618.

Speed (01_prepare reads 1 GB of JSON Lines): gzip is inflated by ISA-L (python-isal, ~3x zlib) where
its wheel is installed, and a line is read by msgspec into just the three fields (~5x json.loads);
any line msgspec rejects goes through parse_line, so every reason is the one json.loads gives.
"""
from __future__ import annotations

import json
import zipfile
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
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive starts with a file, or is empty
# What the Extreme Classification Repository's LF-Amazon-1.3M.raw.zip holds, read from inside it.
ZIP_MEMBERS = ("trn.json.gz", "trn.json")
# Formats read by other tools: the first bytes of each, and what it is.
OTHER_FORMATS = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd", b"7z\xbc\xaf\x27\x1c": "7-Zip"}
BOM = b"\xef\xbb\xbf"
REQUIRED_FIELDS = ("uid", "title", "content")
SPLITS = ("train", "val", "test")
_DAMAGED = (EOFError, OSError, zlib.error, _InflateError, zipfile.BadZipFile)


class LineReader:
    """Iterate the raw lines of a JSON Lines file: plain, gzip, or the trn.json(.gz) inside a zip
    archive such as LF-Amazon-1.3M.raw.zip (detected by content, not name)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            why = "is not a file" if self.path.exists() else "does not exist"
            raise UserError(f"input {self.path} {why}: pass --input path/to/trn.json(.gz)")
        self._raw = open(self.path, "rb")
        self._archive = None
        self.member: str | None = None  # the file read inside a zip archive
        self._source = self._stream = self._raw  # the JSON Lines' bytes, compressed or not; the lines' bytes
        try:
            head = self._raw.read(8)
            self._raw.seek(0)
            for magic, name in OTHER_FORMATS.items():
                if head.startswith(magic):
                    raise UserError(f"input {self.path} is {name}-compressed: decompress it and pass the .json "
                                    "file (or recompress it with gzip)")
            self.size = self.path.stat().st_size
            if head.startswith(ZIP_MAGIC):
                self._source, self.size = self._open_member()
                head = self._source.peek(2)[:2]
            is_gzip = head.startswith(GZIP_MAGIC)
            # a plain file is read by workers at offsets; anything else has to be inflated in order
            self.compressed = is_gzip or self._source is not self._raw
            self._stream = GzipFile(fileobj=self._source, mode="rb") if is_gzip else self._source
        except BaseException:
            self.close()
            raise

    def _open_member(self):
        """The archive's trn.json(.gz) (or its only file), opened, and its size."""
        try:
            self._archive = zipfile.ZipFile(self._raw)
            files = [info for info in self._archive.infolist() if not info.is_dir()]
        except _DAMAGED as err:
            raise self._damaged(err) from None
        chosen = [info for name in ZIP_MEMBERS for info in files if info.filename.rsplit("/", 1)[-1] == name]
        if not chosen and len(files) == 1:
            chosen = files
        if not chosen:
            names = ", ".join(info.filename for info in files[:10]) or "no files"
            raise UserError(f"the zip archive {self.path} holds no trn.json.gz or trn.json (it holds {names}): "
                            "unzip it and pass the file to prepare with --input")
        self.member = chosen[0].filename
        try:
            return self._archive.open(chosen[0]), chosen[0].file_size
        except (NotImplementedError, RuntimeError) as err:  # Deflate64 (some tools' choice for big files), a password
            raise UserError(f"{self.path}: {chosen[0].filename} is stored in a way Python cannot read ({err}): "
                            "unzip it with another tool and pass the file with --input") from None
        except _DAMAGED as err:
            raise self._damaged(err) from None

    def fileno(self) -> int:
        """The input file's descriptor (its bytes, compressed or not)."""
        return self._raw.fileno()

    def position(self) -> int:
        """Bytes of the input consumed so far (compressed bytes for .gz; of the member in a zip), for a
        progress bar."""
        return self._source.tell()

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
        for stream in (self._stream, self._source, self._archive, self._raw):
            if stream is not None:
                stream.close()

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
    try:  # a lone surrogate ("\ud800" in the JSON; msgspec refuses it, json.loads does not) has no UTF-8
        "".join(record[field] for field in REQUIRED_FIELDS).encode("utf-8")
    except UnicodeEncodeError:
        return None, "invalid_utf8"
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
