"""Atomic writes: a reader never sees a half-written output under its final name."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
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
def locked_folder(folder: Path, flag: str):
    """Hold `folder` (an flock on the folder itself: no lock file to leave behind, released by the
    kernel if the process dies) until the block ends; a second run into it is refused in one sentence."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"another run is writing into {folder} ({flag}) now: wait until it ends, or pass "
                            f"another {flag}") from None
        except OSError as err:  # a filesystem without flock (some network ones): nothing to hold it with
            if err.errno not in (errno.ENOLCK, errno.EBADF, errno.EINVAL, errno.EOPNOTSUPP):
                raise
        yield folder
    finally:
        os.close(descriptor)  # releases the lock (forked workers that shared it have ended by now)


STAGING = ".staging-"  # the hidden folder output_set writes into, inside the output folder


@contextlib.contextmanager
def output_set(folder: Path, names: tuple[str, ...], flag: str):
    """Write files that belong together (a stage's outputs): yields a hidden staging folder inside
    `folder`, which this run holds alone (locked_folder). When the block succeeds, the staged files
    `names` replace those in `folder` together, and a name left unwritten is removed from it (an older
    run's file would describe other outputs); other files in `folder` stay. When it fails, nothing in
    `folder` changes. The last name is the set's manifest: out first and in last, so that a set caught
    in the middle of its renames (a power cut: Ctrl-C and SIGTERM wait for them) has none."""
    folder = output_folder(folder, flag)
    with locked_folder(folder, flag):
        for stale in folder.glob(f"{STAGING}*"):  # left by a killed run: no run can be using it now
            shutil.rmtree(stale, ignore_errors=True)
        _check_targets(folder, names, flag)  # before the work, not after an hour of it
        staging = folder / f"{STAGING}{os.getpid()}"
        staging.mkdir()
        try:
            yield staging
            _check_targets(folder, names, flag)
            _replace_together(staging, folder, names)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _check_targets(folder: Path, names: tuple[str, ...], flag: str) -> None:
    """Each output's name in `folder` is free, or a file the output may replace."""
    for name in names:
        path = folder / name
        if os.path.lexists(path) and not (path.is_symlink() or path.is_file()):
            raise UserError(f"{path} is a folder or other non-file where an output file goes: move it out of "
                            f"{flag} {folder}, or pass another {flag}")


def _replace_together(staging: Path, folder: Path, names: tuple[str, ...]) -> None:
    """Rename the staged files onto `folder`'s, the manifest (the last name) removed first and renamed
    last, with Ctrl-C and SIGTERM held back until all are renamed (they act right after)."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / names[-1])
        for name in names:
            if os.path.lexists(staging / name):
                os.replace(staging / name, folder / name)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(folder / name)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


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
