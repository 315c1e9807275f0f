"""The grounded conversation format: one function builds each turn, for prepare, train, evaluate and chat.

A grounded question carries the catalog records retrieved for it (prompts/grounded.txt, each record
written with prompts/record.txt); its answer is the matching record's description with the record's
uid in brackets (prompts/answer.txt), which is exactly the record's text after "Description: ", so
the model answers by copying. When no record is the product asked about, the whole answer is the
sentence in prompts/not_in_catalog.txt. A closed-book question is the question alone, answered with
the description: what fine-tuning itself taught stays measurable.

The row kinds 01_prepare writes (RAFT, Zhang et al. 2024):
    grounded     the gold record among k-1 hard distractors, in shuffled order -> answer.txt
    absent       k hard distractors, no gold record                             -> not_in_catalog.txt
    closed_book  no records                                                     -> the description
"""
from __future__ import annotations

import functools
import re
from typing import Protocol, Sequence

from productqa.paths import PROMPTS
from productqa.prompts import read_prompt

KINDS = ("grounded", "absent", "closed_book")
_CITATION = re.compile(r"\[([A-Za-z0-9]{4,20})\]")


class Record(Protocol):
    uid: str
    title: str
    description: str


@functools.lru_cache(maxsize=None)
def _template(name: str) -> str:
    return read_prompt(PROMPTS / name)


def record_text(record: Record) -> str:
    return _template("record.txt").format(uid=record.uid, title=record.title, description=record.description)


def user_turn(question: str, records: Sequence[Record] | None) -> str:
    """The user message: the question alone (closed book, records None) or the records, then the question."""
    if records is None:
        return question
    block = "\n\n".join(record_text(record) for record in records)
    return _template("grounded.txt").format(records=block, question=question)


def answer(record: Record) -> str:
    """What a grounded answer about `record` says: its description, then its uid cited."""
    return _template("answer.txt").format(uid=record.uid, title=record.title, description=record.description)


def not_in_catalog() -> str:
    return _template("not_in_catalog.txt")


def cited_uids(text: str) -> list[str]:
    """The uids an answer cites ("... [0001360000]"), in order, each once."""
    return list(dict.fromkeys(_CITATION.findall(text)))


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def is_refusal(text: str) -> bool:
    """True only when the whole answer is the not-in-catalog sentence (punctuation and case aside):
    a model that echoes the system prompt, which contains similar words, is not refusing."""
    return _plain(text) == _plain(not_in_catalog())


def strip_citations(text: str) -> str:
    """The answer's words without its [uid] citations (to score the text against a description)."""
    return " ".join(_CITATION.sub(" ", text).split())
