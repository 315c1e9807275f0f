"""Atomic writes: a reader never sees a half-written output under its final name."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from productqa.errors import UserError


def temp_sibling(path: Path) -> Path:
    """A hidden temporary name in the same folder (same filesystem, so rename is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def output_folder(path: Path, flag: str) -> Path:
    """Create the folder a stage writes into (and its parents), or say in one sentence why it cannot be."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file, not a folder: pass a folder to write into")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the output folder {path} ({flag}): {err.strerror or err}") from None
    return path


@contextlib.contextmanager
def atomic_path(path: Path):
    """Yield a temporary path to write; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w", encoding: str | None = "utf-8"):
    """open() that writes to a temporary file and renames it into place on success."""
    if "b" in mode:
        encoding = None
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding, newline="\n" if encoding else None) as handle:
            yield handle


def copy_range(source: int, destination: int, offset: int, length: int) -> None:
    """Append length bytes of file descriptor `source`, from offset, to file descriptor `destination`
    (at its position), inside the kernel where it can (os.copy_file_range), else through a buffer."""
    end = offset + length
    if hasattr(os, "copy_file_range"):
        try:
            while offset < end:
                copied = os.copy_file_range(source, destination, end - offset, offset)
                if not copied:
                    raise OSError(f"copy_file_range copied nothing at {offset} of {end}")
                offset += copied
            return
        except OSError:  # e.g. a filesystem or kernel without it: go on with plain reads and writes
            pass
    while offset < end:
        data = os.pread(source, min(end - offset, 1 << 24), offset)
        if not data:
            raise OSError(f"file ended at {offset} of {end}")
        offset += len(data)
        write_all(destination, data)


def write_all(descriptor: int, data: bytes) -> None:
    """Write all of data to a file descriptor (os.write may write less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view):]


def write_json(path: Path, obj) -> None:
    """Write JSON atomically, pretty-printed with sorted keys so that reruns give the same bytes."""
    with atomic_open(path) as handle:
        json.dump(obj, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")


def json_line(obj) -> str:
    """One JSON Lines line (UTF-8 text kept as is, newline-terminated)."""
    return json.dumps(obj, ensure_ascii=False) + "\n"


def write_jsonl(path: Path, rows) -> None:
    with atomic_open(path) as handle:
        handle.writelines(json_line(row) for row in rows)


def iter_jsonl(path: Path):
    """The rows of a JSON Lines file, one at a time (a train split of the real data is gigabytes).
    Lines are read as bytes: json decodes each as UTF-8, so a bad byte is a ValueError of its line."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as err:
                    raise UserError(f"{path} line {number} is not JSON ({getattr(err, 'msg', err)}): the file "
                                    "is damaged; write it again with the stage that made it") from None


def read_jsonl(path: Path) -> list:
    return list(iter_jsonl(path))


def read_json(path: Path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
