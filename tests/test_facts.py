"""The rules behind factual answers (productqa.facts): each fires on text we wrote that states its fact
and stays silent on look-alikes; the question reader; the not-said sentence; the hand-checked questions
on the sample; the factual rows 01_prepare builds with them."""
import json
from pathlib import Path

import pytest

from productqa import facts, grounded
from productqa.facts import Asked
from productqa.raft import Mix, fact_rows

HAND_CHECKED = Path(__file__).parent / "data" / "sample_fact_questions.json"


norm = grounded.plain  # casefolded, punctuation and spacing aside


# (fact, text, the fact's words or None: the rule must not fire)
RULES = [
    ("author", "By Tamsin Greaves, illustrated by Owen Marr.", "Tamsin Greaves"),
    ("author", "Corin Hale is the author of twelve novels and a memoir.", "Corin Hale"),
    ("author", "Veteran crime writer Ada Brisco returns to the fens.", "Ada Brisco"),
    ("author", "Written by Lena Okafor, this guide covers every stage.", "Lena Okafor"),
    ("author", "Ines M. Calder (1901-1977) was one of the finest poets of her day.", "Ines M. Calder"),
    ("author", "'Corin Hale is a writer of rare power' The Daily Lantern", None),  # a blurb, not the book's author
    ("author", "Years later, writer Mara Voss, the heroine, returns home to Kell.", None),  # a character
    ("author", "This text refers to the Paperback edition.", None),
    ("author", "The Author of Nothing is a comedy in three acts.", None),
    ("illustrator", "A picture book with bright pictures by Owen Marr.", "Owen Marr"),
    ("illustrator", "Pell Arkwright is an illustrator and printmaker.", "Pell Arkwright"),
    ("illustrator", "Illustrated throughout with colour maps.", None),
    ("audience", "A bedtime story about a brave mole. Ages 6-9.", "Ages 6-9"),
    ("audience", "Grade 3-5. A class pet goes missing.", "Grade 3-5"),
    ("audience", "Perfect for young readers who love ponies.", "young readers"),
    ("audience", "For ages 2 and up.", "ages 2 and up"),
    ("audience", "She died at the age of 94 in her house by the sea.", None),
    ("audience", "Great fun for readers of all ages.", None),
    ("audience", "He was 12 years old when the war began.", None),
    ("count", "With 85 easy recipes for weeknights.", "85 easy recipes"),
    ("count", "Its 320 pages hold a lifetime of gardening.", "320 pages"),
    ("count", "You may skim one or two pages of the appendix.", None),
    ("count", "Chapters 7 and 8 cover the harbour years.", None),
    ("count", "'I read 200 pages in a night' Harbour Gazette", None),  # a blurb's count is not the book's
    ("reviews", "\"A warm, funny and wise book.\" The Harbour Gazette", "A warm, funny and wise book."),
    ("reviews", "A quiet story. 'Beautifully told from first page to last.'--Tidewater Weekly", "Beautifully told"),
    ("reviews", "She wrote \"Tidewater\" in 1990 and never looked back.", None),
    ("reviews", "The Marlowes' house is full. 'The children' Aunt Bet says, are trouble.", None),
    ("setting", "A thriller set in Lisbon during the great flood.", "in Lisbon"),
    ("setting", "The story takes place in a small fishing village in winter.", "in a small fishing village"),
    ("setting", "A set of six mugs in a gift box.", None),
    ("setting", "Her choice sets in motion a chain of events.", None),
    ("size", "Wall calendar, 20 x 30 cm.", "20 x 30 cm"),
    ("size", "The rug is 120 cm long and soft underfoot.", "120 cm long"),
    ("size", "Hold your hands 2 inches apart and look through them.", None),
    ("material", "Made of 100% cotton, machine washable.", "100% cotton"),
    ("material", "Sturdy steel frame with a padded seat.", "steel frame"),
    ("material", "This is what dreams are made of.", None),
    ("colour", "Available in navy and cream.", "navy and cream"),
    ("colour", "The Red Queen returns to the court of the Black Prince.", None),
    ("price", "Priced at $12.99, it is a bargain.", "$12.99"),
    ("price", "A $5 bet changes everything for the twins.", None),
]


@pytest.mark.parametrize("kind,text,words", RULES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(RULES)])
def test_each_rule_fires_where_its_fact_is_stated_and_only_there(kind, text, words):
    noun = {"85 easy recipes": "recipes", "320 pages": "pages"}.get(words, "pages" if kind == "count" else None)
    found = facts.find(Asked(kind, noun), text)
    if words is None:
        assert found is None
    else:
        assert found is not None and norm(words) in norm(found.words)
        assert norm(found.words) in norm(found.excerpt) and norm(found.excerpt) in norm(text)  # the record's words


def test_an_excerpt_is_at_most_max_words_and_keeps_the_fact():
    filler = " ".join(f"word{i}" for i in range(60))
    text = f"In a long life of {filler} the book, written by Orla Finch, and {filler} ended."
    found = facts.find("author", text)
    assert found.words == "Orla Finch" and "Orla Finch" in found.excerpt
    assert len(found.excerpt.split()) <= facts.MAX_WORDS and found.excerpt in text


def test_mentions_is_broad_so_a_not_said_row_never_hides_a_stated_fact():
    plain = "A round mug for tea."
    assert not any(facts.mentions(kind, plain) for kind in ("author", "illustrator", "reviews", "price", "size"))
    assert facts.mentions("author", "Poultry keeper Ruth Pellowe covers it all.")  # a name: maybe the author
    assert facts.mentions("price", "Affordably priced.") and facts.mentions("colour", "in six colours")
    assert facts.mentions(Asked("count", "recipes"), "Recipes for every season.")
    assert not facts.mentions(Asked("count", "recipes"), "A guide to pruning roses.")
    for kind, text, words in RULES:  # whatever a precise rule finds, the broad rule mentions
        noun = "pages" if kind == "count" else None
        if words is not None and facts.find(Asked(kind, noun), text):
            assert facts.mentions(Asked(kind, noun), text)


@pytest.mark.parametrize("question,kind,noun", [
    ("Who wrote it?", "author", None), ("Quem escreveu \"Dune\"?", "author", None),
    ("Who illustrated it?", "illustrator", None), ("Who is the illustrator of Tidewater?", "illustrator", None),
    ("What ages is Mog's Kittens for?", "audience", None), ("Para quem é?", "audience", None),
    ("How many recipes are in it?", "count", "recipes"), ("Quantas receitas tem?", "count", "recipes"),
    ("How many photos does it have?", "count", "photographs"),
    ("What do reviewers say?", "reviews", None), ("Where is it set?", "setting", None),
    ("How much does it cost?", "price", None), ("Quanto custa?", "price", None),
    ("What is it made of?", "material", None), ("What colour is it?", "colour", None),
    ("How big is it?", "size", None),
    ("Tell me about The Quiet Harbor", None, None), ("What is it about?", None, None),
    ("Can you describe it?", None, None), ("Fale mais sobre ele.", None, None),
])
def test_the_fact_a_question_asks(question, kind, noun):
    asked = facts.asked_fact(question)
    assert (asked.kind, asked.noun) == (kind, noun) if kind else asked is None


def test_every_phrasing_in_facts_yaml_reads_as_its_own_fact():
    for kind in facts.FACTS:
        for language in facts.LANGUAGES:
            for which in ("ask", "follow", "ask_heldout", "follow_heldout"):
                for template in facts.phrasings(kind, language, which):
                    question = template.replace("{title}", "Tidewater").replace("{noun}", "recipes")
                    assert facts.asked_fact(question).kind == kind, question


def test_the_not_said_sentence_names_the_fact_and_what_the_record_gives():
    record = "By Tamsin Greaves. A bedtime story about a mole. Ages 4 and up."
    english = facts.not_said(Asked("price"), record, "en")
    assert english == "The catalog record does not say its price; it gives the author and who it is for."
    portuguese = facts.not_said(Asked("count", "recipes"), "A plain guide.", "pt")
    assert portuguese == "O registro do catálogo não diz quantas receitas tem; ele traz uma descrição geral."
    assert facts.is_not_said(english + " [2]") and facts.is_not_said(portuguese)
    assert not facts.is_not_said("That product is not in the catalog.")
    assert not facts.is_not_said("By Tamsin Greaves. [1]")


def test_hand_checked_questions_on_the_sample(tmp_path):
    from productqa.catalog import Catalog
    from productqa.paths import SAMPLE_DATA
    from productqa.prepare import prepare

    prepare(SAMPLE_DATA, tmp_path / "out", progress=False)
    catalog = Catalog(tmp_path / "out" / "catalog.sqlite")
    questions = json.loads(HAND_CHECKED.read_text(encoding="utf-8"))["questions"]
    assert len(questions) >= 20
    for item in questions:
        description = catalog.get(item["uid"]).description
        asked = facts.asked_fact(item["question"])
        assert asked is not None and asked.kind == item["kind"], item["question"]
        found = facts.find(asked, description)
        if item["words"] is None:  # the record does not say: a not-said row may be built, and is right
            assert found is None and not facts.mentions(asked, description), item["question"]
        elif item.get("by_rules", True):
            assert found is not None and norm(item["words"]) in norm(found.words), item["question"]
        else:  # stated in words the rules do not read: they must find nothing rather than something else
            assert found is None and facts.mentions(asked, description), item["question"]


def test_fact_rows_answer_from_the_record_or_say_what_it_lacks():
    record = "By Tamsin Greaves. A bedtime story about a brave mole who wants to fly. Ages 4 and up."
    rows = [row for uid in (f"u{i}" for i in range(300))
            for row in fact_rows(uid, record, Mix(fact_share=1.0, not_said_share=0.5), seed=1)]
    said = [row for row in rows if row.kind == "fact"]
    unsaid = [row for row in rows if row.kind == "not_said"]
    assert len(said) == 600 and 100 < len(unsaid) < 200  # each fact stated: the author and the ages
    assert {row.asked.kind for row in said} == {"author", "audience"}
    assert all(row.reply in record and row.words in row.reply for row in said)
    assert all(not facts.mentions(row.asked, record) and facts.is_not_said(row.reply) for row in unsaid)
    assert {row.language for row in rows} == {"en", "pt"} and {row.follow for row in rows} == {True, False}
    assert fact_rows("u7", record, Mix(), seed=1) == fact_rows("u7", record, Mix(), seed=1)
    assert fact_rows("u7", record, Mix(fact_share=0, not_said_share=0), seed=1) == []
