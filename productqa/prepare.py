"""Stage 1: trn.json(.gz) -> cleaned ShareGPT train/val/test + the catalog of sources.

Parsing and cleaning run in worker processes on chunks of lines; the main process keeps the order,
de-duplicates, and writes. Memory holds one chunk per worker plus an 8-byte key per kept title.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import multiprocessing
import os
import time
from collections import Counter
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from tqdm import tqdm

from productqa.catalog import CatalogWriter
from productqa.clean import cap_length, clean_description, clean_text, junk_reason
from productqa.data import SPLITS, LineReader, parse_line, split_of
from productqa.errors import UserError
from productqa.files import atomic_open, atomic_path, write_json
from productqa.prompts import question_for, read_question_templates

CHUNK_LINES = 2000


@dataclass(frozen=True)
class CleanSettings:
    min_chars: int = 30
    max_chars: int = 700


def clean_record(raw: bytes, settings: CleanSettings) -> tuple:
    """One raw line -> ("keep", uid, title, description) or ("drop", reason)."""
    record, reason = parse_line(raw)
    if record is None:
        return ("drop", reason)
    uid = record["uid"].strip()
    if not uid:
        return ("drop", "missing_field")
    title = clean_text(record["title"])
    if not title:
        return ("drop", "empty_title")
    description = clean_description(record["content"])
    reason = junk_reason(description, title, settings.min_chars)
    if reason:
        return ("drop", reason)
    return ("keep", uid, title, cap_length(description, settings.max_chars))


def clean_chunk(lines: list[bytes], settings: CleanSettings) -> list[tuple]:
    return [clean_record(line, settings) for line in lines]


def _chunks(lines, size: int):
    """Non-blank lines in lists of `size` (blank lines are not records and are not counted)."""
    lines = (line for line in lines if line.strip())
    while chunk := list(islice(lines, size)):
        yield chunk


def title_key(title: str) -> int:
    return int.from_bytes(hashlib.blake2b(title.casefold().encode(), digest_size=8).digest(), "big")


def conversation(uid: str, title: str, description: str, templates: list[str], seed: int) -> dict:
    return {"id": uid, "title": title, "conversations": [
        {"from": "human", "value": question_for(title, uid, templates, seed)},
        {"from": "gpt", "value": description},
    ]}


def prepare(input_path: Path, out_dir: Path, *, max_records: int | None = None, val_size: float = 0.05,
            test_size: float = 0.05, seed: int = 3407, settings: CleanSettings = CleanSettings(),
            workers: int | None = None, progress: bool = True) -> dict:
    """Run the whole stage and return stats (read, kept, dropped per reason, per-split counts)."""
    if not (0 <= val_size < 1 and 0 <= test_size < 1 and val_size + test_size < 1):
        raise UserError("--val-size and --test-size must be fractions in [0, 1) that sum to less than 1")
    if max_records is not None and max_records < 1:
        raise UserError("--max-records must be a positive number")
    templates = read_question_templates()
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
            for item in chunk:
                read += 1
                if item[0] == "drop":
                    dropped[item[1]] += 1
                    continue
                _, uid, title, description = item
                key = title_key(title)
                if key in seen_titles:
                    dropped["duplicate"] += 1
                    continue
                seen_titles.add(key)
                split = split_of(uid, val_size, test_size)
                row = conversation(uid, title, description, templates, seed)
                outputs[split].write(json.dumps(row, ensure_ascii=False) + "\n")
                catalog.add(uid, title, description, split)
                per_split[split] += 1
                kept += 1
                if max_records and kept >= max_records:
                    break
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
