"""The sources: every catalog record, and the search that finds a question's product among 1.46M of them.

Catalog.search(question, k) says which step decided, in Source.match:
  "exact"  a record's normalized title (productqa.titles: case, accents, apostrophes, '&' or 'and',
           punctuation ignored) is the title asked for: the quoted text, a question template's {title},
           the whole question, or a run of its words framed by question phrasing only ("tell me about
           ...", "o que é ...", "... for me": see productqa.question); every record with that title comes first;
  "typo"   no exact title, but one once a single typo is undone: a letter substituted, inserted or
           deleted in a word of 4+ letters, two letters swapped, a space lost or added, an '&' left out;
           never a digit (a volume, a model number);
  "partial" no title in full, but one product's title is clearly the one meant (Catalog.lookup's
           candidates: confidence >= CLEAR and MARGIN above any other product's): the title's main
           part without its subtitle, edition or series ("Clara Barton"), or all its words, some
           missing or in another order, one of them perhaps with a typo;
  ""       BM25 over titles for the rest: neighbours, distractors.
The product is in the catalog iff `sources and sources[0].match`: code decides that, not the model.
When several products could be meant, Catalog.lookup's candidates (confidence >= LISTED) are what the
chat offers as "did you mean"; none means nothing in the catalog is close.

Engine, chosen on measurements at 1.46M records on 2 CPU cores: one SQLite file holding the records and,
as numpy arrays in blobs, a hash index of normalized titles and an inverted index of title words. An
exact title is a hash lookup of each candidate run of the question's words; a typo is undone against
the catalog's vocabulary (every one-edit variant of each word, hashed and looked up at once) and the
result looked up the same way; BM25 is scored in numpy over the rarest query terms only. SQLite FTS5
was measured first: bm25() costs ~0.75 us per matching row (190 ms for a word found in 250k titles, 2.9 s
for the former OR of all words) and indexing took 8 s, against ~1 ms per 100k postings in numpy and
~1 s of sorting at build. tantivy (a folder of segments) or bm25s (arrays loaded into memory) would give
up the single file that 01_prepare writes atomically, and would still need the exact/typo layer.

The file's format and its building (CatalogWriter) are productqa.catalog_file; reading a question's phrasing
(its question words, quotes, the runs of words that may be a title) is productqa.question; this module searches.
"""
from __future__ import annotations

import json
import math
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from productqa.catalog_file import FORMAT, _Q, _powers, _word_hashes, title_key, word_hash
from productqa.catalog_file import CatalogWriter  # noqa: F401  (productqa.prepare imports it from here)
from productqa.errors import UserError
from productqa.question import (ARTICLES, FRAME_WORDS, STOPWORDS, _BUILTIN_TEMPLATES, _Question, _asked_words, _quoted,
                                _read_templates, _template_words)
from productqa.titles import normalize_title, title_heads

EXACT_SCORE = 1000.0  # above any BM25 score of a title (a term adds at most ~25)
TYPO_SCORE = 900.0
K1, B = 1.2, 0.75
MAX_SPAN_WORDS = 64        # longest run of question words looked up as a title
POSTINGS_BUDGET = 300_000  # BM25 reads the rarest terms until this many postings
MAX_TERMS = 8
TYPO_CANDIDATES = 40       # BM25 results checked for a title within one edit
PARTIAL_SCORE = 800.0
CANDIDATES = 64            # BM25 results scored as candidates for a partial title
CLEAR, MARGIN = 0.8, 0.25  # a candidate this confident, this far above the next product, is the one meant
# the only candidate, every word asked in its title (no typo), two of them content words, and at least this
# confident (half its main part asked, or its first words): the one meant. Chosen on partial titles of the
# real development set's training split (dev/LOG.md, 2026-12-02): 85% answered, none about another product
ALONE = 0.7
LISTED = 0.45              # candidates this confident are offered as "did you mean"
MAX_LISTED = 5
MAX_SAME_TITLE = 256       # records of one title read back (k is far smaller)


@dataclass(frozen=True)
class Source:
    uid: str
    title: str
    description: str
    score: float
    match: str = ""  # "exact", "typo", "partial" or "" (ranked by BM25 only)


@dataclass(frozen=True)
class Candidate:
    """A product the question may mean, with how sure code is (0-1) and why (`REASONS`)."""
    source: Source
    confidence: float
    reason: str


REASONS = {"head": "the title's main part, without its subtitle, edition or series",
           "start": "the start of the title",
           "all_words": "every word asked is in the title", "near": "the title's words, one with a typo",
           "some_words": "some of the words asked are in the title"}


@dataclass
class Lookup:
    """What the catalog found for a question: the records to show (Catalog.search) and, when no title
    matched in full, the products it may mean, most likely first (partial titles)."""
    sources: list[Source]
    candidates: list[Candidate]

    @property
    def found(self) -> bool:
        return bool(self.sources and self.sources[0].match)


def clear(candidates: list[Candidate], named: int = 2) -> bool:
    """The first candidate is the product meant: confident, and well above the next product (or the
    only one, every word asked in its title, when the question names it with `named` >= 2 content words:
    "Into the Wild" alone does not make "Into the Wild Blue" the product meant)."""
    if len(candidates) == 1 and candidates[0].reason in ("start", "all_words") and named >= 2:
        return candidates[0].confidence >= ALONE
    return bool(candidates) and candidates[0].confidence >= CLEAR and (
        len(candidates) == 1 or candidates[1].confidence <= candidates[0].confidence - MARGIN)


def _opens(question: list[str], words: list[str], asked: list[str]) -> bool:
    """A run of the question's words, every asked word in it, is the start of the title (`words`)."""
    for at in (i for i, word in enumerate(question) if word == words[0]):
        run = 0
        while at + run < len(question) and run < len(words) and question[at + run] == words[run]:
            run += 1
        if run < len(words) and set(asked) <= set(words[:run]):
            return True
    return False


def closeness(asked: list[str], question: list[str], title: str) -> tuple[float, str]:
    """How sure code is that a question whose content words are `asked` (its words: `question`) means
    `title`, and why: 0.95 when the asked words are a head of the title (title_heads) found in the
    question; 0.45-0.95 when every asked word is in the title, by the share of the title's words asked
    (a word one typo off counts, at 0.95 the confidence); below 0.5 when some asked word is not."""
    if not asked:
        return 0.0, "some_words"
    words = normalize_title(title).split()
    content = [w for w in words if w not in STOPWORDS] or words
    matched, typos, covered = 0, 0, set()
    for word in asked:
        if word in words:
            matched += 1
            covered.add(word)
            continue
        near = next((w for w in content if len(word) >= 4 and _one_typo(word, w)), None)
        if near is not None:
            matched, typos = matched + 1, typos + 1
            covered.add(near)
    # the share of the title asked, or of its main part (title_heads) when every asked word is in it:
    # "Spanish Civil War The" names all of "The Spanish Civil War: Reaction, Revolution & Revenge"'s main part
    parts = [content] + [[w for w in normalize_title(head).split() if w not in STOPWORDS]
                         for head in title_heads(title)]
    precision = max([len(covered & set(part)) / len(part) for part in parts[1:] if part and covered <= set(part)]
                    + [len(covered & set(content)) / len(content)])
    if matched == len(asked) and not typos:
        joined = f" {' '.join(question)} "
        for head in title_heads(title):
            head_words = normalize_title(head).split()
            if f" {' '.join(head_words)} " in joined and set(asked) <= set(head_words):
                return 0.95, "head"
        if _opens(question, words, asked):
            return round(0.55 + 0.4 * precision, 3), "start"
    if matched == len(asked):
        return round((0.45 + 0.5 * precision) * 0.95 ** typos, 3), "near" if typos else "all_words"
    return round(0.5 * matched / len(asked) * precision, 3), "some_words"


@dataclass
class _Found:
    """A title found in the question: how it matched, how well it stands for the question, its records."""
    title: str
    match: str
    rank: tuple
    ids: list[int]


@dataclass(frozen=True)
class _Fix:
    """One typo undone: words[at:at + count] become `new` (title_key(new) is `key`)."""
    at: int
    count: int
    new: tuple[str, ...]
    key: int
    preference: int  # lower first: the more common catalog word


class Catalog:
    """Read-only search over a catalog file written by CatalogWriter."""

    def __init__(self, path: Path, templates: list[str] | None = None):
        path = Path(path)
        if not path.is_file():
            raise UserError(f"catalog {path} does not exist: run scripts/01_prepare.py first")
        self.path = path
        # any thread: 06_serve opens it in the main thread and reads it from its one model thread
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self.postings = None
        try:
            meta = dict(self.db.execute("SELECT name, value FROM meta"))
            if meta.get("format") != FORMAT:
                raise UserError(f"{path} is a catalog in another format ({meta.get('format')}): "
                                "rebuild it with scripts/01_prepare.py")
        except sqlite3.DatabaseError:
            self.db.close()
            raise UserError(f"{path} is not a productqa catalog: rebuild it with scripts/01_prepare.py") from None
        except UserError:
            self.db.close()
            raise
        try:
            self._open_index(meta)
        except (sqlite3.DatabaseError, KeyError, ValueError, TypeError, OverflowError) as err:
            self.close()
            why = f"no {err} array" if isinstance(err, KeyError) else str(err)
            raise UserError(f"{path} is damaged ({why}): rebuild it with scripts/01_prepare.py") from None
        self.scratch = np.zeros(self.count + 1, dtype=np.float32)
        self.templates = [_template_words(t) for t in (templates or _read_templates()) + _BUILTIN_TEMPLATES]

    def _open_index(self, meta: dict) -> None:
        """Read the title indexes and check them against each other and the records: a damaged file fails
        here, in one sentence, not in a later search (~0.1 s at 1.46M records, most of it reading the
        postings' pages, which the first query would read anyway)."""
        rows = dict(self.db.execute("SELECT name, id FROM arrays"))
        arrays = dict(self.db.execute("SELECT name, data FROM arrays WHERE name != 'postings'"))
        self.postings = self.db.blobopen("arrays", "data", rows["postings"], readonly=True)
        self.count, self.bits = int(meta["records"]), int(meta["id_bits"])
        self.max_words = max(1, min(int(meta["max_title_words"]), MAX_SPAN_WORDS))
        self.term_hashes = np.frombuffer(arrays["term_hashes"], dtype=np.uint64)
        self.term_starts = np.frombuffer(arrays["term_starts"], dtype=np.uint64)
        self.term_counts = np.frombuffer(arrays["term_counts"], dtype=np.uint32)
        self.titles = np.frombuffer(arrays["titles"], dtype=np.uint64)
        lengths = np.frombuffer(arrays["lengths"], dtype=np.uint8)
        last = self.db.execute("SELECT id, uid, title, description FROM records ORDER BY id DESC LIMIT 1").fetchone()
        if (last[0] if last else 0) != self.count or len(self.titles) != self.count or len(lengths) != self.count:
            raise ValueError("its records and title index disagree on how many records there are")
        if not 0 < self.bits < 64 or self.count >= 1 << self.bits:
            raise ValueError(f"id_bits {self.bits} cannot number {self.count} records")
        ids = self.titles & np.uint64((1 << self.bits) - 1)
        if len(ids) and (np.any(self.titles[1:] < self.titles[:-1]) or
                         not 1 <= int(ids.min()) <= int(ids.max()) <= self.count):
            raise ValueError("its title index is out of order or names records it does not have")
        starts = np.concatenate(([0], np.cumsum(self.term_counts, dtype=np.uint64)))
        if len(self.term_starts) != len(self.term_counts) or len(self.term_hashes) != len(self.term_counts) or \
                not np.array_equal(self.term_starts, starts[:-1]) or 4 * int(starts[-1]) != len(self.postings) or \
                np.any(self.term_hashes[1:] < self.term_hashes[:-1]):
            raise ValueError("its word index does not add up")
        for _ in range(0, len(self.postings), 1 << 24):  # every posting names a record (pages read once)
            ids = np.frombuffer(self.postings.read(1 << 24), dtype=np.uint32)
            if len(ids) and not 1 <= int(ids.min()) <= int(ids.max()) <= self.count:
                raise ValueError("its word index names records it does not have")
        # BM25 with tf = 1 (titles rarely repeat a word): a posting scores idf * (k1 + 1) / denominator
        avg = max(float(meta["avg_title_words"]), 1.0)
        self.denominator = np.concatenate(([1.0], 1.0 + K1 * (1 - B + B * lengths.astype(np.float32) / avg))
                                          ).astype(np.float32)

    # --- public API --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.count

    def close(self) -> None:
        if self.db is not None:
            if self.postings is not None:
                self.postings.close()
            self.db.close()
            self.db = None

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, uid: str) -> Source | None:
        row = self.db.execute("SELECT uid, title, description FROM records WHERE uid = ? ORDER BY id LIMIT 1",
                              (uid,)).fetchone()
        return Source(*row, score=0.0) if row else None

    def search(self, question: str, k: int = 3) -> list[Source]:
        """The records a question is about, best first: its title's records (match "exact", "typo" or
        "partial") then BM25 neighbours (match ""). Scores: 1000 exact, 900 typo, 800 partial, else BM25."""
        return self.lookup(question, k).sources

    def lookup(self, question: str, k: int = 3) -> Lookup:
        """search()'s records, and when no title matched in full, the candidates for a partial title."""
        words = normalize_title(question or "").split()
        if not words or k <= 0:
            return Lookup([], [])
        asked = _Question(question, words, self.templates, self.max_words)
        content = [w for w in dict.fromkeys(words) if w not in FRAME_WORDS]
        double, single = _quoted(question)  # quoted words name the product, even "I Did Tell, I Did"
        quoted = [w for text in double + single for w in normalize_title(text).split()]
        content += [w for w in dict.fromkeys(quoted) if w not in ARTICLES and w not in content]
        terms = self._terms(content)
        found = self._find_exact(asked)
        if found is None:
            fixes = self._fixes(words, asked.covered)
            found = self._find_fixed(asked, fixes)
            for fix in fixes:  # an unknown word's neighbours in the catalog rank in its place
                if fix.count == 1 and len(fix.new) == 1 and words[fix.at] not in terms:
                    terms.update(self._terms(fix.new))
        sources: list[Source] = []
        if found is not None:
            score = EXACT_SCORE if found.match == "exact" else TYPO_SCORE
            sources = [Source(*row, score=score, match=found.match) for row in self._records(found.ids[:k])]
            if len(sources) == k:
                return Lookup(sources, [])
        ranked = self._bm25(terms, CANDIDATES if found is None else k + len(sources))
        candidates: list[Candidate] = []
        if found is None and ranked:
            found = self._find_close(asked, [i for i, _ in ranked[:TYPO_CANDIDATES]])
            if found is not None:
                sources = [Source(*row, score=TYPO_SCORE, match="typo") for row in self._records(found.ids[:k])]
            else:
                candidates = self._candidates(quoted, words, [i for i, _ in ranked])
                if clear(candidates, len(content)):
                    title = normalize_title(candidates[0].source.title)
                    same = self._lookup(np.array([title_key(title.split())], dtype=np.uint64), lambda _: title)
                    ids = same[0][1] if same else []
                    found = _Found(title, "partial", (), ids)
                    sources = [Source(*row, score=PARTIAL_SCORE, match="partial") for row in self._records(ids[:k])]
        taken = set(found.ids[:k]) if found else set()
        rest = [(i, s) for i, s in ranked if i not in taken][:k - len(sources)]
        if found is not None and len(sources) + len(rest) < k:
            rest += self._fill(found.title, taken | {i for i, _ in rest}, k - len(sources) - len(rest))
        rows = self._records([i for i, _ in rest])
        sources += [Source(*row, score=round(s, 3)) for row, (_, s) in zip(rows, rest)]
        return Lookup(sources, candidates if found is None or found.match == "partial" else [])

    def _candidates(self, quoted: list[str], words: list[str], ids: list[int]) -> list[Candidate]:
        """The products (a title and a description: twins are one) among BM25's `ids` that the question
        may mean (closeness >= LISTED), most likely first, at most MAX_LISTED; `quoted`: the words it quotes,
        which name the product when there are any."""
        asked = list(dict.fromkeys(w for w in quoted if w not in ARTICLES) if quoted else _asked_words(words))
        if all(word.isdigit() for word in asked):  # "2", "1984": a number alone names no product by part
            return []
        scored, seen = [], set()
        for position, (uid, title, description) in enumerate(self._records(ids)):
            product = (normalize_title(title), normalize_title(description))
            if product in seen:
                continue
            seen.add(product)
            confidence, reason = closeness(asked, words, title)
            if confidence >= LISTED:
                scored.append((-confidence, position, Candidate(Source(uid, title, description, 0.0), confidence,
                                                                reason)))
        return [candidate for *_, candidate in sorted(scored, key=lambda item: item[:2])][:MAX_LISTED]

    def _fill(self, title: str, taken: set[int], n: int) -> list[tuple[int, float]]:
        """Neighbours for a title found with too few: BM25 over all its words, common ones included, then
        records picked at random (seeded by the title), as training rows fill their distractors; so that
        the model is always shown k records when the product is in the catalog."""
        words = title.split()
        fill = [(i, s) for i, s in self._bm25(self._terms(words), n + len(taken)) if i not in taken][:n]
        taken = taken | {i for i, _ in fill}
        rng = random.Random(title)
        for _ in range(20 * n):
            if len(fill) == n or len(taken) >= self.count:
                break
            other = rng.randint(1, self.count)
            if other not in taken:
                taken.add(other)
                fill.append((other, 0.0))
        return fill

    # --- finding the title asked for ---------------------------------------------------------------

    def _lookup(self, keys: np.ndarray, text) -> dict[int, tuple[str, list[int]]]:
        """Title keys -> {index of a key: (its title, ids of the records with exactly that title)} for the
        keys found in the catalog whose title text(index) is verified against the records' titles."""
        if not len(keys) or not len(self.titles):
            return {}
        keys = keys >> np.uint64(self.bits)
        unique, inverse = np.unique(keys, return_inverse=True)  # sorted needles search faster
        left = np.searchsorted(self.titles, unique << np.uint64(self.bits))
        right = np.searchsorted(self.titles, (unique + np.uint64(1)) << np.uint64(self.bits))
        hit = (right > left)[inverse]
        if not hit.any():
            return {}
        mask = np.uint64((1 << self.bits) - 1)
        hits = {}
        for index in np.flatnonzero(hit).tolist():
            lo, hi = int(left[inverse[index]]), int(right[inverse[index]])
            hits[index] = (self.titles[lo:min(hi, lo + MAX_SAME_TITLE)] & mask).tolist()
        stored = dict(self._titles(sorted({i for ids in hits.values() for i in ids})))
        verified = {}
        for index, ids in hits.items():
            title = text(index)
            same = [i for i in ids if normalize_title(stored[i]) == title]  # a hash is not a proof
            if same:
                verified[index] = (title, same)
        return verified

    def _find_exact(self, asked: _Question) -> _Found | None:
        spans = list(asked.spans)
        keys = np.array([asked.key(*span) for span in spans], dtype=np.uint64)
        found = self._lookup(keys, lambda i: asked.text(spans[i]))
        if not found:
            return None
        best = min(found, key=lambda i: asked.spans[spans[i]])
        return _Found(found[best][0], "exact", asked.spans[spans[best]], found[best][1])

    def _fixes(self, words: list[str], positions: set[int]) -> list[_Fix]:
        """Every way to undo one typo in the question (the rules of _one_typo): words[at:at + count]
        replaced by a catalog word one edit away, by two catalog words (a space was lost), or joined with
        the next word (a space was added); or an 'and' ('&') added or dropped."""
        edits: dict[int, set[str]] = {}
        pairs: list[tuple[int, int, tuple[str, ...]]] = []  # splits and joins
        for at, word in enumerate(words):
            if word in FRAME_WORDS or at not in positions:
                continue
            if len(word) >= 3 and word.isascii() and word.isalpha():
                edits[at] = _edits(word)
            pairs += [(at, 1, (word[:i], word[i:])) for i in range(1, len(word))
                      if not (word[i - 1].isdigit() and word[i].isdigit())]
            if at + 1 < len(words) and not (word[-1].isdigit() and words[at + 1][0].isdigit()):
                pairs.append((at, 2, (word + words[at + 1],)))
        known = self._terms(set().union(*edits.values(), *(new for _, _, new in pairs)))
        fixes = [_Fix(at, 1, (w,), word_hash(w), -known[w][1])
                 for at, ws in edits.items() for w in sorted(ws & known.keys())]
        fixes += [_Fix(at, count, new, title_key(list(new)), -max(known[w][1] for w in new))
                  for at, count, new in pairs if all(w in known for w in new)]
        fixes += [_Fix(at, 1, (), 0, 0) for at, word in enumerate(words) if word == "and" and at in positions]
        fixes += [_Fix(at, 0, ("and",), word_hash("and"), 0) for at in range(1, len(words)) if at in positions]
        return fixes

    def _find_fixed(self, asked: _Question, fixes: list[_Fix]) -> _Found | None:
        """An exact title once one typo is undone (see _fixes) in a run of the question's words: the keys
        of every (fix, run) pair at once, in numpy (uint64 arithmetic wraps mod 2**64, as title_key's)."""
        if not fixes or not asked.spans:
            return None
        spans = list(asked.spans)
        start = np.array([s for s, _ in spans])[None, :]
        end = np.array([e for _, e in spans])[None, :]
        at = np.array([f.at for f in fixes])[:, None]
        count = np.array([f.count for f in fixes])[:, None]
        size = np.array([len(f.new) for f in fixes])[:, None]
        inside = (start <= at) & (at + count <= end) & ((count > 0) | ((start < at) & (at < end))) \
            & (end - start - count + size > 0)
        fi, si = np.nonzero(inside)
        if not len(fi):
            return None
        prefix = np.array(asked.prefix_keys, dtype=np.uint64)
        power = _powers(_Q, len(asked.words) + 8)
        s, e, a, c = start[0, si], end[0, si], at[fi, 0], count[fi, 0]
        left = prefix[a] - prefix[s] * power[a - s]
        right = prefix[e] - prefix[a + c] * power[e - a - c]
        keys = ((left * power[size[fi, 0]] + np.array([f.key for f in fixes], dtype=np.uint64)[fi])
                * power[e - a - c] + right)
        words = asked.words

        def text(index):
            fix, (s, e) = fixes[fi[index]], spans[si[index]]
            return " ".join(words[s:fix.at] + list(fix.new) + words[fix.at + fix.count:e])

        found = self._lookup(keys, text)
        if not found:
            return None
        rank = lambda i: asked.spans[spans[si[i]]] + (fixes[fi[i]].preference, found[i][0])  # noqa: E731
        best = min(found, key=rank)
        return _Found(found[best][0], "typo", rank(best), found[best][1])

    def _find_close(self, asked: _Question, ids: list[int]) -> _Found | None:
        """A BM25 candidate whose title is one typo from a run of the question's words."""
        stored = dict(self._titles(ids))
        by_title = dict.fromkeys(normalize_title(stored[i]) for i in ids)
        best = None
        for position, title in enumerate(by_title):
            count = title.count(" ") + 1
            for span, rank in asked.spans.items():
                if abs(span[1] - span[0] - count) <= 1 and _one_typo(asked.text(span), title):
                    if best is None or rank + (position,) < best.rank:
                        best = _Found(title, "typo", rank + (position,), [])
        if best is None:
            return None
        found = self._lookup(np.array([title_key(best.title.split())], dtype=np.uint64), lambda _: best.title)
        return _Found(best.title, "typo", best.rank, found[0][1]) if found else None

    # --- vocabulary and BM25 -----------------------------------------------------------------------

    def _terms(self, words) -> dict[str, tuple[int, int]]:
        """The catalog's words among `words`: {word: (postings start, document frequency)}."""
        words = list(words)
        if not words or not len(self.term_hashes):
            return {}
        hashes = _word_hashes(words) >> np.uint64(self.bits)
        at = np.minimum(np.searchsorted(self.term_hashes, hashes), len(self.term_hashes) - 1)
        known = self.term_hashes[at] == hashes
        starts, counts = self.term_starts[at].tolist(), self.term_counts[at].tolist()
        return {w: (starts[i], counts[i]) for i, w in enumerate(words) if known[i]}

    def _bm25(self, terms: dict[str, tuple[int, int]], limit: int) -> list[tuple[int, float]]:
        """(record id, BM25) best first, over the rarest terms (up to POSTINGS_BUDGET postings)."""
        chosen, total = [], 0
        for term, (start, df) in sorted(terms.items(), key=lambda item: (item[1][1], item[0])):
            if chosen and (total + df > POSTINGS_BUDGET or len(chosen) >= MAX_TERMS):
                break
            chosen.append((start, df))
            total += df
        if not chosen or limit <= 0:
            return []
        parts = []
        for start, df in chosen:
            self.postings.seek(4 * start)
            parts.append(np.frombuffer(self.postings.read(4 * df), dtype=np.uint32))
        idf = [math.log(1 + (self.count - df + 0.5) / (df + 0.5)) * (K1 + 1) for _, df in chosen]
        ids = np.concatenate(parts)
        weights = np.repeat(np.array(idf, dtype=np.float32), [df for _, df in chosen]) / self.denominator[ids]
        if len(parts) > 1:  # sum each record's terms in a scratch array, then read them back
            np.add.at(self.scratch, ids, weights)
            weights = self.scratch[ids]
            self.scratch[ids] = 0
        if len(ids) > limit * len(parts):
            top = np.argpartition(-weights, limit * len(parts) - 1)[:limit * len(parts)]
            ids, weights = ids[top], weights[top]
        ids, first = np.unique(ids, return_index=True)
        weights = weights[first]
        order = np.lexsort((ids, -weights))[:limit]
        return list(zip(ids[order].tolist(), weights[order].tolist()))

    # --- rows --------------------------------------------------------------------------------------

    def _titles(self, ids: list[int]) -> list[tuple[int, str]]:
        if not ids:
            return []
        return self.db.execute("SELECT id, title FROM records WHERE id IN (SELECT value FROM json_each(?))",
                               (json.dumps(ids),)).fetchall()

    def _records(self, ids: list[int]) -> list[tuple[str, str, str]]:
        """(uid, title, description) of each id, in the order given."""
        if not ids:
            return []
        rows = {row[0]: row[1:] for row in self.db.execute(
            "SELECT id, uid, title, description FROM records WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),))}
        return [rows[i] for i in ids]


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _edits(word: str) -> set[str]:
    """The words one typo from `word` that _one_typo allows: one letter deleted, substituted or inserted
    giving a word of 4+ letters, or two neighbours swapped giving one of 3+."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    edits = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    if len(word) >= 4:
        edits |= {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    if len(word) >= 5:
        edits |= {a + b[1:] for a, b in splits if b}
    if len(word) >= 3:
        edits |= {a + c + b for a, b in splits for c in _LETTERS}
    edits.discard(word)
    return edits


def _one_typo(asked: str, title: str) -> bool:
    """asked is one typo from title: a letter substituted, inserted or deleted in a word of 4+ letters,
    two neighbouring letters swapped in a word of 3+, a space added or lost, or an 'and' ('&') left out
    or added; no digit changed (a volume, a model number is another product)."""
    if asked == title:
        return False
    if abs(len(asked) - len(title)) == 4 and " and " in f" {asked} {title} ":
        asked_words, title_words = asked.split(), title.split()
        return [w for w in asked_words if w != "and"] == [w for w in title_words if w != "and"]
    if abs(len(asked) - len(title)) > 1:
        return False
    # one edit (optimal string alignment distance 1) leaves, once the longest common prefix and suffix
    # are cut, one letter against none or one, or two letters against the same two swapped
    prefix = 0
    for a, t in zip(asked, title):
        if a != t:
            break
        prefix += 1
    suffix = 0
    limit = min(len(asked), len(title)) - prefix
    while suffix < limit and asked[-1 - suffix] == title[-1 - suffix]:
        suffix += 1
    was, now = title[prefix:len(title) - suffix], asked[prefix:len(asked) - suffix]
    swapped = len(was) == len(now) == 2 and was == now[::-1]
    if not (len(was) + len(now) <= 2 and max(len(was), len(now)) == 1 or swapped):
        return False
    if any(ch.isdigit() for ch in was + now):
        return False
    if " " in was + now:  # a space added or lost: "kx200" for "kx 200", not "1 2" for "12"
        around = title[prefix - 1:prefix] + title[len(title) - suffix:len(title) - suffix + 1]
        return not (len(around) == 2 and around.isdigit())
    start = title.rfind(" ", 0, prefix) + 1
    end = title.find(" ", prefix)
    word = title[start:end if end >= 0 else len(title)]
    if any(ch.isdigit() for ch in word):
        return False
    return len(word) >= 4 or (swapped and len(word) >= 3)
