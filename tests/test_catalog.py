"""The catalog: exact / typo / BM25 retrieval and the "is this product in the catalog?" decision.

Hermetic: every catalog is written here, with CatalogWriter, into tmp_path.
"""
import sqlite3

import numpy as np
import pytest

from productqa.catalog import EXACT_SCORE, TYPO_SCORE, Catalog, Source
from productqa.catalog_file import CatalogWriter, _hash_batch, title_key, word_hash
from productqa.errors import UserError
from productqa.prompts import read_heldout_templates, read_question_templates
from productqa.titles import normalize_title

RECORDS = [
    ("0001", "Mog's Christmas", "A cat called Mog and a very confusing Christmas."),
    ("0002", "Mog's Christmas", "The audio edition, read by the author."),
    ("0003", "Mog's Christmas", "A board book for toddlers."),
    ("0004", "Café Crème", "Smooth coffee, 250 g of ground beans."),
    ("0005", "Salt & Pepper Shakers", "A pair of ceramic shakers."),
    ("0006", "Kestrel KX-200 Speaker", "A portable speaker with 20 hours of battery."),
    ("0007", "The Hobbit", "Bilbo Baggins leaves the Shire."),
    ("0008", "The Hobbit: An Unexpected Journey", "The first film of the trilogy."),
    ("0009", "About the Hobbit", "A reader's guide to Tolkien's novel."),
    ("0010", "The Quiet Harbor", "A novel set in a fishing village in Maine."),
    ("0011", "Harbor Lights", "Short stories about lighthouse keepers."),
    ("0012", "The Wild", "A documentary about wolves."),
    ("0013", "The Cat in the Hat", "A tall cat in a red and white hat."),
    ("0014", "Harry Potter 3", "Year three at Hogwarts."),
    ("0015", "It", "A horror novel about a clown."),
    ("0016", 'Performance Running Shorts, 5" Inseam', "Lightweight shorts for long runs."),
    ("0017", "Garden Hose Reel", "Holds 100 feet of hose."),
    ("0018", "Quiet Garden Stories", "Tales from a monastery garden."),
    ("0019", "Ação e Reação", "Um livro de física."),
    ("0020", "Sourdough Baking for Beginners", "Step-by-step bread recipes."),
    ("0021", "A Christmas Carol", "Scrooge meets three ghosts."),
]


@pytest.fixture(scope="module")
def catalog_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("catalog") / "catalog.sqlite"
    writer = CatalogWriter(path, batch_size=7)  # several batches
    for i, (uid, title, description) in enumerate(RECORDS):
        writer.add(uid, title, description, ("train", "val", "test")[i % 3])
    writer.close()
    return path


@pytest.fixture(scope="module")
def catalog(catalog_path):
    catalog = Catalog(catalog_path)
    yield catalog
    catalog.close()


def top(catalog, question, k=3):
    sources = catalog.search(question, k)
    return (sources[0].title, sources[0].match) if sources else None


def in_catalog(catalog, question):
    sources = catalog.search(question, 3)
    return bool(sources and sources[0].match)


# --- exact titles -------------------------------------------------------------------------------

def test_exact_title_first_with_its_record(catalog):
    sources = catalog.search("The Quiet Harbor", 3)
    assert sources[0] == Source("0010", "The Quiet Harbor", "A novel set in a fishing village in Maine.",
                                EXACT_SCORE, "exact")
    assert [s.match for s in sources[1:]] == ["", ""]
    assert [s.score for s in sources] == sorted((s.score for s in sources), reverse=True)
    assert all(isinstance(s.score, float) for s in sources)


@pytest.mark.parametrize("question, title", [
    ("mog's christmas", "Mog's Christmas"),
    ("MOG’S CHRISTMAS!", "Mog's Christmas"),
    ("mogs christmas", "Mog's Christmas"),
    ("cafe creme", "Café Crème"),
    ("CAFÉ CRÈME", "Café Crème"),
    ("salt and pepper shakers", "Salt & Pepper Shakers"),
    ("Salt & Pepper Shakers", "Salt & Pepper Shakers"),
    ("kestrel kx 200 speaker", "Kestrel KX-200 Speaker"),
    ("acao e reacao", "Ação e Reação"),
    ("  the   hobbit  ", "The Hobbit"),
])
def test_case_punctuation_apostrophes_accents_and_ampersand_are_ignored(catalog, question, title):
    assert top(catalog, question) == (title, "exact")


def test_records_sharing_a_title_all_come_first(catalog):
    sources = catalog.search("Tell me about Mog's Christmas", 5)
    assert [s.uid for s in sources[:3]] == ["0001", "0002", "0003"]  # catalog order
    assert [(s.title, s.match) for s in sources[3:4]] == [("A Christmas Carol", "")]  # then BM25
    assert [s.uid for s in catalog.search("mogs christmas", 2)] == ["0001", "0002"]  # up to k


def test_a_found_title_always_comes_with_k_records(catalog):
    """As in training rows (the gold record among k - 1 distractors), short BM25 lists are filled."""
    for k in (1, 3, 6):
        sources = catalog.search("Tell me about Café Crème", k)  # no other title shares a word with it
        assert len(sources) == k and sources[0].title == "Café Crème"
        assert [s.match for s in sources] == ["exact"] + [""] * (k - 1) and len({s.uid for s in sources}) == k
    assert catalog.search("Tell me about Café Crème", 6) == catalog.search("Tell me about Café Crème", 6)
    assert len(catalog.search("Tell me about Café Crème", 100)) == len(RECORDS)
    assert catalog.search("zzqxv unheardof", 3) == []  # nothing found: nothing made up


def test_an_exact_title_beats_longer_titles_containing_it(catalog):
    for question in ("The Hobbit", "Tell me about The Hobbit.", "what do you know about the hobbit",
                     'What is "The Hobbit"?', "O que é The Hobbit?"):
        sources = catalog.search(question, 3)
        assert (sources[0].title, sources[0].match) == ("The Hobbit", "exact"), question
        assert {s.title for s in sources[1:]} <= {"The Hobbit: An Unexpected Journey", "About the Hobbit"}
    assert top(catalog, "The Hobbit: An Unexpected Journey") == ("The Hobbit: An Unexpected Journey", "exact")
    assert top(catalog, "Tell me about About the Hobbit") == ("About the Hobbit", "exact")


# --- titles inside questions ----------------------------------------------------------------------

@pytest.mark.parametrize("template", read_question_templates() + read_heldout_templates())
def test_titles_inside_every_question_template(catalog, template):
    """The training phrasings and those held out of training (the model never saw them; the search must
    still read them: "I need details on ...", "Preciso de detalhes sobre ...")."""
    for title in ("Mog's Christmas", "Café Crème", "Salt & Pepper Shakers", "The Hobbit", "It",
                  'Performance Running Shorts, 5" Inseam', "Ação e Reação"):
        assert top(catalog, template.replace("{title}", title)) == (title, "exact"), template
        lowered = template.replace("{title}", title.lower()).replace('"', "")
        assert top(catalog, lowered) == (title, "exact"), lowered


@pytest.mark.parametrize("question, title", [
    ("can you describe the kestrel kx-200 speaker for me", "Kestrel KX-200 Speaker"),
    ("Tell me about the book The Quiet Harbor, please", "The Quiet Harbor"),
    ("what is the quiet harbor about?", "The Quiet Harbor"),
    ("I'm looking for sourdough baking for beginners", "Sourdough Baking for Beginners"),
    ("O que você sabe sobre o livro Mog's Christmas?", "Mog's Christmas"),
    ("Me fale sobre Café Crème, por favor.", "Café Crème"),
    ("Qual é a descrição de Salt and Pepper Shakers?", "Salt & Pepper Shakers"),
    ("Tell me about 'Mog's Christmas'.", "Mog's Christmas"),
    ("Fale-me sobre “Café Crème”.", "Café Crème"),
])
def test_titles_inside_free_phrasing(catalog, question, title):
    assert top(catalog, question) == (title, "exact")


# --- one typo -------------------------------------------------------------------------------------

@pytest.mark.parametrize("question, title", [
    ("Tell me about The Quiet Harber.", "The Quiet Harbor"),     # substituted
    ("Tell me about The Quiet Harbour.", "The Quiet Harbor"),    # inserted
    ("Tell me about The Quiet Habor.", "The Quiet Harbor"),      # deleted
    ("Tell me about The Qiuet Harbor.", "The Quiet Harbor"),     # transposed
    ('O que é "Mogs Christmsa"?', "Mog's Christmas"),            # transposed, quoted, Portuguese
    ("sourdoguh baking for beginners", "Sourdough Baking for Beginners"),
    ("Teh Hobbit", "The Hobbit"),                                # a swap in a 3-letter word
    ("garden hose real", "Garden Hose Reel"),                    # the typo is itself a word
    ("kestrel kx200 speaker", "Kestrel KX-200 Speaker"),         # a space lost
    ("Tell me about Harbor Light s", "Harbor Lights"),           # a space added
    ("salt pepper shakers", "Salt & Pepper Shakers"),            # '&' left out
])
def test_one_typo_is_tolerated(catalog, question, title):
    sources = catalog.search(question, 3)
    assert (sources[0].title, sources[0].match, sources[0].score) == (title, "typo", TYPO_SCORE)


def test_a_typo_match_brings_every_record_of_the_title(catalog):
    sources = catalog.search("mogs christmass", 4)
    assert [(s.uid, s.match) for s in sources[:3]] == [("0001", "typo"), ("0002", "typo"), ("0003", "typo")]


# --- not in the catalog ---------------------------------------------------------------------------

@pytest.mark.parametrize("question", [
    "The Quiet Harbour Cookbook",             # a typo-like word plus another word
    "Tell me about The Quiet Harbor Cookbook.",
    'What is "The Quiet Harbor Cookbook"?',
    "Return to the Quiet Harbor",             # words before the title that are not question phrasing
    "Into the Wild",
    "Tell me about Quiet Garden Stories Volume Two",
    "Harry Potter 4",                         # a digit is never a typo
    "Kestrel KX-300 Speaker",
    "Kestrel KZ-200 Speaker",                 # nor a letter of a model number
    "The Cat in the Bat",                     # nor a letter of a 3-letter word
    "The Dog in the Hat",
    "Quiet Harbor Lights",                    # most words shared with catalog titles
    "Harbor Lights and Shadows",
    "tell me about the",                      # only question words
    "zzqxv unheardof",
])
def test_near_misses_are_not_in_the_catalog(catalog, question):
    assert not in_catalog(catalog, question), catalog.search(question, 3)


def test_bm25_ranks_the_rest(catalog):
    sources = catalog.search("harbor", 3)  # a word of several titles: related records, none a match
    assert {s.title for s in sources[:2]} == {"The Quiet Harbor", "Harbor Lights"}
    assert not any(s.match for s in sources) and sources[0].score >= sources[1].score > 0
    assert catalog.search("tell me about the", 3) == []  # question words only: no invented source
    assert catalog.search("zzqxv unheardof", 3) == []


def test_empty_and_degenerate_questions(catalog):
    for question in ("", "   ", "?!", "''", '""'):
        assert catalog.search(question, 3) == []
    assert catalog.search("The Hobbit", 0) == []
    assert len(catalog.search("The Hobbit", 50)) <= len(RECORDS)


def test_search_is_deterministic(catalog_path):
    questions = ["mogs christmass", "quiet harbor", "Tell me about The Qiuet Harbor.", "hobbit"]
    first = [Catalog(catalog_path).search(q, 4) for q in questions]
    assert first == [Catalog(catalog_path).search(q, 4) for q in questions]


# --- records, errors, the file ----------------------------------------------------------------------

def test_get_and_len(catalog):
    assert len(catalog) == len(RECORDS)
    assert catalog.get("0004") == Source("0004", "Café Crème", "Smooth coffee, 250 g of ground beans.", 0.0)
    assert catalog.get("0002").description == "The audio edition, read by the author."
    assert catalog.get("nope") is None


def test_missing_or_foreign_files_are_one_sentence_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        Catalog(tmp_path / "missing.sqlite")
    (tmp_path / "notes.txt").write_text("not a database")
    with pytest.raises(UserError, match="not a productqa catalog"):
        Catalog(tmp_path / "notes.txt")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE things(x)")
    with pytest.raises(UserError, match="not a productqa catalog"):
        Catalog(other)
    old = tmp_path / "old.sqlite"  # the first catalog format: one FTS5 table
    with sqlite3.connect(old) as db:
        db.execute("CREATE TABLE meta(name TEXT PRIMARY KEY, value)")
        db.execute("INSERT INTO meta VALUES ('format', 'something else')")
    with pytest.raises(UserError, match="rebuild it"):
        Catalog(old)


def test_an_empty_catalog_works(tmp_path):
    writer = CatalogWriter(tmp_path / "empty.sqlite")
    writer.close()
    catalog = Catalog(tmp_path / "empty.sqlite")
    assert len(catalog) == 0 and catalog.search("The Hobbit", 3) == [] and catalog.get("x") is None


def test_odd_titles_build_and_are_found(tmp_path):
    titles = ["", "   ", "&", "A\nB", "日本語のタイトル", "Ｔｏｙ ½ Box™", "x" * 400, "Rock 'n' Roll",
              "C++ Primer"]
    writer = CatalogWriter(tmp_path / "odd.sqlite")
    for i, title in enumerate(titles):
        writer.add(f"u{i}", title, "a description", "train")
    writer.close()
    catalog = Catalog(tmp_path / "odd.sqlite")
    assert len(catalog) == len(titles)
    for title in titles[3:]:
        assert top(catalog, title) == (title, "exact"), title


def test_build_and_query_hash_titles_alike():
    """The writer hashes a batch of titles in numpy; queries hash in Python: the numbers must agree."""
    titles = ["Mog's Christmas", "Salt & Pepper", "", "Café Crème – Ｔｏｙ™", "A\nB", "kx-200",
              "日本語 タイトル", "Rock 'n' Roll`s", "x" * 300, "a_b c", "  spaced   out  "]
    hashes, word_title, keys, lengths = _hash_batch(titles)
    at = 0
    for i, title in enumerate(titles):
        words = normalize_title(title).split()
        assert lengths[i] == len(words)
        assert hashes[at:at + len(words)].tolist() == [word_hash(w) for w in words]
        assert (word_title[at:at + len(words)] == i).all()
        assert int(keys[i]) == title_key(words)
        at += len(words)
    assert at == len(hashes) and keys.dtype == np.uint64
