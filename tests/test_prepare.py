import bz2
import errno
import gzip
import json
import shutil
import zipfile

import pytest

from productqa.catalog import Catalog
from productqa.data import split_of
from productqa.errors import UserError
from productqa import facts
from productqa.grounded import ANSWERED, FACT_KINDS, KINDS
from productqa.prepare import prepare
from bench.synthetic import write_records
from productqa.titles import normalize_title, partial_titles
from tests.conftest import load_script, record

OUTPUTS = ("train.jsonl", "val.jsonl", "test.jsonl", "stats.json", "catalog.sqlite")


def read_all(out):
    return [json.loads(line) for split in ("train", "val", "test") for line in open(out / f"{split}.jsonl")]


def product_rows(out):
    """Each product's own row (its kind_of() kind), the factual rows it may also have left out."""
    return [row for row in read_all(out) if row["kind"] not in FACT_KINDS]


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
        record(uid="good1"),                                                         # exact repeat
        record(uid="same", title="THE QUIET HARBOR", content="Another product under the same title, told apart."),
        "",                                                                          # blank: not a record
        "   ",
    ]
    stats = prepare(make_input(lines), tmp_path / "out", progress=False, workers=1)
    assert stats["read"] == 15
    assert stats["kept"] == 4 and stats["same_title_records"] == 1  # in the catalog, not asked about twice
    assert stats["dropped"] == {"duplicate": 1, "empty_content": 1, "empty_title": 1, "invalid_json": 2,
                                "invalid_utf8": 1, "junk_content": 1, "missing_field": 1, "not_an_object": 1,
                                "short_content": 1, "wrong_type": 1}
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values())
    assert {row["id"] for row in read_all(tmp_path / "out")} == {"good1", "bom1", "crlf1"}
    assert len(Catalog(tmp_path / "out" / "catalog.sqlite")) == 4


def test_conversation_format(make_input, tmp_path):
    prepare(make_input([record(uid="a1", title="Caf&eacute; Lantern", content="<p>A warm lantern for caf&eacute; tables and long evenings.</p>")]),
            tmp_path / "out", progress=False, val_size=0, test_size=0, absent_share=0, closed_book_share=1,
            partial_share=0, followup_share=0)
    (row,) = product_rows(tmp_path / "out")
    assert row["id"] == "a1" and row["title"] == "Café Lantern"
    human, gpt = row["conversations"]
    assert human["from"] == "human" and "Café Lantern" in human["value"]
    assert gpt == {"from": "gpt", "value": "A warm lantern for café tables and long evenings."}


def test_counts_add_up_on_the_sample(tmp_path):
    from productqa.paths import SAMPLE_DATA

    stats = prepare(SAMPLE_DATA, tmp_path / "out", progress=False)
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values())
    assert sum(stats["splits"].values()) == sum(stats["kinds"].values())  # rows
    products = sum(n for kind, n in stats["kinds"].items() if kind not in FACT_KINDS)
    assert products == stats["kept"] - stats["same_title_records"] > 150  # one row each, factual rows besides
    assert all(stats["splits"][s] > 0 for s in ("train", "val", "test"))
    rows = read_all(tmp_path / "out")
    assert len(rows) == sum(stats["splits"].values()) == sum(stats["kinds"].values())
    text = json.dumps(rows, ensure_ascii=False)
    assert "&#" not in text and "<p>" not in text and "This text refers to" not in text


def test_outputs_are_byte_identical_across_runs_gzip_and_zip(tmp_path):
    source = tmp_path / "trn.json"
    write_records(source, 600, seed=3)
    with open(source, "rb") as plain, gzip.open(tmp_path / "trn.json.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    with zipfile.ZipFile(tmp_path / "LF-Amazon-1.3M.raw.zip", "w") as archive:  # the real archive's layout
        for name in ("lbl.json.gz", "trn.json.gz", "tst.json.gz"):
            archive.write(tmp_path / "trn.json.gz", f"LF-Amazon-1.3M/{name}")
    with zipfile.ZipFile(tmp_path / "deflated.zip", "w", zipfile.ZIP_DEFLATED) as archive:  # its only file
        archive.write(source, "records.json")
    prepare(source, tmp_path / "a", progress=False, workers=2)
    prepare(source, tmp_path / "b", progress=False, workers=1)
    prepare(tmp_path / "trn.json.gz", tmp_path / "c", progress=False, workers=2)
    zipped = prepare(tmp_path / "LF-Amazon-1.3M.raw.zip", tmp_path / "d", progress=False, workers=2)
    assert zipped["zip_member"] == "LF-Amazon-1.3M/trn.json.gz"
    prepare(tmp_path / "deflated.zip", tmp_path / "e", progress=False, workers=1)
    for name in OUTPUTS:
        first = (tmp_path / "a" / name).read_bytes()
        for other in "bcde":
            assert first == (tmp_path / other / name).read_bytes(), (name, other)


def test_an_input_in_another_format_is_one_sentence(tmp_path):
    source = tmp_path / "trn.json"
    write_records(source, 50, seed=3)
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        for name in ("lbl.json.gz", "tst.json.gz"):
            archive.write(source, f"LF-Amazon-1.3M/{name}")
    with pytest.raises(UserError, match="holds no trn.json.gz or trn.json .it holds LF-Amazon-1.3M/lbl.json.gz, "
                                        "LF-Amazon-1.3M/tst.json.gz.: unzip it"):
        prepare(tmp_path / "other.zip", tmp_path / "out", progress=False)
    cut = tmp_path / "cut.zip"
    cut.write_bytes((tmp_path / "other.zip").read_bytes()[:-200])  # the archive's directory is at its end
    with pytest.raises(UserError, match="cut.zip is damaged or truncated"):
        prepare(cut, tmp_path / "out", progress=False)
    with zipfile.ZipFile(tmp_path / "flipped.zip", "w") as archive:
        archive.write(source, "trn.json")
    flipped = bytearray((tmp_path / "flipped.zip").read_bytes())
    flipped[len(flipped) // 2] ^= 0x20  # a byte of a record changes: the member's CRC-32 no longer matches
    (tmp_path / "flipped.zip").write_bytes(flipped)
    with pytest.raises(UserError, match=r"flipped.zip is damaged or truncated \(Bad CRC-32"):
        prepare(tmp_path / "flipped.zip", tmp_path / "out", progress=False)
    packed = tmp_path / "trn.json.bz2"
    packed.write_bytes(bz2.compress(source.read_bytes()))
    with pytest.raises(UserError, match="is bzip2-compressed: decompress it"):
        prepare(packed, tmp_path / "out", progress=False)
    assert not list((tmp_path / "out").iterdir())  # nothing left behind by an input that cannot be read


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
            row = json.loads(line)
            assert split_of_id[row["id"]] == split
            some += row["kind"] not in FACT_KINDS
    assert len(Catalog(tmp_path / "some" / "catalog.sqlite")) == 50 and 40 < some <= 50  # rows: distinct titles


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
    (dict(workers=-3), "--workers must be at least 1"),
])
def test_bad_arguments_are_one_sentence(make_input, tmp_path, kwargs, message):
    with pytest.raises(UserError, match=message):
        prepare(make_input([record()]), tmp_path / "out", progress=False, **kwargs)


def test_missing_and_empty_input(tmp_path, make_input):
    with pytest.raises(UserError, match="does not exist"):
        prepare(tmp_path / "nope.json", tmp_path / "out", progress=False)
    with pytest.raises(UserError, match="is not a file"):
        prepare(tmp_path, tmp_path / "out", progress=False)
    with pytest.raises(UserError, match="no records"):
        prepare(make_input(["", " "]), tmp_path / "out", progress=False)


def test_truncated_gzip_is_one_sentence(tmp_path):
    source = tmp_path / "trn.json.gz"
    write_records(source, 2000, seed=1)
    source.write_bytes(source.read_bytes()[:-2000])
    with pytest.raises(UserError, match="truncated"):
        prepare(source, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "train.jsonl").exists()  # nothing half-written under its final name


def kinds_of(out):
    return {row["id"]: row for row in read_all(out)}


def test_row_kinds_follow_the_shares(tmp_path):
    source = tmp_path / "trn.json"
    write_records(source, 3000, seed=7)
    stats = prepare(source, tmp_path / "out", progress=False, k=3, absent_share=0.25, closed_book_share=0.15,
                    partial_share=0.1, followup_share=0.2)
    rows = read_all(tmp_path / "out")
    products = product_rows(tmp_path / "out")
    share = lambda kind: sum(r["kind"] == kind for r in products) / len(products)  # noqa: E731
    assert abs(share("absent") - 0.25) < 0.04 and abs(share("closed_book") - 0.15) < 0.04
    assert abs(share("followup") - 0.2) < 0.04 and 0 < share("partial") <= 0.1 + 0.04  # short titles: grounded
    assert stats["kinds"] == {kind: sum(r["kind"] == kind for r in rows) for kind in sorted(KINDS)}
    catalog = Catalog(tmp_path / "out" / "catalog.sqlite")
    split_of_uid = {r["id"]: split for split in ("train", "val", "test")
                    for r in map(json.loads, open(tmp_path / "out" / f"{split}.jsonl"))}
    positions = set()
    for row in rows:
        human, gpt = row["conversations"]
        if row["kind"] == "closed_book":
            assert row["context"] is None and human["value"] == row["question"]
            assert gpt["value"] == catalog.get(row["id"]).description
            continue
        assert len(row["context"]) == 3 == len(set(row["context"]))
        assert human["value"].endswith(f"Question: {row['question']}")
        if row["kind"] == "followup":  # the second question, after the earlier one that named the product
            assert f"Earlier question: {row['earlier']}\nQuestion: {row['question']}" in human["value"]
            assert row["title"] in row["earlier"] and row["title"] not in row["question"]
        if row["kind"] == "partial":  # named by part of its title
            assert row["title"] not in row["question"] and any(form in row["question"]
                                                               for form in partial_titles(row["title"]))
        shown = [catalog.get(uid) for uid in row["context"]]
        gold = catalog.get(row["id"])
        others = [r for r in shown if r.uid != row["id"]]
        assert all(normalize_title(r.title) != normalize_title(gold.title) for r in others)  # told apart by title
        if split_of_uid[row["id"]] == "train":  # no held-out description in a training prompt
            assert all(split_of_uid.get(r.uid, "train") == "train" for r in others if r.uid in split_of_uid)
        if row["kind"] in FACT_KINDS:  # the record's own sentence, or what it does not say; cited all the same
            number = row["context"].index(row["id"]) + 1
            reply = gpt["value"].removesuffix(f" [{number}]")
            assert reply != gpt["value"] and (reply in gold.description if row["kind"] == "fact"
                                              else facts.is_not_said(reply))
        elif row["kind"] in ANSWERED:
            number = row["context"].index(row["id"]) + 1  # the answer cites the product's place among the records
            assert row["id"] in row["context"] and gpt["value"] == f"{gold.description} [{number}]"
            positions.add(row["context"].index(row["id"]))
        else:
            assert row["id"] not in row["context"] and gpt["value"] == "That product is not in the catalog."
    assert positions == {0, 1, 2}  # the gold record is shuffled among its distractors


def test_distractors_are_the_nearest_titles(tmp_path, make_input):
    lines = [record(uid=f"x{i}", title=title, content=f"Description number {i} of a distinct product, long enough.")
             for i, title in enumerate(["Zanzibar Spice Grinder", "Zanzibar Spice Rack", "Zanzibar Travel Guide",
                                        "Plain Cotton Towel", "Garden Hose Reel", "Desk Lamp Classic",
                                        "Mountain Bike Pump", "Kitchen Timer Digital"])]
    prepare(make_input(lines), tmp_path / "out", progress=False, val_size=0, test_size=0, k=3,
            absent_share=0, closed_book_share=0)
    row = kinds_of(tmp_path / "out")["x0"]
    assert set(row["context"]) == {"x0", "x1", "x2"}  # the other "Zanzibar" titles, not random ones


def test_a_grounded_row_is_byte_identical_to_the_chat_prompt(tmp_path):
    """Training text of a row == what the chat builds for the same question from the catalog's records."""
    from transformers import AutoTokenizer
    from unsloth.chat_templates import get_chat_template

    from productqa.chat_format import prompt_messages, to_messages
    from productqa.grounded import user_turn
    from productqa.models import bundled_checkpoint
    from productqa.prompts import read_system_prompt
    from productqa.train import render

    source = tmp_path / "trn.json"
    write_records(source, 400, seed=11)
    prepare(source, tmp_path / "out", progress=False)
    catalog = Catalog(tmp_path / "out" / "catalog.sqlite")
    tokenizer = get_chat_template(AutoTokenizer.from_pretrained(bundled_checkpoint(progress=False)), "gemma3")
    system = read_system_prompt()
    rows = [r for r in read_all(tmp_path / "out") if r["kind"] != "closed_book"][:5]
    rows += [r for r in read_all(tmp_path / "out") if r["kind"] in FACT_KINDS and "earlier" in r][:2]
    for row in rows:
        records = [catalog.get(uid) for uid in row["context"]]
        chat_messages = prompt_messages(user_turn(row["question"], records, row.get("earlier")), system)
        assert chat_messages == to_messages(row, system, with_answer=False)
        chat_prompt = tokenizer.apply_chat_template(chat_messages, tokenize=False, add_generation_prompt=True)
        training_text = tokenizer.bos_token + render([row], tokenizer, system)[0]
        assert training_text == chat_prompt + row["conversations"][1]["value"] + "<end_of_turn>"


@pytest.mark.parametrize("kwargs, message", [
    (dict(k=0), "--k"),
    (dict(absent_share=0.7, closed_book_share=0.5), "--absent-share"),
])
def test_bad_row_mix_is_one_sentence(make_input, tmp_path, kwargs, message):
    with pytest.raises(UserError, match=message):
        prepare(make_input([record()]), tmp_path / "out", progress=False, **kwargs)


def test_an_output_folder_that_is_a_file_is_one_sentence(make_input, tmp_path):
    taken = tmp_path / "out"
    taken.write_text("mine")
    with pytest.raises(UserError, match="--out .* is a file, not a folder"):
        prepare(make_input([record()]), taken, progress=False)
    with pytest.raises(UserError, match="cannot create the output folder"):
        prepare(make_input([record()]), taken / "below", progress=False)
    assert taken.read_text() == "mine"


def test_a_failed_run_keeps_the_last_good_output(make_input, tmp_path):
    out = tmp_path / "out"
    prepare(make_input([record()]), out, progress=False)
    before = {name: (out / name).read_bytes() for name in OUTPUTS}
    with pytest.raises(UserError, match="no records"):
        prepare(make_input([""], name="empty.json"), out, progress=False)
    with pytest.raises(UserError, match="no usable record"):
        prepare(make_input([record(content="")], name="junk.json"), out, progress=False)
    assert {name: (out / name).read_bytes() for name in OUTPUTS} == before


def test_the_script_keeps_its_outputs_and_meta_on_a_full_disk_or_an_empty_input(tmp_path, monkeypatch, capsys):
    script = load_script("01_prepare.py")
    source = tmp_path / "trn.json"
    write_records(source, 300, seed=2)
    script.main(["--input", str(source), "--out", str(tmp_path / "out"), "--workers", "1"])
    kept = [*OUTPUTS, "meta.json"]
    before = {name: (tmp_path / "out" / name).read_bytes() for name in kept}

    def full(self, data, kind):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.folder / kind))

    monkeypatch.setattr("productqa.prepare.Parts.put", full)
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--input", str(source), "--out", str(tmp_path / "out"), "--workers", "1", "--seed", "7"])
    assert exit_info.value.code == 2
    assert "error: the disk is full (No space left on device writing " in capsys.readouterr().err
    assert before == {name: (tmp_path / "out" / name).read_bytes() for name in kept}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(kept)  # no temporary file left
    monkeypatch.undo()
    (tmp_path / "empty.json").write_text("\n")
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--input", str(tmp_path / "empty.json"), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and "has no records" in capsys.readouterr().err
    assert before == {name: (tmp_path / "out" / name).read_bytes() for name in kept}


# --- the fast paths of 01_prepare give what the plain definitions give -----------------------------
import random  # noqa: E402
import string  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402

import numpy as np  # noqa: E402

from productqa.data import parse_fields, parse_line  # noqa: E402
from productqa.files import json_line  # noqa: E402
from productqa.prepare import title_words  # noqa: E402
from productqa.raft import MAX_POSTINGS, SPLIT_CODES, Distractors, Product, RowFormat, escaped, make_row  # noqa: E402
from productqa.raft import same_title_groups  # noqa: E402


def test_parse_fields_gives_parse_lines_reasons():
    lines = [b'{"uid": "a", "title": "t", "content": "c", "x": [1, {"y": null}]}',
             b'{"uid":"a","uid":"b","title":"t","content":"c"}',  # the last one wins
             b'{"uid": "a", "title": "\\ud800", "content": "c"}',  # msgspec refuses lone surrogates
             b'{"uid": "a", "title": "t", "content": "c", "x": NaN}',  # and NaN
             b'{"uid": "a", "title": "t\tx", "content": "c"}',
             b'{"uid": "a", "title": "t", "content": "c", "x": "\xff"}',  # bad UTF-8 in a field msgspec skips
             b'{"uid": "a", "title": "t", "content": null}', b'{"uid": "a", "title": "t"}', b"[1]", b'"s"', b"",
             b'\xef\xbb\xbf{"uid": "a", "title": "t", "content": "c"}\r',
             b' {"uid": "a", "title": "t", "content": "c"} ',
             b'{"uid": "a", "title": "t", "content": "c"} x', b'{"uid": "a", "title": "t", "content": "\\u00e9\\/"}',
             b'{"uid": 1, "title": "t", "content": "c"}', b'{"uid": "a", "title": "t", "content": "c", "x": 1e999}']
    for line in lines:
        record, reason = parse_line(line)
        expected = reason if record is None else (record["uid"], record["title"], record["content"])
        assert parse_fields(line) == expected, line


def test_title_words_match_normalize_title():
    rng = random.Random(0)
    alphabet = string.printable + "&'`"
    titles = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(20000)]
    titles += ["Salt & Pepper's Café", "the THE the", "Mog`s   Christmas!", "東京 Tokyo"]
    for title in titles:
        assert title_words(title) == " ".join(dict.fromkeys(normalize_title(title).split())), title


def test_row_format_is_json_line_of_make_row():
    rng = random.Random(1)
    alphabet = ['"', "\\", "\n", "\t", "\x01", "\x1f", "\u2028", "é", "“", "\ue0000\ue001", "{title}", "a", " ", "}"]
    text = lambda: "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))  # noqa: E731
    fmt = RowFormat()
    for _ in range(500):
        product = Product(text(), text(), text())
        context = [Product(text(), text(), text()) for _ in range(rng.randint(0, 4))]
        at = rng.randint(0, len(context))
        for kind in KINDS:
            answered = kind in ANSWERED
            shown = None if kind == "closed_book" else context[:at] + [product] + context[at:] if answered else context
            number = at + 1 if answered else 0
            question, earlier = "Q " + text(), "E " + text() if kind == "followup" else None
            expected = json_line(make_row(product, question, kind, shown, number or None, earlier)).encode()
            if answered:  # the answer cites the product's place among the records shown
                assert expected.rstrip(b"\n").endswith(f' [{number}]"}}]}}'.encode())
            got = fmt.line(kind, [escaped(x) for x in product], escaped(question),
                           None if shown is None else [[escaped(x) for x in record] for record in shown], number,
                           escaped(earlier) if earlier is not None else b"")
            assert got == expected


class _PlainDistractors:
    """The distractor search as first written (dicts of words), to check Distractors against."""

    def __init__(self, norms, splits):
        self.norms, self.splits = norms, splits
        self.words = [tuple(dict.fromkeys(norm.split())) for norm in norms]
        self.df = Counter(word for words in self.words for word in words)
        self.postings = defaultdict(list)
        for i, words in enumerate(self.words):
            for word in words:
                if 2 <= self.df[word] <= MAX_POSTINGS:
                    self.postings[word].append(i)
        self.train = [i for i, split in enumerate(splits) if split == "train"]

    def eligible(self, gold, other, train_only):
        return self.norms[other] != self.norms[gold] and (not train_only or self.splits[other] == "train")

    def near(self, gold, n, rng):
        train_only, chosen = self.splits[gold] == "train", []
        for word in sorted(self.words[gold], key=lambda w: (self.df[w], w)):
            posting = self.postings.get(word)
            if not posting:
                continue
            start = rng.randrange(len(posting))
            for step in range(len(posting)):
                other = posting[(start + step) % len(posting)]
                if other not in chosen and self.eligible(gold, other, train_only):
                    chosen.append(other)
                    if len(chosen) == n:
                        return chosen
        pool = self.train if train_only else range(len(self.norms))
        for _ in range(20 * n):
            if len(chosen) == n or not pool:
                break
            other = pool[rng.randrange(len(pool))]
            if other not in chosen and self.eligible(gold, other, train_only):
                chosen.append(other)
        return chosen


def test_distractors_choose_as_the_plain_search():
    rng = random.Random(3)
    vocabulary = [f"w{i}" for i in range(40)] + ["common"]
    norms = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 5))) for _ in range(3000)]
    norms += ["common"] * (MAX_POSTINGS + 5)  # a word in too many titles has no posting list
    splits = [rng.choice(["train", "train", "train", "val", "test"]) for _ in norms]
    ids, counts, first = {}, [], {}
    word_ids = []
    for norm in norms:
        words = list(dict.fromkeys(norm.split()))
        counts.append(len(words))
        word_ids += [ids.setdefault(word, len(ids)) for word in words]
    titles = np.array([first.setdefault(norm, i) for i, norm in enumerate(norms)])
    fast = Distractors(np.array([SPLIT_CODES[s] for s in splits], np.uint8), titles, np.array(word_ids, np.uint32),
                       np.array(counts, np.uint32), list(ids))
    plain = _PlainDistractors(norms, splits)
    for gold in range(0, len(norms), 7):
        for n in (1, 2, 3):
            assert fast.near(gold, n, random.Random(gold)) == plain.near(gold, n, random.Random(gold))


def test_same_title_groups_check_colliding_keys():
    titles = ["a b", "c", "a b", "d", "c"]
    keys = np.array([7, 7, 7, 9, 7], dtype=np.uint64)  # "c" collides with "a b"
    assert same_title_groups(keys, lambda i: titles[i]).tolist() == [0, 1, 0, 3, 1]


def test_a_lone_surrogate_is_counted_not_fatal(make_input, tmp_path):
    lines = [record(uid="ok1"),
             '{"uid": "bad", "title": "Bad \\ud800 One", "content": "A long enough description of a thing."}']
    stats = prepare(make_input(lines), tmp_path / "out", progress=False, workers=1)
    assert stats["kept"] == 1 and stats["dropped"] == {"invalid_utf8": 1}


def test_max_records_counts_the_same_whatever_the_workers(tmp_path):
    source = tmp_path / "trn.json"
    write_records(source, 3000, seed=9)
    one = prepare(source, tmp_path / "a", progress=False, workers=1, max_records=777)
    two = prepare(source, tmp_path / "b", progress=False, workers=2, max_records=777)
    assert one["read"] == two["read"] and one["dropped"] == two["dropped"] and one["kept"] == two["kept"] == 777
    for name in OUTPUTS:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]  # no temporary files left


# --- outputs replaced together, one run at a time; field caps; SIGTERM ------------------------------
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

from tests.conftest import ROOT  # noqa: E402

EVERY_OUTPUT = (*OUTPUTS, "meta.json")


def snapshot(out):
    """Every entry of the folder (hidden ones too) with its bytes."""
    return {p.name: p.read_bytes() if p.is_file() else "folder" for p in sorted(out.iterdir())}


def test_a_folder_where_an_output_goes_changes_nothing(tmp_path, monkeypatch, capsys):
    script = load_script("01_prepare.py")
    source, out = tmp_path / "trn.json", tmp_path / "out"
    write_records(source, 300, seed=2)
    script.main(["--input", str(source), "--out", str(out), "--workers", "1"])
    (out / "catalog.sqlite").unlink()
    (out / "catalog.sqlite").mkdir()  # the run: a traceback, after train/val/test were replaced
    (out / "catalog.sqlite" / "mine.txt").write_text("mine")
    (out / "notes.txt").write_text("the user's own file")
    before = snapshot(out)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--input", str(source), "--out", str(out), "--workers", "1", "--seed", "7"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "catalog.sqlite is a folder" in err and len(err.splitlines()) == 1
    assert snapshot(out) == before

    # a failure after every output is written (here: stats.json) replaces none of them either
    shutil.rmtree(out / "catalog.sqlite")
    script.main(["--input", str(source), "--out", str(out), "--workers", "1"])
    before = snapshot(out)

    def broken(path, obj):
        raise RuntimeError("stats.json cannot be written")

    monkeypatch.setattr("productqa.prepare.write_json", broken)
    with pytest.raises(RuntimeError, match="stats.json cannot be written"):
        script.main(["--input", str(source), "--out", str(out), "--workers", "2", "--seed", "7"])
    assert snapshot(out) == before


def test_outputs_are_replaced_together_with_their_meta(tmp_path, make_input):
    script = load_script("01_prepare.py")
    out = tmp_path / "out"
    script.main(["--input", str(make_input([record(uid="a1")])), "--out", str(out)])
    meta = json.loads((out / "meta.json").read_text())
    assert meta["stats"]["kept"] == 1 and sorted(p.name for p in out.iterdir()) == sorted(EVERY_OUTPUT)
    # outputs made without the script have no meta.json: the last one, which described others, goes
    prepare(make_input([record(uid="b1"), record(uid="b2", title="Another")], name="two.json"), out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)


def test_a_second_run_into_the_same_out_is_refused(tmp_path, monkeypatch, capsys):
    script = load_script("01_prepare.py")
    source, out = tmp_path / "trn.json", tmp_path / "out"
    write_records(source, 300, seed=4)
    started, go_on = threading.Event(), threading.Event()
    add = __import__("productqa.prepare", fromlist=["Collector"]).Collector.add

    def paused_add(self, block):  # the first run waits in pass 1, holding --out
        started.set()
        go_on.wait(30)
        return add(self, block)

    monkeypatch.setattr("productqa.prepare.Collector.add", paused_add)
    first = {}
    thread = threading.Thread(target=lambda: first.update(stats=prepare(source, out, progress=False, workers=1)))
    thread.start()
    try:
        assert started.wait(30)
        monkeypatch.setattr("productqa.prepare.Collector.add", add)
        with pytest.raises(SystemExit) as exit_info:
            script.main(["--input", str(source), "--out", str(out), "--workers", "1", "--seed", "9"])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert f"error: another run is writing into {out} (--out) now" in err and len(err.splitlines()) == 1
    finally:
        go_on.set()
        thread.join(60)
    assert first["stats"]["kept"] > 0 and not (out / "meta.json").exists()  # the first run's outputs, alone
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    script.main(["--input", str(source), "--out", str(out), "--workers", "1"])  # free again once it ended


def test_long_fields_are_capped_and_counted(tmp_path, make_input):
    long_title = "Zanzibar Spice " + " ".join(f"word{i}" for i in range(12_000))  # ~100k characters
    long_text = "A sentence about a spice grinder that goes on. " * 40  # ~1,900 characters
    lines = [record(uid="long", title=long_title, content="A grinder for whole spices, with a ceramic burr."),
             record(uid="text", title="Zanzibar Spice Rack", content=long_text),
             record(uid="x" * 65, title="Zanzibar Spice Tin", content="A tin for spices, with a tight lid on it."),
             *[record(uid=f"z{i}", title=f"Zanzibar Spice Jar {i}", content=f"Jar number {i} for spices, glass.")
               for i in range(8)]]
    stats = prepare(make_input(lines), tmp_path / "out", progress=False, val_size=0, test_size=0,
                    absent_share=0, closed_book_share=0, partial_share=0, followup_share=0)
    rows = [line for line in open(tmp_path / "out" / "train.jsonl", encoding="utf-8")]
    assert max(map(len, rows)) < 4000 and len(product_rows(tmp_path / "out")) == 10  # in several rows' records
    from productqa.prepare import TITLE_CHARS

    assert stats["caps"] == {"title": TITLE_CHARS, "description": 400, "uid": 64}
    assert stats["cut"] == {"title": 1, "description": 1} and stats["dropped"] == {"long_uid": 1}
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["cut"] == stats["cut"]
    catalog = Catalog(tmp_path / "out" / "catalog.sqlite")
    title = catalog.get("long").title
    assert len(title) <= TITLE_CHARS and title.endswith("…") and long_title.startswith(title[:-1])
    assert len(catalog.get("text").description) <= 400
    assert catalog.search(f'Tell me about "{title}"')[0].uid == "long"  # asked by its title, it is found


@pytest.mark.parametrize("to_group", [False, True], ids=["to the process", "to its process group"])
def test_sigterm_cleans_up_as_ctrl_c_does(tmp_path, to_group):
    """A SIGTERM while the workers run: exit 143, the temporary files gone, the last outputs kept; sent
    to the workers too (the process group: `timeout`, a shell's kill -- -PGID), no worker dies holding
    the pool's locks (the run would wait forever)."""
    script = load_script("01_prepare.py")
    out = tmp_path / "out"
    write_records(tmp_path / "small.json", 200, seed=1)
    script.main(["--input", str(tmp_path / "small.json"), "--out", str(out), "--workers", "1"])
    before = snapshot(out)
    write_records(tmp_path / "big.json", 60_000, seed=2)
    env = {**os.environ, "UNSLOTH_SKIP_TORCHVISION_CHECK": "1", "TOKENIZERS_PARALLELISM": "false"}
    run = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "01_prepare.py"), "--input",
                            str(tmp_path / "big.json"), "--out", str(out), "--workers", "2"],
                           stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        err = ""
        while not err.endswith("\n") or not err.splitlines()[-1].startswith("prepare"):  # 10% read: workers run
            line = run.stderr.readline()
            assert line, f"the run ended before its first progress line: {err}"
            err += line
        if to_group:
            os.killpg(run.pid, signal.SIGTERM)
        else:
            run.send_signal(signal.SIGTERM)
        err += run.communicate(timeout=60)[1]
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 143 and err.endswith("\nterminated\n") and "Traceback" not in err, err
    assert snapshot(out) == before  # no staging folder, no temporary file, the last outputs as they were
