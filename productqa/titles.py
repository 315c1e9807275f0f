"""How titles compare: one normal form for catalog keys, retrieval, distractors and dedupe.

"Mog's Christmas", "mogs christmas" and "MOG’S CHRISTMAS!" are the same title to a user; so are
"Café Crème" and "cafe creme". normalize_title() makes them the same string; title_words() splits a
title or a question into the words that retrieval indexes.
"""
from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = re.compile(r"['’‘`´]")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize_title(text: str) -> str:
    """Casefolded, accents and apostrophes removed, '&' read as 'and', every other mark a space."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _APOSTROPHES.sub("", text).replace("&", " and ")
    return " ".join(_NOT_WORD.sub(" ", text).split())


def title_words(text: str) -> list[str]:
    """The normalized words of a title or question, in order."""
    return normalize_title(text).split()
