"""How a factual answer is scored: one small function per figure, plain functions of the answer and of
what the row knows, for 03_evaluate's factual and unanswerable suites and for bench/real_bench.py.

A factual answer is the record's own sentence that states the fact, cited "... [n]" (productqa.facts.find);
when the record does not state it, the not-said sentence (facts.not_said), cited with the record it read.
Words are compared as grounded.plain reads them: casefolded, punctuation and spacing aside.
"""
from __future__ import annotations

import functools
import re

from productqa import facts, grounded


def words_of(text: str) -> list[str]:
    """The text's words as the scores compare them ("Doesn't -- 0–3!" -> doesn, t, 0, 3)."""
    return grounded.plain(text).split()


def states_words(answer: str, words: str) -> bool:
    """right_words: the answer holds the fact's words (a name, an age range, a count) as a run of whole
    words, the citation aside: "For ages 0-3. [3]" holds "ages 0–3"; "Tessa Castillon" does not hold
    "Tessa Castillo", nor does "For ages 0 [3]" hold "ages 0-3"."""
    wanted = " ".join(words_of(words))
    said = " ".join(words_of(grounded.strip_citations(answer)))
    return bool(wanted) and f" {wanted} " in f" {said} "


def cites_only(answer: str, number: int) -> bool:
    """cited_right: the answer ends by citing the record asked about, [number], and nothing else."""
    return grounded.cited_numbers(answer) == [number]


def is_short(answer: str) -> bool:
    """short: at most facts.MAX_WORDS words, the citation aside: the sentence that states the fact, not
    the whole description (01_prepare's excerpts are cut to that length)."""
    return len(grounded.strip_citations(answer).split()) <= facts.MAX_WORDS


@functools.lru_cache(maxsize=1)
def not_said_vocabulary() -> frozenset[str]:
    """Every word the not-said sentence may be written with, in every language of prompts/facts.yaml: its
    frame, each fact's `what` and `covers`, "and", covers_nothing and the count nouns (both languages),
    without the {placeholders}."""
    data = facts.wording()
    texts = [*data["not_said"].values(), *data["covers_nothing"].values(), *data["and"].values(),
             *data["nouns"], *data["nouns"].values()]
    for kind in data["kinds"].values():
        for language in kind.values():
            texts += [language["what"], language["covers"]]
    return frozenset(word for text in texts for word in words_of(re.sub(r"\{\w+\}", " ", text)))


def invents_nothing(answer: str, record_text: str, number: int, question: str = "") -> bool:
    """Nothing the answer states comes from outside the record (`record_text`: its title and description).
    What it says the record gives (after the first ";") uses only the record's words, the not-said
    sentence's wording (not_said_vocabulary) and the number cited: a not-said answer that names an author,
    a price or an age did not get it from the record. The part that says what the record does not say
    restates the question in words of its own ("whether it is suitable for children", "a sua dimensão"):
    there, a claim is a number or a capitalized name that neither the record nor the `question` has. An
    empty answer invents nothing (it is scored wrong by says_not_said)."""
    known = not_said_vocabulary() | set(words_of(record_text)) | {str(number)}
    what, _, given = grounded.strip_citations(answer).partition(";")
    claims = re.findall(r"\b(?:\d+|[A-Z][\w'’-]*)", what.split(" ", 1)[1] if " " in what else "")
    restated = known | set(words_of(question))
    return set(words_of(given)) <= known and all(set(words_of(claim)) <= restated for claim in claims)


def fact_answer_scores(answer: str, words: str, number: int) -> dict[str, bool]:
    """The scores of an answer to a question the record answers: `words` are the fact (the row's
    fact["words"]), `number` the record's place among those shown. answered_right: the words, cited
    right, short; false_refusal: "not in the catalog"; not_said: wrongly "the record does not say"."""
    scores = {"right_words": states_words(answer, words), "cited_right": cites_only(answer, number),
              "short": is_short(answer)}
    return {**scores, "answered_right": all(scores.values()), "false_refusal": grounded.is_refusal(answer),
            "not_said": facts.is_not_said(answer)}


def not_said_scores(answer: str, record_text: str, number: int, question: str = "") -> dict[str, bool]:
    """The scores of an answer to a question the record does not answer: `record_text` is the record's
    title and description, `number` its place among those shown, `question` what was asked. right: says
    the record does not say it and invents nothing; cited_right is reported beside it (the record it read)."""
    scores = {"says_not_said": facts.is_not_said(answer),
              "invents_nothing": invents_nothing(answer, record_text, number, question)}
    return {**scores, "cited_right": cites_only(answer, number), "right": all(scores.values()),
            "false_refusal": grounded.is_refusal(answer)}
