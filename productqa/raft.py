"""Retrieval-augmented fine-tuning rows (RAFT, Zhang et al. 2024): which records each question sees.

Hard distractors are the catalog's nearest other titles: records that share the gold title's rarest
words (the words BM25 weighs most), never a record with the same normalized title (a reader could
not tell them apart by title). Train rows draw distractors from the train split only, so no held-out
description reaches training, not even as context. Everything is decided by hashes of (seed, uid):
the same catalog and settings always give the same rows, whatever the worker count.
"""
from __future__ import annotations

import hashlib
import random
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from productqa import grounded
from productqa.grounded import KINDS

# Words in more titles than this are too common to say which products are near (e.g. "the", "edition").
MAX_POSTINGS = 5000


class Entry(NamedTuple):
    uid: str
    title: str
    description: str
    split: str
    norm: str  # productqa.titles.normalize_title(title)


@dataclass(frozen=True)
class Mix:
    """How many records a grounded question shows, and the shares of each row kind."""
    k: int = 3
    absent_share: float = 0.2
    closed_book_share: float = 0.2


def unit_hash(*parts: str) -> float:
    """A number in [0, 1) fixed by `parts`."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def kind_of(uid: str, mix: Mix, seed: int) -> str:
    position = unit_hash("kind", str(seed), uid)
    if position < mix.absent_share:
        return "absent"
    if position < mix.absent_share + mix.closed_book_share:
        return "closed_book"
    return "grounded"


class Distractors:
    """Nearest other records of each entry, by shared rare title words."""

    def __init__(self, entries: Sequence[Entry]):
        self.entries = entries
        self.words = [tuple(dict.fromkeys(map(sys.intern, e.norm.split()))) for e in entries]  # one str a word
        self.df = Counter(word for words in self.words for word in words)
        self.postings: dict[str, list[int]] = defaultdict(list)
        for i, words in enumerate(self.words):
            for word in words:
                if 2 <= self.df[word] <= MAX_POSTINGS:
                    self.postings[word].append(i)
        self.by_split: dict[str, list[int]] = defaultdict(list)
        for i, entry in enumerate(entries):
            self.by_split[entry.split].append(i)

    def _eligible(self, gold: int, other: int, train_only: bool) -> bool:
        entry = self.entries[other]
        return entry.norm != self.entries[gold].norm and (not train_only or entry.split == "train")

    def near(self, gold: int, n: int, rng: random.Random) -> list[int]:
        """Up to n record indices near entries[gold]: rarest shared word first, then random fill."""
        train_only = self.entries[gold].split == "train"
        chosen: list[int] = []
        for word in sorted(self.words[gold], key=lambda w: (self.df[w], w)):
            posting = self.postings.get(word)
            if not posting:
                continue
            start = rng.randrange(len(posting))
            for step in range(len(posting)):
                other = posting[(start + step) % len(posting)]
                if other not in chosen and self._eligible(gold, other, train_only):
                    chosen.append(other)
                    if len(chosen) == n:
                        return chosen
        pool = self.by_split["train"] if train_only else range(len(self.entries))
        for _ in range(20 * n):  # random fill for titles with no rare word in common with another
            if len(chosen) == n or not pool:
                break
            other = pool[rng.randrange(len(pool))]
            if other not in chosen and self._eligible(gold, other, train_only):
                chosen.append(other)
        return chosen


def make_row(entries: Sequence[Entry], gold: int, question: str, kind: str, mix: Mix,
             distractors: Distractors, seed: int) -> dict:
    """One ShareGPT row of `kind` about entries[gold]."""
    if kind not in KINDS:
        raise ValueError(f"unknown row kind {kind!r}")
    entry = entries[gold]
    rng = random.Random(f"{seed}\x1f{entry.uid}")
    if kind == "closed_book":
        context, reply = None, entry.description
    else:
        shown = distractors.near(gold, mix.k - 1 if kind == "grounded" else mix.k, rng)
        if kind == "grounded":
            shown.append(gold)
        rng.shuffle(shown)
        context = [entries[i] for i in shown]
        reply = grounded.answer(entry) if kind == "grounded" else grounded.not_in_catalog()
    return {"id": entry.uid, "title": entry.title, "kind": kind, "question": question,
            "context": [record.uid for record in context] if context is not None else None,
            "conversations": [{"from": "human", "value": grounded.user_turn(question, context)},
                              {"from": "gpt", "value": reply}]}
