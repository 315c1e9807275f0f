"""Retrieval-augmented fine-tuning rows (RAFT, Zhang et al. 2024): which records each question sees.

Hard distractors are the catalog's nearest other titles: records that share the gold title's rarest
words (the words BM25 weighs most), never a record with the same normalized title (a reader could
not tell them apart by title). Train rows draw distractors from the train split only, so no held-out
description reaches training, not even as context. Everything is decided by hashes of (seed, uid):
the same catalog and settings always give the same rows, whatever the worker count.

The index holds numbers only (word ids, record indices, split codes: ~40 bytes a record), so that
1.46M records fit in a few hundred MB and worker processes can share it after a fork.
"""
from __future__ import annotations

import operator
import random
import re
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Callable, NamedTuple, Sequence

import numpy as np

from productqa import facts, grounded
from productqa.facts import Asked
from productqa.files import json_line
from productqa.grounded import KINDS
from productqa.hashing import unit_hash

# Words in more titles than this are too common to say which products are near (e.g. "the", "edition").
MAX_POSTINGS = 5000
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}  # a record's split, as stored in Distractors.splits
TRAIN = SPLIT_CODES["train"]


class Product(NamedTuple):
    """What a row shows of a catalog record (productqa.grounded.Record)."""
    uid: str
    title: str
    description: str


@dataclass(frozen=True)
class Mix:
    """How many records a grounded question shows, and the shares of each row kind (grounded: the rest)."""
    k: int = 3
    absent_share: float = 0.2
    closed_book_share: float = 0.2
    partial_share: float = 0.15
    followup_share: float = 0.15
    fact_share: float = 1.0      # of products whose record states a fact (facts.stated): a factual row too
    not_said_share: float = 0.3  # of products: a row asking a fact their record does not mention


def kind_of(uid: str, mix: Mix, seed: int) -> str:
    """The row kind of a product, by a hash of (seed, uid); "partial" falls back to "grounded" in
    01_prepare for a title with no partial form (titles.partial_titles)."""
    position = unit_hash("kind", str(seed), uid)
    for kind, share in (("absent", mix.absent_share), ("closed_book", mix.closed_book_share),
                        ("partial", mix.partial_share), ("followup", mix.followup_share)):
        if position < share:
            return kind
        position -= share
    return "grounded"


class FactRow(NamedTuple):
    """A factual row planned for a product: `kind` "fact" (answered with `reply`, the record's words
    that state `words`) or "not_said" (answered with the not-said sentence, `reply`); asked in
    `language`, naming the product or (`follow`) as a follow-up to a question that named it."""
    kind: str
    asked: Asked
    language: str
    follow: bool
    reply: str
    words: str | None


COUNTED = ("pages", "recipes", "stories", "pieces")  # what a not-said row asks a count of
MAX_FACT_ROWS = 3  # "fact" rows a product gets at most, one a fact its record states


def fact_rows(uid: str, description: str, mix: Mix, seed: int) -> list[FactRow]:
    """The factual rows of a product besides its kind_of() row, decided by hashes of (seed, uid): a
    "fact" row for each fact its record states, up to MAX_FACT_ROWS (a share `mix.fact_share` of the
    products whose record states one), one "not_said" row (a share `mix.not_said_share`, the fact picked among those
    the record does not mention at all: facts.mentions). A third of them are asked in Portuguese, half
    as follow-ups."""
    rows = []
    key = str(seed)

    def manner(tag: str) -> tuple[str, bool]:
        return ("pt" if unit_hash("fact-language", tag, key, uid) < 1 / 3 else "en",
                unit_hash("fact-follow", tag, key, uid) < 0.5)

    if mix.fact_share and unit_hash("fact", key, uid) < mix.fact_share:
        found = facts.stated(description)
        first = int(unit_hash("fact-pick", key, uid) * len(found)) if found else 0
        for fact in (found[first:] + found[:first])[:MAX_FACT_ROWS]:  # each fact stated, up to MAX_FACT_ROWS
            rows.append(FactRow("fact", Asked(fact.kind, fact.noun), *manner(f"fact-{fact.kind}-{fact.noun}"),
                                fact.excerpt, fact.words))
    if mix.not_said_share and unit_hash("not-said", key, uid) < mix.not_said_share:
        noun = COUNTED[int(unit_hash("not-said-noun", key, uid) * len(COUNTED))]
        absent = [asked for asked in (Asked(kind, noun if kind == "count" else None) for kind in facts.FACTS)
                  if not facts.mentions(asked, description)]
        if absent:
            asked = absent[int(unit_hash("not-said-pick", key, uid) * len(absent))]
            language, follow = manner("not_said")
            rows.append(FactRow("not_said", asked, language, follow,
                                facts.not_said(asked, description, language), None))
    return rows


def asks_partially(uid: str, seed: int) -> bool:
    """Whether an absent row names its product by part of its title (half of them): the model learns
    that a record merely sharing words with the name asked is not that product."""
    return unit_hash("partial", str(seed), uid) < 0.5


def same_title_groups(keys: np.ndarray, normalized_title: Callable[[int], str]) -> np.ndarray:
    """For each record, the index of the first record with the same normalized title.

    `keys` hash each record's title words (the catalog's title keys); the few records whose key
    another record shares are compared by `normalized_title(index)`, so a collision joins nothing."""
    first = np.arange(len(keys), dtype=np.int64)
    order = np.argsort(keys, kind="stable")  # equal keys together, each run in record order
    ordered = keys[order]
    shared = ordered[1:] == ordered[:-1]
    run_starts = np.flatnonzero(shared & ~np.concatenate(([False], shared[:-1])))
    for start in run_starts.tolist():
        end = int(np.searchsorted(ordered, ordered[start], side="right"))
        leaders: dict[str, int] = {}
        for record in order[start:end].tolist():
            first[record] = leaders.setdefault(normalized_title(record), record)
    return first


class Distractors:
    """Nearest other records of each record, by shared rare title words.

    splits: split code of each record (SPLIT_CODES); titles: same_title_groups(); word_ids and
    word_counts: the distinct words of each normalized title (ids into `vocabulary`), records back
    to back, and how many each record has."""

    def __init__(self, splits: np.ndarray, titles: np.ndarray, word_ids: np.ndarray, word_counts: np.ndarray,
                 vocabulary: Sequence[str]):
        n = len(splits)
        df = np.bincount(word_ids, minlength=len(vocabulary))  # records whose title has the word
        word_df = df[word_ids]
        kept = (word_df >= 2) & (word_df <= MAX_POSTINGS)  # the words with a posting list
        del word_df
        record = np.repeat(np.arange(n, dtype=np.int32), word_counts)[kept].astype(np.int64)
        word = word_ids[kept].astype(np.int64)
        # rank each such word by (df, word): the order near() tries them in, and its posting list's id
        ranked = sorted(np.unique(word).tolist(), key=lambda w: (int(df[w]), vocabulary[w]))
        rank = np.zeros(len(vocabulary), dtype=np.int64)
        rank[ranked] = np.arange(len(ranked))
        word = rank[word]
        by_record = np.sort((record << 32) | word)  # each record's words, rarest first
        self.word_starts = _starts(by_record >> 32, n)
        self.words = (by_record & 0xFFFFFFFF).astype(np.uint32)
        del by_record
        by_word = np.sort((word << 32) | record)  # each word's records, in catalog order
        self.posting_starts = _starts(by_word >> 32, len(ranked))
        self.postings = (by_word & 0xFFFFFFFF).astype(np.uint32)
        del by_word
        self.splits = np.ascontiguousarray(splits, dtype=np.uint8)
        self.titles = np.ascontiguousarray(titles, dtype=np.int64)
        self.train = np.flatnonzero(self.splits == TRAIN).astype(np.uint32)
        self._views()

    def _views(self) -> None:
        """memoryviews: indexing one gives a Python int ~3x faster than indexing the numpy array."""
        self._word_starts, self._words = memoryview(self.word_starts), memoryview(self.words)
        self._posting_starts, self._postings = memoryview(self.posting_starts), memoryview(self.postings)
        self._splits, self._titles = memoryview(self.splits), memoryview(self.titles)
        self._train = memoryview(self.train)

    def __len__(self) -> int:
        return len(self.splits)

    def near(self, gold: int, n: int, rng: random.Random) -> list[int]:
        """Up to n record indices near record `gold`: rarest shared word first, then random fill."""
        if n < 1:
            return []
        splits, titles, postings = self._splits, self._titles, self._postings
        title = titles[gold]
        train_only = splits[gold] == TRAIN
        chosen: list[int] = []
        for word in self._words[self._word_starts[gold]:self._word_starts[gold + 1]]:
            first, end = self._posting_starts[word], self._posting_starts[word + 1]
            size = end - first
            start = rng.randrange(size)
            for step in range(size):
                other = postings[first + (start + step) % size]
                if other not in chosen and titles[other] != title and (not train_only or splits[other] == TRAIN):
                    chosen.append(other)
                    if len(chosen) == n:
                        return chosen
        pool = self._train if train_only else range(len(self.splits))
        for _ in range(20 * n):  # random fill for titles with no rare word in common with another
            if len(chosen) == n or not len(pool):
                break
            other = pool[rng.randrange(len(pool))]
            if other not in chosen and titles[other] != title and (not train_only or splits[other] == TRAIN):
                chosen.append(other)
        return chosen


def _starts(sorted_ids: np.ndarray, count: int) -> np.ndarray:
    """CSR offsets: where each of ids 0..count-1 starts in `sorted_ids` (and the end)."""
    return np.searchsorted(sorted_ids, np.arange(count + 1)).astype(np.int64)


def context_of(gold: int, uid: str, kind: str, mix: Mix, distractors: Distractors, seed: int,
               rng: random.Random | None = None) -> list[int] | None:
    """The record indices a row of `kind` about record `gold` shows, in order (None: closed book).
    Drawn with random.Random(f"{seed}\\x1f{uid}"): pass `rng` to have it re-seeded instead (the same
    draws, without Random() reading the OS's entropy for a seed it then replaces)."""
    if kind not in KINDS:
        raise ValueError(f"unknown row kind {kind!r}")
    if kind == "closed_book":
        return None
    if rng is None:
        rng = random.Random()
    rng.seed(f"{seed}\x1f{uid}")
    answered = kind in grounded.ANSWERED
    shown = distractors.near(gold, mix.k - 1 if answered else mix.k, rng)
    if answered:
        shown.append(gold)
    rng.shuffle(shown)
    return shown


def make_row(product: Product, question: str, kind: str, context: Sequence[Product] | None,
             number: int | str | None = None, earlier: str | None = None, fact: FactRow | None = None) -> dict:
    """One ShareGPT row of `kind` about `product`, showing `context` (context_of's records); an answered
    row's answer cites `number`, the product's place in `context` (found there when not given); a
    follow-up row's `question` comes after the `earlier` one that named the product. A factual row
    ("fact", "not_said") answers with `fact.reply`, cited, and records the fact asked."""
    if kind == "closed_book":
        reply = product.description
    elif kind in grounded.ANSWERED:
        number = number if number is not None else list(context).index(product) + 1
        shown = product if fact is None else Product(product.uid, product.title, fact.reply)
        reply = grounded.answer(shown, number)
    else:
        reply = grounded.not_in_catalog()
    asked = {} if fact is None else {"fact": {"kind": fact.asked.kind, "noun": fact.asked.noun,
                                              "language": fact.language, "words": fact.words}}
    return {"id": product.uid, "title": product.title, "kind": kind, "question": question,
            **({"earlier": earlier} if earlier is not None else {}), **asked,
            "context": [record.uid for record in context] if context is not None else None,
            "conversations": [{"from": "human", "value": grounded.user_turn(question, context, earlier)},
                              {"from": "gpt", "value": reply}]}


def escaped(text: str) -> bytes:
    """text as it appears inside a JSON string of json_line (UTF-8, without the quotes): json's own
    encoder for a str when ensure_ascii is off (what json.dumps(..., ensure_ascii=False) calls)."""
    return encode_basestring(text)[1:-1].encode("utf-8")


class RowFormat:
    """json_line(make_row(...)) as bytes, from fields already escaped(): 01_prepare escapes each record
    once, not once each time it is shown. JSON escapes character by character, so a row's JSON is the
    JSON of the same row made of placeholders, with each placeholder replaced by its field's escaped
    text; the layout comes from make_row and json_line themselves, once per kind and number shown."""

    _SLOT = "\ue000{}\ue001"  # a placeholder: private-use characters, which JSON does not escape
    _SLOTS = re.compile("\ue000(\\d+)\ue001")

    def __init__(self):
        self._layouts: dict[tuple[str, int], tuple[list[bytes], Callable]] = {}

    def _layout(self, kind: str, shown: int) -> tuple[list[bytes], Callable]:
        """The row's literal bytes, with a gap between each two, and a function that picks from the
        values those that go in the gaps, in order. Values: 0-2 the product's uid, title, description;
        3 the question; 4 the product's number among the records shown; 5 the earlier question (a
        follow-up's); 6+3i.. the i-th record shown."""
        slot = self._SLOT.format
        product = Product(slot(0), slot(1), slot(2))
        context = [Product(slot(6 + 3 * i), slot(7 + 3 * i), slot(8 + 3 * i)) for i in range(shown)]
        text = json_line(make_row(product, slot(3), kind, context if kind != "closed_book" else None, slot(4),
                                  slot(5) if kind == "followup" else None))
        pieces = self._SLOTS.split(text)  # literal, slot, literal, ..., literal
        slots = [int(i) for i in pieces[1::2]]
        pick = (lambda values: [values[slots[0]]]) if len(slots) == 1 else operator.itemgetter(*slots)
        return [piece.encode("utf-8") if i % 2 == 0 else b"" for i, piece in enumerate(pieces)], pick

    def line(self, kind: str, product: Sequence[bytes], question: bytes,
             context: Sequence[Sequence[bytes]] | None, number: int = 0, earlier: bytes = b"") -> bytes:
        """The JSON line of a row: product and each record of context as escaped (uid, title, description);
        `number`: the product's place in context (an answered row's citation); `earlier`: a follow-up's
        earlier question, escaped."""
        key = (kind, len(context) if context is not None else 0)
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._layouts[key] = self._layout(*key)
        parts, pick = layout
        values = [*product, question, b"%d" % number, earlier]
        for record in context or ():
            values.extend(record)
        parts = parts.copy()  # the literals at even places, values at odd ones
        parts[1::2] = pick(values)
        return b"".join(parts)
