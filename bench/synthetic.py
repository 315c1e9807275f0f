"""Made-up catalog records in the AmazonTitles schema, with the real file's quirks.

Used by the hostile-input tests (tests/test_prepare.py) and the full-size benchmarks (bench/): it
lives outside the package because nothing in productqa uses it. Every word is ours: titles and
descriptions are composed from small vocabularies below. Proportions follow the real file (docs/stages.md,
"The real dataset"): ~39% of rows are empty, near-empty or duplicates; ~54% have 100+ chars.
"""
from __future__ import annotations

import json
import random

_ADJ = ["Silent", "Crimson", "Hidden", "Last", "Northern", "Quiet", "Broken", "Golden", "Restless", "Distant",
        "Little", "Wild", "Forgotten", "Bright", "Iron", "Paper", "Salt", "Winter", "Hollow", "Painted"]
_NOUN = ["Harbor", "Garden", "Orchard", "Lantern", "River", "Kingdom", "Atlas", "Compass", "Meadow", "Tide",
         "Workshop", "Kitchen", "Frontier", "Signal", "Archive", "Island", "Engine", "Choir", "Valley", "Ledger"]
_PEOPLE = ["a retired lighthouse keeper", "two estranged sisters", "a young cartographer", "a small-town baker",
           "a stubborn botanist", "an orphaned clockmaker", "a weary detective", "a traveling violinist"]
_PLACES = ["coastal Maine", "the Scottish highlands", "a village in Minas Gerais", "post-war Vienna",
           "the Sonoran desert", "a river town in Ohio", "Lisbon in the 1920s", "a research station in Antarctica"]
_TOPICS = ["sourdough baking", "beginner woodworking", "container gardening", "watercolor landscapes",
           "personal finance", "bird watching", "home espresso", "trail running", "Portuguese cooking"]
_MATERIALS = ["stainless steel", "bamboo", "cast iron", "recycled plastic", "walnut", "silicone", "ceramic"]
_GADGETS = ["Kettle", "Cutting Board", "Skillet", "Water Bottle", "Desk Lamp", "Storage Set", "Garden Trowel"]
_BRANDS = ["Norvale", "Kestrel & Co", "Alderwick", "Brightfield", "Tamsin", "Oakhurst", "Quillon"]
_FORMATS = ["Hardcover", "Paperback", "Kindle", "Audio CD", "Mass Market Paperback"]
_PRAISE = ["&ldquo;Unforgettable.&rdquo;", "&#8220;A quiet triumph.&#8221;", "&#x201C;Sharp and funny.&#x201D;",
           "&quot;Impossible to put down.&quot;"]


def _novel(rng: random.Random) -> tuple[str, str]:
    title = rng.choice(["The {a} {n}", "{a} {n}", "A {n} for the {a}", "The {n} of {a} Hill"]).format(
        a=rng.choice(_ADJ), n=rng.choice(_NOUN))
    if rng.random() < 0.4:
        title += ": A Novel"
    who, where = rng.choice(_PEOPLE), rng.choice(_PLACES)
    body = (f"Set in {where}, this novel follows {who} whose ordinary life is upended by a letter that "
            f"arrives thirty years too late. As the secrets of the {rng.choice(_NOUN).lower()} surface, "
            f"old loyalties are tested and a long-buried promise must finally be kept. "
            f"{rng.choice(_PRAISE)} It is a story about memory, forgiveness and the places we call home.")
    return title, body


def _guide(rng: random.Random) -> tuple[str, str]:
    topic = rng.choice(_TOPICS)
    title = f"{rng.choice(['The Complete Guide to', 'Getting Started with', 'Everyday'])} {topic.title()}"
    steps = rng.randint(20, 120)
    body = (f"A practical, illustrated handbook on {topic} for readers with no experience. "
            f"The author walks through {steps} step-by-step projects, explains the tools you really need "
            f"and the mistakes beginners make most often, and ends each chapter with a checklist. "
            f"<br/><b>Inside you&#8217;ll find:</b><ul><li>clear photographs</li><li>a glossary</li></ul>")
    return title, body


def _gadget(rng: random.Random) -> tuple[str, str]:
    material, gadget, brand = rng.choice(_MATERIALS), rng.choice(_GADGETS), rng.choice(_BRANDS)
    size = rng.choice(["1.7 L", "12 inch", "750 ml", "3-piece", "Large", "Compact"])
    title = f"{brand} {size} {material.title()} {gadget}"
    body = (f"The {brand} {gadget.lower()} is made of {material} and built for daily use. "
            f"It is dishwasher safe, weighs less than you would expect, and comes with a two-year warranty. "
            f"Dimensions: {rng.randint(5, 40)} x {rng.randint(5, 40)} cm. Caf&eacute;-quality results at home.")
    return title, body


def _music(rng: random.Random) -> tuple[str, str]:
    title = f"{rng.choice(_NOUN)}s &amp; {rng.choice(_NOUN)}s"
    body = (f"The {rng.choice(['second', 'third', 'debut'])} album from a folk quartet recorded live in "
            f"{rng.choice(_PLACES)}: {rng.randint(9, 14)} songs of fiddle, accordion and close harmony, "
            f"with liner notes in English and Portugu&ecirc;s.")
    return title, body


_KINDS = [_novel, _novel, _guide, _gadget, _music]


def _quirk_description(rng: random.Random, body: str) -> str:
    """Dress a clean description the way the real file does, sometimes."""
    roll = rng.random()
    if roll < 0.15:
        body += f" --This text refers to the {rng.choice(_FORMATS)} edition."
    elif roll < 0.20:
        body += " --This text refers to an out of print or unavailable edition of this title."
    if rng.random() < 0.10:
        body = body.replace("&", "&amp;")  # escaped twice
    if rng.random() < 0.10:
        body = f"<p>{body}</p>"
    if rng.random() < 0.05:
        body = body.replace(" ", "  ", 3) + "\u00a0\u200b"
    return body


def make_records(n: int, seed: int = 0, unique_titles: bool = False):
    """Yield n records in the real schema: good ones, near-empty ones, junk and duplicates.

    Titles from the small vocabularies collide now and then, as real ones do; `unique_titles` adds a
    volume number so that a multi-million-row benchmark file is not almost all duplicates.
    """
    rng = random.Random(seed)
    previous: list[dict] = []
    for i in range(n):
        uid = f"{rng.randint(10**9, 10**10 - 1):010d}" if rng.random() < 0.5 else f"B00{rng.randint(0, 16**7):07X}"
        title, body = rng.choice(_KINDS)(rng)
        title = f"{title} ({rng.choice(_FORMATS)})" if rng.random() < 0.3 else title
        if unique_titles:
            title = f"{title}, Vol. {i}"
        roll = rng.random()
        if roll < 0.27:
            content = ""  # most junk in the real file is simply empty
        elif roll < 0.31:
            content = rng.choice([" ", "N/A", "...", "&nbsp;", "<br>", "-", "1234567890 1234567890 12345"])
        elif roll < 0.35:
            content = body.split(". ")[0][:60]  # one short line
        elif roll < 0.39 and previous:
            dup = rng.choice(previous)
            title, content = dup["title"], dup["content"]
        else:
            content = _quirk_description(rng, body)
            if rng.random() < 0.25:
                content += " " + " ".join(_quirk_description(rng, rng.choice(_KINDS)(rng)[1]) for _ in range(2))
        record = {"uid": uid, "title": title, "content": content,
                  "target_ind": sorted(rng.sample(range(2_000_000), 3)),
                  "target_rel": [round(rng.random(), 4) for _ in range(3)]}
        if content and len(previous) < 200:
            previous.append(record)
        yield record


def to_line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=True)


def write_records(path, n: int, seed: int = 0, unique_titles: bool = False) -> None:
    """Write n records as JSON Lines; a path ending in .gz is gzip-compressed (fast level)."""
    import gzip
    from pathlib import Path

    path = Path(path)
    opener = (lambda: gzip.open(path, "wt", encoding="utf-8", compresslevel=1)) if path.suffix == ".gz" \
        else (lambda: open(path, "w", encoding="utf-8"))
    with opener() as handle:
        for record in make_records(n, seed, unique_titles):
            handle.write(to_line(record) + "\n")


if __name__ == "__main__":
    # Regenerates the committed sample: python -m productqa.synthetic data/sample/trn.json 400
    import sys

    write_records(sys.argv[1], int(sys.argv[2]), seed=int(sys.argv[3]) if len(sys.argv) > 3 else 7)
