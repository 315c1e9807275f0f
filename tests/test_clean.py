import random

import pytest

from productqa.clean import cap_length, clean_description, clean_text, decode_entities, junk_reason


@pytest.mark.parametrize("raw, expected", [
    ("it&#8217;s", "it’s"),                       # numeric
    ("&#x201C;quoted&#x201D;", "“quoted”"),       # hex
    ("1&ndash;2 &amp; caf&eacute;", "1–2 & café"),  # named
    ("it&amp;#8217;s", "it’s"),                   # escaped twice
    ("&amp;amp;amp;", "&"),                       # escaped three times
    ("no entities", "no entities"),
])
def test_entities_are_decoded_repeatedly(raw, expected):
    assert decode_entities(raw) == expected


def test_tags_are_stripped_and_blocks_become_spaces():
    assert clean_text("<p>One<br/>two</p><ul><li>a</li><li>b</li></ul> <b>bold</b>") == "One two a b bold"


def test_escaped_tags_are_stripped_too():
    assert clean_text("&lt;b&gt;Bold&lt;/b&gt; text") == "Bold text"


def test_comparisons_are_not_mistaken_for_tags():
    assert clean_text("size < 5 and > 2") == "size < 5 and > 2"


def test_whitespace_and_invisible_characters_are_normalised():
    assert clean_text("  a\u00a0b\u200bc\t\r\nd\x07e  ") == "a bc d e"


def test_unicode_text_stays_intact():
    text = "Ação, 東京, ½ cup, naïve™"
    assert clean_text(text) == text
    assert clean_text("e\u0301") == "é"  # NFC composes


@pytest.mark.parametrize("raw", [
    "A fine book. --This text refers to the Hardcover edition.",
    "A fine book. This text refers to the Kindle edition.",
    "A fine book. --This text refers to an out of print or unavailable edition of this title.",
    "Product Description A fine book.",
])
def test_boilerplate_is_removed(raw):
    assert clean_description(raw) in ("A fine book.",)


def test_cap_cuts_at_a_sentence_end():
    text = "First sentence here. Second one is longer than that. Third never fits in the cap at all."
    assert cap_length(text, 60) == "First sentence here. Second one is longer than that."
    assert cap_length(text, 1000) == text


def test_cap_without_sentence_end_cuts_at_a_word():
    capped = cap_length("word " * 50, 32)
    assert capped.endswith("…") and len(capped) <= 32 and "wor…" not in capped


def test_cap_keeps_half_and_stays_within_the_cap():
    capped = cap_length("& 0" + "A" * 40, 10)  # at its one space the cut would leave "&…"
    assert capped == "& 0AAAAAA…" and len(capped) == 10


@pytest.mark.parametrize("description, reason", [
    ("", "empty_content"),
    ("Too short.", "short_content"),
    ("1234567890 1234567890 1234567890 123", "junk_content"),
    ("http://www.example.com/some/very/long/path/page.html", "junk_content"),
    ("The Quiet Harbor of Many Long Winters", "junk_content"),  # only repeats the title
    ("A long enough description of a quiet harbor town.", None),
])
def test_junk_reasons(description, reason):
    assert junk_reason(description, "The Quiet Harbor of Many Long Winters", min_chars=30) == reason


# --- the fast paths give what the plain definitions give ------------------------------------------
import html  # noqa: E402

from productqa.clean import (_UNUSUAL, ascii_view, clean_and_judge, normalize_unicode,  # noqa: E402
                             normalize_whitespace, remove_boilerplate, strip_tags, unescape)

_PIECES = (list("abcXYZ019 .-,!?\"'_") + ["  ", "\t", "\n", "\r", "\x00", "\x07", "\x1c", "\x7f", "\x85", "\x9f",
           "\xa0", "\u2028", "\u3000", "\u200b", "\xad", "\ufeff", "&amp;", "&amp;amp;", "&#8217;", "&#x201C;",
           "&lt;b&gt;", "&eacute", "<br/>", "<p>", "</p>", "<!-- c -->", "This text refers to the ", "Kindle edition",
           "edition of this title", "THIS TEXT REFERS TO AN ", "thiſ text refers to ", "---", "ſ", "İ", "e\u0301",
           "é", "½", "™", "ß", "ﬁ", "東京", "²", "٣", "See all Editorial Reviews", "See all Product Description",
           "Product Description ", "Review: ", "http://", "www.", "’", "“", "word " * 12])


def _texts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 40))) for _ in range(count)]


def test_clean_text_is_its_steps_in_order():
    for text in _texts(20000):
        steps = normalize_whitespace(normalize_unicode(strip_tags(decode_entities(text))))
        assert clean_text(text) == steps, text
        assert clean_description(text) == remove_boilerplate(steps), text


_REFERENCES = ["&", ";", "#", "x", "X", "&#", "&#x", "&#0;", "&#10;", "&#128;", "&#x110000;", "&#xD800;", "&#65",
               "&ampx", "&notit;", "&notin", "&eacute", "&Eacute;", "&lt", "&gt;", "&nosuch;", "&" + "a" * 40 + ";"]


def test_unescape_is_html_unescape():
    rng, pieces = random.Random(3), _PIECES + _REFERENCES
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        assert unescape(text) == html.unescape(text), text


def test_every_unusual_character_is_unprintable():
    """_normalize skips the _UNUSUAL search for printable text."""
    unusual = [chr(c) for c in range(0x110000) if _UNUSUAL.match(chr(c))]
    assert unusual and not any(c.isprintable() for c in unusual)


def test_clean_and_judge_is_clean_description_then_junk_reason():
    texts = _texts(20000, seed=1)
    rng = random.Random(2)
    for text in texts:
        title = clean_text(rng.choice(texts)) or "t"
        description = clean_description(text)
        if rng.random() < 0.2:
            title = description.upper() + "." * rng.randint(0, 2)
        for min_chars in (1, 30):
            assert clean_and_judge(text, title, min_chars) == (description, junk_reason(description, title, min_chars))


def test_ascii_view_keeps_positions():
    text = "Café “quoted” 東京 ok"
    view = ascii_view(text)
    assert view.isascii() and len(view) == len(text) and view.index("ok") == text.index("ok")
    assert ascii_view("plain") == "plain"


def test_a_long_s_still_matches_refers_case_insensitively():
    text = "A fine book. --This text refer\u017f to the Kindle edition. It refers to a friend."
    assert clean_description(text) == remove_boilerplate(text) == "A fine book. It refers to a friend."
