"""Stage 1: trn.json(.gz) -> the catalog of sources + grounded ShareGPT train/val/test rows.

Pass 1 streams the file: parsing and cleaning run in worker processes on chunks of lines; the main
process keeps the order, drops exact repeats (same title and description) and writes every distinct
product into the catalog. Pass 2 writes one conversation per distinct title (the first product of
that title), of the kind its uid hashes to (productqa.raft: grounded, absent, closed_book), with
hard distractors from the whole catalog. Nothing under the final names changes unless all succeed.
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
from pathlib import Path

from tqdm import tqdm

from productqa.catalog import CatalogWriter
from productqa.clean import cap_length, clean_description, clean_text, junk_reason
from productqa.data import SPLITS, LineReader, parse_line, split_of
from productqa.errors import UserError
from productqa.files import atomic_open, atomic_path, json_line, write_json
from productqa.prompts import question_for, read_question_templates
from productqa.raft import Distractors, Entry, Mix, kind_of, make_row
from productqa.titles import normalize_title

CHUNK_LINES = 2000


@dataclass(frozen=True)
class Settings:
    """What decides a record's fate and text; the same settings always give the same bytes."""
    min_chars: int = 30
    max_chars: int = 400
    val_size: float = 0.05
    test_size: float = 0.05


def clean_record(raw: bytes, settings: Settings) -> Entry | str:
    """One raw line -> the catalog entry to keep, or the reason it was dropped."""
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
    return Entry(uid, title, description, split_of(uid, settings.val_size, settings.test_size),
                 normalize_title(title))


def clean_chunk(lines: list[bytes], settings: Settings) -> list[Entry | str]:
    return [clean_record(line, settings) for line in lines]


def _chunks(lines, size: int):
    """Non-blank lines in lists of `size` (blank lines are not records and are not counted)."""
    lines = (line for line in lines if line.strip())
    while chunk := list(islice(lines, size)):
        yield chunk


def repeat_key(entry: Entry) -> bytes:
    """Records with the same title and description are one product listed twice: an 8-byte key each."""
    return hashlib.blake2b(f"{entry.title}\x1f{entry.description}".encode("utf-8", "surrogatepass"),
                           digest_size=8).digest()


def prepare(input_path: Path, out_dir: Path, *, max_records: int | None = None, val_size: float = 0.05,
            test_size: float = 0.05, seed: int = 3407, min_chars: int = 30, max_chars: int = 400,
            k: int = 3, absent_share: float = 0.2, closed_book_share: float = 0.2,
            workers: int | None = None, progress: bool = True) -> dict:
    """Run the whole stage and return stats (read, kept, dropped per reason, rows per split and kind)."""
    if not (0 <= val_size < 1 and 0 <= test_size < 1 and val_size + test_size < 1):
        raise UserError("--val-size and --test-size must be fractions in [0, 1) that sum to less than 1")
    if max_records is not None and max_records < 1:
        raise UserError("--max-records must be a positive number")
    if min_chars < 1 or max_chars < 2 * min_chars:
        raise UserError("--min-chars must be at least 1 and --max-chars at least twice --min-chars")
    if k < 1:
        raise UserError("--k (records shown with a grounded question) must be at least 1")
    if not (0 <= absent_share <= 1 and 0 <= closed_book_share <= 1 and absent_share + closed_book_share <= 1):
        raise UserError("--absent-share and --closed-book-share must be fractions that sum to at most 1")
    settings = Settings(min_chars, max_chars, val_size, test_size)
    mix = Mix(k, absent_share, closed_book_share)
    templates = read_question_templates()
    workers = workers or os.cpu_count() or 1
    out_dir = Path(out_dir)

    read = 0
    dropped: Counter[str] = Counter()
    entries: list[Entry] = []
    seen: set[bytes] = set()
    started = time.perf_counter()

    with contextlib.ExitStack() as stack:
        reader = stack.enter_context(LineReader(input_path))
        out_dir.mkdir(parents=True, exist_ok=True)
        catalog_tmp = stack.enter_context(atomic_path(out_dir / "catalog.sqlite"))
        catalog = CatalogWriter(catalog_tmp)
        pool = stack.enter_context(multiprocessing.get_context("fork").Pool(workers)) if workers > 1 else None
        work = functools.partial(clean_chunk, settings=settings)
        chunks = _chunks(reader, CHUNK_LINES)
        results = pool.imap(work, chunks) if pool else map(work, chunks)
        bar = stack.enter_context(tqdm(total=reader.size, unit="B", unit_scale=True, desc="prepare",
                                       disable=not progress, mininterval=0.5))
        # -- pass 1: clean, drop exact repeats, fill the catalog ---------------------------------------
        for chunk in results:
            for item in chunk:
                read += 1
                if isinstance(item, str):
                    dropped[item] += 1
                    continue
                key = repeat_key(item)
                if key in seen:
                    dropped["duplicate"] += 1
                    continue
                seen.add(key)
                catalog.add(item.uid, item.title, item.description, item.split)
                entries.append(item)
                if max_records and len(entries) >= max_records:
                    break
            bar.update(reader.position() - bar.n)
            if max_records and len(entries) >= max_records:
                if pool:
                    pool.terminate()
                break
        bar.close()
        if read == 0:  # raised before any output is renamed: an earlier good output stays
            raise UserError(f"{input_path} has no records: expected JSON Lines with uid, title and content")
        if not entries:
            raise UserError(f"{input_path} has no usable record ({read:,} read, all dropped: "
                            f"{', '.join(f'{k} {v}' for k, v in sorted(dropped.items()))})")
        catalog.close()

        # -- pass 2: one conversation per distinct title, with its distractors, written as it is made ---
        distractors = Distractors(entries)
        outputs = {split: stack.enter_context(atomic_open(out_dir / f"{split}.jsonl")) for split in SPLITS}
        per_split: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        asked: set[str] = set()
        for i, entry in enumerate(tqdm(entries, desc="rows", unit="row", disable=not progress, mininterval=0.5)):
            if entry.norm in asked:
                continue
            asked.add(entry.norm)
            question = question_for(entry.title, entry.uid, templates, seed)
            kind = kind_of(entry.uid, mix, seed)
            outputs[entry.split].write(json_line(make_row(entries, i, question, kind, mix, distractors, seed)))
            per_split[entry.split] += 1
            kinds[kind] += 1
        # the catalog and the three files are renamed into place together, when the whole stage has succeeded

    stats = {
        "read": read,
        "kept": len(entries),
        "dropped": dict(sorted(dropped.items())),
        "catalog_records": len(entries),
        "splits": {split: per_split[split] for split in SPLITS},
        "kinds": {kind: kinds[kind] for kind in sorted(kinds)},
        "same_title_records": len(entries) - len(asked),
        "stopped_early": bool(max_records and len(entries) >= max_records),
    }
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values())
    write_json(out_dir / "stats.json", stats)
    stats["seconds"] = round(time.perf_counter() - started, 2)
    return stats
