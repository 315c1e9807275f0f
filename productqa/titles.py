"""How titles compare: one normal form for catalog keys, retrieval, distractors and dedupe.

"Mog's Christmas", "mogs christmas" and "MOG’S CHRISTMAS!" are the same title to a user; so are
"Café Crème" and "cafe creme", "Salt & Pepper" and "salt and pepper". normalize_title() makes them the
same string; normalized_words() splits a title or a question into the words that retrieval indexes.
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


def normalized_words(text: str) -> list[str]:
    """The normalized words of a title or question, in order."""
    return normalize_title(text).split()


# Where a title's main part ends and a subtitle, edition or series begins: "Clara Barton: Founder of ...",
# "Delphie and the Birthday Show (Ballet Slippers, Book 4)", "Worship [VHS]", "Road Atlas - 2014 Edition".
_HEAD_END = re.compile(r"\s*(?::|\(|\[|\s[-–—]\s|,|;|\s/\s)")


def title_heads(title: str) -> list[str]:
    """The title cut at each separator of a subtitle, edition or series, shortest first: how users name a
    long title ("Clara Barton" for "Clara Barton: Founder of the American Red Cross"). Only heads with a
    word of 3+ letters; never the whole title."""
    heads = []
    for found in _HEAD_END.finditer(title):
        head = title[:found.start()].strip()
        if head.count("(") > head.count(")") or head.count("[") > head.count("]"):
            continue  # inside a series or edition note: nobody types "Delphie (Ballet Slippers"
        if any(len(word) >= 3 for word in normalized_words(head)) and normalize_title(head) != normalize_title(title):
            heads.append(head)
    return list(dict.fromkeys(heads))


def partial_titles(title: str) -> list[str]:
    """Ways a user names `title` without all of it: its heads (title_heads), then its main part (the
    shortest head, or the whole title) less its last word or less its longest inner word, when that part
    has 4+ words; never a word with a digit (a volume, a year: that is another product). What training
    rows and benchmarks ask with."""
    forms = title_heads(title)
    words = (forms[0] if forms else title).split()
    if len(words) >= 4:
        if not any(ch.isdigit() for ch in words[-1]):
            forms.append(" ".join(words[:-1]).rstrip(",:;-"))
        inner = [i for i in range(1, len(words) - 1) if not any(ch.isdigit() for ch in words[i])]
        if inner:
            middle = max(inner, key=lambda i: (len(words[i]), -i))
            forms.append(" ".join(words[:middle] + words[middle + 1:]))
    whole = normalize_title(title)
    return [form for form in dict.fromkeys(forms) if normalized_words(form) and normalize_title(form) != whole]
