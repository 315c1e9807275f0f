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
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_WHITESPACE = re.compile(r"\s+")

# --- boilerplate --------------------------------------------------------------------------------
_BOILERPLATE = [
    # "--This text refers to the Hardcover edition." / "...an out of print or unavailable edition of this title."
    re.compile(r"(?:-{1,3}\s*)?This text refers to (?:the |an? )?[^.]{0,80}?edition(?: of this title)?\s*\.?", re.I),
    re.compile(r"\bSee all (?:Editorial Reviews|Product Description)\b\.?", re.I),
    re.compile(r"^(?:Product Description|Book Description|Amazon\.com Review|Review)\s*[:\-]?\s+", re.I),
]

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
    return _CONTROL.sub(" ", unicodedata.normalize("NFC", text).translate(_INVISIBLE))


def normalize_whitespace(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def remove_boilerplate(text: str) -> str:
    for pattern in _BOILERPLATE:
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
    letters = sum(ch.isalpha() for ch in description)
    if letters < 0.5 * len(description) or _URL_ONLY.fullmatch(description):
        return "junk_content"
    if description.casefold().rstrip(".") == title.casefold().rstrip("."):
        return "junk_content"
    return None
