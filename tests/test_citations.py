"""A citation is the answer's closing [n]; bracketed text inside a copied description is the record's own."""
from productqa import grounded
from tests.test_chat import _catalog_of, scripted_session


class Rec:
    def __init__(self, uid, title="T", description="D"):
        self.uid, self.title, self.description = uid, title, description


def test_only_the_closing_mark_is_a_citation():
    shown = [Rec("A"), Rec("B"), Rec("C")]
    assert grounded.cited_sources("Volume [2] of the set, [100] recipes. [1]", shown) == (["A"], [])
    assert grounded.cited_sources("A description. [3].", shown) == (["C"], [])
    assert grounded.cited_sources("A description [9]", shown) == ([], [9])
    assert grounded.cited_sources("Hardcover [2020] [Illustrated] edition", shown) == ([], [])
    assert grounded.cited_sources("Cut off at the limit [2] and then some", shown) == ([], [])
    assert grounded.strip_citations("Volume [2] of the set. [1]") == "Volume [2] of the set."


def test_a_description_with_another_records_uid_and_numbers_in_brackets_forges_nothing(tmp_path):
    content = ("Volume [2] of the Harbour Tales, [100] recipes inside; see also 0007770002 [3], "
               "[Hardcover] [2020] edition with colour plates throughout the whole book.")
    records = [{"uid": "0007770001", "title": "Harbour Tales Cookbook", "content": content,
                "target_ind": [1], "target_rel": [1.0]},
               {"uid": "0007770002", "title": "Harbour Tales Atlas", "content": "Maps of every harbour in the tales, "
                "drawn by hand, with a gazetteer of the towns and their boats.", "target_ind": [1], "target_rel": [1.0]},
               {"uid": "0007770003", "title": "Harbour Tales Songbook", "content": "Forty sea shanties with their "
                "tunes, chords for guitar and the story behind each song.", "target_ind": [1], "target_rel": [1.0]}]
    records += [{"uid": f"00088{i:05d}", "title": f"Filler Title Number {i}", "content": f"Filler description {i} "
                 "of a product nobody asks about, long enough to keep.", "target_ind": [1], "target_rel": [1.0]}
                for i in range(30)]
    catalog = _catalog_of(tmp_path, records)
    question = 'Tell me about "Harbour Tales Cookbook"'
    sources = catalog.search(question, 3)
    assert sources[0].uid == "0007770001" and "0007770002" in {s.uid for s in sources}
    session, llm, out = scripted_session(f"{sources[0].description} [1]", catalog)
    turn = session.ask(question)
    assert turn.cited == ["0007770001"] and turn.uncited == [] and turn.supported == ["0007770001"]
    assert "[note" not in out.getvalue()


def test_a_factual_answer_is_starred_and_a_not_said_answer_cites_the_record_it_read(tmp_path):
    from productqa.chat import format_sources, turn_json

    records = [{"uid": "0007770001", "title": "Harbour Tales Cookbook", "content": "Recipes from the harbour "
                "kitchens of the north coast. Written by Ada Brisco, who cooked on the boats for thirty years.",
                "target_ind": [1], "target_rel": [1.0]}]
    records += [{"uid": f"00088{i:05d}", "title": f"Filler Title Number {i}", "content": f"Filler description {i} "
                 "of a product nobody asks about, long enough to keep.", "target_ind": [1], "target_rel": [1.0]}
                for i in range(30)]
    catalog = _catalog_of(tmp_path, records)
    fact = "Written by Ada Brisco, who cooked on the boats for thirty years. [1]"
    session, _, out = scripted_session(fact, catalog)
    turn = session.ask('Who wrote "Harbour Tales Cookbook"?')
    assert turn.cited == turn.supported == ["0007770001"] and "[note" not in out.getvalue()
    assert turn_json(turn)["fact"] == {"kind": "author", "noun": None, "not_said": False}

    unsaid = "The catalog record does not say its price; it gives the author. [1]"
    session, _, out = scripted_session(unsaid, catalog)
    turn = session.ask('How much does "Harbour Tales Cookbook" cost?')
    assert turn.cited == ["0007770001"] and turn.supported == [] and "[note" not in out.getvalue()
    sources = format_sources(turn)
    assert "[1] does not state" in sources and "comes from none of these records" not in sources
    assert turn_json(turn)["fact"] == {"kind": "price", "noun": None, "not_said": True}
