"""Which records an answer's text comes from: what the Sources block stars, checked by code, not taken
on the model's word.

A small model's own citation is a guess made after the text: it can copy one record and cite another.
A record is a source of an answer when most of the answer's words sit in runs of at least RUN words
that the record's description also has (word n-gram containment, casefold, punctuation ignored). A
record that only shares a boilerplate sentence ("This text refers to the Paperback edition.") or a
few common words covers a small share and is not starred. Two records with the same description (an
edition, a series blurb) both hold the text; when one of them is the product asked about, the answer
about it comes from its record, not from its twin under another title.
"""
from __future__ import annotations

import re
from typing import Collection, Sequence

from productqa.grounded import strip_citations

RUN = 4           # words: a shorter shared run is too often a common phrase ("one of the most")
MIN_SHARE = 0.5   # of the answer's words in runs the record has


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def share_from(answer_words: Sequence[str], source_words: Sequence[str]) -> float:
    """The share of the answer's words inside a run of RUN words (fewer if the answer is shorter) that
    the source also has, in that order."""
    n = min(RUN, len(answer_words))
    if n == 0 or len(source_words) < n:
        return 0.0
    runs = {tuple(source_words[i:i + n]) for i in range(len(source_words) - n + 1)}
    covered = [False] * len(answer_words)
    for i in range(len(answer_words) - n + 1):
        if tuple(answer_words[i:i + n]) in runs:
            covered[i:i + n] = [True] * n
    return sum(covered) / len(answer_words)


def shares(answer: str, descriptions: Sequence[str]) -> list[float]:
    """share_from() of the answer (its [n] citations left out) for each description."""
    said = words(strip_citations(answer))
    return [share_from(said, words(description)) for description in descriptions]


def supporting(answer: str, descriptions: Sequence[str], asked: Collection[int] = ()) -> list[int]:
    """The indices of the descriptions the answer's text comes from (share at least MIN_SHARE); `asked`:
    the indices of the product asked about, whose twins (the same description elsewhere) are left out."""
    found = [i for i, share in enumerate(shares(answer, descriptions)) if share >= MIN_SHARE]
    theirs = {descriptions[i] for i in found if i in asked}
    return [i for i in found if i in asked or descriptions[i] not in theirs]
