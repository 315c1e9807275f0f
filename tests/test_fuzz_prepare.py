"""01_prepare's line parser under arbitrary input (hypothesis): whatever a line holds, it becomes a
kept record that obeys the cleaning rules or a counted reason, never an exception."""
import json
import pickle
import unicodedata

from hypothesis import HealthCheck, example, given, settings, strategies as st

from productqa.data import SPLITS
from productqa.prepare import CUT_TITLE, UID_CHARS, Settings, clean_block, clean_record

REASONS = {"invalid_utf8", "invalid_json", "not_an_object", "missing_field", "wrong_type", "long_uid",
           "empty_title", "empty_content", "short_content", "junk_content"}
FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Text with what the cleaning acts on: entities, tags, odd spaces, invisible and control characters,
# surrogates, letters of other scripts, sentence ends (where descriptions are cut).
PIECES = ["&amp;", "&lt;b&gt;", "&#8220;", "&#x27;", "&nbsp;", "<p>", "</div>", "<br/>", "<!-- x -->", "\u00a0",
          "\u200b", "\ufeff", "\x00", "\x1f", "\x85", "\u2028", "\t", "\n", "  ", ". ", "! ", "é", "e\u0301",
          "東京", "\ud800", "\udfff", "This text refers to the Hardcover edition.", "Product Description ",
          "http://x.example/a", "-", "…", *["a spice grinder", "Word", "of the", " ", ". "] * 4]
text = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), max_size=40).map("".join)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4),
                           max_leaves=12)
uids = st.one_of(st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=12),
                 st.text(st.characters(codec="ascii"), min_size=60, max_size=70), text)
# records of the dataset's shape (what gets past the parser to the cleaning), and of any shape
shaped = st.fixed_dictionaries({"uid": uids, "title": text, "content": text}, optional={"target_ind": json_values})
records = st.one_of(
    shaped,
    st.fixed_dictionaries({}, optional={"uid": uids | json_values, "title": text | json_values,
                                        "content": text | json_values, "target_ind": json_values}))
# Small caps, so that short generated text meets them; min_chars <= max_chars / 2 as the flags require.
small_settings = st.builds(lambda low, high, title: Settings(low, 2 * low + high, 0.2, 0.2, title),
                           st.integers(1, 20), st.integers(0, 60), st.integers(1, 40))


def encoded(value, ascii_only: bool) -> bytes:
    """A JSON line as a file may hold it: escaped, or UTF-8 (a lone surrogate gives bytes no UTF-8 has)."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def check(result, config: Settings) -> None:
    """A reason among those stats.json counts, or a record that obeys the cleaning rules and caps."""
    if isinstance(result, str):
        assert result in REASONS
        return
    uid, title, description, split, cut = result
    assert uid and uid == uid.strip() and len(uid) <= UID_CHARS
    assert split in SPLITS and cut in range(4)
    for field in (title, description):
        assert field and field == field.strip() and "  " not in field
        assert not any(unicodedata.category(c) == "Cc" or c in "\u200b\ufeff" for c in field), field
        field.encode("utf-8")  # no lone surrogate: the catalog stores UTF-8
    assert len(title) <= config.title_chars and (title.endswith("…") or not cut & CUT_TITLE)
    assert config.min_chars <= len(description) <= config.max_chars  # cut or not, within both bounds


@FUZZ
@given(st.binary(max_size=300), small_settings)
def test_arbitrary_bytes_are_a_record_or_a_reason(raw, config):
    check(clean_record(raw, config), config)


@FUZZ
@given(st.one_of(shaped, records, json_values), st.booleans(), small_settings)
def test_arbitrary_json_is_a_record_or_a_reason(value, ascii_only, config):
    raw = encoded(value, ascii_only)
    check(clean_record(raw, config), config)
    check(clean_record(b"\xef\xbb\xbf" + raw + b"\r\n", config), config)  # a BOM and CRLF change nothing


@FUZZ
@given(st.lists(records | st.binary(max_size=60), max_size=8), small_settings)
@example([{"uid": "0", "title": "&amp;", "content": "&amp; 0AAAA"}], Settings(3, 6, 0.2, 0.2, 1))  # was cut to "&…"
def test_a_block_of_any_lines_counts_each_line_once(lines, config):
    """clean_block (what a worker runs on 1 MB of lines): one reason or record per non-blank line, and
    its result survives the trip back to the main process."""
    raw = [line if isinstance(line, bytes) else encoded(line, False) for line in lines]
    raw = [line.replace(b"\n", b" ") for line in raw]
    cleaned = pickle.loads(pickle.dumps(clean_block(b"\n".join(raw), config)))
    assert len(cleaned.reasons) == sum(1 for line in raw if line.strip())
    assert len(cleaned) == cleaned.reasons.count(None) == len(cleaned.uids) == len(cleaned.cuts)
    assert all(reason in REASONS for reason in cleaned.reasons if reason is not None)
    for uid, title, description, cut in zip(cleaned.uids, cleaned.titles, cleaned.descriptions, cleaned.cuts):
        check((uid, title, description.decode("utf-8"), "train", cut), config)
