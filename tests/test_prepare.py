import gzip
import json
import shutil

import pytest

from productqa.catalog import Catalog
from productqa.data import split_of
from productqa.errors import UserError
from productqa.prepare import prepare
from productqa.synthetic import write_records
from tests.conftest import record

OUTPUTS = ("train.jsonl", "val.jsonl", "test.jsonl", "stats.json", "catalog.sqlite")


def read_all(out):
    return [json.loads(line) for split in ("train", "val", "test") for line in open(out / f"{split}.jsonl")]


def test_hostile_lines_are_counted_never_crash(make_input, tmp_path):
    good = record(uid="good1")
    lines = [
        good,
        "\ufeff" + json.dumps(record(uid="bom1", title="Bom Title Here")),          # BOM: still good
        json.dumps(record(uid="crlf1", title="Crlf Title Here")) + "\r",            # CRLF: still good
        '{"uid": "x", "title": "truncat',                                            # truncated
        "not json at all",
        b'{"uid": "bad", "title": "\xff\xfe", "content": "x"}',                      # invalid UTF-8
        "[1, 2, 3]",
        {"uid": "nf", "title": "No content field"},
        {"uid": 12, "title": "Wrong type", "content": "A long enough description of something."},
        {"uid": "nt", "title": "   ", "content": "A long enough description of something."},
        record(uid="empty", title="Empty One", content=""),
        record(uid="short", title="Short One", content="Tiny."),
        record(uid="junk", title="Junk One", content="!!!! ???? 1234 5678 #### $$$$ %%%% ^^^^"),
        record(uid="dup", title="THE QUIET HARBOR"),                                 # duplicate title
        "",                                                                          # blank: not a record
        "   ",
    ]
    stats = prepare(make_input(lines), tmp_path / "out", progress=False, workers=1)
    assert stats["read"] == 14
    assert stats["kept"] == 3
    assert stats["dropped"] == {"duplicate": 1, "empty_content": 1, "empty_title": 1, "invalid_json": 2,
                                "invalid_utf8": 1, "junk_content": 1, "missing_field": 1, "not_an_object": 1,
                                "short_content": 1, "wrong_type": 1}
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values())
    assert {row["id"] for row in read_all(tmp_path / "out")} == {"good1", "bom1", "crlf1"}


def test_conversation_format(make_input, tmp_path):
    prepare(make_input([record(uid="a1", title="Caf&eacute; Lantern", content="<p>A warm lantern for caf&eacute; tables and long evenings.</p>")]),
            tmp_path / "out", progress=False, val_size=0, test_size=0)
    (row,) = read_all(tmp_path / "out")
    assert row["id"] == "a1" and row["title"] == "Café Lantern"
    human, gpt = row["conversations"]
    assert human["from"] == "human" and "Café Lantern" in human["value"]
    assert gpt == {"from": "gpt", "value": "A warm lantern for café tables and long evenings."}


def test_counts_add_up_on_the_sample(tmp_path):
    from productqa.paths import SAMPLE_DATA

    stats = prepare(SAMPLE_DATA, tmp_path / "out", progress=False)
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values())
    assert sum(stats["splits"].values()) == stats["kept"] > 150
    assert all(stats["splits"][s] > 0 for s in ("train", "val", "test"))
    rows = read_all(tmp_path / "out")
    assert len(rows) == stats["kept"]
    text = json.dumps(rows, ensure_ascii=False)
    assert "&#" not in text and "<p>" not in text and "This text refers to" not in text


def test_outputs_are_byte_identical_across_runs_and_gzip(tmp_path):
    source = tmp_path / "trn.json"
    write_records(source, 600, seed=3)
    with open(source, "rb") as plain, gzip.open(tmp_path / "trn.json.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    prepare(source, tmp_path / "a", progress=False, workers=2)
    prepare(source, tmp_path / "b", progress=False, workers=1)
    prepare(tmp_path / "trn.json.gz", tmp_path / "c", progress=False, workers=2)
    for name in OUTPUTS:
        first = (tmp_path / "a" / name).read_bytes()
        assert first == (tmp_path / "b" / name).read_bytes(), name
        assert first == (tmp_path / "c" / name).read_bytes(), name


def test_split_is_by_uid_whatever_max_records(tmp_path):
    source = tmp_path / "trn.json"
    write_records(source, 600, seed=5)
    prepare(source, tmp_path / "all", progress=False)
    prepare(source, tmp_path / "some", progress=False, max_records=50)
    split_of_id = {}
    for split in ("train", "val", "test"):
        for line in open(tmp_path / "all" / f"{split}.jsonl"):
            split_of_id[json.loads(line)["id"]] = split
    some = 0
    for split in ("train", "val", "test"):
        for line in open(tmp_path / "some" / f"{split}.jsonl"):
            assert split_of_id[json.loads(line)["id"]] == split
            some += 1
    assert some == 50


def test_split_fractions_are_close_to_requested():
    splits = [split_of(f"uid{i}", 0.1, 0.2) for i in range(20000)]
    assert abs(splits.count("test") / 20000 - 0.2) < 0.02
    assert abs(splits.count("val") / 20000 - 0.1) < 0.02


def test_catalog_finds_titles(tmp_path, make_input):
    lines = [record(uid="u1", title="Norvale Cast Iron Skillet", content="A heavy skillet for searing and baking bread."),
             record(uid="u2", title="The Silent Harbor", content="A novel set in a fishing village on the coast."),
             record(uid="u3", title="Harbor Lights Desk Lamp", content="A brass desk lamp with a warm dimmable bulb.")]
    prepare(make_input(lines), tmp_path / "out", progress=False)
    catalog = Catalog(tmp_path / "out" / "catalog.sqlite")
    assert len(catalog) == 3
    hits = catalog.search('What can you tell me about "The Silent Harbor"?')
    assert hits[0].uid == "u2" and hits[0].title == "The Silent Harbor"
    assert hits[0].score > hits[-1].score
    assert catalog.search("tell me about it") == []


@pytest.mark.parametrize("kwargs, message", [
    (dict(val_size=0.6, test_size=0.5), "--val-size"),
    (dict(max_records=0), "--max-records"),
])
def test_bad_arguments_are_one_sentence(make_input, tmp_path, kwargs, message):
    with pytest.raises(UserError, match=message):
        prepare(make_input([record()]), tmp_path / "out", progress=False, **kwargs)


def test_missing_and_empty_input(tmp_path, make_input):
    with pytest.raises(UserError, match="does not exist"):
        prepare(tmp_path / "nope.json", tmp_path / "out", progress=False)
    with pytest.raises(UserError, match="no records"):
        prepare(make_input(["", " "]), tmp_path / "out", progress=False)


def test_truncated_gzip_is_one_sentence(tmp_path):
    source = tmp_path / "trn.json.gz"
    write_records(source, 2000, seed=1)
    source.write_bytes(source.read_bytes()[:-2000])
    with pytest.raises(UserError, match="truncated"):
        prepare(source, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "train.jsonl").exists()  # nothing half-written under its final name


@pytest.mark.parametrize("text", ['plain', 'quo"tes \\ back', "new\nline\ttab", "ünï “code” 東京 \u2028", "\x01ctl"])
def test_conversation_line_is_exactly_json(text):
    from productqa.prepare import conversation_line

    row = {"id": "u" + text, "title": text, "conversations": [{"from": "human", "value": "Q " + text},
                                                               {"from": "gpt", "value": text}]}
    assert conversation_line("u" + text, text, "Q " + text, text) == json.dumps(row, ensure_ascii=False) + "\n"
