"""The sources: an SQLite FTS5 index of catalog titles, with each record's uid and description."""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from productqa.errors import UserError

SCHEMA = ("CREATE VIRTUAL TABLE products USING fts5("
          "title, uid UNINDEXED, description UNINDEXED, split UNINDEXED, "
          "tokenize = 'unicode61 remove_diacritics 2')")

# Words that appear in every question ("tell me about ...") say nothing about which product.
_STOPWORDS = frozenset("""a an and the of for to in on at by with from about is it its this that what
which who how me my i you your can could tell give describe description product catalog say says
does do o a os as um uma de da do das dos e é que sobre qual me fale descreva produto""".split())
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Source:
    uid: str
    title: str
    description: str
    score: float


class CatalogWriter:
    """Bulk-inserts records into a fresh catalog file (journal off: the file is a temp until renamed)."""

    def __init__(self, path: Path, batch_size: int = 5000):
        self.db = sqlite3.connect(path)
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
        self.db.execute(SCHEMA)
        self.batch: list[tuple] = []
        self.batch_size = batch_size

    def add(self, uid: str, title: str, description: str, split: str) -> None:
        self.batch.append((title, uid, description, split))
        if len(self.batch) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        self.db.executemany("INSERT INTO products VALUES (?, ?, ?, ?)", self.batch)
        self.batch.clear()

    def close(self) -> None:
        self.flush()
        self.db.execute("INSERT INTO products(products) VALUES ('optimize')")
        self.db.commit()
        self.db.close()


def match_query(text: str) -> str | None:
    """A free-text question -> an FTS5 OR query over its content words (each quoted, so safe)."""
    words = [w for w in _WORD.findall(text.casefold()) if w not in _STOPWORDS]
    words = list(dict.fromkeys(words))
    return " OR ".join(f'"{w}"' for w in words) or None


class Catalog:
    """Read-only search over catalog.sqlite."""

    def __init__(self, path: Path):
        path = Path(path)
        if not path.is_file():
            raise UserError(f"catalog {path} does not exist: run scripts/01_prepare.py first")
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            self.db.execute("SELECT count(*) FROM products").fetchone()
        except sqlite3.DatabaseError:
            raise UserError(f"{path} is not a productqa catalog: rebuild it with scripts/01_prepare.py") from None

    def __len__(self) -> int:
        return self.db.execute("SELECT count(*) FROM products").fetchone()[0]

    def search(self, question: str, k: int = 3) -> list[Source]:
        """Best-matching titles first; score is BM25 flipped so that higher is better."""
        query = match_query(question)
        if query is None:
            return []
        rows = self.db.execute(
            "SELECT uid, title, description, -bm25(products) AS score FROM products "
            "WHERE products MATCH ? ORDER BY score DESC, uid LIMIT ?", (query, k))
        return [Source(uid, title, description, round(score, 3)) for uid, title, description, score in rows]

    def get(self, uid: str) -> Source | None:
        row = self.db.execute("SELECT uid, title, description FROM products WHERE uid = ?", (uid,)).fetchone()
        return Source(*row, score=0.0) if row else None

    def close(self) -> None:
        self.db.close()
