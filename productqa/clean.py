"""Cleaning rules for catalog text: what the model learns is what survives these functions.

Order matters: entities are decoded before tags are stripped (an escaped `&lt;b&gt;` is a tag),
boilerplate is removed after whitespace is normalised (so one pattern covers every spacing).
"""
from __future__ import annotations

import html
import re
import unicodedata

# --- markup -------------------------------------------------------------------------------------
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_BLOCK_TAG = re.compile(r"<\s*(?:br|/?p|/?div|/?li|/?ul|/?ol|/?h[1-6]|/?tr|/?td)\b[^<>]{0,200}>", re.I)
_ANY_TAG = re.compile(r"<\s*/?\s*[a-z][a-z0-9]*\b[^<>]{0,500}>", re.I)

# --- characters ---------------------------------------------------------------------------------
# Zero-width and BOM characters vanish; control characters become spaces (\s covers NBSP & co).
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NOT_LETTER = re.compile(r"[\W\d_]+")
_ASCII_NOT_LETTERS = bytes(b for b in range(128) if not chr(b).isalpha())

# --- boilerplate --------------------------------------------------------------------------------
# (cheap substring that must be present, pattern): the substring test skips the regex on most rows.
_BOILERPLATE = [
    # "--This text refers to the Hardcover edition." / "...an out of print or unavailable edition of this title."
    ("efers to", re.compile(r"(?:-{1,3}\s*)?This text refers to (?:the |an? )?[^.]{0,80}?edition(?: of this title)?\s*\.?", re.I)),
    ("Editorial", re.compile(r"\bSee all Editorial Reviews\b\.?", re.I)),
    ("escription", re.compile(r"\bSee all Product Description\b\.?", re.I)),
]
# A label that opens the text: "Product Description The story of ...".
_LEADING_LABEL = re.compile(r"(?:Product Description|Book Description|Amazon\.com Review|Review)\s*[:\-]?\s+", re.I)

_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(?=\s)")
_URL_ONLY = re.compile(r"(?:https?://|www\.)\S+", re.I)


def decode_entities(text: str, rounds: int = 3) -> str:
    """Decode numeric, hex and named entities, again where the source escaped them twice."""
    for _ in range(rounds):
        if "&" not in text:
            break
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


def strip_tags(text: str) -> str:
    if "<" not in text:
        return text
    text = _COMMENT.sub(" ", text)
    text = _BLOCK_TAG.sub(" ", text)
    return _ANY_TAG.sub("", text)


def normalize_unicode(text: str) -> str:
    """NFC (not NFKC: 'é', '½' and '™' stay as written), no invisible or control characters."""
    if text.isascii():
        return text if text.isprintable() else _CONTROL.sub(" ", text)
    return _CONTROL.sub(" ", _INVISIBLE.sub("", unicodedata.normalize("NFC", text)))


def normalize_whitespace(text: str) -> str:
    """Runs of any unicode whitespace (NBSP, line separators, tabs, newlines) -> one space."""
    return " ".join(text.split())


def remove_boilerplate(text: str) -> str:
    if label := _LEADING_LABEL.match(text):
        text = text[label.end():]
    for needle, pattern in _BOILERPLATE:
        if needle in text:
            text = pattern.sub(" ", text)
    return normalize_whitespace(text)


def clean_text(text: str) -> str:
    """Entities -> tags -> unicode -> whitespace: used for titles and descriptions alike."""
    return normalize_whitespace(normalize_unicode(strip_tags(decode_entities(text))))


def clean_description(text: str) -> str:
    return remove_boilerplate(clean_text(text))


def cap_length(text: str, max_chars: int) -> str:
    """Cut a long description at the last sentence end before `max_chars` (else at a word, with '…')."""
    if len(text) <= max_chars:
        return text
    head = text[: max_chars + 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= max_chars // 2:
        return head[: ends[-1]].rstrip()
    cut = head[:max_chars].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return cut + "…"


def junk_reason(description: str, title: str, min_chars: int) -> str | None:
    """Why a cleaned description teaches nothing, or None if it is worth keeping."""
    if not description:
        return "empty_content"
    if len(description) < min_chars:
        return "short_content"
    head = description[:300]  # junk shows in its first few hundred characters; long text is rarely junk
    if head.isascii():
        letters = len(head.encode().translate(None, _ASCII_NOT_LETTERS))
    else:
        letters = len(head) - len("".join(_NOT_LETTER.findall(head)))
    if letters < 0.5 * len(head) or _URL_ONLY.fullmatch(description):
        return "junk_content"
    if description.casefold().rstrip(".") == title.casefold().rstrip("."):
        return "junk_content"
    return None
