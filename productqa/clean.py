"""Cleaning rules for catalog text: what the model learns is what survives these functions.

Order matters: entities are decoded before tags are stripped (an escaped `&lt;b&gt;` is a tag),
boilerplate is removed after whitespace is normalised (so one pattern covers every spacing).

The full preparation cleans 2.2M records on 2 cores, so each step first checks, in one cheap scan,
whether it has anything to do (most text is already NFC, has no control characters and single
spaces); the result is always the same as applying every step in full.
"""
from __future__ import annotations

import html
import re
import unicodedata

from productqa.control_text import as_text

# --- markup -------------------------------------------------------------------------------------
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_BLOCK_TAG = re.compile(r"<\s*(?:br|/?p|/?div|/?li|/?ul|/?ol|/?h[1-6]|/?tr|/?td)\b[^<>]{0,200}>", re.I)
_ANY_TAG = re.compile(r"<\s*/?\s*[a-z][a-z0-9]*\b[^<>]{0,500}>", re.I)

# --- characters ---------------------------------------------------------------------------------
# Zero-width and BOM characters vanish; control characters become spaces (\s covers NBSP & co).
_INVISIBLE_CHARS = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_CONTROL_CHARS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_INVISIBLE = re.compile(f"[{_INVISIBLE_CHARS}]")
_CONTROL = re.compile(f"[{_CONTROL_CHARS}]")
# Every whitespace character but the space (str.isspace() is true for none above U+3000).
OTHER_SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace() and c != " ")
# What normalize_unicode or normalize_whitespace would change in NFC text, apart from runs of spaces.
_UNUSUAL = re.compile(f"[{_INVISIBLE_CHARS}{_CONTROL_CHARS}{re.escape(OTHER_SPACES)}]")
_SPACE_RUN = re.compile("  +")
_NOT_LETTER = re.compile(r"[\W\d_]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_ASCII_NOT_LETTERS = bytes(b for b in range(128) if not chr(b).isalpha())

# --- boilerplate --------------------------------------------------------------------------------
# (cheap substring that must be present, pattern): the substring test skips the regex on most rows.
_BOILERPLATE = [
    # "--This text refers to the Hardcover edition." / "...an out of print or unavailable edition of this title."
    ("efers to", re.compile(r"(?:-{1,3}\s*)?This text refers to (?:the |an? )?[^.]{0,80}?edition(?: of this title)?\s*\.?", re.I)),
    ("Editorial", re.compile(r"\bSee all Editorial Reviews\b\.?", re.I)),
    ("escription", re.compile(r"\bSee all Product Description\b\.?", re.I)),
]
# Where the first pattern can start: it tries every position of a text, so it is run from 'This text
# refers to' on (found by a plain case-insensitive search), less the dashes and spaces before it.
_REFERS = re.compile("refers to", re.I)
_BEFORE_REFERS = len("This text ")
# A label that opens the text: "Product Description The story of ...".
_LEADING_LABEL = re.compile(r"(?:Product Description|Book Description|Amazon\.com Review|Review)\s*[:\-]?\s+", re.I)

_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(?=\s)")
_URL_ONLY = re.compile(r"(?:https?://|www\.)\S+", re.I)


# html.unescape's own pattern: what one entity reference is (named ones may lack the ';').
_ENTITY = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_DECODED: dict[str, str] = {}  # entity -> html.unescape(entity): a catalog uses a few hundred of them
_MAX_DECODED = 100_000


def _decoded(match: re.Match) -> str:
    entity = match[0]
    text = _DECODED.get(entity)
    if text is None:
        text = html.unescape(entity)  # decoding depends on the reference alone, not on its neighbours
        if len(_DECODED) < _MAX_DECODED:
            _DECODED[entity] = text
    return text


def unescape(text: str) -> str:
    """html.unescape(text), with each distinct reference decoded once (it is 2/3 of html.unescape's
    time: a Python function call per reference that parses it, and searches the entity table)."""
    return _ENTITY.sub(_decoded, text) if "&" in text else text


def decode_entities(text: str, rounds: int = 3) -> str:
    """Decode numeric, hex and named entities, again where the source escaped them twice."""
    for _ in range(rounds):
        if "&" not in text:
            break
        decoded = unescape(text)
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


def _single_spaced(text: str) -> str:
    """normalize_whitespace(text) for text whose only whitespace is the space: runs of spaces cut to
    one, none at either end (twice as fast as split and join)."""
    if "  " in text:
        text = _SPACE_RUN.sub(" ", text)
    return text.strip(" ") if text.startswith(" ") or text.endswith(" ") else text


def _normalize(text: str) -> str:
    """normalize_whitespace(normalize_unicode(text)), without the work where the text is clean."""
    if text.isascii():
        if text.isprintable():  # printable ASCII: the space is its only whitespace
            return _single_spaced(text)
    elif unicodedata.is_normalized("NFC", text) and (text.isprintable() or not _UNUSUAL.search(text)):
        return _single_spaced(text)  # every _UNUSUAL character is unprintable: isprintable() is 2x faster
    return normalize_whitespace(normalize_unicode(text))


def ascii_view(text: str) -> str:
    """text with each non-ASCII character replaced by '?': ASCII substrings are found in it at the
    same places, several times faster than in text held in 2 or 4 bytes a character."""
    return text if text.isascii() else text.encode("ascii", "replace").decode("ascii")


def _sub_from_refers(pattern: re.Pattern, text: str, view: str) -> tuple[str, int]:
    """pattern.subn(" ", text) for the 'This text refers to' pattern, scanning only where it can match."""
    if "\u017f" in text:  # 'ſ' matches 's' case-insensitively: only the regex knows
        found = _REFERS.search(text)
        start = found.start() if found else -1
    else:
        start = view.lower().find("refers to")
    if start < 0:
        return text, 0
    start = max(start - _BEFORE_REFERS, 0)
    while start and text[start - 1].isspace():
        start -= 1
    for _ in range(3):
        if start and text[start - 1] == "-":
            start -= 1
    tail, count = pattern.subn(" ", text[start:])
    return (text[:start] + tail, count) if count else (text, 0)


def _remove_boilerplate_normalized(text: str, view: str) -> tuple[str, str]:
    """remove_boilerplate(text) for text already whitespace-normalised, and its ascii_view()."""
    if label := _LEADING_LABEL.match(text):
        text, view = text[label.end():], view[label.end():]  # the label's \s+ took the only space
    changed = 0
    for needle, pattern in _BOILERPLATE:
        if needle in view:
            text, count = _sub_from_refers(pattern, text, view) if needle == "efers to" else pattern.subn(" ", text)
            if count:
                changed, view = changed + count, ascii_view(text)
    if changed:  # a space replaced each match
        text = _single_spaced(text)
        view = ascii_view(text)
    return text, view


def remove_boilerplate(text: str) -> str:
    if label := _LEADING_LABEL.match(text):
        text = text[label.end():]
    for needle, pattern in _BOILERPLATE:
        if needle in text:
            text = pattern.sub(" ", text)
    return normalize_whitespace(text)


def clean_text(text: str) -> str:
    """Entities -> tags -> unicode -> whitespace -> control-token spellings made text (control_text):
    used for titles and descriptions alike."""
    return as_text(_normalize(strip_tags(decode_entities(text))))


def clean_description(text: str) -> str:
    text = clean_text(text)
    return _remove_boilerplate_normalized(text, ascii_view(text))[0]


def clean_and_judge(content: str, title: str, min_chars: int) -> tuple[str, str | None]:
    """clean_description(content) and junk_reason() of it, sharing one ascii_view() of the text."""
    text = clean_text(content)
    text, view = _remove_boilerplate_normalized(text, ascii_view(text))
    return text, _junk_reason(text, view, title, min_chars)


def cap_length(text: str, max_chars: int) -> str:
    """Cut a long description at the last sentence end before `max_chars`, else at a word with '…', else
    (a long run without a space: "& 0AAAA" cut at its space would leave "&…") mid-word with '…': the
    result keeps at least half of `max_chars` and, '…' included, at most `max_chars` characters."""
    if len(text) <= max_chars:
        return text
    head = text[: max_chars + 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= max_chars // 2:
        return head[: ends[-1]].rstrip()
    return cut_at_word(text, max_chars)


def cut_at_word(text: str, max_chars: int) -> str:
    """`text` longer than `max_chars` cut at its last word with '…', or mid-word where that would keep
    less than half of `max_chars`: '…' included, at most `max_chars` characters (titles and descriptions)."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars - 1]
    cut = head.rsplit(" ", 1)[0].rstrip(" ,;:-")
    if len(cut) < max_chars // 2:
        cut = head.rstrip()
    return cut + "…"


def _letters(text: str, view: str) -> int:
    """How many characters of text are letters (not matched by [\\W\\d_]), given its ascii_view(); or
    only the ASCII ones, where those are already half of text (enough for junk_reason)."""
    letters = len(view.encode("ascii").translate(None, _ASCII_NOT_LETTERS))  # '?' stands for the others
    if letters < 0.5 * len(text) and not text.isascii():
        other = "".join(_NON_ASCII.findall(text))
        letters += len(other) - len("".join(_NOT_LETTER.findall(other)))
    return letters


def _same_text(description: str, title: str) -> bool:
    """Casefolded and without final dots, the two are equal. casefold() maps a character to 1-3
    characters and only '.' to a dot, so lengths more than 3x apart never compare equal."""
    d_len, t_len = len(description.rstrip(".")), len(title.rstrip("."))
    if d_len > 3 * t_len or t_len > 3 * d_len:
        return False
    return description.casefold().rstrip(".") == title.casefold().rstrip(".")


def junk_reason(description: str, title: str, min_chars: int) -> str | None:
    """Why a cleaned description teaches nothing, or None if it is worth keeping."""
    return _junk_reason(description, ascii_view(description), title, min_chars)


def _junk_reason(description: str, view: str, title: str, min_chars: int) -> str | None:
    if not description:
        return "empty_content"
    if len(description) < min_chars:
        return "short_content"
    head = description[:300]  # junk shows in its first few hundred characters; long text is rarely junk
    if _letters(head, view[:300]) < 0.5 * len(head) or _URL_ONLY.fullmatch(description):
        return "junk_content"
    if _same_text(description, title):
        return "junk_content"
    return None
