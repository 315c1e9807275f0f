"""The grounded conversation format: one function builds each turn, for prepare, train, evaluate and chat.

A grounded question carries the catalog records retrieved for it, numbered [1]..[k] (prompts/grounded.txt,
each record written with prompts/record.txt); its answer is the matching record's description with the
record's number in brackets (prompts/answer.txt), which is exactly the record's text after
"Description: ", so the model answers by copying. Code maps a cited number back to the record's uid
(cited_numbers, cited_sources): one token to copy, where a 10-character uid let the model jump to a
look-alike uid of another record. When no record is the product asked about, the whole answer is the
sentence in prompts/not_in_catalog.txt. A closed-book question is the question alone, answered with
the description: what fine-tuning itself taught stays measurable.

A follow-up (a question that names no product, after one that did) is the earlier question's records,
the earlier question and the new one (prompts/followup.txt): the second turn of a conversation in one
user message, so that the records are not repeated and the prompt stays the size of the first.

The row kinds 01_prepare writes (RAFT, Zhang et al. 2024):
    grounded     the gold record among k-1 hard distractors, in shuffled order -> answer.txt
    partial      the same, the product named by part of its title (titles.partial_titles)  -> answer.txt
    followup     the same, asked again with a follow-up question (prompts/followups_*.txt) -> answer.txt
    absent       k hard distractors, no gold record (the title whole or part of it) -> not_in_catalog.txt
    closed_book  no records                                                     -> the description
    fact         like grounded, a factual question ("Who wrote it?", productqa.facts) -> the record's
                 sentence that states the fact, cited (answer.txt with that sentence)
    not_said     like fact, asking what the record does not mention -> "The catalog record does not
                 say ..." (prompts/facts.yaml), cited: the record it read
"""
from __future__ import annotations

import functools
import re
from typing import Protocol, Sequence

from productqa.paths import PROMPTS
from productqa.prompts import read_prompt

KINDS = ("grounded", "partial", "followup", "absent", "closed_book", "fact", "not_said")
ANSWERED = ("grounded", "partial", "followup", "fact", "not_said")  # the gold record is shown; cited
FACT_KINDS = ("fact", "not_said")  # rows a product gets besides its own kind's (productqa.raft.fact_rows)
# The citation ends the answer (answer.txt: "{description} [{number}]"): a bracketed number inside the
# text is the record's own ("Volume [2]", "[100] recipes"), copied with it, not a citation, so only the
# last mark counts, with the spaces and full stop a model may put around it.
_CITATION = re.compile(r"\s*\[(\d{1,3})\][\s.]*$")


class Record(Protocol):
    uid: str
    title: str
    description: str


@functools.lru_cache(maxsize=None)
def _template(name: str) -> str:
    return read_prompt(PROMPTS / name)


def record_text(record: Record, number: int | str) -> str:
    """`record` as the `number`-th record of a grounded question."""
    return _template("record.txt").format(number=number, uid=record.uid, title=record.title,
                                          description=record.description)


def user_turn(question: str, records: Sequence[Record] | None, earlier: str | None = None) -> str:
    """The user message: the question alone (closed book, records None) or the records, numbered from 1,
    then the question; after the `earlier` question whose records they are, for a follow-up."""
    if records is None:
        return question
    block = "\n\n".join(record_text(record, number) for number, record in enumerate(records, 1))
    if earlier is not None:
        return _template("followup.txt").format(records=block, earlier=earlier, question=question)
    return _template("grounded.txt").format(records=block, question=question)


def answer(record: Record, number: int | str) -> str:
    """What a grounded answer about `record`, shown as the `number`-th record, says: its description,
    then its number cited."""
    return _template("answer.txt").format(number=number, uid=record.uid, title=record.title,
                                          description=record.description)


def not_in_catalog() -> str:
    return _template("not_in_catalog.txt")


def cited_numbers(text: str) -> list[int]:
    """The record number an answer cites ("... [2]" at its end), as a list: empty when it cites none."""
    found = _CITATION.search(text)
    return [int(found.group(1))] if found else []


def cited_sources(text: str, shown: Sequence[Record]) -> tuple[list[str], list[int]]:
    """The uids of the shown records an answer cites by number, and the numbers it cites that no
    shown record has (0, or past the last)."""
    numbers = cited_numbers(text)
    uids = [shown[n - 1].uid for n in numbers if 1 <= n <= len(shown)]
    return list(dict.fromkeys(uids)), [n for n in numbers if not 1 <= n <= len(shown)]


def plain(text: str) -> str:
    """The text's words, casefolded, punctuation and spacing aside: what comparisons of answers go by."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def is_refusal(text: str) -> bool:
    """True only when the whole answer is the not-in-catalog sentence (punctuation and case aside):
    a model that echoes the system prompt, which contains similar words, is not refusing."""
    return plain(text) == plain(not_in_catalog())


def strip_citations(text: str) -> str:
    """The answer's words without its closing [n] citation (to score the text against a description)."""
    return " ".join(_CITATION.sub(" ", text).split())
