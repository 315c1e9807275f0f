#!/usr/bin/env python3
"""Write data/sample/trn.json, the bundled sample catalog: 520 made-up records shaped like real ones.

Why: the tests, the demo and a first training run read this file instead of the 1.3M-record download,
so it should teach what real AmazonTitles records need, not tidy one-line blurbs. Every title, name,
place, publication, product and sentence is invented here; only proportions were measured, on 527
real records kept outside the repository. Those followed (of descriptions that are not blank):
~10% under 100 characters, ~55% of 400 or more, median ~450, a long tail to 5,000+; about a quarter
review quotes attributed to publications (straight or entity quotes), a fifth to a quarter author
biographies (some glued: "...Arts.Jane Doe is"), the rest synopses, trade reviews with a copyright
line, excerpts, prefaces and publisher blurbs, plus ~15% non-books; ~20% ending "--This text refers
to ... edition"; ~15% numeric HTML entities, ~5% named ones; ~8% repeating another title's
description. Titles: mean ~40 characters, ~38% with a colon subtitle, ~20% with a parenthesized series
or edition, ~20% of 1-3 words; a few shared by different products; look-alike uids. Junk as in the
full file: ~30% rows with empty or blank content, short filler, descriptions equal to the title,
repeated rows.

Standard library only and seeded: every run writes the same bytes (a temporary file, then renamed).

    python data/sample/make_sample.py
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import re
import tempfile
from pathlib import Path

SEED = 20240611
OUT = Path(__file__).resolve().parent / "trn.json"
LABELS = 1_305_265  # target_ind values are label ids below this

R = random.Random(SEED)


def pick(seq):
    return R.choice(seq)


def chance(p: float) -> bool:
    return R.random() < p


def weighted(pairs):
    """pairs: [(value, weight), ...] -> one value."""
    values, weights = zip(*pairs)
    return R.choices(values, weights)[0]


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                "fifteen sixteen seventeen eighteen nineteen twenty").split()
ORDINALS = "first second third fourth fifth sixth seventh eighth ninth tenth".split()

# --- people, places, publications (all invented) ----------------------------------------------------
FEMALE = ("Margaret Ellen Ruth Harriet Clara Nadia Imogen Tessa Miriam Josephine Freya Alice Rosalind "
          "Beatrix Hannah Leonie Maud Priya Sabine Delia Wren Agnes Corinne Isla Juniper Martha Opal Petra "
          "Sylvie Vera Lorna Bridget Esme Honor Ines Keziah Lydia Noor Philippa Thea").split()
MALE = ("Thomas Ewan Callum Henry Jonah Rafael Arthur Desmond Felix Gideon Hugo Ivor Jasper Laurence "
        "Malcolm Niall Oliver Rupert Silas Tobias Walter Ansel Bram Cedric Dorian Emrys Linus Marek Otis "
        "Reuben Alasdair Barnaby Crispin Duncan Edmund Fergus Idris Kit Leopold Matthias").split()
SURNAMES = ("Pellowe Ambry Carrow Thistlewood Hesketh Quennell Voss Lindqvist Okafor Brannagh Castellane "
            "Dunmore Everard Fairbairn Gillow Haverley Ingleby Jessop Kettering Lomax Merriweather Ormerod "
            "Penhallow Quarrie Rosseter Saltonstall Trevarrow Underhill Vane Whitlock Yardley Abernethy "
            "Blackmore Corrigan Delacourt Farrant Garside Holloway Kinsella Mallory Northcote Oakes Prideaux "
            "Redfern Stanhope Tallis Wetherby Nakamura Ferreira Kowalczyk Rahman Haddad Moreau Szabo Castillo "
            "Brennan Achterberg Ashdown Birtwistle Cardew Dalloway Eskdale Fennimore Grainger Hartigan "
            "Iredale Jolliffe Kemble Lusk Maddox Nettleship Onslow Pascoe Rainbird Sowerby Truscott "
            "Venables Wragg").split()
TOWN_HEADS = ("Tallow Brack Quill Marrow Pell Thistle Corran Vell Rook Orrin Hallow Saltern Fennel Gorse "
              "Linnet Mallow Skerry Yarrow Heron Cinder Bramble Plover Teasel Wherry").split()
TOWN_TAILS = "mere ford wick combe haven stead holm bury ness field cross moor bridge dale".split()
REGIONS = ["the Marrow Valley", "the Tarrant Hills", "the Orrin Coast", "the Skerry Isles", "the Gorse Downs",
           "the Vellan Fens", "the High Linnet", "Upper Brackendale", "the Saltern Flats", "the Calloway Lakes",
           "the Cinder Moors", "the Wherry Estuary"]
CITIES = ["Port Callow", "Eastharrow", "Castlebrook", "New Tallis", "Kingsmere", "Saltern Bay", "Halloway Cross",
          "Ambry Falls", "Lanterwick", "Greyhaven"]
RIVERS = ["Orrin", "Tarrant", "Vell", "Linnet", "Skerrow", "Marle"]
UNIVERSITIES = ["the University of Eastharrow", "Castlebrook College", "the Tallis Institute of Art",
                "Port Callow University", "the Kingsmere School of Music", "Greyhaven Polytechnic",
                "the Royal College of Lanterwick"]
PAPERS = ["The Calder Herald", "Westmoor Gazette", "The Pinecrest Review of Books", "Lamplight Magazine",
          "The Brightwater Examiner", "Harbour Lights Weekly", "The Sunday Almanac", "Quill & Lantern",
          "The Northfield Courier", "Readers' Hearth", "The Evening Beacon", "Bookwise Monthly",
          "The Tallis Chronicle", "Fenland Life", "Country Kitchen Quarterly", "Little Readers Review",
          "The Orrin Coast Post", "Parents at Home", "Junior Bookshelf Today", "Crafting Hands",
          "The Garden Gate", "Trail & Tide", "The Modern Thinker", "The Linden Library Monthly",
          "Castlebrook Evening Star", "The Kingsmere Advertiser", "Weekend Reader", "Hearth & Home"]
PUBLISHERS = ["Foxglove Press", "Halyard Books", "Tamarind House", "Bellwether & Lowe", "Quillon Educational",
              "Greyfriars Lane", "Marrow Lane Books", "Ninefold Children's Books", "Lanternwick Publishing",
              "Stormpetrel Press", "Inkwell & Oak", "Brightwater University Press", "Copperbeech",
              "Thimble Books", "Saltern House"]
AWARDS = ["the Linnet Prize for First Fiction", "the Harbourside Book Award", "the Copper Quill",
          "the Orrin Coast Prize", "the Golden Trowel",
          "the Castlebrook Prize for History", "the Kingsmere Crime Writers' Dagger", "the Lantern Award"]
RADIO = ["Radio Orrin's Morning Table", "the Castlebrook Book Hour", "Kingsmere FM's Gardeners' Phone-In",
         "the Sunday Shelf podcast"]
JOBS = ["nurse", "ferry pilot", "barrister", "schoolteacher", "bookseller", "sheep farmer", "journalist",
        "piano tuner", "lighthouse keeper", "vet", "archivist", "harbour master",
        "police officer", "translator", "chef", "clockmaker", "museum curator", "bus driver", "midwife",
        "boat builder"]
FAMILY_F = ["her husband and two teenage sons", "her partner, a potter, and an elderly spaniel",
            "her husband and far too many hens", "her wife and their twin daughters", "her family",
            "her husband, three children and a bad-tempered cat", "her partner and a garden full of bees"]
FAMILY_M = ["his wife and three children", "his partner and a very old tortoise", "his wife, a cellist",
            "his husband and two rescue greyhounds", "his family", "his wife and their youngest son"]
HOBBIES = ["walking the cliff path with a notebook", "in the allotment", "sea swimming, whatever the weather",
           "playing the fiddle badly in the local pub", "restoring an old wooden boat", "at the kitchen table"]


def a_an(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def town() -> str:
    return pick(TOWN_HEADS) + pick(TOWN_TAILS)


class Person:
    def __init__(self, gender: str | None = None):
        self.g = gender or pick("fm")
        self.first = pick(FEMALE if self.g == "f" else MALE)
        self.last = pick(SURNAMES)
        if chance(0.08):
            self.first = f"{self.first} {pick('ABCDEFGHJKLMNPRSTW')}."
        self.name = f"{self.first} {self.last}"

    def slots(self, prefix: str) -> dict:
        sub, obj, pos = ("she", "her", "her") if self.g == "f" else ("he", "him", "his")
        return {prefix: self.name, f"{prefix}_child": "daughter" if self.g == "f" else "son",
                f"{prefix}_widow": "widow" if self.g == "f" else "widower", f"{prefix}_first": self.first.split()[0],
                f"{prefix}_last": self.last,
                f"{prefix}_sub": sub, f"{prefix}_Sub": cap(sub), f"{prefix}_obj": obj,
                f"{prefix}_pos": pos, f"{prefix}_Pos": cap(pos),
                f"{prefix}_family": pick(FAMILY_F if self.g == "f" else FAMILY_M)}


# An italicized title inside a description: the markers become nothing, or take the spaces around them
# with them ("after 2004'sThe Tin Orchard(2004)"), as the real catalog's lost <i> tags did.
I0, I1 = "\x01", "\x02"


def ital(title: str) -> str:
    return f"{I0}{title}{I1}"


# --- titles -----------------------------------------------------------------------------------------
T_ADJ = ("Salt Winter Hollow Silent Glass Iron Paper Lantern Last Drowned Amber Bitter Crooked Distant "
         "Forgotten Gilded Hidden Lonely Midnight Quiet Scarlet Silver Sleeping Tidal Unquiet Wild Broken "
         "Burning Copper Painted Borrowed Narrow").split()
T_NOUN = ("Orchard Loom Harbour Lighthouse Key Ledger Bridge Ferryman Clockmaker Inheritance Weather Tide "
          "Chapel Cartographer Glasshouse Season Archive Nightjar Letters Shore Hours Daughter Apprentice "
          "Map Bell Fox Well Choir Kingdom Lamplighter Boathouse Widow Signal Almanac").split()
ONE_WORD = ("Tidewrack Ember Undertow Brambles Hushwater Kindling Driftwood Saltmarsh Thaw Lodestar Wildfell "
            "Nettlebed Greywater Foxfire Larkrise Mooring Sparrowgrass Windfall").split()
ANIMALS = ["Badger", "Hedgehog", "Otter", "Mole", "Puffin", "Hare", "Owl", "Tortoise", "Goose", "Squirrel",
           "Walrus", "Dormouse", "Penguin", "Crocodile"]
KID_NAMES = ["Pip", "Mo", "Bramble", "Tilly", "Nell", "Otto", "Dot", "Fizz", "Juno", "Sprout", "Bo", "Winnie"]
SERIES_FICTION = ["The Tarrant Chronicles", "Skerry Isles Saga", "Inspector Quarrie", "The Glasswright Cycle",
                  "Marrow Valley Romances", "Harbour Street", "The Lampwick Trilogy"]
SERIES_NONFIC = ["Halyard Brush Basics", "Weekend Maker", "Pocket Naturalist", "Foxglove Kitchen Library",
                 "Copperbeech Field Guides", "Stormpetrel Walking Guides", "Inkwell Language Made Easy",
                 "Halyard 20-Minute Sketching", "Tamarind Essentials"]
SERIES_BY_KIND = {"cookbook": ["Foxglove Kitchen Library", "Tamarind Essentials"], "garden": ["Weekend Maker",
                                                                                              "Tamarind Essentials"],
                  "craft": ["Halyard Brush Basics", "Halyard 20-Minute Sketching", "Weekend Maker"],
                  "walking": ["Stormpetrel Walking Guides"], "nature": ["Pocket Naturalist", "Copperbeech Field Guides"],
                  "language": ["Inkwell Language Made Easy"]}
EDITIONS = ["2nd Edition", "3rd Edition", "4th Edition", "5th Edition", "Revised Edition", "Large Print Edition",
            "Anniversary Edition", "Illustrated Edition"]


def novel_base() -> str:
    form = R.random()
    if form < 0.3:
        return pick(ONE_WORD + ["The " + w for w in T_NOUN] + [f"{a} {n}" for a, n in zip(T_ADJ, T_NOUN)])
    if form < 0.42:
        return f"The {pick(T_ADJ)} {pick(T_NOUN)}"
    if form < 0.54:
        return f"The {pick(T_NOUN)} of {town()}"
    if form < 0.62:
        return f"{pick(FEMALE + MALE)}'s {pick(T_NOUN)}"
    if form < 0.72:
        return pick(["What the {n} Knew", "Before the {n}", "After the {n}", "Under the {a} {n}",
                     "Beyond the {a} {n}"]).format(n=pick(T_NOUN), a=pick(T_ADJ))
    if form < 0.80:
        return f"The {town()} {pick(['Letters', 'Affair', 'Inheritance', 'Girls', 'Murders', 'Crossing'])}"
    if form < 0.90:
        return f"A {pick(['Winter', 'Summer', 'House', 'Death', 'Song', 'Light'])} in {town()}"
    return f"{pick(T_ADJ)} {pick(['Water', 'Ground', 'Country', 'Hours', 'Bones', 'Hearts'])}"


GENRES = ["mystery", "thriller", "romance", "historical", "fantasy", "literary"]
GENRE_SUBTITLES = {
    "mystery": ["A {town} Mystery", "An Inspector {last} Mystery", "A Novel of Suspense", "A Murder Mystery",
                "The {ordinal_cap} {town} Mystery", "A Detective Inspector {last} Investigation"],
    "thriller": ["A Thriller", "A Novel", "A {last} Thriller",
                 "A Gripping Psychological Thriller with a Twist You Won't See Coming",
                 "The Unputdownable New Thriller from the Author of {prev}"],
    "romance": ["A {town} Romance", "A Novel", "A Feel-Good Story of Second Chances", "A Christmas Romance",
                "An Uplifting Summer Read", "Escape to the Little Tea Room at {town}"],
    "historical": ["A Novel of {region_bare}, {year}", "A Novel", "A {town} Family Saga",
                   "The {last} Saga, Part {n}"],
    "fantasy": ["Book {nw} of the {series}", "The {series}, Volume {n}", "A Novel"],
    "literary": ["A Novel", "Stories", "A Novel in Three Parts", "A Novel of Love, Loss and the Sea",
                 "Twelve Stories of Love and Leaving"],
}


def novel_title(genre: str, author: Person) -> tuple[str, str, str | None]:
    """(title, main title, series or None)."""
    base = novel_base()
    series = None
    form = R.random()
    if form < 0.45:
        sub = pick(GENRE_SUBTITLES[genre])
        series = pick(SERIES_FICTION) if "{series}" in sub else None
        sub = sub.format(town=town(), last=pick(SURNAMES), region_bare=pick(REGIONS).replace("the ", ""),
                         year=R.randint(1790, 1950), n=R.randint(2, 5), nw=cap(NUMBER_WORDS[R.randint(2, 4)]),
                         ordinal_cap=cap(pick(ORDINALS[:6])), prev=novel_base(),
                         series=series)
        if not series and chance(0.12):
            series = pick(SERIES_FICTION)
            return f"{base}: {sub} ({series}, Book {R.randint(1, 6)})", base, series
        return f"{base}: {sub}", base, series
    if form < 0.54:
        series = pick(SERIES_FICTION)
        n = R.randint(1, 7)
        forms = [f"{base} ({series}, Book {n})", f"{base} ({series} #{n})", f"{base} ({series} Book {n})"]
        return pick(forms), base, series
    if form < 0.58:
        return f"{base} ({pick(EDITIONS)})", base, None
    if form < 0.65:
        return f"{base}. {author.name}", base, None  # the real catalog glues some authors on
    return base, base, None


# --- quotes, bios and the pieces around them ---------------------------------------------------------
QUOTES_NOVEL = [
    "A gripping read.", "Funny, wise and quietly heartbreaking.",
    "{au_last} has written the book of the season.", "I could not put it down, and I resented every interruption.",
    "Beautifully observed and deeply felt.", "A novel of rare warmth and intelligence.",
    "Tense, clever and very hard to put down.", "{au_last} writes about grief with honesty and unexpected humour.",
    "The plotting is immaculate and the ending is a genuine surprise.", "As comforting as a fire on a wet afternoon.",
    "Atmospheric, unsettling and utterly absorbing.", "A story that stays with you long after the last page.",
    "Sharp, tender and full of life.", "Few writers capture small-town life as precisely as {au_last}.",
    "Rich in period detail without ever feeling like a history lesson.",
    "The dialogue crackles, and the characters feel like people you have known for years.",
    "{au_Pos} best yet.", "Marvellously strange and strangely moving.", "Pure pleasure from start to finish.",
    "Written with the confidence of a born storyteller.", "Exactly the book I needed this winter.",
    "A thriller with a heart, and a heart that beats fast.", "Elegant, eerie and impossible to forget.",
    "Lovely.", "Wonderfully readable.", "You will want to press it on everyone you know.",
    "I stayed up until two in the morning to finish it, and I regret nothing.",
    "{au_last} is the real thing: a writer who trusts the reader.", "Dark, witty and wholly original.",
    "An absolute joy.", "The kind of novel that makes you miss your stop on the train.",
    "Every sentence earns its place.", "Cosy on the surface and razor-sharp underneath.",
    "If you read one historical novel this year, make it this one.", "Unputdownable... and then some.",
    "Reading {au_last} is like being told a secret by an old friend.", "Bold, big-hearted and beautifully made.",
    "The suspense builds like weather over the sea.", "A romance with real wit and real feeling.",
    "Magic with consequences, and characters worth caring about.",
    "Nobody writes about {region} the way {au_last} does.", "I laughed, I cried, I missed my bus.",
    "A wonderfully wicked plot, told with enormous charm.", "Quietly devastating.",
    "{au_last} has a gift for the telling detail and the unexpected kindness.",
    "The most satisfying ending I have read in years.", "Heart-warming without a grain of sugar.",
    "Clever, compassionate and gripping to the very last line.", "An irresistible, big-hearted story.",
    "The sense of place is extraordinary: you can smell the salt and hear the gulls.",
    "A haunting, hypnotic book.", "Brilliantly plotted and beautifully written.",
    "This is storytelling of the highest order.", "Like the best kind of holiday, it is over far too soon.",
    "{au_last} keeps the reader guessing until the final chapter.", "Deliciously creepy.",
    "An unusually intelligent thriller.", "A love letter to {town} and everyone in it.",
    "Full of wit, warmth and wisdom.", "A writer in full command of {au_pos} craft.",
    "Thoughtful, funny and very moving.", "Joyful, generous and wise.", "Addictive.",
    "The characters walk off the page and into your life.", "I have not been so gripped by a story in a long time.",
    "One of the most original voices of {au_pos} generation.", "Shimmering, sad and beautiful.",
    "A wonderful, escapist read.", "A triumph.", "Unsettling in all the right ways.",
]
QUOTES_NONFICTION = [
    "Clear, practical and never dull.", "The only book on the subject most readers will ever need.",
    "Packed with ideas I have already tried at home.",
    "Generous, knowledgeable and beautifully photographed.", "Friendly, reassuring and full of good sense.",
    "An indispensable guide for beginners and old hands alike.",
    "{au_last} explains difficult things simply, which is much harder than it looks.",
    "Meticulously researched and a pleasure to read.", "I wish this book had existed when I started.",
    "Inspiring and refreshingly honest.",
    "Wise, warm and quietly radical.",
    "Authoritative without ever being stuffy.", "The best introduction to the subject I know.",
    "A treasure trove.", "Full of the kind of detail only decades of experience can give.",
    "Brisk, witty and extremely useful.", "I have given it to three friends already.",
    "Instructions so clear that a nervous beginner can follow them.", "Lively, generous and crammed with good advice.",
    "{au_last} is the friend every beginner needs.",
    "Scholarly and readable at once: a rare combination.", "Bursting with ideas.", "Practical, inspiring, essential.",
    "It will change the way you look at {region}.", "Thorough, sensible and wonderfully unfussy.",
    "Even the most experienced will learn something new.", "A handsome and useful book.",
    "The photographs alone are worth the price.", "Proof that a useful book can also be a beautiful one.",
    "The best book on the subject for a generation.", "Every page has something worth knowing.",
]
QUOTES_BY_KIND = {
    "cookbook": ["Every recipe I cooked worked first time.", "A gorgeous book to cook from and a pleasure to read.",
                 "I want to cook everything in it, starting tonight.", "Comfort food at its very best.",
                 "The kind of cookbook that ends up splattered, dog-eared and much loved.",
                 "Simple, seasonal and utterly delicious."],
    "craft": ["The step-by-step photographs make even the tricky parts easy to follow.",
              "My first finished piece looked like the picture.",
              "Encouraging, patient and full of clever tricks."],
    "garden": ["A book to keep by the back door and take out in all weathers.", "My borders have never looked better.",
               "Down-to-earth advice from someone who clearly gardens every day."],
    "walking": ["A book to keep in the rucksack and take out in all weathers.",
                "The directions are clear even in the fog.",
                "We have walked twelve of the routes so far and not got lost once."],
    "history": ["A gripping story, told with scholarship and flair.",
                "It brings the past vividly, sometimes painfully, to life.",
                "Essential reading for anyone who lives in {region}."],
    "nature": ["The illustrations are exquisite and accurate.", "It has never left my coat pocket.",
               "Perfect for families and beginners."],
    "poetry": ["Poems of rare music and precision.", "Every poem rewards a second reading.",
               "A wise, tender and unflinching collection."],
}
QUOTES_CHILDREN = [
    "Children will ask for it again and again.", "A perfect bedtime story, with pictures to pore over.",
    "Gentle, funny and full of warmth.", "My four-year-old laughed out loud on every page.",
    "Bright, bouncy pictures and a text that begs to be read aloud.", "A delightful first story about friendship.",
    "Pure joy for small readers and the grown-ups who read to them.", "Funny, clever and very kind.",
    "An instant classic for the nursery shelf.", "Young readers will cheer for {kid}.",
    "Adventure, jokes and a hero you can't help loving.", "Perfect for newly confident readers.",
    "A joyful read-aloud with a lovely twist at the end.", "Warm, witty pictures full of tiny details.",
    "Every child who has ever been afraid of the dark will love this.", "Laugh-out-loud funny.",
    "Reluctant readers will race through it.", "A sparkling adventure, full of heart.",
]
CRITICS = ["Ruth Amberley", "Gideon Sowerby", "Marion Keeble", "Anand Rahman", "Clare Dunmore", "Tobias Wragg",
           "Helena Pascoe", "Lionel Achterberg"]


def quote_marks(style: str) -> tuple[str, str]:
    if style == "ascii":
        return pick([("'", "'"), ('"', '"'), ("'", "'")])
    return pick([("\u2018", "\u2019"), ("\u201c", "\u201d"), ("\u2018", "\u2019")])


def attribution(ctx: dict) -> str:
    paper = pick(PAPERS)
    form = R.random()
    if form < 0.45:
        return " " + paper
    if form < 0.58:
        return " " + paper.upper()
    if form < 0.72:
        return "--" + paper
    if form < 0.84:
        return f" {pick(CRITICS)}, {paper}"
    if form < 0.92:
        return f" {Person().name}, author of {ital(novel_base())}"
    return pick([" Reader review", f" a reader in {town()}", f" {pick(RADIO)}"])


def reviews(ctx: dict, bank: list[str], count: int | None = None) -> str:
    count = count or weighted([(1, 4), (2, 8), (3, 14), (4, 18), (5, 18), (6, 14), (7, 10), (8, 7), (10, 4), (12, 3)])
    order = R.sample(bank, len(bank))
    quotes, spare = order[:count], order[count:]
    opening, closing = quote_marks(ctx["style"])
    glue = pick([" ", " ", " ", " ", "  ", ""])
    items = []
    for quote in quotes:
        quote = quote.format_map(ctx)
        if spare and chance(0.35):  # a longer quote: two sentences
            quote = quote + " " + spare.pop().format_map(ctx)
        if chance(0.1):
            quote = "..." + quote[0].lower() + quote[1:]
        items.append(f"{opening}{quote}{closing}{attribution(ctx)}")
    if count > 4 and chance(0.3):  # two sections, for two books
        cut = R.randint(2, len(items) - 2)
        items.insert(cut, pick([f"Praise for {ital(ctx['prev2'])}:", "Praise for the series:", "And for the first book:"]
                               if ctx.get("_fiction", True) else ["Praise for the first edition:",
                                                                  f"Praise for {ctx['au']}:"]))
    text = glue.join(items)
    if chance(0.3):
        fiction = ctx.get("_fiction", True)
        text = pick([f"Praise for {ctx['au']}: ", "Praise for the first edition: ", "Reviews: "]
                    + ([f"Praise for {ital(ctx['prev'])}: ", f"Praise for {ital(ctx['prev'])}:"] if fiction else [])) + text
    return text


BIO_OPEN = [
    "{bp} is the author of {over} {n_books} books on {topics}.",
    "{bp} was born in {town} in {year_born} and studied {subject} at {university}.",
    "{bp} is {bio_job_a} whose work has appeared in {paper} and {paper2}.",
    "{bp} grew up on a sheep farm in {region} and has been writing stories since {bp_sub} was nine.",
    "{bp} is one of {country_adj} best-loved {bio_jobs}.",
    "{bp} is {bio_job_a} and broadcaster who has been writing about {topic_short} for over {n_years} years.",
]
BIO_OPEN_FICTION = [
    "{bp} spent {n_years} years as {job_a} before publishing {bp_pos} first novel, {I_prev}, in {year_prev}.",
    "{bp} has written {n_books} novels, including {I_prev} and {I_prev2}.",
    "{bp} is the author of {over} {n_books} novels.",
    "{bp} was {job_a} in {city} for {n_years} years, and began writing crime fiction on the night bus home.",
]
BIO_MID_FICTION = [
    "{bp_Pos} novel {I_prev} was adapted for television in {year_prev}.",
    "{bp_Pos} first book, {I_prev}, was a bestseller and has never been out of print.",
]
BIO_MID = [
    "{bp_Pos} work is published in {n_lang} languages.",
    "{bp_Sub} has won {award}, and was twice shortlisted for {award2}.",
    "For {n_years2} years {bp_sub} wrote a weekly column for {paper}.",
    "{bp_Sub} teaches {subject} at {university} and runs workshops for new writers.",
    "Before turning to writing full time, {bp_sub} worked as a {job}, a {job2} and, briefly, a {job3}.",
    "{bp_Sub} is a regular guest on {radio}.",
    "{bp_Sub} is a fellow of the {society} and a former president of the {society2}.",
    "{bp_Sub} has {n_grand} grandchildren, every one of whom turns up in {bp_pos} books under another name.",
]
BIO_CLOSE = [
    "{bp_Sub} lives in {town} with {bp_family}.", "{bp_Sub} lives in {town2}, in {region}, with {bp_family}.",
    "{bp_Sub} divides {bp_pos} time between {city} and a cottage in {region}.",
    "{bp_Sub} died in {year_died}.", "When not writing, {bp_sub} can usually be found {hobby}.",
    "{bp_Sub} lives and works in {city}.",
]
ILLUSTRATOR_BIO = [
    "{bp} has illustrated more than {n_books} books for children, including {I_prev}. {bp_Sub} studied "
    "illustration at {university} and lives in {town} with {bp_family}.",
    "{bp} is an illustrator and printmaker. {bp_Pos} pictures have appeared in {paper} and on the walls "
    "of a great many nurseries. {bp_Sub} works from a studio above a bakery in {town}.",
    "{bp} draws every morning at the kitchen table before anyone else is awake. This is {bp_pos} {ordinal} "
    "picture book.",
]
TRANSLATOR_BIO = [
    "{bp} is a translator and poet. {bp_Pos} translations have won {award} and {bp_sub} lives in {city}.",
    "{bp} has translated more than {n_books} books and teaches translation at {university}.",
]
AUTHOR_FACTS = {  # (what the author is, what the author writes about, what they are among)
    "novel": (["novelist", "journalist", "poet", "former teacher", "screenwriter", "former barrister"],
              ["crime, family and the sea"], "storytellers"),
    "cookbook": (["food writer", "chef", "baker", "cookery teacher"], ["bread, baking and the history of the village "
                                                                       "bakery",
                 "cooking for large families", "seasonal cooking and preserving"], "cookery writers"),
    "garden": (["garden designer", "horticulturist", "garden writer"], ["gardening and garden history",
                                                                        "roses, hedges and the cottage garden"],
               "garden writers"),
    "craft": (["painter", "potter", "textile artist", "woodworker", "illustrator"], ["watercolour and drawing",
                                                                                     "knitting and textile crafts"],
              "craft teachers"),
    "walking": (["walker and photographer", "guidebook writer", "mountain leader"], ["walking, wild swimming and the "
                                                                                     "coast"], "outdoor writers"),
    "history": (["historian", "archivist", "former museum curator"], ["local history and the canals", "railways",
                                                                      "the sea and seafaring"], "historians"),
    "nature": (["naturalist", "ecologist", "wildlife photographer"], ["birds and birdwatching",
                                                                      "the natural history of the fens"],
               "nature writers"),
    "selfhelp": (["psychotherapist", "life coach", "former nurse"], ["mindfulness and the art of slowing down"],
                 "writers on wellbeing"),
    "memoir": (["former teacher", "retired fisherman", "journalist"], ["family life and the coast"], "storytellers"),
    "poetry": (["poet", "translator"], ["poetry"], "poets"),
    "language": (["language teacher", "translator"], ["language learning"], "language teachers"),
    "children": (["illustrator", "former primary teacher", "children's author"], ["children's play and early learning"],
                 "children's authors"),
    "middle": (["children's author", "former teacher"], ["adventure stories for children"], "children's authors"),
}
SOCIETIES = ["Guild of Garden Writers", "Castlebrook Historical Society", "Society of Authors of the Orrin Coast",
             "Kingsmere Natural History Club", "Association of Lantern Makers", "Fellowship of Culinary Writers"]
TOPICS = ["gardening and garden history", "bread, baking and the history of the village bakery",
          "walking, wild swimming and the coast", "birds and birdwatching", "knitting and textile crafts",
          "local history and the canals", "cooking for large families", "watercolour and drawing",
          "the natural history of the fens", "mindfulness and the art of slowing down", "railways",
          "the sea and seafaring", "children's play and early learning"]


def bio(ctx: dict, person: Person, kind: str = "author") -> str:
    local = dict(ctx, **person.slots("bp"))
    if kind == "illustrator":
        return pick(ILLUSTRATOR_BIO).format_map(local)
    if kind == "translator":
        return pick(TRANSLATOR_BIO).format_map(local)
    fiction = ctx.get("_fiction", True)
    opens, mids = (BIO_OPEN + BIO_OPEN_FICTION, BIO_MID + BIO_MID_FICTION) if fiction else (BIO_OPEN, BIO_MID)
    parts = [pick(opens)] + R.sample(mids, weighted([(1, 2), (2, 4), (3, 4), (4, 3), (5, 2), (7, 1)]))
    if chance(0.8):
        parts.append(pick(BIO_CLOSE))
    text = " ".join(parts).format_map(local)
    if chance(0.12):
        text = pick(["About the Author ", "About the Author: ", "ABOUT THE AUTHOR "]) + text
    return text


def bios(ctx: dict, people: list[tuple[Person, str]]) -> str:
    glue = pick(["", "", " ", " ", "  "])  # "...of the Arts.Ruth Pellowe is" as often as not
    return glue.join(bio(ctx, person, kind) for person, kind in people)


REFERS = [("--This text refers to an out of print or unavailable edition of this title.", 56),
          ("--This text refers to theHardcoveredition.", 11), ("--This text refers to the Hardcover edition.", 5),
          ("--This text refers to an alternatePaperbackedition.", 8), ("--This text refers to the Paperback edition.", 6),
          ("--This text refers to thePaperbackedition.", 5), ("--This text refers to theKindleedition.", 2),
          ("--This text refers to the Audio CD edition.", 2), ("--This text refers to theLibrary Bindingedition.", 1),
          ("--This text refers to an alternateMass Market Paperbackedition.", 2),
          ("--This text refers to thePrint on Demand (Paperback)edition.", 1)]


def refers() -> str:
    return weighted(REFERS)


# --- synopses ---------------------------------------------------------------------------------------
SYN = {
    "mystery": (
        ["When {victim} is found at the foot of the old {landmark} in {town}, Detective Inspector {hero} is told it "
         "was an accident. {hero_Sub} does not believe it for a minute.",
         "{hero} has been back in {town} for less than a week when {victim}, the town's only {job}, vanishes between "
         "the last bus and the first milk delivery.",
         "It is {season} in {town}, and {hero} is hoping for a quiet month in the bookshop. Then an unsigned letter "
         "arrives naming {n_small} people who will not live to see the spring.",
         "A locked boathouse, a missing {object} and a family who all had a reason: the {ordinal} case for {hero} is "
         "the strangest {hero_sub} has faced.",
         "Retired schoolteacher {hero} only wanted to finish the parish crossword. Instead {hero_sub} finds {victim} "
         "slumped over the church organ, and a clue no one else seems to have noticed."],
        ["As the {weather} cuts {town} off from the mainland, {hero_first} begins to suspect that the answer lies "
         "{n_years} years in the past, in a fire the whole town has agreed to forget.",
         "Every witness has something to hide, and the one person who seems to be telling the truth has an alibi that "
         "is just a little too neat.",
         "With the help of {friend}, a {job2} with a long memory and no patience at all, {hero_first} follows a trail "
         "of unpaid debts, torn photographs and a ledger written in code.",
         "But {town} guards its secrets, and someone is prepared to kill again to keep them.",
         "The deeper {hero_first} digs, the closer the trail leads to {hero_pos} own family.",
         "Then a second body turns up in the {landmark2}, and the case {hero_first} thought was closed opens like a "
         "trapdoor."],
        ["A classic puzzle with a modern heart, for readers who like their mysteries clever and their villains human.",
         "Twisty, atmospheric and very funny in places, this is {au_last} at {au_pos} best.",
         "The {ordinal} book in the {series} series, it can be read on its own."]),
    "thriller": (
        ["{hero}, a {job} who has spent ten years trying to forget {city}, gets a phone call at three in the morning: "
         "{hero_pos} brother is alive, and he needs {hero_obj} to bring him home.",
         "The ferry leaves {town} at six. By the time it docks, one passenger will be missing, another will be dead, "
         "and {hero} will be the only person who knows why.",
         "Forty-eight hours before the election, a junior civil servant named {hero} finds a file {hero_sub} was "
         "never meant to see.",
         "{hero} is good at disappearing. It is {hero_pos} job. But when a client turns up dead in a hotel in {city}, "
         "the people {hero_sub} works for decide {hero_sub} should disappear for good."],
        ["Hunted across {region} by men who seem to know {hero_pos} every move, {hero_first} has to decide whom to "
         "trust: the police officer who has lied to {hero_obj} once already, or the stranger who saved {hero_pos} "
         "life.",
         "The clock is running, the phones are tapped and the one witness who can clear {hero_pos} name is hiding "
         "somewhere in the old salt mines under {town}.",
         "Every chapter ends with a door opening onto something worse.",
         "What begins as a favour for an old friend becomes a race against people with money, patience and nothing to "
         "lose."],
        ["Fast, sharp and frighteningly plausible.",
         "{au} worked for {n_years} years as a {job}, and it shows in every detail.",
         "The first {hero_last} thriller, and the start of a series."]),
    "romance": (
        ["{hero} swore {hero_sub} would never set foot in {town} again. Then {hero_pos} grandmother left {hero_obj} a "
         "tumbledown tea room on the harbour, and a will with one condition: {hero_sub} has to run it for a year.",
         "Wedding planner {hero} can organise anyone's happy ending except {hero_pos} own.",
         "{hero} came to {town} to finish a book and be left alone. {friend}, who runs the ferry, the pub quiz and "
         "most of the town, has other ideas.",
         "Two rival florists, one village show, and a competition neither of them can afford to lose."],
        ["Between a leaking roof, a goat with a taste for paperwork and the arrival of {friend_first}, the "
         "infuriating new vet, it is going to be a long summer.",
         "As the village prepares for its midwinter lantern festival, {hero_first} starts to wonder whether the life "
         "{hero_sub} planned is the one {hero_sub} wants.",
         "But {friend_first} has a secret, and it is about to arrive on the morning train.",
         "Letters, misunderstandings and a great deal of cake follow."],
        ["A warm, funny, feel-good story about second chances and the places that call us home.",
         "Perfect for a rainy weekend with a pot of tea.", "The {ordinal} {town} novel, and the most romantic yet."]),
    "historical": (
        ["{Region}, {year}. {hero}, the {old_job}'s {hero_child}, is seventeen when the mill closes and the men of "
         "{town} march on the city.",
         "In the hard winter of {year}, a young {hero_widow} named {hero} takes a post as housekeeper at {house}, a "
         "house where every clock has been stopped at twenty past four.",
         "{year}: the canal is coming to {town}, and with it engineers, navvies, money and trouble. {hero}, who keeps "
         "the lock-house with {hero_pos} father, sees all of it.",
         "When {hero} signs on as cook aboard the whaler {ship} in {year}, {hero_sub} tells no one that {hero_sub} "
         "has never been to sea, or that {hero_sub} is running from a man who will follow {hero_obj} anywhere."],
        ["Over {n_years} years of strikes, floods and one extraordinary friendship, {hero_first} learns what "
         "{hero_sub} is willing to lose, and what {hero_sub} will never give up.",
         "Drawing on letters, court records and parish registers, {au_last} brings a vanished world of lamp oil, "
         "sailcloth and gossip vividly to life.",
         "As rumours of war reach {town}, the loyalties of an entire family are tested.",
         "The secret {hero_sub} uncovers will shape the lives of three generations."],
        ["Sweeping, richly detailed and deeply human.",
         "A novel about courage, class and the stories families choose not to tell.",
         "The {ordinal} volume of the {series}."]),
    "fantasy": (
        ["In the city of {fcity}, where the lamps burn captured starlight and the river runs uphill on holy days, "
         "{hero} is a thief with one rule: never steal from a glassmaker.",
         "The last dragon in {fland} has been asleep for three hundred years. {hero}, an apprentice mapmaker with a "
         "stammer and a borrowed compass, is about to wake it.",
         "Every seventh child in {fland} is born with a thread of shadow. {hero} has hidden {hero_pos} for sixteen "
         "years.",
         "{hero} was raised by the wardens of {fcity} to guard a door no one is allowed to open. Tonight, someone has."],
        ["With a disgraced knight, a talking weathervane and a girl who can hear the thoughts of stones, {hero_first} "
         "sets out across the Ashen Marches to mend what {hero_sub} has broken.",
         "But the Guild has its own plans for the magic {hero_sub} carries, and the queen's spymaster is never far "
         "behind.",
         "Old alliances crumble, new ones are forged in fire, and the price of victory may be everything {hero_sub} "
         "loves."],
        ["The {ordinal} book of {series}, an epic of loyalty, betrayal and very bad weather.",
         "Inventive, witty and full of wonder: fantasy for readers from twelve up.",
         "The long-awaited conclusion to {series}."]),
    "literary": (
        ["{hero} is sixty-three, newly retired and newly alone, when {hero_sub} decides to walk the length of the "
         "{river} from its source to the sea.",
         "Over one long weekend in {town}, three generations of the {hero_last} family gather to sell the house they "
         "grew up in, and to argue about everything else.",
         "{hero} has spent {hero_pos} whole life being the sensible one. The summer {hero_sub} turns forty, "
         "{hero_sub} stops.",
         "Told in the alternating voices of a mother and the {hero_child} she gave up, {I_title} is a novel about the "
         "lives we might have lived."],
        ["Along the way {hero_sub} meets a lock-keeper who has not spoken to his son in twenty years, a girl who "
         "collects other people's lost gloves, and something very like the ghost of {hero_pos} younger self.",
         "Secrets surface with the tide: a letter never sent, a child never mentioned, a debt never paid.",
         "{au_last} moves between the present and the winter of {year} with quiet, devastating control.",
         "It is a book about small acts of kindness and the enormous distances they can travel."],
        ["Tender, funny and unforgettable.", "Shortlisted for {award}.",
         "A luminous debut about love, grief and the art of beginning again."]),
}
LANDMARKS = ["lighthouse", "lime kiln", "harbour wall", "quarry", "bell tower", "pier", "sea fort", "ice house"]
OBJECTS = ["silver christening cup", "ship's clock", "diary", "painting", "will", "brooch", "violin", "key"]
SEASONS = ["late October", "the week before Christmas", "midsummer", "a wet April", "the dead of winter"]
WEATHER = ["first snow", "storm", "sea fog", "flood", "spring tide"]
OLD_JOBS = ["weaver", "blacksmith", "lamp maker", "ferryman", "miller", "glassblower", "schoolmaster"]
HOUSES = ["Wrayburn Hall", "Corran House", "Thistle Grange", "Saltings", "the Old Rectory at Vellford"]
SHIPS = ["Margaret Ellery", "Northern Dawn", "Constant Hope", "Plover"]
FCITIES = ["Amberlune", "Vessary", "Kelmarrow", "Oriste", "Thornwick Deep"]
FLANDS = ["the Hollow Realm", "Arvandel", "the Nine Valleys", "Greymantle"]

NONFICTION = {
    "cookbook": {
        "titles": ["{food}: {n} Recipes from the {town} Kitchen", "The {town} Bakery Book", "{adj} Soups",
                   "Cr\u00e8me Br\u00fbl\u00e9e and Other Puddings", "Salt & Smoke: Cooking over Fire",
                   "The Caf\u00e9 at {town}",
                   "One Pot, Thirty Minutes: {n} Weeknight Suppers", "Cooking with {food}", "The {adj} Larder",
                   "{food} and Other Good Things", "Bread Every Day: {n} Loaves, Buns and Flatbreads",
                   "The Allotment Cook: Recipes for a Glut", "Feeding a Crowd"],
        "intro": ["From {food_a} to {food_b}, {I_title} collects {n} recipes from {au_first}'s years at the {cafe} in "
                  "{town}.",
                  "{au} cooks the way most of us want to: quickly, generously and with whatever is in season.",
                  "This is a book about {food_lower}: the {n} recipes here use it in every form, from breakfast to "
                  "pudding.",
                  "Here are {n} recipes for the food {au_first} {au_last} grew up on in {region}, written down at last."],
        "body": ["Chapters run from soups and small plates to puddings, preserves and a whole section on bread.",
                 "Every recipe has a photograph, a note on what can be made ahead and an honest cooking time.",
                 "There are {n_small} menus for feeding a crowd, a chapter of store-cupboard suppers and advice on "
                 "using up leftovers.",
                 "Measurements are given in both cups and grams, and most dishes need nothing more than a heavy pan "
                 "and a sharp knife.",
                 "Alongside the recipes are stories from the growers, fishermen and bakers of {region}.",
                 "Vegetarian dishes are marked throughout, and {n_small2} chapters are entirely meat-free.",
                 "{au_first}'s notes explain why a recipe works, so that you can change it with confidence."],
        "close": ["{pages} pages, with {photos} colour photographs by {photographer}.", "Winner of {award}.",
                  "The perfect gift for anyone who loves to cook."]},
    "garden": {
        "titles": ["The {adj} Vegetable Patch: Growing Food in Small Spaces", "Roses for Cold Gardens", "Roses",
                   "Hedges",
                   "Pruning Made Simple", "A Year in the {town} Garden", "The No-Dig Allotment",
                   "Gardening on Clay: {n} Plants That Thrive", "Shade: Planting the Difficult Corners",
                   "The Cottage Garden Planner"],
        "intro": ["{au} has gardened the same heavy clay in {town} for {n_years} years, and this book is everything "
                  "{au_sub} has learned.",
                  "Whether you have a window box, a balcony or a plot the size of a tennis court, {I_title} shows you "
                  "how to grow more with less work.",
                  "This month-by-month guide takes the guesswork out of the gardening year."],
        "body": ["It covers soil, compost, sowing, watering and the {n_small} pests most likely to undo your work.",
                 "A directory of {n} plants gives height, spread, flowering time and hardiness for each.",
                 "Clear line drawings show exactly where to cut.",
                 "There are planting plans for sun, shade, wind and wet ground.",
                 "{au_last} is refreshingly honest about failures, including the year the slugs ate everything.",
                 "Every technique is photographed step by step in {au_pos} own garden."],
        "close": ["{pages} pages, fully illustrated.", "Suitable for zones 4-8.",
                  "Includes a sowing calendar and a glossary."]},
    "craft": {
        "titles": ["Painting Skies in Watercolour", "Knitted Socks from the Toe Up: {n} Patterns", "Sketching Birds",
                   "Paper & Thread: Handmade Books and Boxes", "Pi\u00f1atas, Bunting & Party Crafts",
                   "The Beginner's Pottery Wheel Handbook", "Hand-Lettering for Everyone", "Patchwork in a Weekend",
                   "Whittling Spoons", "Drawing Trees", "Painting the Coast in Oils",
                   "Embroidered Flowers: {n} Projects"],
        "intro": ["In {I_title}, {au} shares the techniques {au_sub} has taught in {au_pos} evening classes in {town} "
                  "for {n_years} years.",
                  "You need only a few materials and an hour to spare to start with this friendly, practical course.",
                  "{au} is a {craft_job} whose work is shown in galleries across {region}."],
        "body": ["{n_small} step-by-step projects build your skills one at a time, from simple washes to finished "
                 "pictures.",
                 "There is advice on choosing brushes, paper and colours without spending a fortune.",
                 "Every stage is photographed close up, so you can see exactly what the hands are doing.",
                 "Common mistakes are shown alongside their fixes.",
                 "The {n} patterns range from quick gifts to heirloom pieces, each with a chart and written "
                 "instructions.",
                 "Templates can be traced straight from the back of the book."],
        "close": ["{pages} pages.", "Part of the {series_n} series.", "Suitable for complete beginners."]},
    "walking": {
        "titles": ["Walking the {region_bare}: {n} Circular Routes", "The {region_bare} Way",
                   "A Cyclist's Guide to {region}",
                   "Short Walks from {town}", "Wild Swimming in {region}: {n} Lakes, Rivers and Sea Pools",
                   "Pub Walks in {region}"],
        "intro": ["{n} walks of between 3 and 14 miles, each with a clear map, directions and an honest note on mud.",
                  "{au} has walked every path in {region}, most of them more than once, and in every weather.",
                  "This pocket guide covers the best of {region}, from gentle strolls to full-day hikes."],
        "body": ["Each route lists distance, time, terrain, parking, public transport and where to find a good lunch.",
                 "Notes on history and wildlife bring the landscape to life.",
                 "Routes are graded from easy to strenuous.",
                 "There are {n_small} walks suitable for pushchairs and {n_small2} that dogs will especially enjoy.",
                 "Access information and water temperatures are given for every swimming spot."],
        "close": ["{pages} pages, with {photos} photographs and {maps} maps.", "Fits in a coat pocket.",
                  "Fully revised for this edition."]},
    "history": {
        "titles": ["The {town} Canal: A History, {y1}-{y2}", "Lamps and Lanterns: An Illustrated History",
                   "The Women of {town} Mill", "{region_bare} at War, {y1}-{y2}", "The Lost Villages of {region}",
                   "A History of the {town} Railway", "Salt and Sail: The Ports of {region}"],
        "intro": ["When the first barge reached {town} in {y1}, the town changed for ever.",
                  "Drawing on diaries, letters and {n} interviews, {au} tells the story of {region} in the years {y1} "
                  "to {y2}.",
                  "This is the first full history of {I_title_plain} to be published in fifty years."],
        "body": ["It follows the engineers, investors and labourers who built it, and the families who lived along it.",
                 "Over {photos} archive photographs, many never published before, show the work as it happened.",
                 "{au_last} writes with a novelist's eye for character and a historian's respect for evidence.",
                 "There are chapters on strikes, floods, the great fire of {y3} and the long decline after the war.",
                 "Maps, a timeline and a gazetteer of surviving sites make it a companion for visitors too."],
        "close": ["{pages} pages, with notes, bibliography and index.", "Winner of {award}.",
                  "Published to mark the {anniv} anniversary."]},
    "nature": {
        "titles": ["Moths of the {region_bare}", "A Year of Garden Birds", "Wild Flowers of {region}",
                   "Seashore Life of {region}", "Trees: A Field Guide", "The Secret Life of Hedgerows", "Moths",
                   "Garden Birds"],
        "intro": ["This handy guide identifies {n} species found in {region}, with a colour illustration of each.",
                  "{au} has watched the birds of {au_pos} {town} garden every morning for {n_years} years.",
                  "Here, in one small book, is everything a beginner needs to name what {au_sub} sees in {region}."],
        "body": ["Each entry gives size, habitat, season and the features that tell similar species apart.",
                 "Distribution maps show where to look, and notes on behaviour tell you what you are seeing.",
                 "There are tips on feeders, nest boxes and planting for wildlife.",
                 "The text is clear enough for children and detailed enough for experts."],
        "close": ["{pages} pages.", "Pocket-sized and waterproof cover.", "With {photos} colour photographs."]},
    "selfhelp": {
        "titles": ["The Unhurried Morning: Small Habits for a Calmer Day", "Letters to a Worried Friend",
                   "Enough: Living Well with Less", "The Quiet Hour", "Begin Again: Notes on Change",
                   "Kind Words: A Guide to Difficult Conversations"],
        "intro": ["{au} was a {job} for {n_years} years before a breakdown made {au_obj} rethink everything.",
                  "In short, practical chapters, {I_title} offers {n} ways to slow down without dropping out.",
                  "We all know we should worry less. This book shows how."],
        "body": ["Each chapter ends with an exercise that takes less than ten minutes.",
                 "Drawing on psychology, philosophy and {au_pos} own mistakes, {au_last} writes with humour and warmth.",
                 "There is no jargon, no guilt and no expensive equipment.",
                 "Real stories from readers show the ideas at work."],
        "close": ["{pages} pages.", "A book to keep by the bed.", "With a foreword by {person2}."]},
    "memoir": {
        "titles": ["Mending Nets: A Fisherman's Daughter Remembers", "The Reluctant Lighthouse Keeper: A Memoir",
                   "A Kitchen in {town}", "Ninety Summers", "My Father's Boat", "Chalk and Cheese: A Teacher's Life"],
        "intro": ["{au} was born in {town} in {year} and grew up above {au_pos} parents' shop.",
                  "In {year}, {au} answered an advertisement for a {job} and ended up staying {n_years} years.",
                  "This is the story of a {job}, a village and a way of life that has almost gone."],
        "body": ["Funny, sad and often surprising, it is full of the people {au_sub} met along the way.",
                 "{au_last} writes about hardship without self-pity and about happiness without sentiment.",
                 "Family photographs appear throughout.", "It is also a portrait of {region} as it used to be."],
        "close": ["{pages} pages.", "Now a Radio Orrin serial.", "With {photos} photographs."]},
    "poetry": {
        "titles": ["{word}: Poems", "Collected Poems, {y1}-{y2}", "The Weather Indoors", "Salt Songs",
                   "Field Notes: New and Selected Poems"],
        "intro": ["{au}'s {ordinal} collection moves between the kitchen and the shoreline, the ordinary and the "
                  "strange.",
                  "These {n} poems were written over {n_years} years in {town}.",
                  "This generous selection gathers poems from all {au_pos} books."],
        "body": ["They are poems about weather, work, marriage and the small hours.", "Several have been set to music.",
                 "The final sequence, written after the death of {au_pos} mother, is among the most moving {au_sub} "
                 "has written."],
        "close": ["{pages} pages.", "Shortlisted for {award}."]},
    "language": {
        "titles": ["Spanish in Ten Minutes a Day", "Italian Phrasebook and Dictionary", "Speak French Tonight",
                   "German Grammar Made Simple", "Everyday Portuguese"],
        "intro": ["Learn the language in just ten minutes a day with this friendly, structured course.",
                  "Whether you are ordering coffee or asking the way, this handy book has the phrases you need."],
        "body": ["{n_small} short lessons take you from greetings to conversations.",
                 "Pronunciation is spelled out for every phrase.",
                 "A {n}-word dictionary covers the words travellers use most.",
                 "Free audio can be downloaded from the publisher."],
        "close": ["{pages} pages.", "Suitable for ages 12 and up."]},
}
NONFIC_SUBTITLES = {
    "cookbook": ["Recipes and Stories from a Family Kitchen", "Simple Food for Every Season",
                 "{n} Recipes for Every Day",
                 "Baking, Preserving and Sharing",
                 "Authentic Recipes from the Farms, Harbours and Markets of {region_bare}",
                 "Over {n} Easy, Delicious and Affordable Family Meals"],
    "garden": ["Growing Vegetables, Fruit and Flowers in Any Space", "A Month-by-Month Guide",
               "Planning, Planting and Pruning"],
    "craft": ["Techniques, Tips and {n} Step-by-Step Projects", "A Beginner's Course in Twelve Lessons",
              "From First Steps to Finished Pieces",
              "Everything You Need to Know to Get Started, with {n} Projects to Make"],
    "walking": ["The Best Walks for Every Season", "Maps, Routes and Places to Eat", "A Pocket Companion"],
    "history": ["The Untold Story", "People, Places and Power", "An Illustrated History from the Archives",
                "The Rise and Fall of an Industrial Town and the People Who Lived There"],
    "nature": ["A Photographic Guide to {n} Species", "How to Identify, Watch and Attract Them",
               "An Identification Guide"],
    "selfhelp": ["Simple Steps to a Happier Life", "A Guide for Anxious Times", "How to Stop Rushing and Start Living"],
    "memoir": ["A Memoir of Childhood in {region_bare}", "Growing Up by the Sea", "My Life in Forty Objects"],
    "poetry": ["New and Selected Poems", "Poems, {y1}-{y2}"],
    "language": ["Learn to Speak, Read and Write in Ten Minutes a Day", "The Essential Phrasebook for Travellers"],
}
FOODS = ["Apples", "Lemons", "Beans", "Pumpkins", "Rhubarb", "Oats", "Mushrooms", "Honey", "Tomatoes", "Cheese",
         "Chocolate", "Fish", "Eggs", "Potatoes"]
ADJ_FOOD = ["Winter", "Summer", "Simple", "Thrifty", "Seaside", "Country", "Harvest", "Sunday"]
CAFES = ["Blue Door Cafe", "Harbour Kitchen", "Old Granary", "Lantern Tearoom", "Mill Street Canteen"]
CRAFT_JOBS = ["painter", "potter", "textile artist", "woodworker", "printmaker"]

CHILDREN = {
    "titles": ["{kid} the {adj_k} {animal}", "The Very {adj_k} {animal}", "Where Do {animal}s Go in Winter?",
               "{kid} and the {noun_k}", "Goodnight, {town}", "Ten Little {animal}s", "{kid}'s Big Day",
               "Don't Wake the {animal}!", "The {animal} Who Wanted to Fly", "Who Ate the {food_k}?"],
    "intro": ["{kid} the {animal_l} does not like {dislike}. Not in the morning, not at lunchtime, and definitely not "
              "at bedtime.",
              "Every night {kid} counts the stars from the window. But tonight one of them is missing.",
              "When {kid} loses {kid_pos} favourite {toy} at the seaside, all {kid_pos} friends help to look for it.",
              "How many {animal_l}s can fit in one small boat? Count along with {kid} and find out!",
              "{kid} is the smallest {animal_l} in the wood, and tomorrow is the Great Race."],
    "body": ["Lift the {n_small} flaps to discover who is hiding in the garden.",
             "With rhyming text that begs to be read aloud and bright, funny pictures by {ill}, this is a story about "
             "being brave.",
             "A gentle story about friendship, sharing and saying sorry, perfect for bedtime.",
             "Each spread has something new to spot, from snails on the windowsill to a very small mouse in a very "
             "large hat.",
             "Simple words and repeated phrases help new readers join in.",
             "At the back are facts about real {animal_l}s and a map to follow."],
    "close": ["For ages {a1}-{a2}.", "Ages {a1} and up.", "{pb_pages} pages, full colour throughout.",
              "A {series_k} book: Level {lvl}.", "Grades {g1}-{g2}.", "Board book, {pb_pages} pages. For ages 0-3."],
}
MIDDLE_GRADE = {
    "titles": ["{kid} {last} and the {adj} {noun}", "The {adj} {noun} Club", "Operation {noun}",
               "The Secret of {town} Pier"],
    "intro": ["{hero_first} {last} is eleven and three-quarters and has never been further than the end of {town} pier.",
              "There are three rules at {town} Academy for Unusual Children, and {hero_first} is about to break all "
              "of them.",
              "{hero_first} has a notebook, a torch and a very strong feeling that the new neighbours are not what "
              "they seem."],
    "body": ["With {hero_pos} best friend {friend_first} and a dog who is cleverer than both of them, {hero_sub} sets "
             "out to solve the mystery.",
             "There are codes to crack, maps to follow and one very angry goose.",
             "Jokes, cliffhangers and illustrations on almost every page."],
    "close": ["For readers aged 8-12.", "Ages 9 and up.", "The {ordinal} book in the series.", "Grades 3-7."],
}
KID_ADJ = ["Sleepy", "Grumpy", "Hungry", "Brave", "Busy", "Tiny", "Noisy", "Shy", "Messy"]
KID_NOUN = ["Moon Boat", "Giant Jumper", "Lost Kite", "Snow Monster", "Paper Dragon", "Seaside Bus"]
KID_FOOD = ["Cake", "Jam Sandwich", "Carrots", "Birthday Pie"]
DISLIKES = ["baths", "puddles", "loud noises", "the dark", "sharing", "being told to hurry up"]
TOYS = ["bucket", "teddy", "red kite", "toy boat", "scarf"]

PRODUCTS = {
    "toy": [("Wrenwood Wooden Rainbow Stacker, {n} Pieces", ["Made from sustainably sourced beech and finished with "
                                                             "water-based, child-safe paints, these {n} arches "
                                                             "stack, balance and tumble.",
                                                             "The largest arch measures {cm} cm across.",
                                                             "For ages {a} and up.",
                                                             "Encourages colour recognition and open-ended play.",
                                                             "Wipe clean with a damp cloth."]),
            ("Plush Hedgehog Soft Toy, {inch} Inch", ["A soft, huggable hedgehog with embroidered eyes, so there are "
                                                      "no buttons to pull off.",
                                                      "Surface washable; machine wash at 30 degrees in a laundry bag.",
                                                      "Suitable from birth.", "Meets EN71 toy safety standards.",
                                                      "Stands {inch} inches tall."]),
            ("Magnetic Building Tiles, {n} Pieces", ["{n} translucent tiles in squares, triangles and arches, with "
                                                     "strong magnets sealed inside every edge.",
                                                     "Build towers, houses and rockets, then knock them down and "
                                                     "start again.", "For ages 3 and up.",
                                                     "Comes in a storage box with a lid.",
                                                     "Compatible with most other magnetic tile sets."]),
            ("Marble Run Starter Set", ["{n} pieces including chutes, funnels, a spiral tower and a bell, plus {m} "
                                        "glass marbles.",
                                        "Pieces click together firmly and can be rebuilt in dozens of ways.",
                                        "For ages 4 and up. Warning: choking hazard, small parts.",
                                        "Instructions for {m2} builds included."]),
            ("Wooden Train Set with Bridge and Tunnel, {n} Pieces", ["{n} pieces of track, a bridge, a tunnel and a "
                                                                     "little engine with two carriages.",
                                                                     "The magnetic couplings are easy for small hands.",
                                                                     "Track measures about 1.5 m when assembled in an "
                                                                     "oval.", "Ages 3 and up."]),
            ("Junior Bug Explorer Kit", ["Everything a young naturalist needs: a magnifying viewer, a bug jar with "
                                         "air holes, tweezers, a net and a spotter's guide to {n} common garden "
                                         "insects.", "For ages 5-10.", "Adult supervision recommended."]),
            ("Floor Puzzle: Under the Sea, {n} Pieces", ["A giant {n}-piece floor puzzle with a whale, an octopus and "
                                                         "a sunken ship to find.",
                                                         "Extra-thick pieces stand up to little hands.",
                                                         "Finished size {cm} x 60 cm.", "For ages 3-6."]),
            ("Kids' Balance Bike, 12 Inch Wheels", ["Lightweight steel frame and puncture-proof foam tyres.",
                                                    "The seat adjusts from 30 to 40 cm, so it grows with your child.",
                                                    "Weighs just {kg} kg.", "For ages 2-5.",
                                                    "Available in red, blue and sage green."])],
    "kitchen": [("Hearthwell Cast Iron Skillet, {inch} Inch, Pre-Seasoned", ["Heavy cast iron holds heat evenly for "
                                                                             "searing, baking and slow braising.",
                                                                             "Pre-seasoned with vegetable oil and "
                                                                             "ready to use.", "Oven safe to 260 C.",
                                                                             "Works on gas, electric, ceramic and "
                                                                             "induction hobs.",
                                                                             "Hand wash, dry thoroughly and rub with "
                                                                             "a little oil.", "Weighs {kg} kg."]),
                ("Enamel Dutch Oven, {qt} Quart, Sea Green", ["Enamelled cast iron casserole with a tight-fitting lid "
                                                              "that keeps moisture in.",
                                                              "Capacity {qt} quarts; serves 4-6.",
                                                              "The light interior makes it easy to see food browning.",
                                                              "Oven safe to 250 C; dishwasher safe, though hand "
                                                              "washing is recommended."]),
                ("Bamboo Cutting Board Set of 3", ["Three boards, small, medium and large, made from fast-growing "
                                                   "bamboo.",
                                                   "The largest measures {cm} x 30 cm and has a juice groove.",
                                                   "Gentle on knife edges.", "Hand wash only."]),
                ("Stovetop Espresso Maker, {n} Cup", ["Polished aluminium with a heat-resistant handle and a safety "
                                                      "valve.",
                                                      "Makes {n} small cups of strong coffee in about five minutes.",
                                                      "Not suitable for induction hobs.",
                                                      "Replacement seals are available."]),
                ("Digital Kitchen Scale with Bowl", ["Weighs up to 5 kg in 1 g steps.",
                                                     "Tare button, auto-off and a large backlit display.",
                                                     "The 2-litre bowl doubles as a mixing bowl.", "Batteries included."]),
                ("Stoneware Pie Dish, {inch} Inch", ["Glazed stoneware in a speckled oatmeal finish.",
                                                     "Freezer, oven, microwave and dishwasher safe.",
                                                     "A wide rim makes crimping pastry easy.", "Holds a pie for six."]),
                ("Bread & Butter Pickle Jars, Set of 6", ["Six 500 ml glass jars with airtight clip lids and spare "
                                                          "rubber seals.", "Ideal for pickles, jams and dry goods.",
                                                          "Dishwasher safe.", "Labels and a recipe card included."])],
    "tool": [("Ardent 18V Cordless Drill Driver with 2 Batteries", ["18V brushless motor with {n} torque settings and "
                                                                    "a two-speed gearbox.",
                                                                    "Kit includes two 2.0 Ah batteries, a one-hour "
                                                                    "charger and a carry case.",
                                                                    "LED work light and belt clip.",
                                                                    "Weighs {kg} kg with battery.",
                                                                    "Three-year guarantee when registered."]),
             ("Folding Pruning Saw, {inch} Inch Blade", ["Hardened steel blade with a triple-ground tooth that cuts "
                                                         "on the pull stroke.", "Locks open and closed.",
                                                         "Rubber grip stays secure in wet weather.",
                                                         "Replacement blades available."]),
             ("Digital Caliper, 0-150 mm", ["Stainless steel caliper reading to 0.01 mm, with metric and imperial "
                                            "units.", "Measures inside, outside, depth and step.",
                                            "Zero button at any position; auto-off after five minutes.",
                                            "Supplied in a protective case with a spare battery."]),
             ("Stud Finder with LCD Display", ["Finds wood and metal studs and live AC wiring behind plasterboard up "
                                               "to 38 mm thick.",
                                               "A bright display shows the centre and edges of the stud.",
                                               "One 9V battery required, not included."]),
             ("Garden Kneeler and Seat", ["Flip it one way to kneel on the thick foam pad; flip it over to sit.",
                                          "Folding steel frame supports up to 150 kg.",
                                          "The handles help you get up again.", "Weighs {kg} kg."]),
             ("Precision Screwdriver Set, {n} Pieces", ["{n} magnetic bits in a flip-top case, including Phillips, "
                                                        "Torx, hex and tri-wing.",
                                                        "An aluminium handle with a swivel cap for fine control.",
                                                        "Ideal for phones, laptops, glasses and toys."])],
    "other": [("Merino Wool Hiking Socks, 3 Pairs", ["A blend of 70% merino wool, nylon and elastane that stays warm "
                                                     "when wet.", "Cushioned heel and toe; seamless toe closure.",
                                                     "Sizes S-XL.", "Machine wash at 30 degrees."]),
              ("Waxed Canvas Tote Bag", ["Heavy waxed cotton canvas with leather handles and a brass snap.",
                                         "Inside zip pocket.", "Measures {cm} x 38 x 12 cm.",
                                         "Wipe clean; re-wax once a year."]),
              ("Beeswax Pillar Candle, {inch} Inch", ["Hand-poured from pure beeswax with a cotton wick.",
                                                      "Burns for about {n} hours with a faint smell of honey.",
                                                      "Made in small batches in {town}."]),
              ("Yoga Mat, 6 mm, Non-Slip", ["6 mm thick natural rubber with a grippy top layer.",
                                            "Measures 183 x 61 cm.", "Comes with a carrying strap.",
                                            "Wipe clean with mild soap and water."]),
              ("Tea Towel", ["Heavy cotton tea towel, {cm} x 70 cm, printed with a pattern of hens.",
                             "Machine washable at 60 degrees.", "Gets softer with every wash."]),
              ("Bird Feeder", ["A hanging seed feeder with four ports and a metal lid that squirrels cannot chew.",
                               "Holds about 1 kg of seed.", "Comes apart for cleaning."]),
              ("Salad Spinner", ["Pump the button to spin; the brake stops the basket at once.",
                                 "The bowl doubles as a serving dish.", "Dishwasher safe, top rack.",
                                 "Holds {n} cups of leaves."]),
              ("Pizza Stone", ["A {cm} cm cordierite stone that gives a crisp base in a home oven or on the barbecue.",
                               "Heat it for 30 minutes before baking.", "Never wash with soap."]),
              ("Hot Water Bottle with Knitted Cover", ["A 2-litre natural rubber bottle in a cable-knit cover.",
                                                       "Fill with hot, not boiling, water.", "Cover hand wash only."]),
              ("Insulated Water Bottle, 750 ml", ["Double-walled stainless steel keeps drinks cold for 24 hours or "
                                                  "hot for 12.", "Leak-proof screw cap.", "Free from BPA.",
                                                  "Hand wash only."])],
}
BANDS = ["The Lowland Lanterns", "Marrow & Finch", "Saltwick Chapel Choir", "the Orla Penhallow Trio",
         "The Tarn Brothers",
         "Juniper Gale", "Heron Street Band", "Kit Lomax"]
SONG_WORDS = ["Low Tide", "Harbour Lights", "The Long Field", "Fog on the Water", "Rope and Anchor", "Blue Hour",
              "Paper Boats", "Old Pier Waltz", "Winter Wheat", "Lamplighter", "Nightjar", "The Ferryman's Song",
              "Halfway Home", "Salt in the Wind", "Orchard Gate", "Morning Train"]
MUSIC_GENRES = ["folk", "bluegrass", "chamber pop", "choral music", "blues", "jazz ballads", "sea shanties"]
INSTRUMENTS = ["fiddle", "double bass", "harmonium", "pedal steel", "cello", "accordion", "banjo", "piano"]


# --- records ----------------------------------------------------------------------------------------
def isbn10(first: str | None = None) -> str:
    head = first or weighted([("0", 30), ("1", 18), ("3", 6), ("4", 6), ("5", 6), ("6", 6), ("7", 6), ("8", 6),
                             ("9", 6), ("2", 6), ("000", 4)])
    digits = head + "".join(str(R.randint(0, 9)) for _ in range(9 - len(head)))
    check = (11 - sum((10 - i) * int(d) for i, d in enumerate(digits)) % 11) % 11
    return digits + ("X" if check == 10 else str(check))


ASIN_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def asin() -> str:
    return "B0" + pick("0001112345789") + "".join(pick(ASIN_CHARS) for _ in range(7))


def look_alike(uid: str) -> str:
    """uid with one or two of its last four characters changed."""
    chars = list(uid)
    pool = "0123456789" if uid[0] != "B" else ASIN_CHARS
    for position in R.sample(range(6, 10), weighted([(1, 3), (2, 2)])):
        chars[position] = pick([c for c in pool if c != chars[position]])
    return "".join(chars)


def targets() -> tuple[list[int], list[float]]:
    count = weighted([(1, 20), (2, 23), (3, 26), (4, 19), (5, 12)])
    return sorted(R.sample(range(LABELS), count)), [round(R.random(), 4) for _ in range(count)]


def context(style: str) -> dict:
    """Every slot a template may use, drawn afresh for each record."""
    author, hero, friend, person2 = Person(), Person(), Person(), Person()
    jobs = R.sample(JOBS, 3)
    ctx = {"style": style, "town": town(), "town2": town(), "region": pick(REGIONS), "city": pick(CITIES),
           "river": pick(RIVERS), "year": R.randint(1795, 1975), "year_born": R.randint(1931, 1985),
           "year_prev": R.randint(1988, 2013), "year_died": R.randint(1996, 2012), "n_years": R.randint(6, 40),
           "n_years2": R.randint(3, 25), "n_books": R.randint(3, 45), "over": pick(["over", "more than", "nearly", "some"]),
           "n_lang": R.randint(4, 31), "n_grand": NUMBER_WORDS[R.randint(2, 9)], "n_small": NUMBER_WORDS[R.randint(3, 12)],
           "n_small2": NUMBER_WORDS[R.randint(2, 6)], "ordinal": pick(ORDINALS[1:7]), "topics": pick(TOPICS),
           "topic_short": pick(["food", "gardens", "the countryside", "birds", "the sea", "books", "family life"]),
           "subject": pick(["English", "history", "botany", "fine art", "music", "marine biology", "law", "philosophy"]),
           "university": pick(UNIVERSITIES), "paper": pick(PAPERS), "paper2": pick(PAPERS), "award": pick(AWARDS),
           "award2": pick(AWARDS), "radio": pick(RADIO), "job_a": a_an(jobs[0]), "job": jobs[0], "job2": jobs[1], "job3": jobs[2],
           "bio_job": pick(["novelist", "journalist", "poet", "food writer", "garden designer", "historian",
                            "naturalist", "illustrator", "former teacher", "psychotherapist"]),
           "bio_jobs": pick(["storytellers", "cookery writers", "nature writers", "crime novelists", "poets"]),
           "country_adj": pick(["the Orrin Coast's", "Castlebrook's", "the country's", "the region's"]),
           "society": pick(SOCIETIES), "society2": pick(SOCIETIES), "hobby": pick(HOBBIES),
           "prev": novel_base(), "prev2": novel_base(), "series": pick(SERIES_FICTION), "series_n": pick(SERIES_NONFIC),
           "victim": Person().name, "landmark": pick(LANDMARKS), "landmark2": pick(LANDMARKS), "object": pick(OBJECTS),
           "season": pick(SEASONS), "weather": pick(WEATHER), "old_job": pick(OLD_JOBS), "house": pick(HOUSES),
           "ship": pick(SHIPS), "fcity": pick(FCITIES), "fland": pick(FLANDS),
           "food": pick(FOODS), "food_a": pick(FOODS).lower(), "food_b": pick(FOODS).lower(), "cafe": pick(CAFES),
           "adj": pick(ADJ_FOOD), "craft_job": pick(CRAFT_JOBS), "photographer": Person().name, "person2": person2.name,
           "n": R.choice([12, 20, 25, 30, 40, 50, 60, 75, 100, 120, 150, 200]), "pages": R.choice(range(96, 480, 16)),
           "photos": R.choice([40, 60, 80, 100, 120, 150, 200]), "maps": R.randint(8, 40), "y1": R.randint(1780, 1900),
           "y2": R.randint(1905, 1990), "y3": R.randint(1850, 1950), "anniv": pick(["hundredth", "fiftieth",
                                                                                    "two hundredth"]),
           "word": pick(ONE_WORD), "kid": pick(KID_NAMES), "animal": pick(ANIMALS), "adj_k": pick(KID_ADJ),
           "noun_k": pick(KID_NOUN), "food_k": pick(KID_FOOD), "dislike": pick(DISLIKES), "toy": pick(TOYS),
           "kid_pos": pick(["her", "his"]), "ill": Person().name, "series_k": pick(["Thimble First Readers",
                                                                                    "Ninefold Early Steps"]),
           "a1": R.randint(2, 5), "lvl": R.randint(1, 4), "g1": R.randint(1, 3), "pb_pages": pick([24, 32, 32, 40, 48]),
           "last": pick(SURNAMES), "noun": pick(T_NOUN), "Region": cap(pick(REGIONS))}
    ctx["a2"], ctx["g2"] = ctx["a1"] + R.randint(3, 5), ctx["g1"] + 2
    ctx["bio_job_a"] = a_an(ctx["bio_job"])
    ctx["Region"] = cap(ctx["region"])
    ctx["region_bare"] = ctx["region"].replace("the ", "")
    ctx["animal_l"] = ctx["animal"].lower()
    ctx["food_lower"] = ctx["food"].lower()
    ctx["I_prev"], ctx["I_prev2"] = ital(ctx["prev"]), ital(ctx["prev2"])
    ctx.update(author.slots("au"))
    ctx.update(hero.slots("hero"))
    ctx.update(friend.slots("friend"))
    ctx["_author"] = author
    return ctx


def synopsis(parts: tuple, ctx: dict, middles: tuple[int, int] = (1, 3)) -> str:
    intro, body, close = parts
    chosen = [pick(intro)] + R.sample(body, min(len(body), R.randint(*middles)))
    if chance(0.7):
        chosen.append(pick(close))
    return " ".join(chosen).format_map(ctx)


TRADE_OPEN = ["{starred}{au_last}'s {ordinal} {genre_word} (after {year_prev}'s {I_prev}) {verb}.",
              "{starred}In this {trade_adj} {genre_word}, {au} {verb2}.",
              "{starred}{trade_adj_cap} and {trade_adj2}, {au_last}'s new {genre_word} {verb}.",
              "{starred}Fans of {I_prev} will welcome this {trade_adj} return."]
TRADE_EVAL = ["{au_last} handles a large cast with ease, though the middle section drags.",
              "The final twist is telegraphed, but the writing is so assured that few readers will mind.",
              "Fans of the series will be delighted; newcomers may want to start with {I_prev}.",
              "Recommended for most public library collections.",
              "Strong characters and a vividly drawn setting make this a standout.",
              "The prose is plain, but the story has real momentum.",
              "Some of the secondary characters are thin, but the central relationship rings true.",
              "Highly recommended.", "A must for fans; others should still give it a try."]
TRADE_AFTER = ["({month})", "Agent: {person2}, {agency}. ({month})", "{critic}, {library}, {city2}", ""]
TRADE_COPYRIGHT = ["Copyright {cyear} Cardinal Trade Reviews, Inc.",
                   "Copyright {cyear} Cardinal Trade Reviews, Inc. All rights reserved.",
                   "Copyright {cyear} The Linden Library Monthly.",
                   "(c) Copyright {cyear} Harrowgate Booksellers' Bulletin. Used with permission."]
GENRE_WORDS = {"mystery": "mystery", "thriller": "thriller", "romance": "romance", "historical": "historical novel",
               "fantasy": "fantasy", "literary": "novel", "cookbook": "cookbook", "garden": "guide", "craft": "handbook",
               "walking": "guide", "history": "history", "nature": "field guide", "selfhelp": "book", "memoir": "memoir",
               "poetry": "collection", "language": "course", "children": "picture book", "middle": "adventure"}


def trade_review(ctx: dict, kind: str, parts: tuple) -> str:
    grade = "Grade 2-4-- " if kind == "children" else ""
    local = dict(ctx, starred=pick(["", "", "", "Starred Review. ", "Starred Review.", grade]),
                 genre_word=GENRE_WORDS.get(kind, "book"), trade_adj=pick(["absorbing", "ambitious", "brisk", "gentle",
                                                                           "assured", "uneven"]),
                 trade_adj2=pick(["funny", "heartfelt", "well paced", "thoughtful"]),
                 verb=pick(["is its most ambitious yet", "follows a family through one disastrous summer",
                            "moves the action to {city}",
                            "returns to the fictional town of {town}", "is a quieter, stranger book"]),
                 verb2=pick(["turns a familiar setup into something fresh", "writes about {region} with real affection",
                             "delivers exactly what readers expect, and a little more"]),
                 month=pick(["Mar.", "Sept.", "Nov.", "June", "Jan."]), agency=pick(["Harbour Literary",
                                                                                     "Lantern & Lowe Agency"]),
                 critic=pick(CRITICS), library=pick(["Pellford P.L.", "Eastharrow Lib.", "Castlebrook Cty. Lib."]),
                 city2=pick(CITIES), cyear=R.randint(1989, 2012))
    local["trade_adj_cap"] = cap(local["trade_adj"])
    body = synopsis(parts, local, (1, 3)) if parts else ""
    text = " ".join(x for x in [pick(TRADE_OPEN), body, pick(TRADE_EVAL), pick(TRADE_AFTER)] if x)
    text = text.format_map(local).format_map(local)
    return text.rstrip() + pick(["", " ", "", ""]) + pick(TRADE_COPYRIGHT).format_map(local)


NARRATIVE = [
    "The rain had been falling on {town} for three days when {hero_first} finally opened the letter.",
    "{hero_Sub} read it twice standing up in the hall, and a third time sitting on the bottom stair with {hero_pos} "
    "coat still on.",
    "Outside, the gulls were arguing over something on the harbour wall.",
    "Nobody in the family had ever talked about {year}.",
    "'You knew,' {hero_sub} said. It was not a question.",
    "{friend_first} put the kettle on, which was what {friend_sub} always did when there was nothing useful to say.",
    "The house smelled of wax polish and damp wool, the way it had when {hero_sub} was a child.",
    "By the time the light went, {hero_sub} had made up {hero_pos} mind.",
    "The first bus out of {town} left at ten past six.",
    "{hero_Sub} packed a bag, then unpacked it, then packed it again.",
    "There was a photograph tucked inside the envelope: two girls on a sea wall, squinting into the sun.",
    "On the back, in pencil, someone had written a date and a single word.",
    "It took {hero_obj} a long time to recognise the handwriting as {hero_pos} mother's.",
    "The ferryman looked at {hero_obj} as though he had been expecting {hero_obj} for years.",
    "'Nobody goes out to the island in {season},' he said. 'Not any more.'",
    "The crossing took forty minutes, and {hero_sub} was sick twice.",
    "The island was smaller than {hero_sub} remembered, and the lighthouse larger.",
    "A dog barked somewhere behind the chapel.",
    "The key was under the third stone from the door, exactly where the letter said it would be.",
    "Inside, everything was covered in dust sheets, as if the house had been put to bed.",
    "{hero_Sub} lifted the nearest one.",
    "Underneath was a writing desk, and on the desk was a ledger with {hero_pos} own name on the cover.",
    "{hero_Sub} sat down without meaning to.", "Somewhere below, the sea kept up its slow work against the rocks.",
    "The entries began in {year} and ran, in the same careful hand, for more than thirty years.",
    "Some were only a line long: weather, tides, the price of coal.", "Others went on for pages.",
    "{hero_Sub} read until the candle burned down and then, because there was nothing else to do, {hero_sub} lit "
    "another.",
    "In the morning {friend_first} came over on the first boat, carrying bread and a flask of coffee.",
    "'Well?' {friend_sub} said. 'Are you going to tell me, or do I have to guess?'",
    "{hero_first} handed {friend_obj} the ledger and went outside to stand in the wind.",
    "The tide was out, and the causeway had appeared, slick and black, as it did twice a day.",
    "A man was walking across it towards the island, not hurrying.",
    "Even from that distance there was something familiar in the way he walked.",
    "{hero_Sub} did not move.", "Behind {hero_obj}, {friend_first} had stopped reading.",
    "The man reached the end of the causeway and lifted a hand, as if they had parted only yesterday.",
    "It had been twenty-two years.", "'You'd better come in,' {hero_first} said at last, 'before the tide does.'",
    "Later {hero_sub} would try to remember what they had talked about that first evening, and find that {hero_sub} "
    "could not.",
    "There had been soup, and a great deal of silence, and at some point the lamp had run out of oil.",
    "What {hero_sub} did remember was the moment he took the photograph out of his own pocket and laid it beside hers.",
]
NARRATIVE2 = [
    "The next morning the fog had come in so thick that {hero_first} could not see the end of the jetty.",
    "{hero_Sub} walked down to the village anyway, because the shop opened at eight and there was no milk.",
    "Mrs {victim_last} was behind the counter, as she had been for forty years, knitting something enormous and grey.",
    "'You'll be the one staying up at the lighthouse,' she said, before {hero_first} had even shut the door.",
    "News travelled fast in {town2}; it had nothing else to do.",
    "{hero_Sub} bought milk, bread, matches and a map {hero_sub} did not need.",
    "On the noticeboard by the door, between a lost cat and a jumble sale, was a poster for a talk at the chapel hall.",
    "The speaker's name made {hero_obj} stop.",
    "It was a name {hero_sub} had last seen in the ledger, in the entry for the night of the storm.",
    "'Is he still alive?' {hero_sub} asked, pointing.",
    "Mrs {victim_last} looked at the poster, then at {hero_obj}, for rather too long.",
    "'Depends who's asking,' she said, and went back to her knitting.",
    "Outside, the fog was lifting in long grey rags.",
    "Somewhere out on the water a boat engine coughed, caught and faded away.",
    "{hero_first} stood on the step and read the poster again.",
    "The talk was that evening, at seven, and admission was free, with tea and biscuits to follow.",
    "By half past six {hero_sub} was sitting in the back row of the chapel hall, with {hero_pos} coat buttoned to the "
    "neck.",
    "There were eleven people in the audience, and every one of them turned round to look at {hero_obj}.",
    "The speaker, when he came in, was much older than {hero_sub} had imagined and walked with two sticks.",
    "He talked for an hour about the wrecks of the {region_bare} coast, without notes, and nobody coughed once.",
    "At the end he asked if there were any questions, and looked straight at {hero_first}.",
    "{hero_Sub} had a hundred. {hero_Sub} asked none of them.",
    "Afterwards, over the tea urn, he found {hero_obj} anyway.",
    "'You have your grandmother's hands,' he said. 'I wondered when you would come.'",
    "Then he put a folded piece of paper into {hero_pos} pocket and was gone before {hero_sub} could say a word.",
    "{hero_Sub} did not read it until {hero_sub} was back at the lighthouse, with the door bolted and the lamp lit.",
    "It was a list of dates, seven of them, and beside the last one, in the same shaky hand, was tomorrow's.",
]
PREFACE = ["This book began as {origin}.", "I did not set out to write a book.",
           "For {n_years} years I have been asked the same question.",
           "Over the years I have learned more from my mistakes than from my successes, and I have tried to include "
           "both here.",
           "Nothing in these pages requires special skill, expensive equipment or a large garden.",
           "I have tried to write the book I wanted when I was starting out: honest, practical and short enough to "
           "read on a train.",
           "Many people helped along the way, and they are thanked at the back; any errors that remain are mine.",
           "The chapters can be read in any order, though the first two explain ideas that come up again and again.",
           "Wherever I could, I have tested everything myself, usually more than once and often in the rain.",
           "If this book persuades even one reader to try, it will have done its job."]
ORIGINS = ["a set of notes for my evening class in {town}", "a bet with my editor over lunch",
           "a single question from my daughter",
           "a blog I kept during one very wet winter", "a series of talks for the {society}"]


def excerpt(ctx: dict, length: int) -> str:
    local = dict(ctx, victim_last=pick(SURNAMES))
    sentences = R.sample(NARRATIVE, len(NARRATIVE))
    start = sentences.index(NARRATIVE[0])
    sentences.insert(0, sentences.pop(start))  # the opening line first
    if chance(0.5):
        sentences = sentences[:1] + sorted(sentences[1:], key=NARRATIVE.index)  # in story order, mostly
    if length > 2500:
        sentences += NARRATIVE2
    out, total = [], 0
    for sentence in sentences:
        out.append(sentence.format_map(local))
        total += len(out[-1]) + 1
        if total >= length:
            break
    head = pick(["Chapter One ", "Chapter 1 ", "CHAPTER ONE ", "Prologue ", "Excerpt. ", "1 ", "From Chapter One: "])
    text = head + " ".join(out)
    if chance(0.4):
        text += pick([" Copyright {cyear} by {au}. Excerpted by permission. All rights reserved. No part of this "
                      "excerpt may be reproduced or reprinted without permission in writing from the publisher.",
                      " (c) {cyear} {au}"]).format(cyear=R.randint(1995, 2013), au=ctx["au"])
    return text


def preface(ctx: dict, parts: tuple | None) -> str:
    local = dict(ctx, origin=pick(ORIGINS).format_map(ctx))
    chosen = R.sample(PREFACE, R.randint(4, 8))
    text = pick(["Preface ", "PREFACE ", "Introduction ", "Foreword "]) + " ".join(chosen).format_map(local)
    if parts and chance(0.4):
        text += " " + synopsis(parts, ctx)
    return text


SHORT_BOOK = ["By {au}, illustrated by {ill}", "Selected by {au}", "Edited by {au} with an introduction by {person2}",
              "'{quote}' {paper}", "A {series_n} title.", "{pages} pages. {publisher}, {year_prev}.",
              "Translated from the Danish by {person2}.", "By {au}. Read by {person2}. Unabridged, {n_small} CDs.",
              "{au}'s {ordinal} novel.", "New in paperback.", "Introduction by {person2}; notes by {au}.",
              "The {ordinal} book in {series}."]


# --- assembling -------------------------------------------------------------------------------------
STYLE_WEIGHTS = [("ascii", 60), ("hex", 17), ("dec", 10), ("named", 6), ("quot", 2), ("raw", 2), ("cp1252", 3)]
SMART = [(re.compile(r"(^|[\s(\[\x01])'"), "\\1\u2018"), (re.compile(r"'"), "\u2019"),
         (re.compile(r'(^|[\s(\[\x01])"'), "\\1\u201c"), (re.compile(r'"'), "\u201d"),
         (re.compile(r"(?<=\d)-(?=\d)"), "\u2013"), (re.compile(r" -- "), " \u2014 "), (re.compile(r"\.\.\."), "\u2026")]
NAMED = {"\u2018": "&lsquo;", "\u2019": "&rsquo;", "\u201c": "&ldquo;", "\u201d": "&rdquo;", "\u2013": "&ndash;",
         "\u2014": "&mdash;", "\u2026": "&hellip;", "\u00e9": "&eacute;", "\u00e8": "&egrave;", "\u00f1": "&ntilde;",
         "\u00e7": "&ccedil;", "\u00a9": "&copy;", "\u00fb": "&ucirc;", "\u00a0": "&nbsp;", "\u2022": "&bull;", "\u00ea": "&ecirc;"}
ASCII = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "--", "\u2026": "...",
         "\u00e9": "e", "\u00e8": "e", "\u00f1": "n", "\u00e7": "c", "\u00a9": "(c)", "\u00fb": "u", "\u00a0": " ",
         "\u2022": "*", "\u00ea": "e"}
CP1252 = {"\u2019": "&#146;", "\u2018": "&#145;", "\u201c": "&#147;", "\u201d": "&#148;", "\u2014": "&#151;", "\u2013": "&#150;"}


def encode(text: str, style: str) -> str:
    """Plain text (straight quotes) -> as a catalog writes it: ASCII, or curly quotes as entities of one kind."""
    if style == "ascii":
        return "".join(ASCII.get(c, c) for c in text)
    if style == "quot":
        return text.replace("&", "&amp;").replace('"', "&quot;")
    for pattern, replacement in SMART:
        text = pattern.sub(replacement, text)
    if style == "raw":
        return text
    if style == "named":
        text = text.replace("&", "&amp;")
        return "".join(NAMED.get(c, c) for c in text)
    if style == "cp1252":
        return "".join(CP1252.get(c, f"&#{ord(c)};" if ord(c) > 127 else c) for c in text)
    form = "&#x{:X};" if style == "hex" else "&#{};"
    return "".join(form.format(ord(c)) if ord(c) > 127 else c for c in text)


def finish(text: str, style: str, html: bool = False, spaces: bool = False, glue: bool = True) -> str:
    """Italic markers resolved, quotes encoded, and the real catalog's artefacts added."""
    glued = chance(0.5)
    if html:
        text = re.sub(f"{I0}(.*?){I1}", r"<i>\1</i>", text)
    elif glued:
        text = re.sub(f" ?{I0}(.*?){I1} ?", r"\1", text)
    text = text.replace(I0, "").replace(I1, "")
    text = encode(text, style)
    if html:
        sentences = re.split(r"(?<=\.) ", text)
        cut = max(1, len(sentences) // 2)
        text = pick(["<p>{}</p><p>{}</p>", "{}<br><br>{}", "<b>{}</b> {}", "{}<br />{}"]).format(
            " ".join(sentences[:cut]), " ".join(sentences[cut:]))
    if glue and chance(0.07):  # lost line breaks: "...the sea.The next"
        ends = [m.end() for m in re.finditer(r"[a-z][.!?] (?=[A-Z])", text)]
        for end in sorted(R.sample(ends, min(len(ends), R.randint(1, 3))), reverse=True):
            text = text[:end - 1] + text[end:]
    if spaces:  # a few doubled spaces, where the source was wrapped
        words = text.split(" ")
        for i in R.sample(range(1, len(words)), min(len(words) - 1, R.randint(1, 6))):
            words[i] = " " + words[i]
        text = " ".join(words)
    return text


def book_kind() -> str:
    return weighted([("novel", 112), ("nonfiction", 92), ("children", 28), ("middle", 11), ("media", 8)])


USED_TITLES: set[str] = set()  # only tested for membership: the output never depends on its order


def title_key(title: str) -> str:
    return " ".join(title.lower().split())


def unique(make, *args) -> dict:
    """make(*args) until its title is one no record has yet (the shared titles are the hand-written ones)."""
    while True:
        record = make(*args)
        if title_key(record["title"]) not in USED_TITLES:
            USED_TITLES.add(title_key(record["title"]))
            return record


def make_book(kind: str | None = None) -> dict:
    return unique(_make_book, kind)


def make_product(category: str | None = None) -> dict:
    return unique(_make_product, category)


def _make_book(kind: str | None = None) -> dict:
    """A generated book: its title, description (plain), what it is."""
    kind = kind or book_kind()
    style = weighted(STYLE_WEIGHTS)
    ctx = context(style)
    author = ctx["_author"]
    sub_kind = None
    if kind == "novel":
        genre = pick(GENRES)
        title, main, series = novel_title(genre, author)
        if series:
            ctx["series"] = series
        ctx["I_title"] = ital(main)
        parts = SYN[genre]
        bank, genre_word = QUOTES_NOVEL, genre
        modes = [("reviews", 35), ("bio", 17), ("synopsis", 16), ("trade", 14), ("excerpt", 6), ("short", 3),
                 ("synopsis+bio", 5), ("reviews+bio", 5), ("long", 2)]
    elif kind == "nonfiction":
        sub_kind = weighted([("cookbook", 18), ("garden", 10), ("craft", 14), ("walking", 9), ("history", 12),
                             ("nature", 8), ("selfhelp", 6), ("memoir", 7), ("poetry", 4), ("language", 4)])
        spec = NONFICTION[sub_kind]
        main = pick(spec["titles"]).format_map(ctx)
        title = main
        form = R.random()
        if form < 0.36 and ":" not in main:
            subtitles = NONFIC_SUBTITLES[sub_kind] + ["A Practical Guide", "An Illustrated Guide", "The Complete Handbook"]
            title = f"{main}: {pick(subtitles).format_map(ctx)}"
        elif form < 0.48:
            title = f"{main} ({pick(SERIES_BY_KIND.get(sub_kind, []) + EDITIONS)})"
        if ":" in title and "(" not in title and chance(0.12):
            title += f" ({pick(SERIES_BY_KIND.get(sub_kind, []) + EDITIONS)})"
        if sub_kind in SERIES_BY_KIND:
            ctx["series_n"] = pick(SERIES_BY_KIND[sub_kind])
        ctx["I_title"], ctx["I_title_plain"] = ital(main), main.split(":")[0]
        parts = (spec["intro"], spec["body"], spec["close"])
        bank, genre_word = QUOTES_NONFICTION + QUOTES_BY_KIND.get(sub_kind, []), sub_kind
        modes = [("synopsis", 30), ("bio", 22), ("reviews", 23), ("trade", 8), ("preface", 5), ("publisher", 3),
                 ("short", 3), ("synopsis+reviews", 4), ("synopsis+bio", 3)]
    elif kind == "children":
        main = pick(CHILDREN["titles"]).format_map(ctx)
        title = main
        if chance(0.22):
            title = f"{main} ({ctx['series_k']})"
        elif chance(0.22):
            title = f"{main}: {pick(['A Lift-the-Flap Book', 'A Counting Book', 'A Bedtime Story', 'Touch and Feel'])}"
        ctx["I_title"] = ital(main)
        parts = (CHILDREN["intro"], CHILDREN["body"], CHILDREN["close"])
        bank, genre_word = QUOTES_CHILDREN, "children"
        modes = [("synopsis", 40), ("reviews", 20), ("bio2", 24), ("short", 8), ("trade", 8)]
    elif kind == "middle":
        main = pick(MIDDLE_GRADE["titles"]).format_map(dict(ctx, kid=ctx["hero_first"], adj=pick(T_ADJ)))
        n = R.randint(1, 4)
        title = pick([f"{main} (Book {n})", f"{main}", f"{main}: Book {n}"])
        ctx["I_title"] = ital(main)
        parts = (MIDDLE_GRADE["intro"], MIDDLE_GRADE["body"], MIDDLE_GRADE["close"])
        bank, genre_word = QUOTES_CHILDREN, "middle"
        modes = [("synopsis", 50), ("reviews", 25), ("bio", 25)]
    else:  # audio, film, calendars
        genre = pick(GENRES)
        base, _, _ = novel_title(genre, author)
        form = R.random()
        if form < 0.4:
            title = f"{base} [Audio CD]"
            opening, cds, hours = pick(SYN[genre][0]), R.randint(6, 14), R.randint(7, 16)
            text = f"{opening} Read by {ctx['person2']}. Unabridged, {cds} CDs, {hours} hours."
        elif form < 0.7:
            region = ctx["region_bare"]
            name = pick(["Gentle Yoga for Stiff Backs", f"Walking the {region}", "Beginning Watercolour", f"Birds of {region}"])
            title = f"{name} [{pick(['DVD', 'VHS'])}]"
            minutes = R.randint(45, 120)
            what = pick(["takes you step by step through the basics", "follows the seasons over one year",
                         f"was filmed on location in {ctx['town']} over two summers"])
            extra = pick(["Includes a printed booklet.", "Region 2.", "Subtitles in English.", "Suitable for all ages."])
            text = f"{minutes} minutes. Presented by {ctx['au']}, this programme {what}. {extra}"
        else:
            name = pick(["Cottage Gardens", f"Lighthouses of {ctx['region_bare']}", "Seaside Birds", "Country Kitchens"])
            title = f"{name} Calendar {R.randint(2009, 2016)}"
            pictures = pick(["photographs", "watercolours", "prints"])
            size = pick(["30 x 30 cm", "12 x 12 inches", "30 x 42 cm"])
            text = (f"Twelve months of {pictures} by {ctx['au']}, with a grid for each month, UK and US holidays and "
                    f"space for notes. Wall calendar, {size}.")
        return {"kind": "media", "title": title, "text": text, "style": style, "book": True}

    ctx["_title"] = title
    ctx["_fiction"] = kind == "novel"
    if kind in AUTHOR_FACTS or sub_kind in AUTHOR_FACTS:
        jobs, topics, plural = AUTHOR_FACTS[sub_kind or kind]
        ctx.update(bio_job=pick(jobs), topics=pick(topics), bio_jobs=plural)
        ctx["bio_job_a"] = a_an(ctx["bio_job"])
    if kind in ("children", "middle"):
        ctx["award"] = pick([ctx["award"], "the Greenleaf Medal for Children's Books",
                             "the Thimble Prize for Picture Books"])
    mode = weighted(modes)
    illustrator = Person()
    if mode == "reviews":
        text = reviews(dict(ctx, kid=ctx["kid"]), bank)
    elif mode == "bio":
        people = [(author, "author")]
        if chance(0.4):
            people.append((Person(), pick(["author", "author", "illustrator", "translator"])))
        if chance(0.08):
            people.append((Person(), "author"))
        text = bios(ctx, people)
    elif mode == "bio2":
        text = bios(ctx, [(author, "author"), (illustrator, "illustrator")] if chance(0.7) else [(illustrator,
                                                                                                  "illustrator")])
    elif mode == "synopsis":
        text = synopsis(parts, ctx, (2, 4) if kind in ("novel", "nonfiction") else (1, 4))
        if chance(0.3):
            text += pick([" ", "", " About the Author ", "  "]) + bio(ctx, author)
        elif chance(0.2):
            text += pick([" ", ""]) + reviews(ctx, bank, R.randint(2, 4))
        if kind == "children" and not re.search(r"ages|grades|board book|level", text.lower()) and chance(0.6):
            text += " " + pick(["For ages {a1}-{a2}.", "Ages {a1} and up.", "Grades {g1}-{g2}."]).format_map(ctx)
        if chance(0.08):
            text = pick(["Product Description ", "Book Description ", "Product Description: "]) + text
    elif mode == "trade":
        text = trade_review(ctx, genre_word, parts)
        if chance(0.25):
            text += pick(["", " "]) + pick(["From " + pick(PAPERS) + " ", ""]) + trade_review(ctx, genre_word, parts)
    elif mode == "excerpt":
        text = excerpt(ctx, weighted([(900, 2), (1800, 3), (2800, 3), (4200, 2), (5200, 1)]))
        if chance(0.5):  # the whole page: reviews, then the excerpt, then who wrote it
            head = reviews(ctx, bank, R.randint(3, 8)) + pick([" ", ""])
            text = head + text + pick([" ", ""]) + bios(ctx, [(author, "author")])
    elif mode == "long":  # the whole page as some records hold it: reviews, a long excerpt, authors, a trade review
        text = (reviews(ctx, bank, R.randint(8, 12)) + " " + excerpt(ctx, R.randint(3500, 5200)) + pick([" ", ""])
                + bios(ctx, [(author, "author"), (Person(), "author")]) + " " + trade_review(ctx, genre_word, parts))
    elif mode == "preface":
        text = preface(ctx, parts)
    elif mode == "publisher":
        lead = pick(["", "", "Here is "])
        body = synopsis(parts, ctx, (2, 4))
        text = f"From the Publisher {lead}{body} {pick(PUBLISHERS)} publishes books about {pick(TOPICS)}."
    elif mode == "short":
        form = pick(SHORT_BOOK)
        quote = pick(bank).format_map(ctx)
        text = form.format_map(dict(ctx, quote=quote, publisher=pick(PUBLISHERS)))
    elif mode == "synopsis+bio":
        text = synopsis(parts, ctx, (2, 4)) + pick([" ", "", "", " About the Author "]) + bio(ctx, author)
    elif mode == "synopsis+reviews":
        text = synopsis(parts, ctx, (1, 3)) + pick([" ", ""]) + reviews(ctx, bank, R.randint(2, 4))
    else:  # reviews+bio
        text = reviews(ctx, bank, R.randint(2, 5)) + pick([" ", ""]) + bio(ctx, author)
    if mode not in ("short", "excerpt", "long"):  # more sections of the page: reviews, about the author, a trade review
        for extra in range(weighted([(0, 62), (1, 28), (2, 10)])):
            section = weighted([("bio", 5), ("reviews", 4), ("trade", 2)])
            if section == "bio":
                addition = pick(["", "About the Author ", "About the Author: "]) + bio(ctx, pick([author, Person()]))
            elif section == "reviews":
                addition = pick(["", "Review ", "Praise: ", "Reviews "]) + reviews(ctx, bank)
            else:
                addition = trade_review(ctx, genre_word, parts)
            text += pick([" ", "", " ", " "]) + addition
    return {"kind": kind, "sub": sub_kind, "mode": mode, "title": title, "text": text, "style": style, "book": True}


BRANDS = ("Hearthwell", "Wrenwood", "Ardent", "Brightmoor", "Oakhollow", "Kestle")


def _make_product(category: str | None = None) -> dict:
    category = category or weighted([("toy", 12), ("kitchen", 12), ("tool", 9), ("music", 11), ("other", 9)])
    style = weighted([("ascii", 80), ("dec", 6), ("hex", 6), ("named", 6), ("raw", 2)])
    if category == "music":
        band, album = pick(BANDS), pick([novel_base(), pick(SONG_WORDS), f"{pick(SONG_WORDS)} and Other Songs"])
        songs = R.sample(SONG_WORDS, R.randint(3, 6))
        tracks = R.randint(9, 15)
        ordinal, how, where, year = pick(ORDINALS[1:5]), pick(["live to tape", "in five days", "over one winter"]), town(), \
            R.randint(1996, 2013)
        styles, instruments = (pick(MUSIC_GENRES), pick(MUSIC_GENRES)), (pick(INSTRUMENTS), pick(INSTRUMENTS))
        parts = [f"The {ordinal} album from {band}, {album} was recorded {how} in a converted chapel in {where} in {year}.",
                 f"Its {tracks} songs move between {styles[0]} and {styles[1]}, with {instruments[0]} and {instruments[1]} "
                 "at the centre.",
                 f"Includes '{songs[0]}' and a reworked version of '{songs[1]}'.",
                 f"Liner notes by {Person().name}.", f"Total running time {R.randint(38, 72)} minutes."]
        chosen = parts[:1] + R.sample(parts[1:], R.randint(1, 3))
        if chance(0.3):
            chosen.append("Tracks: " + " ".join(f"{i + 1}. {song}" for i, song in enumerate(songs)))
        title = pick([album, album, f"{album} [Audio CD]", f"{album} (Deluxe Edition)", f"{band}: {album}"])
        return {"kind": "music", "title": title, "text": " ".join(chosen), "style": style, "book": False}
    name, sentences = pick(PRODUCTS[category])
    slots = {"n": pick([6, 7, 8, 12, 24, 36, 48, 60, 100]), "m": R.randint(10, 30), "m2": R.randint(5, 20),
             "inch": pick([6, 8, 10, 12, 14]), "cm": pick([20, 25, 30, 35, 40, 45]), "qt": pick([3, 4, 5, 6]),
             "kg": pick(["0.9", "1.2", "1.6", "2.1", "2.6", "3.4"]), "a": R.randint(1, 3), "town": town()}
    title = name.format_map(slots)
    if chance(0.45) and not title.startswith(BRANDS):
        title = f"{pick(BRANDS)} {title}"
    if chance(0.45):
        title += pick([", Blue", ", Natural", ", Charcoal Grey", ", Sage Green", ", Red", " - Gift Boxed", " for Kids",
                       ", Pack of 2", " (New Version)", ", Large"])
    chosen = sentences[:1] + R.sample(sentences[1:], R.randint(max(1, len(sentences) - 3), len(sentences) - 1))
    return {"kind": category, "title": title, "text": " ".join(chosen).format_map(slots), "style": style, "book": False}


def fixed_records() -> list[dict]:
    """Hand-written records the demo and the docs refer to, and the groups real catalogs have."""
    plain = lambda title, text, uid=None, style="ascii", **extra: dict(title=title, text=text, uid=uid, style=style,
                                                                       fixed=True, **extra)
    salt_key = ("Something has been taking the lanterns from the graves at Hollowmere, one a night, and leaving a "
                "single "
                "grain of salt in their place. Bookbinder Agnes Penhallow would rather mend spines than solve puzzles, "
                "but when the churchwarden is found drowned in two inches of water she has no choice. The first Hollow "
                "Lantern Mystery: a village, a bookshop, a very old grudge and a key that opens nothing anyone can "
                "find.")
    return [
        plain("The Backyard Chicken Handbook",
              "Choosing breeds, building a coop, feeding, predator-proofing and what to do when a hen stops laying. "
              "Poultry keeper Ruth Pellowe covers everything a first flock of three to six birds needs, from the four "
              "square feet of floor space each hen wants to winter water that won't freeze. With 120 colour "
              "photographs, a month-by-month care calendar and 25 egg recipes.--This text refers to the Paperback "
              "edition.",
              uid="0496900137", style="dec"),
        plain("Astronomy for Backyard Observers",
              "What you can see with binoculars, a small telescope or your own eyes, and when to look. Monthly sky "
              "charts "
              "for the northern hemisphere, a guide to the Moon's 40 best features and plain advice on buying a first "
              "telescope. Edwin Stanhope has run the Castlebrook Stargazers' Club for 25 years.", uid="1364376709"),
        plain("The Kitchen Garden Cookbook",
              "'Exactly what every allotment holder needs in August.' The Garden Gate 'Thrifty, cheerful and full of "
              "good "
              "ideas.' Country Kitchen Quarterly 'I finally know what to do with runner beans.' Hearth & Home",
              uid="8060228137"),
        plain("Coffee Mug",
              "A 12 oz stoneware mug with a speckled reactive glaze, thrown on a wheel in a small studio in "
              "Yarrowmere, so each one comes out a little different. Microwave and dishwasher safe.", uid="B000SV401A",
              book=False),
        plain("Coffee Mug", "White porcelain mug, 11 oz. Dishwasher safe.", uid="B03N9G2F6P", book=False),
        plain("The Garden", "'A novel as patient and surprising as the seasons it follows.' Westmoor Gazette 'Quietly "
              "magnificent.' The Pinecrest Review of Books 'Maud Fennimore writes about growing things the way other "
              "novelists write about love.' Lamplight Magazine", style="hex"),
        plain("The Garden",
              "The second album from Heron Street Band, recorded in a greenhouse in Linnetford over one summer. "
              "Eleven songs for acoustic guitar, harmonium and three voices, including 'Orchard Gate' and 'Winter "
              "Wheat'.",
              book=False),
        plain("The Garden", "By Nell Ormerod, illustrated by Kit Rainbird. A board book for ages 1-3.", style="ascii"),
        plain("Harvest", "'The only cookbook I have worn out.' Country Kitchen Quarterly 'Seasonal cooking without a "
              "trace of smugness.' The Sunday Almanac --This text refers to theHardcoveredition."),
        plain("Harvest",
              "Hand-poured soy wax candle scented with apple, clove and woodsmoke, in a 200 g amber glass jar. "
              "Burns for about 40 hours. Made in Saltern Bay.", book=False),
        plain("Fireweed",
              "After the fire that takes her family's orchard, fourteen-year-old Isla Truscott is sent to live "
              "with an aunt she has never met, on an island where the only thing that grows well is trouble. A novel "
              "for young adults about grief, stubbornness and the first green shoots afterwards. Ages 12 and up."),
        plain("Fireweed",
              "Ivor Sowerby was born in Cindermoor in 1941 and worked for thirty years as a surveyor on the "
              "Orrin Coast railway. He published four collections of poems, of which this, his last, won the Copper "
              "Quill. He died in 2009.", style="dec"),
        plain("Night Ferry",
              "'Terrifying and exhilarating.' Harbour Lights Weekly 'The most frightening book I have read "
              "since I was a teenager.' Tobias Wragg, The Evening Beacon"),
        plain("Night Ferry", "Juniper Gale's debut album: eleven slow, smoky songs about leaving home, recorded with a "
              "double bass, a brushed snare and a piano that was never quite in tune. Total running time 47 minutes.",
              book=False),
        plain("The Hollow Lantern Mysteries: The Salt Key", salt_key, uid="0001381245", style="hex", group="salt"),
        plain("The Salt Key (Hollow Lantern Mysteries, Book 1)", salt_key, uid="0001381254", style="hex", group="salt"),
        plain("The Hollow Lantern Mysteries: The Iron Key",
              "Agnes Penhallow's second case begins with a wedding and a missing bridegroom, and ends, three bodies "
              "later, "
              "in the flooded iron workings under Hollowmere Hill. 'Cosy on the surface and razor-sharp underneath.' "
              "The Calder Herald--This text refers to an out of print or unavailable edition of this title.",
              uid="0001381246"),
        plain("The Hollow Lantern Mysteries: The Glass Key",
              "Agnes Penhallow (The Iron Key) is asked to value a library of old glass-plate photographs, and finds in "
              "one of them a face that should not be there: her own. The third Hollow Lantern Mystery.", uid="0001381262"),
        plain("Performance Running Shorts, 5\" Inseam",
              "Lightweight, quick-drying recycled polyester with four-way stretch. A built-in brief liner, a zip "
              "pocket at "
              "the back for a key or an energy gel, and a reflective logo for running at dusk. Sizes S-XXL.",
              uid="B000K9R2ZY", style="dec", book=False),
        plain("Performance Running Shorts, 7\" Inseam",
              "The same quick-drying recycled polyester as our 5 inch shorts, with a longer 7 inch leg and two side "
              "pockets. No liner. Sizes S-XXL.", uid="B000K9R2ZX", book=False),
        plain("Caf\u00e9 Lantern Cookbook: Recipes from the Harbour", "Eighty recipes from the little caf\u00e9 on "
              "Pellcombe harbour: crab on toast, fish soup, lemon tart and the famous cardamom buns. Delia Kemble "
              "opened the Caf\u00e9 Lantern in 1994 with one oven and a borrowed kettle.", style="named"),
    ]


BOILERPLATE = {
    "quillon": ("Quillon Educational authors are classroom teachers, researchers and specialists, and every title is "
                "tested with real pupils before it reaches print. Quillon has published school books since 1921.",
                ["Pathways Reading, Grade {g}: Student Workbook (Quillon Literacy)",
                 "Numbers at Work, Grade {g} (Quillon Maths)",
                 "Our World Today: Teacher's Edition, Grade {g}",
                 "Pathways Reading, Grade {g}: Teacher's Guide (Quillon Literacy)"]),
    "calder": ("The Calder Herald has been printed in Port Callow since 1841. Its daily cryptic crossword is one of "
               "the "
               "oldest in the country, and the Saturday puzzle pages add logic grids, number puzzles and the notorious "
               "Prize Grid, which has defeated readers for three generations.",
               ["The Calder Herald Cryptic Crosswords Book {g}", "The Calder Herald Logic Puzzles: Volume {g}",
                "Calder Herald Killer Number Puzzles Book {g}"]),
    "foxglove": ("Each volume in the Foxglove Kitchen Library takes a single ingredient from field to table, with "
                 "recipes from growers, home cooks and chefs, and photographs taken where the food is grown.",
                 ["{food}: A Foxglove Kitchen Library Cookbook", "{food} (Foxglove Kitchen Library)"]),
    "larkspur": ("A Larkspur Classics title, newly typeset from the first edition.",
                 ["{base} (Larkspur Classics)", "{base}"]),
}


def boilerplate_records() -> list[dict]:
    out = []
    for name, count in (("quillon", 5), ("calder", 5), ("foxglove", 4), ("larkspur", 3)):
        text, titles = BOILERPLATE[name]
        grades = R.sample(range(1, 9), count)
        for i in range(count):
            title = pick(titles).format(g=grades[i], food=pick(FOODS), base=novel_base())
            if title_key(title) in USED_TITLES:
                continue
            USED_TITLES.add(title_key(title))
            out.append({"title": title, "text": text, "style": "ascii", "book": True, "kind": "boilerplate"})
    return out


JUNK_CONTENT = ["Paperback", "N/A", "<br />", "&nbsp;", "...", "See description", "<p></p>", "Hardcover", "New",
                "Great gift!", "--This text refers to thePaperbackedition.",
                "--This text refers to theHardcoveredition.",
                "--This text refers to an out of print or unavailable edition of this title.", "&#160;", "Tips.",
                "Book Description",
                "<br>", "http://www.lanternwick-books.test/catalogue/item/5521", "*** *** *** *** *** *** *** ***",
                "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", "--This text refers to thePaperbackedition.", "Gift idea."]
BLANK_CONTENT = [" ", "\n", "\t", "  \n  ", "\r\n", "   "]


def fresh_uid(taken: set, book: bool, near: str | None = None) -> str:
    """A new uid: ISBN-10 style for books, an ASIN for the rest (a few the other way), or one or two
    characters from `near`."""
    while True:
        if near:
            uid = look_alike(near)
        elif book:
            uid = isbn10() if chance(0.94) else asin()
        else:
            uid = asin() if chance(0.9) else isbn10()
        if uid not in taken:
            taken.add(uid)
            return uid


def title_of(title: str) -> str:
    """A title as the catalog writes it: accents as entities (or dropped), '&' sometimes as '&amp;'."""
    if not title.isascii():
        return encode(title, pick(["named", "dec", "ascii", "named"]))
    if "&" in title and chance(0.35):
        return title.replace("&", "&amp;")
    return title


def write_atomically(path: Path, data: bytes) -> None:
    try:
        mode = path.stat().st_mode & 0o777  # mkstemp makes files only their owner can read
    except FileNotFoundError:
        mode = 0o644
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def main() -> None:
    R.seed(SEED)
    USED_TITLES.clear()
    usable = fixed_records()
    USED_TITLES.update(title_key(r["title"]) for r in usable)
    usable += boilerplate_records()
    while len(usable) < 280:
        usable.append(make_book())
    while len(usable) < 326:
        usable.append(make_product())
    # other editions of some novels: the same description under another title, a look-alike uid
    novels = [r for r in usable if r.get("kind") == "novel" and "(" not in r["title"] and ":" not in r["title"]]
    twins = [dict(record, title=record["title"] + suffix, twin_of=record) for record, suffix in
             zip(R.sample(novels, 4), [" (Large Print Edition)", " [Audio CD]", ": A Novel", " (Paperback)"])]
    usable += twins

    taken = {r["uid"] for r in usable if r.get("uid")}
    for record in usable:
        if not record.get("uid"):
            near = record["twin_of"]["uid"] if "twin_of" in record else None
            record["uid"] = fresh_uid(taken, record.get("book", True), near)
    for record in R.sample(usable, 6):  # unrelated products whose uids are one or two characters apart
        spec = make_book() if record.get("book", True) else make_product()
        usable.append(dict(spec, uid=fresh_uid(taken, spec["book"], record["uid"])))

    for record in usable:
        if "twin_of" in record:
            continue
        text, style = record["text"], record["style"]
        if record.get("fixed") or record.get("kind") == "boilerplate":
            record["content"] = finish(text, style, glue=False)  # as written: the same bytes wherever a text repeats
            continue
        if record.get("book") and "refers to" not in text and chance(0.25):
            text += pick(["", "", " "]) + refers()
        record["content"] = finish(text, style, html=chance(0.012), spaces=chance(0.08))
    for record in usable:
        if "twin_of" in record:
            record["content"] = record["twin_of"]["content"]

    rows = [{"uid": r["uid"], "title": title_of(r["title"]), "content": r["content"]} for r in usable]
    for row in R.sample([row for row in rows if row["title"] != "The Backyard Chicken Handbook"], 5):
        row["title"] = pick([row["title"] + " ", " " + row["title"], row["title"].replace(" ", "  ", 1),
                             row["title"] + "  "])

    for content in JUNK_CONTENT:  # filler that cleans to nothing, or to too little
        spec = make_book() if chance(0.8) else make_product()
        rows.append({"uid": fresh_uid(taken, spec["book"]), "title": title_of(spec["title"]), "content": content})
    for _ in range(2):  # a description that only repeats the title
        spec = make_product()
        rows.append({"uid": fresh_uid(taken, False), "title": spec["title"], "content": spec["title"]})
    for i in range(150):  # a third of the real catalog has no description
        spec = make_book() if chance(0.9) else make_product()
        rows.append({"uid": fresh_uid(taken, spec["book"]), "title": title_of(spec["title"]),
                     "content": pick(BLANK_CONTENT) if i % 9 == 0 else ""})

    for row in rows:
        row["target_ind"], row["target_rel"] = targets()
    R.shuffle(rows)
    for row in R.sample(rows, 10):  # whole rows repeated further down
        rows.insert(R.randint(rows.index(row) + 1, len(rows)), dict(row))
    assert not any(I0 in row["content"] or I1 in row["content"] or "Velvet Submarine" in row["title"] for row in rows)
    fields = ("uid", "title", "content", "target_ind", "target_rel")
    lines = [json.dumps({key: row[key] for key in fields}) for row in rows]
    write_atomically(OUT, ("\n".join(lines) + "\n").encode("ascii"))
    print(f"wrote {len(rows)} records to {OUT}")


if __name__ == "__main__":
    main()
