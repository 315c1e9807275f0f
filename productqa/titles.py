"""How titles compare: one normal form for catalog keys, retrieval, distractors and dedupe.

"Mog's Christmas", "mogs christmas" and "MOG’S CHRISTMAS!" are the same title to a user; so are
"Café Crème" and "cafe creme", "Salt & Pepper" and "salt and pepper". normalize_title() makes them the
same string; title_words() splits a title or a question into the words that retrieval indexes.
"""
from __future__ import annotations

import re
import string
import unicodedata

_APOSTROPHES = re.compile(r"['’‘`´ʼ]")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)

# ASCII fast path (most titles), same result as the general path: letters and digits lowercased,
# apostrophes dropped, '&' read as 'and', every other character a space.
_ASCII = {i: " " for i in range(128) if not chr(i).isalnum()}
_ASCII.update({ord("'"): None, ord("`"): None, ord("&"): " and "})
_ASCII.update({ord(c): c.lower() for c in string.ascii_uppercase})
_ASCII = str.maketrans(_ASCII)


def normalize_title(text: str) -> str:
    """Casefolded, accents and apostrophes removed, '&' read as 'and', every other mark a space."""
    if text.isascii():
        return " ".join(text.translate(_ASCII).split())
    text = unicodedata.normalize("NFKD", text.casefold())
    # casefold again: compatibility forms decompose to capitals ('™' -> 'TM', fullwidth letters)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = _APOSTROPHES.sub("", text).replace("&", " and ")
    return " ".join(_NOT_WORD.sub(" ", text).split())


def title_words(text: str) -> list[str]:
    """The normalized words of a title or question, in order."""
    return normalize_title(text).split()
