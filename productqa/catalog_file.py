"""The catalog file: its format (one SQLite file holding the records and, as numpy arrays in blobs, a hash
index of normalized titles and an inverted index of title words), the hashing that building it and searching
it share, and CatalogWriter, which builds it.

Separate from the search (productqa.catalog) because 01_prepare writes the file and never searches it: the
format and its hashes are what the writer and the reader must agree on, kept in one place.
"""
from __future__ import annotations

import sqlite3
from array import array
from pathlib import Path

import numpy as np

from productqa.titles import normalize_title

FORMAT = "productqa-catalog-2"

SCHEMA = """
CREATE TABLE meta(name TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE records(id INTEGER PRIMARY KEY, uid TEXT NOT NULL, title TEXT NOT NULL,
                     description TEXT NOT NULL, split TEXT NOT NULL);
CREATE TABLE arrays(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, data BLOB NOT NULL);
"""


# --- hashing: the same numbers from numpy at build time and from Python at query time ----------------
_P = 0x100000001B3        # a word's hash: Horner over its UTF-8 bytes, mod 2**64
_Q = 0x9E3779B97F4A7C15   # a title's key: Horner over its words' hashes, mod 2**64
_MASK = (1 << 64) - 1
# bytes -> normalized bytes for titles that are ASCII (productqa.titles' fast path, on a whole batch):
# letters and digits lowercased, every other byte a space except the newline that ends each title.
_BYTES = bytes((b if chr(b).isalnum() and b < 128 else b if b >= 128 else 32) for b in range(256)).lower()
_BYTES = _BYTES[:10] + b"\n" + _BYTES[11:]
_POWERS: dict[int, np.ndarray] = {}


def word_hash(word: str) -> int:
    h = 0
    for byte in word.encode():
        h = (h * _P + byte) & _MASK
    return h


def title_key(words: list[str]) -> int:
    """The key of a normalized title (its words) in the exact-title index; equal keys are checked."""
    key = 0
    for word in words:
        key = (key * _Q + word_hash(word)) & _MASK
    return key


def _powers(base: int, n: int) -> np.ndarray:
    table = _POWERS.get(base)
    if table is None or len(table) < n:
        size = max(n, 1024)
        table = np.full(size, base, dtype=np.uint64)
        table[0] = 1
        table = np.cumprod(table, dtype=np.uint64)  # wraps mod 2**64, as the Python side masks
        _POWERS[base] = table
    return table


def _hash_batch(titles: list[str]):
    """Titles -> (hash of every word, title index of every word, key of every title, words per title),
    the words being normalize_title(title).split(), computed on the batch's bytes at once."""
    joined = "\n".join(titles)
    if not (joined.isascii() and joined.count("\n") == len(titles) - 1):  # else: all titles at once
        joined = "\n".join(t if t.isascii() and "\n" not in t else normalize_title(t) for t in titles)
    data = (joined + "\n").encode().replace(b"&", b" and ").translate(_BYTES, b"'`")
    raw = np.frombuffer(data, dtype=np.uint8)
    newline = raw == 10
    inside = ~(newline | (raw == 32))
    starts = inside.copy()
    starts[1:] &= ~inside[:-1]
    word_title = np.cumsum(newline)[starts]                      # newlines before the word
    byte_index = np.flatnonzero(inside)
    byte_word = np.cumsum(starts)[byte_index] - 1
    word_ends = np.cumsum(np.bincount(byte_word, minlength=len(word_title)))
    exponent = word_ends[byte_word] - 1 - np.arange(len(byte_index))
    hashes = np.zeros(len(word_title), dtype=np.uint64)
    if len(byte_index):
        weighted = raw[byte_index].astype(np.uint64) * _powers(_P, int(exponent.max()) + 1)[exponent]
        hashes = np.add.reduceat(weighted, word_ends - np.bincount(byte_word, minlength=len(word_title)))
    lengths = np.bincount(word_title, minlength=len(titles))
    title_ends = np.cumsum(lengths)
    keys = np.zeros(len(titles), dtype=np.uint64)
    if len(hashes):
        exponent = title_ends[word_title] - 1 - np.arange(len(hashes))
        weighted = hashes * _powers(_Q, int(exponent.max()) + 1)[exponent]
        keys[lengths > 0] = np.add.reduceat(weighted, (title_ends - lengths)[lengths > 0])
    return hashes, word_title, keys, lengths


def _word_hashes(words: list[str]) -> np.ndarray:
    """word_hash of each word (normalized, non-empty, no spaces), in numpy."""
    if not words:
        return np.zeros(0, dtype=np.uint64)
    data = ("\n".join(words) + "\n").encode()
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    starts = np.concatenate(([0], ends[:-1] + 1))
    exponent = np.repeat(ends, ends - starts + 1) - np.arange(len(raw)) - 1  # newline: exponent -1
    inside = exponent >= 0
    weighted = np.zeros(len(raw), dtype=np.uint64)
    weighted[inside] = raw[inside].astype(np.uint64) * _powers(_P, int(exponent.max()) + 1)[exponent[inside]]
    return np.add.reduceat(weighted, starts)


class CatalogWriter:
    """Builds a catalog file: records go to SQLite in batches, with the hashes of their titles' words;
    close() sorts those into the title indexes (numpy, ~1 s at 1.46M records)."""

    def __init__(self, path: Path, batch_size: int = 20_000):
        self.path = Path(path)
        # one thread at a time, but close() may run in another than add() (01_prepare overlaps it)
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.executescript("PRAGMA page_size=16384; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                              "PRAGMA locking_mode=EXCLUSIVE; PRAGMA cache_size=-16384;")
        self.db.executescript(SCHEMA)
        self.batch: list[tuple] = []
        self.batch_size = batch_size
        # kept until close(), in growable buffers: the hash of every title word (~84 MB at 1.46M records),
        # the key of every title, the number of words of every title
        self.word_hashes, self.keys, self.lengths = array("Q"), array("Q"), array("I")
        self.count = 0

    def add(self, uid: str, title: str, description: str, split: str) -> None:
        self.batch.append((uid, title, description, split))
        if len(self.batch) >= self.batch_size:
            self.flush()

    def add_many(self, rows: list[tuple[str, str, str | bytes, str]]) -> None:
        """add() of each (uid, title, description, split), without a Python call per record; the
        description may be its UTF-8 bytes."""
        while rows:
            room = self.batch_size - len(self.batch)
            self.batch.extend(rows[:room])
            rows = rows[room:]
            if len(self.batch) >= self.batch_size:
                self.flush()

    def title_keys(self) -> np.ndarray:
        """The key of every title added so far (record id - 1 -> title_key of its words): records
        with the same normalized title have the same key."""
        self.flush()
        return _numpy(self.keys, np.uint64)

    def flush(self) -> None:
        if not self.batch:
            return
        hashes, _, keys, lengths = _hash_batch([row[1] for row in self.batch])
        self.word_hashes.frombytes(hashes.tobytes())
        self.keys.frombytes(keys.tobytes())
        self.lengths.frombytes(lengths.astype(np.uint32).tobytes())
        # ids 1, 2, ...: SQLite gives an INTEGER PRIMARY KEY the next one when none is given. A description
        # may come as its UTF-8 bytes: CAST stores them as the same TEXT a str gives, without decoding
        # them to a str here and encoding it back in SQLite (a third of the insert's cost).
        self.db.executemany("INSERT INTO records(uid, title, description, split) VALUES (?, ?, CAST(? AS TEXT), ?)",
                            self.batch)
        self.count += len(self.batch)
        self.batch.clear()

    def close(self) -> None:
        """Build the title indexes and close the file (~1 s, at most ~250 MB in all, at 1.46M records)."""
        self.flush()
        n = self.count
        bits = _id_bits(n)
        # Every (word hash, record id) packed in one uint64 -- the hash's top 64 - bits bits, then the
        # id -- and sorted in place: postings grouped by word, records in order within a word.
        keys, lengths = _numpy(self.keys, np.uint64), _numpy(self.lengths, np.uint32)
        words = _numpy(self.word_hashes, np.uint64)  # packed in place: no copies of 10M+ numbers
        words >>= np.uint64(bits)
        words <<= np.uint64(bits)
        ends = np.cumsum(lengths, dtype=np.int64)
        for first in range(0, n, 1 << 18):  # each word's record id, from the words per title
            last = min(n, first + (1 << 18))
            begin = int(ends[first - 1]) if first else 0
            words[begin:int(ends[last - 1])] |= np.repeat(np.arange(first + 1, last + 1, dtype=np.uint64),
                                                          lengths[first:last])
        words.sort()
        term_hashes, term_starts, postings = _postings(words, bits)
        del words
        self.word_hashes = array("Q")
        arrays = {
            "term_hashes": term_hashes,
            "term_starts": term_starts,
            "term_counts": np.diff(np.append(term_starts, len(postings))).astype(np.uint32),
            "titles": np.sort(_pack(keys, np.arange(1, n + 1, dtype=np.uint32), bits)),
            "lengths": np.minimum(lengths, 255).astype(np.uint8),
            "postings": postings,
        }
        for name, values in arrays.items():
            self.db.execute("INSERT INTO arrays(name, data) VALUES (?, ?)", (name, memoryview(values)))
        meta = {"format": FORMAT, "records": n, "terms": len(term_hashes), "id_bits": bits,
                "avg_title_words": float(lengths.mean()) if n else 1.0,
                "max_title_words": int(lengths.max()) if n else 0}
        self.db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        self.db.execute("CREATE INDEX records_uid ON records(uid)")
        self.db.commit()
        self.db.close()


def _postings(words: np.ndarray, bits: int, chunk: int = 1 << 20):
    """Sorted packed (word hash, record id) -> (word hashes, where each word's records start, the record
    ids), a record once per word; in chunks, so that temporary arrays stay small."""
    postings = np.empty(len(words), dtype=np.uint32)
    hashes, starts = [], []
    out, previous, previous_term = 0, None, None
    mask = np.uint64((1 << bits) - 1)
    for begin in range(0, len(words), chunk):
        part = words[begin:begin + chunk]
        keep = np.empty(len(part), dtype=bool)
        keep[0] = previous is None or part[0] != previous
        np.not_equal(part[1:], part[:-1], out=keep[1:])
        previous = part[-1]
        part = part[keep]
        terms = part >> np.uint64(bits)
        new = np.empty(len(part), dtype=bool)
        if len(part):
            new[0] = previous_term is None or terms[0] != previous_term
            np.not_equal(terms[1:], terms[:-1], out=new[1:])
            previous_term = terms[-1]
        first = np.flatnonzero(new)
        hashes.append(terms[first])
        starts.append(first + out)
        postings[out:out + len(part)] = part & mask
        out += len(part)
    join = lambda parts, dtype: np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)  # noqa: E731
    return join(hashes, np.uint64), join(starts, np.uint64), postings[:out]


def _numpy(values: array, dtype) -> np.ndarray:
    return np.frombuffer(values, dtype=dtype) if len(values) else np.zeros(0, dtype=dtype)


def _id_bits(count: int) -> int:
    return max(count.bit_length(), 1)


def _pack(hashes: np.ndarray, ids: np.ndarray, bits: int) -> np.ndarray:
    """(hash, id) -> one uint64 that sorts by hash, then id: the hash's top 64 - bits bits, then the id."""
    return ((hashes >> np.uint64(bits)) << np.uint64(bits)) | ids.astype(np.uint64)
