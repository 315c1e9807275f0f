"""Stage 1: trn.json(.gz) -> cleaned ShareGPT train/val/test + the catalog of sources.

Parsing and cleaning run in worker processes on chunks of lines; the main process keeps the order,
de-duplicates, and writes. Memory holds one chunk per worker plus an 8-byte key per kept title.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import multiprocessing
import os
import time
from collections import Counter
from dataclasses import dataclass
from itertools import islice
from json.encoder import encode_basestring
from pathlib import Path
from typing import NamedTuple

from tqdm import tqdm

from productqa.catalog import CatalogWriter
from productqa.clean import cap_length, clean_description, clean_text, junk_reason
from productqa.data import SPLITS, LineReader, parse_line, split_of
from productqa.errors import UserError
from productqa.files import atomic_open, atomic_path, write_json
from productqa.prompts import question_for, read_question_templates

CHUNK_LINES = 2000


@dataclass(frozen=True)
class Settings:
    """What decides a record's fate and text; the same settings always give the same bytes."""
    min_chars: int = 30
    max_chars: int = 700
    val_size: float = 0.05
    test_size: float = 0.05
    seed: int = 3407
    templates: tuple[str, ...] = ()


class Kept(NamedTuple):
    title_key: int
    uid: str
    title: str
    description: str
    split: str
    line: str  # the ShareGPT row, JSON-encoded, newline-terminated


def clean_record(raw: bytes, settings: Settings) -> Kept | str:
    """One raw line -> the record to keep, or the reason it was dropped."""
    record, reason = parse_line(raw)
    if record is None:
        return reason
    uid = record["uid"].strip()
    if not uid:
        return "missing_field"
    title = clean_text(record["title"])
    if not title:
        return "empty_title"
    description = clean_description(record["content"])
    reason = junk_reason(description, title, settings.min_chars)
    if reason:
        return reason
    description = cap_length(description, settings.max_chars)
    question = question_for(title, uid, settings.templates, settings.seed)
    return Kept(title_key(title), uid, title, description, split_of(uid, settings.val_size, settings.test_size),
                conversation_line(uid, title, question, description))


def clean_chunk(lines: list[bytes], settings: Settings) -> list[Kept | str]:
    return [clean_record(line, settings) for line in lines]


def _chunks(lines, size: int):
    """Non-blank lines in lists of `size` (blank lines are not records and are not counted)."""
    lines = (line for line in lines if line.strip())
    while chunk := list(islice(lines, size)):
        yield chunk


def title_key(title: str) -> int:
    """Titles that differ only in case are the same product: one 8-byte key each for de-duplication."""
    return int.from_bytes(hashlib.blake2b(title.casefold().encode(), digest_size=8).digest(), "big")


def conversation_line(uid: str, title: str, question: str, description: str) -> str:
    """The ShareGPT row as one JSON line; equal to json.dumps(row, ensure_ascii=False), but faster."""
    q = encode_basestring
    return (f'{{"id": {q(uid)}, "title": {q(title)}, "conversations": [{{"from": "human", "value": {q(question)}}}, '
            f'{{"from": "gpt", "value": {q(description)}}}]}}\n')


def prepare(input_path: Path, out_dir: Path, *, max_records: int | None = None, val_size: float = 0.05,
            test_size: float = 0.05, seed: int = 3407, min_chars: int = 30, max_chars: int = 700,
            workers: int | None = None, progress: bool = True) -> dict:
    """Run the whole stage and return stats (read, kept, dropped per reason, per-split counts)."""
    if not (0 <= val_size < 1 and 0 <= test_size < 1 and val_size + test_size < 1):
        raise UserError("--val-size and --test-size must be fractions in [0, 1) that sum to less than 1")
    if max_records is not None and max_records < 1:
        raise UserError("--max-records must be a positive number")
    if min_chars < 1 or max_chars < 2 * min_chars:
        raise UserError("--min-chars must be at least 1 and --max-chars at least twice --min-chars")
    settings = Settings(min_chars, max_chars, val_size, test_size, seed, tuple(read_question_templates()))
    workers = workers or os.cpu_count() or 1
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    read = kept = 0
    dropped: Counter[str] = Counter()
    per_split: Counter[str] = Counter()
    seen_titles: set[int] = set()
    started = time.perf_counter()

    with contextlib.ExitStack() as stack:
        reader = stack.enter_context(LineReader(input_path))
        outputs = {split: stack.enter_context(atomic_open(out_dir / f"{split}.jsonl")) for split in SPLITS}
        catalog_tmp = stack.enter_context(atomic_path(out_dir / "catalog.sqlite"))
        catalog = CatalogWriter(catalog_tmp)
        pool = stack.enter_context(multiprocessing.get_context("fork").Pool(workers)) if workers > 1 else None
        work = functools.partial(clean_chunk, settings=settings)
        chunks = _chunks(reader, CHUNK_LINES)
        results = pool.imap(work, chunks) if pool else map(work, chunks)
        bar = stack.enter_context(tqdm(total=reader.size, unit="B", unit_scale=True, desc="prepare",
                                       disable=not progress, mininterval=0.5))
        for chunk in results:
            lines = {split: [] for split in SPLITS}
            for item in chunk:
                read += 1
                if isinstance(item, str):
                    dropped[item] += 1
                    continue
                if item.title_key in seen_titles:
                    dropped["duplicate"] += 1
                    continue
                seen_titles.add(item.title_key)
                lines[item.split].append(item.line)
                catalog.add(item.uid, item.title, item.description, item.split)
                kept += 1
                if max_records and kept >= max_records:
                    break
            for split, batch in lines.items():
                outputs[split].write("".join(batch))
                per_split[split] += len(batch)
            bar.update(reader.position() - bar.n)
            if max_records and kept >= max_records:
                if pool:
                    pool.terminate()
                break
        catalog.close()

    if read == 0:
        raise UserError(f"{input_path} has no records: expected JSON Lines with uid, title and content")
    stats = {
        "read": read,
        "kept": kept,
        "dropped": dict(sorted(dropped.items())),
        "splits": {split: per_split[split] for split in SPLITS},
        "stopped_early": bool(max_records and kept >= max_records),
    }
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values())
    write_json(out_dir / "stats.json", stats)
    stats["seconds"] = round(time.perf_counter() - started, 2)
    return stats
