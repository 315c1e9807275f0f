"""Stage 1: trn.json(.gz) -> the catalog of sources + grounded ShareGPT train/val/test rows.

Pass 1 streams the file: the main process reads it in 1 MB blocks of lines, worker processes parse
and clean each block, and the main process keeps the order, drops exact repeats (same title and
description) and writes every distinct product into the catalog, plus two things for pass 2: the
record's text in an unnamed temporary file, and its title's words as numbers. Pass 2 writes one
conversation per distinct title (the first product of that title), of the kind its uid hashes to
(productqa.raft: grounded, absent, closed_book), with hard distractors from the whole catalog: worker
processes write blocks of rows, reading the records they show back from the temporary file, while a
thread of the main process builds the catalog's title indexes. Nothing under the final names changes
unless all succeed.

Memory does not hold the catalog's text: at 1.46M records, pass 2 keeps ~40 bytes of numbers a
record (productqa.raft.Distractors) and reads descriptions back by offset.
"""
from __future__ import annotations

import collections
import contextlib
import ctypes
import gc
import json
import multiprocessing
import os
import random
import resource
import signal
import tempfile
import time
from array import array
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Iterator

import numpy as np

from productqa import facts
from productqa.catalog import CatalogWriter
from productqa.clean import cap_length, clean_and_judge, clean_text, cut_at_word
from productqa.data import SPLITS, LineReader, parse_fields, split_of
from productqa.errors import UserError
from productqa.stage_args import PrepareArgs, given
from productqa.files import copy_range, json_line, output_set, write_all, write_json
from productqa.hashing import digest8
from productqa.progress import progress as progress_bar
from productqa.grounded import ANSWERED, FACT_KINDS
from productqa.prompts import pick_template, read_followups, read_question_templates
from productqa.raft import (
    SPLIT_CODES,
    Distractors,
    FactRow,
    Mix,
    Product,
    RowFormat,
    asks_partially,
    context_of,
    escaped,
    fact_rows,
    kind_of,
    make_row,
    same_title_groups,
)
from productqa.titles import normalize_title, partial_titles

BLOCK_BYTES = 1 << 20  # raw JSON Lines per cleaning task (~2,400 records): cheap to send, long to work on
ROW_BLOCK = 10_000     # records per row-writing task
AHEAD = 3              # tasks in flight per worker: enough to keep each busy, little memory
# What the stage writes, replaced together; meta.json last (the set's manifest: files.output_set).
OUTPUTS = (*(f"{split}.jsonl" for split in SPLITS), "catalog.sqlite", "stats.json", "meta.json")


# The caps on a record's fields (stats.json records them, and how many kept records each one cut).
# Descriptions: --max-chars, 400 by default (Settings.max_chars): the real content's median is 398
# characters and its mean 619 (a long tail of reviews and author biographies), so about half are cut,
# at a sentence end, to what a grounded row can show k of. Titles: Amazon's listing rules allow 200
# characters (250 in a few categories); the real titles average ~42 and the longest of the 527
# development records is 166, so TITLE_CHARS cuts no real title seen, only a broken line's (a
# 100k-character title filled every row that showed its record as a distractor). A title is cut at a
# word, with '…'. uids are 10-character ISBNs/ASINs: a uid longer than UID_CHARS is no uid, and the
# record is dropped (long_uid), not cut (a cut uid could be another product's).
TITLE_CHARS = 250
UID_CHARS = 64
CUT_TITLE, CUT_DESCRIPTION = 1, 2  # a kept record's cut flags


@dataclass(frozen=True)
class Settings:
    """What decides a record's fate and text; the same settings always give the same bytes."""
    min_chars: int = 30
    max_chars: int = 400
    val_size: float = 0.05
    test_size: float = 0.05
    title_chars: int = TITLE_CHARS


# -----------------------------------------------------------------------------------------------
# the stage: clean every record into the catalog, then write the rows of each split; the parts follow

def prepare(input_path: Path, out_dir: Path, options: PrepareArgs | None = None, *, progress: bool = True,
            meta: bool = False, **keywords) -> dict:
    """Run the whole stage and return stats (read, kept, dropped per reason, caps and the records each
    cut, rows per split and kind), with "seconds", and the wall and CPU "timings" and "peak_rss_mb" of
    its steps, and the "zip_member" read where the input is a zip archive (those not in stats.json).
    `options` (productqa.stage_args.PrepareArgs), or any of its fields as keywords: the parameters; the
    input and output folder are the first two. `meta`: write meta.json too (the script's run), with them
    and these figures. The outputs replace the last ones together, and only when all are written; a
    second run into `out_dir` meanwhile is refused."""
    o = given(PrepareArgs, options, {**keywords, "input": Path(input_path), "out": Path(out_dir)})
    _check_arguments(o)
    settings = Settings(o.min_chars, o.max_chars, o.val_size, o.test_size)
    mix = Mix(o.k, o.absent_share, o.closed_book_share, o.partial_share, o.followup_share, o.fact_share,
              o.not_said_share)
    templates = read_question_templates()
    workers = o.workers or os.cpu_count() or 1
    input_path, out_dir = o.input, o.out
    steps = Steps()

    with contextlib.ExitStack() as stack:
        reader = stack.enter_context(LineReader(input_path))
        # every output is written into a staging folder: they replace the last ones together, or none does
        staging = stack.enter_context(output_set(out_dir, OUTPUTS, "--out"))
        catalog = CatalogWriter(staging / "catalog.sqlite")
        (staging / "parts").mkdir()
        parts = Parts(staging / "parts")
        stack.callback(parts.close)
        texts = TextFile(parts.folder)
        stack.callback(texts.close)
        collector = _clean_all(reader, settings, workers, Collector(catalog, texts, parts, o.max_records), progress)
        steps.done("1. pass 1: read, clean, catalog records")
        if collector.read == 0:  # raised before any output is renamed: an earlier good output stays
            raise UserError(f"{input_path} has no records: expected JSON Lines with uid, title and content")
        if not collector.kept:
            raise UserError(f"{input_path} has no usable record ({collector.read:,} read, all dropped: "
                            f"{', '.join(f'{k} {v}' for k, v in sorted(collector.dropped.items()))})")

        texts.seal()
        distractors = _distractors(collector, catalog, texts)
        steps.done("2. distractor index")
        outputs = {split: stack.enter_context(open(staging / f"{split}.jsonl", "wb")) for split in SPLITS}
        job = RowJob(texts, parts, distractors, templates, mix, o.seed)
        per_split, kinds, catalog_seconds = _write_rows(job, outputs, workers, progress, catalog.close)
        steps.done("3. pass 2: rows; catalog indexes meanwhile")

        kept = collector.kept
        asked = sum(n for kind, n in kinds.items() if kind not in FACT_KINDS)  # products asked about
        stats = {
            "read": collector.read,
            "kept": kept,
            "dropped": dict(sorted(collector.dropped.items())),
            "caps": {"title": settings.title_chars, "description": settings.max_chars, "uid": UID_CHARS},
            "cut": collector.cut,
            "catalog_records": kept,
            "splits": dict(zip(SPLITS, per_split)),
            "kinds": {kind: kinds[kind] for kind in sorted(kinds)},
            "same_title_records": kept - asked,
            "stopped_early": collector.full,
        }
        assert stats["read"] == stats["kept"] + sum(stats["dropped"].values())
        write_json(staging / "stats.json", stats)
        steps.done("4. stats, renames")
        figures = {**stats, **({"zip_member": reader.member} if reader.member else {}), "seconds": steps.total(),
                   "timings": {**steps.times,
                               "3a. catalog indexes (a thread in 3.)": {"wall": round(catalog_seconds, 2)}},
                   "peak_rss_mb": Steps.peak_rss_mb()}
        if meta:  # the script's meta.json: replaced with the outputs it describes
            from productqa.meta import write_meta
            write_meta(staging / "meta.json", "prepare", o, stats=figures)
        # leaving the block renames the outputs into place together (files.output_set)
    return figures


def clean_record(raw: bytes, settings: Settings, utf8_checked: bool = False) -> tuple[str, str, str, str, int] | str:
    """One raw line -> the catalog record to keep (uid, title, description, split, its CUT_* flags), or
    why it was dropped."""
    fields = parse_fields(raw, utf8_checked)
    if isinstance(fields, str):
        return fields
    uid, title, content = fields
    uid = uid.strip()
    if not uid:
        return "missing_field"
    if len(uid) > UID_CHARS:
        return "long_uid"
    title = clean_text(title)
    if not title:
        return "empty_title"
    cut = CUT_TITLE if len(title) > settings.title_chars else 0
    title = cut_at_word(title, settings.title_chars)
    description, reason = clean_and_judge(content, title, settings.min_chars)
    if reason:
        return reason
    if len(description) > settings.max_chars:
        cut |= CUT_DESCRIPTION
        description = cap_length(description, settings.max_chars)
    return uid, title, description, split_of(uid, settings.val_size, settings.test_size), cut


def repeat_key(title: bytes, description: bytes) -> bytes:
    """Records with the same title and description are one product listed twice: an 8-byte key each,
    of their escaped() texts (in which no control character is left to mistake for the separator)."""
    return digest8(title + b"\x1f" + description)


# normalize_title() of an ASCII title on bytes (5x faster than str.translate): letters and digits
# lowercased, '&' read as ' and ', apostrophes dropped, any other byte a space (a test compares them).
_TITLE_BYTES = bytes(b if chr(b).isalnum() else 32 for b in range(128)).lower() + bytes(range(128, 256))


def title_words(title: str) -> str:
    """The distinct words of normalize_title(title), in order, space-separated."""
    if title.isascii():
        words = title.encode().replace(b"&", b" and ").translate(_TITLE_BYTES, b"'`").decode().split()
    else:
        words = normalize_title(title).split()
    return " ".join(dict.fromkeys(words))


def _joined(texts: list):
    """Strings (or bytes) as one (pickled ~10x faster than a list), where no text holds the separator."""
    separator = "\x00" if not texts or isinstance(texts[0], str) else b"\x00"
    joined = separator.join(texts)
    return joined if joined.count(separator) == len(texts) - 1 else texts


def _split(joined, count: int) -> list:
    if isinstance(joined, list):
        return joined
    return joined.split("\x00" if isinstance(joined, str) else b"\x00") if count else []


class Cleaned:
    """A block of lines cleaned by a worker: per line its drop reason (None: kept), and columns of the
    kept records. Pickled as a few big strings and bytes: ~10 objects a record would cost the main
    process as much to unpickle as the catalog inserts."""

    def __init__(self, reasons: list[str | None], kept: list[tuple[str, str, str, str, int]]):
        self.reasons = reasons
        fields = [TextFile.fields(uid, title, description) for uid, title, description, *_ in kept]
        columns = list(zip(*kept)) or [()] * 5
        self.uids, self.titles = map(list, columns[:2])
        self.descriptions = [text.encode("utf-8") for text in columns[2]]  # as the catalog takes them
        self.splits = bytearray(map(SPLIT_CODES.__getitem__, columns[3]))
        self.cuts = bytearray(columns[4])  # CUT_* flags
        words = list(map(title_words, self.titles))
        self.words = " ".join(words)  # title_words() of each, one after the other
        self.word_counts = array("I", [text.count(" ") + 1 if text else 0 for text in words])
        self.keys = b"".join(repeat_key(field[2], field[3]) for field in fields)  # 8 bytes each
        self.texts = b"".join(chain.from_iterable(fields))  # TextFile.fields() of each, back to back
        self.lengths = array("I", map(len, chain.from_iterable(fields)))  # the byte length of each field

    def __len__(self) -> int:
        return len(self.splits)

    def __getstate__(self):
        return (self.reasons, _joined(self.uids), _joined(self.titles), _joined(self.descriptions), self.words,
                self.word_counts, bytes(self.splits), bytes(self.cuts), self.keys, self.texts, self.lengths)

    def __setstate__(self, state) -> None:
        (self.reasons, uids, titles, descriptions, self.words, self.word_counts, splits, self.cuts, self.keys,
         self.texts, self.lengths) = state
        count = len(splits)
        self.uids, self.titles, self.descriptions = (_split(x, count) for x in (uids, titles, descriptions))
        self.splits = bytearray(splits)


def clean_block(block: bytes, settings: Settings) -> Cleaned:
    """Clean every non-blank line of a block (blank lines are not records and are not counted)."""
    ascii_only = block.isascii()  # then every line is valid UTF-8: no check line by line
    reasons, kept = [], []
    for raw in block.split(b"\n"):
        if raw.strip():
            record = clean_record(raw, settings, ascii_only)
            if isinstance(record, str):
                reasons.append(record)
            else:
                reasons.append(None)
                kept.append(record)
    try:
        return Cleaned(reasons, kept)
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the JSON) has no UTF-8: not kept
        lines = [i for i, reason in enumerate(reasons) if reason is None]
        for line, record in zip(lines, kept):
            try:
                TextFile.fields(*record[:3])
            except UnicodeEncodeError:
                reasons[line] = "invalid_utf8"
        return Cleaned(reasons, [record for line, record in zip(lines, kept) if reasons[line] is None])


@dataclass
class CleanJob:
    """What a cleaning worker needs; set before the pool forks, so workers share it."""
    source: int  # file descriptor of the lines: the input, or the spool of the inflated input
    settings: Settings
    parts: Parts


_CLEAN: CleanJob | None = None


def clean_span(span: tuple[int, int]) -> Cleaned:
    """In a worker: clean the block at (offset, length) of the source; its texts go to a part file
    (Cleaned.texts becomes where they are)."""
    offset, length = span
    block = os.pread(_CLEAN.source, length, offset)
    if len(block) != length:
        raise OSError(f"read {len(block)} of {length} bytes at {offset}")
    cleaned = clean_block(block, _CLEAN.settings)
    cleaned.texts = _CLEAN.parts.put(cleaned.texts, "texts")
    return cleaned


class TextFile:
    """What pass 2 shows of each kept record, in an unnamed temporary file (gone when closed), so that
    no process holds the catalog's text: per record its uid (UTF-8, to hash) and its uid, title and
    description as they appear inside a JSON string (raft.escaped()), back to back. Read back with
    os.pread: the OS keeps the file cached, and no process's memory grows with it (a memory map
    counts each page read in the reader's RSS)."""

    FIELDS = 4

    def __init__(self, folder: Path):
        self.file = tempfile.TemporaryFile(dir=folder, buffering=0)
        self.lengths = array("I")
        self._bounds: memoryview | None = None

    @staticmethod
    def fields(uid: str, title: str, description: str) -> tuple[bytes, bytes, bytes, bytes]:
        return uid.encode("utf-8"), escaped(uid), escaped(title), escaped(description)

    def append(self, parts: Parts, where: tuple[str, int], lengths: array, skip: int = 0) -> None:
        """The records whose fields are `lengths` long, from parts at `where` (after `skip` bytes)."""
        parts.copy(where, self.file.fileno(), skip, sum(lengths))
        self.lengths.extend(lengths)

    def seal(self) -> None:
        """No more records: the lengths become offsets (the file is unbuffered: nothing to flush)."""
        lengths = np.frombuffer(self.lengths, dtype=np.uint32) if self.lengths else np.zeros(0, np.uint32)
        self._bounds = memoryview(np.concatenate((np.zeros(1, np.uint64), np.cumsum(lengths, dtype=np.uint64))))
        self.lengths = array("I")

    def _read(self, begin: int, end: int) -> bytes:
        return os.pread(self.file.fileno(), end - begin, begin)

    def records(self, first: int, last: int) -> list[tuple[bytes, ...]]:
        """The fields of records first..last-1, in one read."""
        bounds, width = self._bounds, self.FIELDS
        begin = bounds[width * first]
        data = self._read(begin, bounds[width * last])
        fields = [data[bounds[i] - begin:bounds[i + 1] - begin] for i in range(width * first, width * last)]
        return [tuple(fields[i:i + width]) for i in range(0, len(fields), width)]

    def shown(self, index: int) -> tuple[bytes, bytes, bytes]:
        """The escaped uid, title and description of a record (what a row shows of it), in one read."""
        bounds, start = self._bounds, self.FIELDS * index
        uid, title, description, end = bounds[start + 1], bounds[start + 2], bounds[start + 3], bounds[start + 4]
        data = self._read(uid, end)
        return data[:title - uid], data[title - uid:description - uid], data[description - uid:]

    def title(self, index: int) -> str:
        """The record's title as cleaned (to compare normalized titles)."""
        return json.loads(b'"' + self.shown(index)[1] + b'"')

    def close(self) -> None:
        self.file.close()


class Parts:
    """Bytes a worker hands back through a file in a temporary folder, not a pipe: the main process
    copies them where they go inside the kernel (files.copy_range) and deletes the file. Pickling,
    piping and unpickling cost ~4 CPU-s a GB, and pass 2 alone writes 2.2 GB at full size. One file a
    hand-over, deleted once copied, so that the parts never pile up on disk (they were 3 GB at full
    size) and are mostly gone before the kernel writes them out."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._count = 0                 # hand-overs by this process: the next file's name
        self._read: dict[str, int] = {}  # descriptors of the files the main process copies from

    def put(self, data: bytes, kind: str) -> tuple[str, int]:
        """In a worker: data in a new file; returns where it is (the file's name, and the size)."""
        self._count += 1
        name = f"{kind}.{os.getpid()}.{self._count}"
        with open(self.folder / name, "xb", buffering=0) as handle:
            write_all(handle.fileno(), data)
        return name, len(data)

    def copy(self, where: tuple[str, int], destination: int, skip: int = 0, length: int | None = None) -> None:
        """In the main process: append the bytes at `where` (from `skip` on, `length` of them) to the
        file descriptor `destination`."""
        name, size = where
        if name not in self._read:
            self._read[name] = os.open(self.folder / name, os.O_RDONLY)
        copy_range(self._read[name], destination, skip, size - skip if length is None else length)

    def remove(self, where: tuple[str, int]) -> None:
        """In the main process: the bytes at `where` are copied; delete their file."""
        name = where[0]
        if name in self._read:
            os.close(self._read.pop(name))
        os.unlink(self.folder / name)

    def close(self) -> None:
        for descriptor in self._read.values():
            os.close(descriptor)
        self._read = {}


class Collector:
    """Pass 1 in the main process: keeps the blocks' order, drops exact repeats, stops at max_records,
    and fills the catalog, the text file and the title words (ids) of every kept record."""

    def __init__(self, catalog: CatalogWriter, texts: TextFile, parts: Parts, max_records: int | None):
        self.catalog, self.texts, self.parts, self.max_records = catalog, texts, parts, max_records
        self.read = 0
        self.dropped: Counter[str] = Counter()
        self.cut = {"title": 0, "description": 0}  # kept records cut by each cap
        self.seen: set[int] = set()  # repeat keys
        self.vocabulary: dict[str, int] = {}  # title word -> id
        self.word_ids, self.word_counts, self.splits = array("I"), array("I"), bytearray()

    @property
    def kept(self) -> int:
        return len(self.splits)

    @property
    def full(self) -> bool:
        return bool(self.max_records) and self.kept >= self.max_records

    def add(self, block: Cleaned) -> None:
        fresh = self._fresh(np.frombuffer(block.keys, dtype=np.uint64))
        reasons, repeats = block.reasons, len(block) - len(fresh)
        if self.max_records and self.kept + len(fresh) >= self.max_records:
            fresh = fresh[:self.max_records - self.kept]
            line = [i for i, reason in enumerate(reasons) if reason is None][fresh[-1]]
            reasons, repeats = reasons[:line + 1], fresh[-1] + 1 - len(fresh)  # the lines before the last kept
        self.read += len(reasons)
        counts = Counter(reasons)
        counts.pop(None, None)
        self.dropped.update(counts)
        if repeats:
            self.dropped["duplicate"] += repeats
        self._keep(block, fresh)

    def _fresh(self, keys: np.ndarray) -> list[int]:
        """Which of the block's records are no repeat: the first of their key, in the block and before."""
        unique, first = np.unique(keys, return_index=True)
        unique = unique.tolist()
        seen_before = self.seen.intersection(unique)
        self.seen.update(unique)
        keep = np.zeros(len(keys), dtype=bool)
        keep[first] = True
        if seen_before:
            keep &= ~np.isin(keys, np.fromiter(seen_before, dtype=np.uint64, count=len(seen_before)))
        return np.flatnonzero(keep).tolist()

    def _keep(self, block: Cleaned, fresh: list[int]) -> None:
        everything = len(fresh) == len(block)
        pick = (lambda column: column) if everything else (lambda column: [column[j] for j in fresh])
        splits = pick(block.splits)
        cuts = np.frombuffer(bytes(pick(block.cuts)), dtype=np.uint8)
        self.cut["title"] += int(np.count_nonzero(cuts & CUT_TITLE))
        self.cut["description"] += int(np.count_nonzero(cuts & CUT_DESCRIPTION))
        self.catalog.add_many(list(zip(pick(block.uids), pick(block.titles), pick(block.descriptions),
                                       [SPLITS[code] for code in splits])))
        self.splits.extend(splits)
        self._add_words(block, None if everything else fresh)
        if everything:
            self.texts.append(self.parts, block.texts, block.lengths)
        else:
            width, lengths = TextFile.FIELDS, block.lengths
            offsets = np.concatenate(([0], np.cumsum(np.frombuffer(lengths, dtype=np.uint32), dtype=np.int64)))
            for start, end in _runs(fresh):  # records start..end-1 are kept: one copy for them
                skip = int(offsets[width * start])
                self.texts.append(self.parts, block.texts, lengths[width * start:width * end], skip)
        self.parts.remove(block.texts)

    def _add_words(self, block: Cleaned, fresh: list[int] | None) -> None:
        """The ids of the kept records' title words (new words get the next ids)."""
        words = block.words.split()
        vocabulary = self.vocabulary
        new = [word for word in dict.fromkeys(words) if word not in vocabulary]
        vocabulary.update(zip(new, range(len(vocabulary), len(vocabulary) + len(new))))
        ids = np.array(list(map(vocabulary.__getitem__, words)), dtype=np.uint32)
        counts = np.frombuffer(block.word_counts, dtype=np.uint32)
        if fresh is not None:
            kept = np.zeros(len(counts), dtype=bool)
            kept[fresh] = True
            ids, counts = ids[np.repeat(kept, counts)], counts[kept]
        self.word_ids.frombytes(ids.tobytes())
        self.word_counts.frombytes(counts.tobytes())


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted indices as runs of consecutive ones: [1, 2, 3, 7] -> [(1, 4), (7, 8)]."""
    if not indices:
        return []
    values = np.asarray(indices, dtype=np.int64)
    cuts = np.flatnonzero(np.diff(values) != 1) + 1
    starts, ends = values[np.r_[0, cuts]], values[np.r_[cuts - 1, len(values) - 1]] + 1
    return list(zip(starts.tolist(), ends.tolist()))


def _in_order(pool, func, items, ahead: int):
    """func over items in worker processes, results in order, with at most `ahead` tasks in flight
    (Pool.imap would read the whole input ahead of the workers)."""
    if pool is None:
        yield from map(func, items)
        return
    pending = collections.deque()
    for item in items:
        pending.append(pool.apply_async(func, (item,)))
        if len(pending) >= ahead:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def _pool(stack: contextlib.ExitStack, workers: int):
    """A pool of forked worker processes (they share what the parent holds), or None for one worker.
    The parent's objects are frozen first (gc.freeze): a collection in a worker would otherwise visit,
    and so copy, every page of the parent's heap it shares."""
    if workers < 2:
        return None
    gc.freeze()
    stack.callback(gc.unfreeze)
    pool = multiprocessing.get_context("fork").Pool(workers, initializer=_worker_signals, initargs=(os.getpid(),))
    return stack.enter_context(pool)


def _worker_signals(parent: int) -> None:
    """In a worker: signals to the stage's process group (Ctrl-C at a terminal, `timeout`, kill -- -PGID)
    are the main process's to act on (it cleans up, then ends the pool with SIGTERM), so the worker
    leaves the group: one stopped by them could die holding the pool's queue locks, and the pool's end
    would wait for them forever. SIGTERM kills at once (a Python handler, such as the one errors.cli
    installs, would wait for a worker stuck on a lock). It dies with the main process (Linux)."""
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the main process ended before prctl
        os._exit(1)


@dataclass
class RowJob:
    """What a row-writing worker needs; set before the pool forks, so workers share it."""
    texts: TextFile
    parts: Parts
    distractors: Distractors
    templates: list[str]
    mix: Mix
    seed: int
    followups: list[str] = field(default_factory=read_followups)
    format: RowFormat = field(default_factory=RowFormat)
    questions: dict[str, bytes] = field(default_factory=dict)  # question template -> escaped()
    rng: random.Random = field(default_factory=random.Random)  # re-seeded for each row

    def question(self, uid: str, title: bytes) -> bytes:
        """productqa.prompts.question_for(), escaped: the escaped template with the escaped title."""
        template = pick_template(self.templates, uid, self.seed)
        if template not in self.questions:
            self.questions[template] = escaped(template)
        return self.questions[template].replace(b"{title}", title)

    def partial(self, uid: str, title: bytes) -> bytes | None:
        """One of titles.partial_titles() of the escaped title, picked by (seed, uid); None when it has none.
        Escaping leaves spaces and the separators alone, so the forms of the escaped text are escaped forms."""
        forms = partial_titles(title.decode("utf-8"))
        return pick_template(forms, uid, self.seed).encode("utf-8") if forms else None

    def followup(self, uid: str) -> bytes:
        return escaped(pick_template(self.followups, uid, self.seed))

    def fact_line(self, index: int, uid: str, product: list[bytes], fact: FactRow) -> bytes:
        """The JSON line of a factual row (raft.fact_rows): the product among its distractors, as its
        grounded row shows them, asked the fact by its title or as a follow-up to a question that named it.
        Built from decoded fields with make_row: a few such rows a product, not worth a RowFormat layout."""
        shown = context_of(index, uid, fact.kind, self.mix, self.distractors, self.seed, self.rng)
        record = Product(*(_unescaped(field) for field in product))
        context = [record if i == index else Product(*(_unescaped(f) for f in self.texts.shown(i))) for i in shown]
        which = "follow" if fact.follow else "ask"
        question = facts.question(fact.asked, None if fact.follow else record.title, fact.language, which,
                                  uid + fact.kind, self.seed)
        earlier = _unescaped(self.question(uid, product[1])) if fact.follow else None
        return json_line(make_row(record, question, fact.kind, context, shown.index(index) + 1, earlier,
                                  fact)).encode("utf-8")


def _unescaped(field: bytes) -> str:
    """A field as RowFormat holds it (JSON-escaped UTF-8, without quotes) back to text."""
    return json.loads(b'"' + field + b'"')


_JOB: RowJob | None = None


def write_row_block(first: int) -> tuple[list[tuple[str, int]], Counter, list[int]]:
    """In a worker: the rows of records first..first+ROW_BLOCK-1 (those asked about: the first of their
    title), written to part files; returns where each split's lines are, and the number of rows of each
    kind and of each split."""
    job = _JOB
    distractors, texts = job.distractors, job.texts
    titles, splits = memoryview(distractors.titles), memoryview(distractors.splits)
    lines: list[list[bytes]] = [[] for _ in SPLITS]
    kinds: Counter[str] = Counter()
    last = min(len(distractors), first + ROW_BLOCK)
    for index, (uid, *product) in enumerate(texts.records(first, last), first):
        if titles[index] != index:
            continue
        uid = uid.decode("utf-8")
        kind, named = kind_of(uid, job.mix, job.seed), product[1]
        if kind == "partial" or (kind == "absent" and asks_partially(uid, job.seed)):
            part = job.partial(uid, product[1])
            if part is not None:
                named = part
            elif kind == "partial":
                kind = "grounded"  # a title too short to name by a part of it
        shown = context_of(index, uid, kind, job.mix, distractors, job.seed, job.rng)
        context = None if shown is None else [product if i == index else texts.shown(i) for i in shown]
        number = shown.index(index) + 1 if kind in ANSWERED else 0
        question, earlier = job.question(uid, named), b""
        if kind == "followup":
            question, earlier = job.followup(uid), question
        lines[splits[index]].append(job.format.line(kind, product, question, context, number, earlier))
        kinds[kind] += 1
        for fact in fact_rows(uid, _unescaped(product[2]), job.mix, job.seed):
            lines[splits[index]].append(job.fact_line(index, uid, product, fact))
            kinds[fact.kind] += 1
    where = [job.parts.put(b"".join(split_lines), split) for split, split_lines in zip(SPLITS, lines)]
    return where, kinds, [len(split_lines) for split_lines in lines]


class Steps:
    """Wall and CPU seconds of each step: CPU of this process, and of it and its workers together
    (a worker's counts once it has ended: each step ends its own pool)."""

    def __init__(self):
        self.times: dict[str, dict[str, float]] = {}
        self.started = self._mark = self._now()

    @staticmethod
    def _now() -> tuple[float, float, float]:
        own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        main = own.ru_utime + own.ru_stime
        return time.perf_counter(), main, main + workers.ru_utime + workers.ru_stime

    def done(self, step: str) -> None:
        now = self._now()
        wall, main, cpu = (round(a - b, 2) for a, b in zip(now, self._mark))
        self.times[step] = {"wall": wall, "cpu": cpu, "cpu_main": main}
        self._mark = now

    def total(self) -> float:
        return round(self._now()[0] - self.started[0], 2)

    @staticmethod
    def peak_rss_mb() -> dict[str, int]:
        """The largest resident memory of this process and of any one worker so far (Linux: KiB)."""
        return {"main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                "largest worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024}


def _check_arguments(o: PrepareArgs) -> None:
    if not (0 <= o.val_size < 1 and 0 <= o.test_size < 1 and o.val_size + o.test_size < 1):
        raise UserError("--val-size and --test-size must be fractions in [0, 1) that sum to less than 1")
    if o.max_records is not None and o.max_records < 1:
        raise UserError("--max-records must be a positive number")
    if o.min_chars < 1 or o.max_chars < 2 * o.min_chars:
        raise UserError("--min-chars must be at least 1 and --max-chars at least twice --min-chars")
    if o.k < 1:
        raise UserError("--k (records shown with a grounded question) must be at least 1")
    shares = (o.absent_share, o.closed_book_share, o.partial_share, o.followup_share)
    if not (all(0 <= share <= 1 for share in shares) and sum(shares) <= 1):
        raise UserError("--absent-share, --closed-book-share, --partial-share and --followup-share must be "
                        "fractions that sum to at most 1")
    if not (0 <= o.fact_share <= 1 and 0 <= o.not_said_share <= 1):
        raise UserError("--fact-share and --not-said-share must be fractions in [0, 1]")
    if o.workers is not None and o.workers < 1:
        raise UserError("--workers must be at least 1 (or left out: one a core)")


def _timed(func) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def _clean_all(reader: LineReader, settings: Settings, workers: int, collector: Collector, show: bool) -> Collector:
    """Pass 1: every block of the file through clean_span (in workers) and the collector (here).
    Workers read the blocks themselves (os.pread): from the input, or from a spool file the main
    process writes the inflated input to (a pipe would cost ~4 CPU-s a GB)."""
    global _CLEAN
    with contextlib.ExitStack() as stack:
        spool = stack.enter_context(tempfile.TemporaryFile(dir=collector.parts.folder, buffering=0)) \
            if reader.compressed else None
        _CLEAN = CleanJob(spool.fileno() if spool else reader.fileno(), settings, collector.parts)
        try:
            pool = _pool(stack, workers)
            bar = stack.enter_context(progress_bar(total=reader.size, desc="prepare", unit="B", unit_scale=True,
                                                   enabled=show))
            for block in _in_order(pool, clean_span, _spans(reader, spool), AHEAD * workers):
                collector.add(block)
                bar.update(reader.position() - bar.n)
                if collector.full:
                    break  # leaving the block terminates the pool, and the blocks still in flight with it
        finally:
            _CLEAN = None
    return collector


def _spans(reader: LineReader, spool) -> Iterator[tuple[int, int]]:
    """The input in blocks of lines, as (offset, length) in the file workers read them from."""
    offset = 0
    for block in reader.blocks(BLOCK_BYTES):
        if spool is not None:
            write_all(spool.fileno(), block)
        yield offset, len(block)
        offset += len(block)


def _distractors(collector: Collector, catalog: CatalogWriter, texts: TextFile) -> Distractors:
    """The numbers pass 2 needs, from pass 1's; the repeat keys and the vocabulary's dict are let go."""
    vocabulary = list(collector.vocabulary)
    collector.seen = collector.vocabulary = None
    titles = same_title_groups(catalog.title_keys(), lambda index: normalize_title(texts.title(index)))
    return Distractors(np.frombuffer(collector.splits, dtype=np.uint8), titles,
                       np.frombuffer(collector.word_ids, dtype=np.uint32),
                       np.frombuffer(collector.word_counts, dtype=np.uint32), vocabulary)


def _write_rows(job: RowJob, outputs: dict, workers: int, show: bool, meanwhile) -> tuple[list[int], Counter, float]:
    """Pass 2: blocks of rows made in workers (forked here, so they share the job) and written in order,
    while a thread runs `meanwhile` (the catalog's indexes: numpy and SQLite release the GIL).
    Returns the rows of each split, of each kind, and the seconds `meanwhile` took."""
    global _JOB
    _JOB = job
    per_split, kinds = [0] * len(SPLITS), Counter()
    try:
        with contextlib.ExitStack() as stack:
            pool = _pool(stack, workers)  # forked before the thread starts: a fork copies no running thread
            other = stack.enter_context(ThreadPoolExecutor(1)).submit(_timed, meanwhile)
            count = len(job.distractors)
            bar = stack.enter_context(progress_bar(total=count, desc="rows", unit="row", enabled=show))
            starts = range(0, count, ROW_BLOCK)
            for first, (where, block_kinds, block_counts) in zip(
                    starts, _in_order(pool, write_row_block, starts, AHEAD * workers)):
                for split, part in zip(SPLITS, where):
                    job.parts.copy(part, outputs[split].fileno())
                    job.parts.remove(part)
                kinds.update(block_kinds)
                per_split = [total + more for total, more in zip(per_split, block_counts)]
                bar.update(min(count, first + ROW_BLOCK) - first)
            seconds = other.result()
    finally:
        _JOB = None
    return per_split, kinds, seconds
