"""05_chat: pure parts (commands, history fitting, model-file choice, catalog ranking) and the REPL
driven as a user would, in a pseudo-terminal, against a tiny exported Gemma 3 GGUF."""
import io
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from productqa import history
from productqa.chat import LABELS, ChatSession, Command, format_sources, parse_command
from productqa.served import open_llama, resolve_served
from productqa.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = [sys.executable, str(ROOT / "scripts" / "05_chat.py")]
ENV = {**os.environ, "TERM": "dumb", "PYTHONUNBUFFERED": "1"}


def chat(*args, input=None, timeout=60):
    # one thread: llama.cpp's spinning threads slow down badly on a shared 2-core machine
    return subprocess.run(SCRIPT + [str(a) for a in args] + ["--threads", "1"], input=input,
                          capture_output=True, text=True, timeout=timeout, env=ENV, cwd=ROOT)


# ---------------------------------------------------------------------------------------------
# Pure parts

def test_parse_command():
    assert parse_command("what is this?") is None
    assert parse_command("/temp 0.3") == Command("temp", "0.3")
    assert parse_command("  /SYSTEM  Be brief.  ") == Command("system", "Be brief.")
    assert parse_command("/exit") == Command("exit", "")
    assert parse_command("//not a command") is None


def words(messages):
    return sum(len(m["content"].split()) + 4 for m in messages)


def test_history_drops_oldest_turns_and_keeps_the_system_prompt():
    turns = [{"user": f"question {i} " + "x " * 20, "assistant": f"answer {i} " + "y " * 20} for i in range(6)]
    fitted = history.fit("be helpful", turns, "the new question", words, budget=120)
    assert fitted.messages[0] == {"role": "system", "content": "be helpful"}
    assert fitted.messages[-1] == {"role": "user", "content": "the new question"}
    assert fitted.dropped == 4 and not fitted.cut and fitted.tokens <= 120
    assert fitted.messages[1]["content"].startswith("question 4")  # the newest turns survive, in order


def test_history_cuts_a_question_too_long_on_its_own():
    long = " ".join(f"w{i}" for i in range(500))
    fitted = history.fit("sys", [{"user": "a", "assistant": "b"}], long, words, budget=100)
    assert fitted.cut and fitted.dropped == 1 and fitted.tokens <= 100
    assert long.startswith(fitted.messages[-1]["content"]) and len(fitted.messages) == 2
    with pytest.raises(ValueError):
        history.fit("a " * 200, [], "q", words, budget=100)


def test_model_file_choice(tmp_path):
    for name, size in (("m.F16.gguf", 300), ("m.Q8_0.gguf", 200), ("m.Q4_K_M.gguf", 100)):
        (tmp_path / name).write_bytes(b"GGUF" + b"\0" * size)
    assert resolve_served(tmp_path).model.name == "m.Q4_K_M.gguf"  # no export.json: the smallest
    (tmp_path / "export.json").write_text(json.dumps({"default_quant": "q8_0"}))
    assert resolve_served(tmp_path).model.name == "m.Q8_0.gguf"
    (tmp_path / "export.json").write_text(json.dumps({"default_quant": "q8_0", "default_file": "m.F16.gguf"}))
    assert resolve_served(tmp_path).model.name == "m.F16.gguf"
    assert resolve_served(tmp_path / "m.Q8_0.gguf").model.name == "m.Q8_0.gguf"
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no .gguf"):
        resolve_served(tmp_path / "empty")


def test_catalog_ranks_the_asked_title_first(catalog_path, sample_titles):
    from productqa.catalog import Catalog

    from productqa.titles import normalize_title

    catalog = Catalog(catalog_path)
    for uid, title in sample_titles:
        for question in (f'Tell me about "{title}".', f"what is {title.lower()} about"):
            best = catalog.search(question, 3)
            assert best and best[0].match and normalize_title(best[0].title) == normalize_title(title), (question, best)
            assert uid in [s.uid for s in best if normalize_title(s.title) == normalize_title(title)]
    assert catalog.search("zzqxv unheardof", 3) == []


# ---------------------------------------------------------------------------------------------
# The grounded session, with a scripted model: what is put in the prompt, what is shown as a source

class ScriptedLlm:
    """Stands in for llama_cpp.Llama: records the messages it is given, streams a fixed answer."""

    def __init__(self, answer: str, finish: str = "stop"):
        self.answer, self.finish, self.calls = answer, finish, []
        self.context_params = types.SimpleNamespace(n_ctx=2048)  # the context asked for

    def n_ctx(self):
        return 2048

    def tokenize(self, data, add_bos=False, special=False):
        return data.split()

    def create_chat_completion(self, messages, stream, **kwargs):
        self.calls.append(messages)
        self.kwargs = kwargs
        words = self.answer.split(" ")
        chunks = [{"choices": [{"delta": {"content": w + (" " if i < len(words) - 1 else "")}, "finish_reason": None}]}
                  for i, w in enumerate(words)]
        chunks.append({"choices": [{"delta": {}, "finish_reason": self.finish}]})
        return iter_closing(chunks)


class iter_closing(list):
    def __iter__(self):
        return list.__iter__(self)

    def close(self):
        pass


def scripted_session(answer, catalog, finish="stop"):
    import io

    llm = ScriptedLlm(answer, finish)
    out = io.StringIO()
    session = ChatSession(llm, catalog, system="SYS", temperature=0, max_tokens=64, k=3, out=out,
                          count=lambda messages: sum(len(m["content"].split()) for m in messages))
    return session, llm, out


def test_grounded_question_gives_the_trained_prompt_and_marks_cited_sources(catalog_path, sample_titles):
    from productqa.catalog import Catalog
    from productqa.chat import turn_json
    from productqa.chat_format import prompt_messages
    from productqa.grounded import user_turn

    catalog = Catalog(catalog_path)
    uid, title = sample_titles[0]
    question = f'Tell me about "{title}".'
    sources = catalog.search(question, 3)
    session, llm, out = scripted_session(f"{sources[0].description} [1]", catalog)
    turn = session.ask(question)
    assert llm.calls == [prompt_messages(user_turn(question, sources), "SYS")]  # exactly the training format
    assert turn.grounded and turn.ended and turn.cited == [sources[0].uid] and not turn.uncited
    assert turn.supported == [sources[0].uid] and "[note" not in out.getvalue()
    shown = format_sources(turn)
    assert f"*[1] {sources[0].uid}" in shown and f" [2] {sources[1].uid}" in shown
    record = turn_json(turn)
    assert record["grounded"] and record["stopped"] and record["question"] == question and record["why"] == "title match"
    assert [s["cited"] for s in record["sources"]] == [True] + [False] * (len(sources) - 1)
    assert [s["answer_from_it"] for s in record["sources"]] == [True] + [False] * (len(sources) - 1)


def test_a_cited_number_no_record_has_is_never_a_source(catalog_path, sample_titles):
    from productqa.catalog import Catalog

    catalog = Catalog(catalog_path)
    uid, title = sample_titles[0]
    session, llm, out = scripted_session("Some words [9]", catalog, finish="length")
    turn = session.ask(f'Tell me about "{title}".')
    assert turn.cited == [] and turn.uncited == [9] and not turn.ended  # cut at the limit: not ended
    assert "*" not in format_sources(turn).splitlines()[1] and "only [1]-[3] were given" in out.getvalue()
    assert "comes from none of these records" in format_sources(turn)


def _catalog_of(tmp_path, records):
    from productqa.catalog import Catalog
    from productqa.prepare import prepare
    from tests.conftest import write_lines

    prepare(write_lines(tmp_path / "trn.json", records), tmp_path / "out", progress=False, workers=1)
    return Catalog(tmp_path / "out" / "catalog.sqlite")


# records we write: look-alike uids, one title two products share, a description two products share
OWN = [{"uid": uid, "title": title, "content": content, "target_ind": [1], "target_rel": [1.0]} for uid, title, content in (
    ("0001360000", "Harbour Lights", "A picture book about a lighthouse keeper and her cat, for ages 3 to 6."),
    ("0001360001", "Harbour Lights: A Novel", "Two sisters inherit a failing boatyard on the Cornish coast in 1958."),
    ("0001381245", "Copper Kettle", "A two-litre copper kettle with a whistling spout and a beech handle."),
    ("0001381246", "Copper Kettle", "A cookbook of forty soups and stews from a village inn, with colour photographs."),
    ("B000K9R2ZY", "Garden Birds of the North", "Sixty common birds drawn from life, each with its song described."),
    ("B000K9R2ZZ", "Garden Birds of the South", "Sixty common birds drawn from life, each with its song described."),
)] + [{"uid": f"00099{i:05d}", "title": f"Filler Title Number {i}", "content": f"Filler description {i} of a product "
       "written only to give the catalog some size.", "target_ind": [1], "target_rel": [1.0]} for i in range(30)]


def test_the_star_follows_the_text_not_the_model_citation(tmp_path):
    catalog = _catalog_of(tmp_path, OWN)
    question = 'Tell me about "Harbour Lights".'
    sources = catalog.search(question, 3)
    assert sources[0].uid == "0001360000" and sources[1].uid == "0001360001"
    # the model copies record 1 but cites record 2: record 1 is starred, and a note says so
    session, llm, out = scripted_session(f"{sources[0].description} [2]", catalog)
    turn = session.ask(question)
    assert turn.cited == ["0001360001"] and turn.supported == ["0001360000"]
    lines = format_sources(turn).splitlines()
    assert lines[1].startswith(" *[1] 0001360000") and lines[2].startswith("  [2] 0001360001")
    assert "cites [2], but its text comes from [1]" in out.getvalue()
    # an answer that comes from no record shown: nothing is starred
    session, llm, out = scripted_session("A lovely blue teapot with gold trim. [1]", catalog)
    turn = session.ask(question)
    assert turn.supported == [] and not any(line.startswith(" *") for line in format_sources(turn).splitlines())
    assert "does not come from it" in out.getvalue()


def test_a_description_two_products_share_is_starred_on_the_product_asked_about(tmp_path):
    catalog = _catalog_of(tmp_path, OWN)
    question = 'Tell me about "Garden Birds of the North".'
    sources = catalog.search(question, 3)
    twin = next(n for n, s in enumerate(sources, 1) if s.uid == "B000K9R2ZZ")
    # the text is in both records; the answer is about the North's, whichever number the model wrote
    for cited in (1, twin):
        session, llm, out = scripted_session(f"{sources[0].description} [{cited}]", catalog)
        turn = session.ask(question)
        assert turn.supported == ["B000K9R2ZY"] and format_sources(turn).splitlines()[1].startswith(" *[1] B000K9R2ZY")
        assert format_sources(turn).splitlines()[twin].startswith(f"  [{twin}] B000K9R2ZZ")
        assert ("but its text comes from [1]" in out.getvalue()) == (cited == twin)


def test_an_answer_taken_from_another_product_says_so(tmp_path):
    catalog = _catalog_of(tmp_path, OWN)
    question = 'Tell me about "Harbour Lights".'
    sources = catalog.search(question, 3)
    session, llm, out = scripted_session(f"{sources[1].description} [2]", catalog)  # copies the look-alike
    turn = session.ask(question)
    assert turn.supported == [sources[1].uid] and turn.cited == [sources[1].uid]
    assert "comes from [2], another product than [1] Harbour Lights, the one asked about" in out.getvalue()


def test_a_title_two_products_share_is_listed_and_picked_by_number(tmp_path):
    from productqa.chat import turn_json

    catalog = _catalog_of(tmp_path, OWN)
    session, llm, out = scripted_session("A cookbook of forty soups and stews from a village inn, with colour "
                                         "photographs. [1]", catalog)
    turn = session.ask("tell me about copper kettle")
    assert llm.calls == [] and [c.uid for c in turn.choices] == ["0001381245", "0001381246"]
    assert "2 products in the catalog are titled" in out.getvalue() and "[2] Copper Kettle (0001381246)" in out.getvalue()
    record = turn_json(turn)
    assert record["why"] == "several products share the title" and [c["uid"] for c in record["choices"]] == [
        "0001381245", "0001381246"] and record["sources"] == []
    turn = session.ask("2")
    assert turn.grounded and turn.why == "picked" and turn.sources[0].uid == "0001381246"
    assert "Copper Kettle" not in [s.title for s in turn.sources[1:]]  # the other product of the title is not shown
    assert "copper kettle" in llm.calls[-1][-1]["content"].split("Question: ")[1]  # the question listed, not "2"
    assert turn.supported == ["0001381246"] and turn_json(turn)["question"] == "2"
    assert session.ask("2").choices == [] and session.pending is None  # a number means nothing once answered
    session.ask("Tell me about Copper Kettle")
    assert session.ask("0001381245").sources[0].uid == "0001381245"  # by uid too


def test_print_prompt_names_the_products_of_a_shared_title_instead_of_picking_one(tmp_path):
    from productqa.chat import grounded_prompt

    _catalog_of(tmp_path, OWN)
    catalog_path = tmp_path / "out" / "catalog.sqlite"
    with pytest.raises(UserError, match='2 products .* are titled "Copper Kettle": 0001381245 .*; 0001381246'):
        grounded_prompt(catalog_path, "Tell me about Copper Kettle")
    prompt = grounded_prompt(catalog_path, 'Tell me about "Harbour Lights".')
    assert prompt.startswith("Catalog records:\n\n[1] Title: Harbour Lights\n")


def test_refusal_ban_blocks_only_the_refusal():
    import numpy as np

    from productqa.chat import RefusalBan

    ban = RefusalBan([5, 6, 7])
    prompt = [1, 2, 3]
    scores = ban(np.array(prompt), np.zeros(10))
    assert scores[5] == -np.inf and np.isfinite(np.delete(scores, 5)).all()
    assert ban(np.array(prompt + [5]), np.zeros(10))[6] == -np.inf  # still on the refusal's path (forced, say)
    assert np.isfinite(ban(np.array(prompt + [4]), np.zeros(10))).all()  # another answer: nothing blocked
    assert np.isfinite(ban(np.array(prompt + [5, 6, 7]), np.zeros(10))).all()


def test_refusal_ban_blocks_each_banned_opening():
    import numpy as np

    from productqa.chat import RefusalBan

    ban = RefusalBan([5, 6, 7], [5, 8], [9])
    prompt = [1, 2, 3]
    scores = ban(np.array(prompt), np.zeros(10))
    assert scores[5] == scores[9] == -np.inf and np.isfinite(np.delete(scores, [5, 9])).all()
    after = ban(np.array(prompt + [5]), np.zeros(10))  # on two banned paths at once
    assert after[6] == after[8] == -np.inf and np.isfinite(np.delete(after, [6, 8])).all()


def test_the_not_said_opening_is_banned_only_when_the_question_asks_no_fact(catalog_path, sample_titles):
    from productqa import facts
    from productqa.catalog import Catalog

    _, title = sample_titles[0]
    session, llm, _ = scripted_session("an answer [1]", Catalog(catalog_path))
    session.ask(f'Tell me about "{title}"')
    banned = llm.kwargs["logits_processor"][0].sequences
    openings = [opening.encode("utf-8").split() for opening in facts.not_said_openings()]
    assert len(banned) == 1 + len(openings) and all(opening in banned for opening in openings)
    session.ask("Who wrote it?")  # a fact: the record may well not say it
    assert llm.kwargs["logits_processor"][0].sequences == banned[:1]  # the refusal only


def test_a_product_not_in_the_catalog_is_refused_without_the_model(catalog_path):
    from productqa.catalog import Catalog
    from productqa.chat import turn_json
    from productqa.grounded import is_refusal

    session, llm, out = scripted_session("an invented description", Catalog(catalog_path))
    turn = session.ask('Tell me about "The Zyxwv Quantum Toaster Deluxe".')
    assert llm.calls == [] and is_refusal(turn.assistant) and not turn.grounded
    assert "not in the catalog" in out.getvalue() and turn_json(turn)["sources"] == []
    assert turn_json(turn)["stopped"] is True and "none is the product asked about" in format_sources(turn)
    session.grounded = False  # closed book: the model answers from memory, with the question alone
    turn = session.ask('Tell me about "The Zyxwv Quantum Toaster Deluxe".')
    assert llm.calls[-1] == [{"role": "system", "content": "SYS"},
                             {"role": "user", "content": 'Tell me about "The Zyxwv Quantum Toaster Deluxe".'}]


# ---------------------------------------------------------------------------------------------
# Clear sentences instead of crashes

def test_bad_model_files_give_one_sentence(tmp_path, base_gguf):
    with pytest.raises(UserError, match="does not exist"):
        open_llama(tmp_path / "missing.gguf")
    (tmp_path / "junk.gguf").write_bytes(b"not a model at all")
    with pytest.raises(UserError, match="not a GGUF file"):
        open_llama(tmp_path / "junk.gguf")
    (tmp_path / "cut.gguf").write_bytes(base_gguf.read_bytes()[:100_000])
    with pytest.raises(UserError, match="could not load"):
        open_llama(tmp_path / "cut.gguf", n_ctx=256)
    result = chat("--model", base_gguf, "-p", "hello", "--ctx", 256)
    assert result.returncode == 2 and "has no chat template" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    for args, message in ((("-p", "  "), "-p is empty"), (("-p", "hi", "--k", 0), "--k must be a whole number from 1 to 20")):
        result = chat("--model", base_gguf, *args)
        assert result.returncode == 2 and result.stderr.startswith(f"error: {message}"), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------
# The session in-process (history truncation with the real template and tokenizer)

def test_session_trims_history_to_the_context_window(chat_gguf, catalog_path):
    import io

    from productqa.catalog import Catalog
    llm = open_llama(chat_gguf, n_ctx=256, threads=1)
    out = io.StringIO()
    session = ChatSession(llm, Catalog(catalog_path), system="You are terse.", temperature=0,
                          max_tokens=40, out=out, grounded=False)
    for i in range(6):
        turn = session.ask(f"question number {i} " + "about harbors " * 10)
        assert turn.prompt_tokens + 40 <= 256
    assert any(t.dropped for t in session.turns) or len(session.turns) < 6
    assert session.count(history.to_messages(session.system, [], "x")) > 0
    turn = session.ask("harbor " * 400)
    assert turn.cut and turn.prompt_tokens <= 256 - 40
    assert "too long for the 256-token context" in out.getvalue()
    llm.close()


def test_a_context_llama_cpp_rounds_up_is_used_at_the_size_asked_for(chat_gguf):
    from productqa.chat import warm_prefix
    from productqa.errors import UserError

    llm = open_llama(chat_gguf, n_ctx=300, threads=1)  # llama.cpp makes it 512; the token buffer stays 300
    session = ChatSession(llm, None, system="You are terse.", temperature=0, max_tokens=40, grounded=False)
    assert session.n_ctx == 300
    turn = session.ask("harbor " * 400)
    assert turn.cut and turn.prompt_tokens <= 300 - 40  # it used to fill 512 - 40 and fail past 300
    llm.close()
    llm = open_llama(chat_gguf, n_ctx=10, threads=1)
    with pytest.raises(UserError, match="10-token context cannot hold even the system prompt"):
        warm_prefix(llm, ChatSession(llm, None).count, "You are terse.")
    llm.close()


# ---------------------------------------------------------------------------------------------
# As a user: -p, a pipe, the REPL in a pseudo-terminal

def test_one_shot_prints_answer_and_sources(chat_export, catalog_path, sample_titles):
    uid, title = sample_titles[0]
    result = chat("--model", chat_export, "--catalog", catalog_path, "-p", f"Tell me about {title}",
                  "--max-tokens", 16, "--stats", "--json")
    assert result.returncode == 0, result.stderr
    answer, _, sources = result.stdout.partition("Sources (")
    assert answer.strip() and f"[1] {uid}  {title}  (score " in sources
    assert "tokens/s]" in result.stdout and "first token" in result.stdout
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["grounded"] is True and last["sources"][0]["uid"] == uid and last["question"] == f"Tell me about {title}"
    assert set(last) == {"question", "answer", "sources", "grounded", "stopped", "why", "about"}
    assert last["why"] == "title match" and last["about"] == [{"uid": uid, "title": title}]


def test_missing_default_catalog_chats_without_sources(chat_export, tmp_path, capsys):
    """No --catalog and none at the default path: chat without sources (a --catalog given must open:
    tests/test_bad_input.py)."""
    from productqa.chat import run_chat

    assert run_chat(model=chat_export, catalog=tmp_path / "nope.sqlite", prompt="hi", max_tokens=8, threads=1) == 0
    out, err = capsys.readouterr()
    assert "chatting without sources" in err and "Sources:" not in out


def test_questions_from_a_pipe(chat_export, catalog_path, tmp_path):
    saved = tmp_path / "conv.json"
    result = chat("--model", chat_export, "--catalog", catalog_path, "--max-tokens", 8,
                  input=f"/grounded off\nfirst harbor question\n/temp 0\n/grounded on\nzzqxv\n/save {saved}\n")
    assert result.returncode == 0, result.stderr
    assert "no matching catalog record" in result.stdout and "That product is not in the catalog." in result.stdout
    conversation = json.loads(saved.read_text())
    assert [t["user"] for t in conversation["turns"]] == ["first harbor question", "zzqxv"]
    assert [t["grounded"] for t in conversation["turns"]] == [False, False] and conversation["temperature"] == 0
    assert conversation["turns"][0]["messages"][0]["role"] == "system"


def test_the_shared_prompt_start_is_read_once_and_reused(chat_gguf, catalog_path, sample_titles):
    from productqa.catalog import Catalog
    from productqa.chat import TemplateCounter, warm_prefix

    llm = open_llama(chat_gguf, n_ctx=1024, threads=1)
    count = TemplateCounter(llm)
    system = "You answer from catalog records."
    shared = warm_prefix(llm, count, system)
    cached = list(llm.input_ids[:llm.n_tokens])
    # the cache holds the template's start, the system prompt and the records' heading
    assert shared == llm.n_tokens > len(llm.tokenize(system.encode(), add_bos=False)) + 3
    session = ChatSession(llm, Catalog(catalog_path), system=system, temperature=0.0, max_tokens=4,
                          out=io.StringIO(), count=count)
    for _, title in sample_titles[:2]:  # every grounded prompt starts with what is cached
        turn = session.ask(f"Tell me about {title}")
        assert turn.grounded and count.tokens(turn.messages)[:shared] == cached
    llm.close()


def test_compare_one_shot_answers_with_base_then_fine_tuned(chat_export, catalog_path, sample_titles, base_gguf):
    uid, title = sample_titles[0]
    result = chat("--model", chat_export, "--catalog", catalog_path, "--compare", "--base-model", base_gguf,
                  "-p", f"Tell me about {title}", "--max-tokens", 8, "--temperature", 0, "--json", "--stats")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    base_at, tuned_at = out.index(LABELS["base"]), out.index(LABELS["tuned"])
    assert base_at < tuned_at < out.index("given to both models") and "base model [prompt" in out
    last = json.loads(out.strip().splitlines()[-1])
    assert last["grounded"] is True and last["sources"][0]["uid"] == uid
    assert set(last["base"]) == {"answer", "stopped", "cited", "answer_from"} and last["base"]["answer"]
    # the base model answered the same prompt: its text is what the fine-tuned export is compared with
    base_part = out[base_at + len(LABELS["base"]):tuned_at].split("\n[note: ")[0]  # a note on its citations may follow
    assert base_part.strip() == last["base"]["answer"]


def test_compare_from_a_pipe_and_without_a_base_model(chat_export, catalog_path, sample_titles, base_gguf, tmp_path):
    _, title = sample_titles[0]
    saved = tmp_path / "conv.json"
    result = chat("--model", chat_export, "--catalog", catalog_path, "--max-tokens", 6, "--base-model", base_gguf,
                  input=f"/compare on\nTell me about {title}\nzzqxv\n/compare off\nTell me about {title}\n"
                        f"/save {saved}\n")
    assert result.returncode == 0, result.stderr
    assert "[compare on" in result.stdout and "neither model is asked" in result.stdout
    turns = json.loads(saved.read_text())["turns"]
    assert [("base" in t) for t in turns] == [True, False, False]
    assert turns[0]["base"]["answer"] and turns[1]["answer"] == "That product is not in the catalog."
    # the tiny export names no base model: /compare says what to pass, and the chat goes on
    result = chat("--model", chat_export, "--catalog", catalog_path, "--max-tokens", 4,
                  input=f"/compare on\nTell me about {title}\n")
    assert result.returncode == 0, result.stderr
    assert "[/compare: --compare needs the base model as a GGUF" in result.stdout and "pass --base-model" in result.stdout
    assert LABELS["base"] not in result.stdout and "Sources (" in result.stdout
    result = chat("--model", chat_export, "--catalog", catalog_path, "--compare", "-p", "hi")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--base-model" in result.stderr


def test_the_chat_prompts_with_the_system_prompt_the_model_was_trained_with(tmp_path):
    from productqa.prompts import read_system_prompt

    (tmp_path / "m.q8_0.gguf").write_bytes(b"GGUF")
    assert resolve_served(tmp_path).system_prompt == read_system_prompt()  # no export.json: prompts/system.txt
    (tmp_path / "export.json").write_text(json.dumps({"system_prompt": "Trained with this.", "chat_template": "qwen3"}))
    served = resolve_served(tmp_path)
    assert served.system_prompt == "Trained with this." and served.family.stops == ("<|im_end|>",)
    assert resolve_served(tmp_path / "m.q8_0.gguf").system_prompt == "Trained with this."  # a file of that export


def test_compare_defaults_to_the_bundled_base_for_exports_trained_from_it(tmp_path):
    from productqa.gguf import bundled_gguf
    from productqa.served import base_model_file

    model = tmp_path / "x.q8_0.gguf"
    (tmp_path / "export.json").write_text(json.dumps({"base_model": "gemma-3-270m"}))
    assert base_model_file(resolve_served(model)) == bundled_gguf()
    assert base_model_file(resolve_served(model), tmp_path / "mine.gguf") == tmp_path / "mine.gguf"
    (tmp_path / "export.json").write_text(json.dumps({"base_model": "/models/qwen"}))
    with pytest.raises(UserError, match="pass --base-model"):
        base_model_file(resolve_served(model))


def terminal_chat(export, catalog, *args):
    """05_chat.py in a pseudo-terminal (pexpect), as a person runs it; one thread, as chat() does."""
    import pexpect

    return pexpect.spawn(SCRIPT[0], SCRIPT[1:] + ["--model", str(export), "--catalog", str(catalog), *args,
                                                  "--threads", "1"],
                         env=ENV, cwd=str(ROOT), encoding="utf-8", timeout=60)


def test_repl_in_a_terminal(chat_export, catalog_path, sample_titles):
    import pexpect

    uid, title = sample_titles[1]
    child = terminal_chat(chat_export, catalog_path, "--ctx", "8192", "--max-tokens", "8000")
    try:
        child.expect_exact("you> ")
        child.sendline("/help")
        child.expect_exact("/sources on|off")
        child.expect_exact("you> ")
        # a long answer: stream some text, then Ctrl-C stops it and the prompt returns
        child.sendline(f"Tell me about {title}")
        child.expect_exact(f"Tell me about {title}\r\n")  # the terminal's echo of the question
        child.expect(r"\S{3}")  # streamed text arrives before the answer is finished
        child.sendintr()
        child.expect_exact("[stopped]")
        child.expect_exact(f"[1] {uid}  {title}")
        child.expect_exact("you> ")
        child.sendline("/sources off")
        child.expect_exact("[sources off]")
        child.sendline("/reset")
        child.expect_exact("[conversation cleared]")
        child.expect_exact("you> ")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before


def test_a_conversation_in_a_terminal(chat_export, catalog_path, sample_titles):
    """What a person sees: an answer with its Sources, a follow-up with them again, a partial title
    with "did you mean" and a pick, a product the catalog lacks, and /reset forgetting the product."""
    import pexpect

    uid, title = sample_titles[1]
    child = terminal_chat(chat_export, catalog_path, "--max-tokens", "6", "--temperature", "0")
    try:
        child.expect_exact("you> ")
        child.sendline(f'Tell me about "{title}"')
        child.expect_exact(f"[1] {uid}  {title}")
        child.expect_exact("you> ")
        child.sendline("Who is it for?")
        child.expect_exact("Who is it for?\r\n")
        child.expect_exact(f"[1] {uid}  {title}")  # the same product's records, shown again
        child.expect_exact("you> ")
        child.sendline("Tell me about Coffee")
        child.expect_exact("Did you mean:")
        child.expect(r"\[2\] Coffee Mug \((\w+)\)")
        second = child.match.group(1)
        child.expect_exact("you> ")
        child.sendline("2")
        child.expect_exact(f"[1] {second}  Coffee Mug")
        child.expect_exact("you> ")
        child.sendline("Tell me about The Velvet Submarine Cookbook")
        child.expect_exact("That product is not in the catalog.")
        child.expect_exact("you> ")
        child.sendline(f'Tell me about "{title}"')
        child.expect_exact("you> ")
        child.sendline("/reset")
        child.expect_exact("[conversation cleared]")
        child.sendline("Who wrote it?")
        child.expect_exact("That product is not in the catalog.")  # no product in focus any more
        child.expect_exact("you> ")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before


def test_ctrl_d_leaves_with_status_0(chat_export, catalog_path):
    import pexpect

    child = terminal_chat(chat_export, catalog_path)
    child.expect_exact("you> ")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


# records we write for conversations: a series, a title with its subtitle and series, look-alike starts
TALK = [{"uid": uid, "title": title, "content": content, "target_ind": [1], "target_rel": [1.0]} for uid, title, content in (
    ("1000000001", "Marigold Lane: A Seaside Mystery (Harbour Town Book 2)", "A baker finds a map in a flour sack."),
    ("1000000002", "Marigold Lane Bakery Cookbook", "Eighty recipes from a seaside bakery, with notes on flour."),
    ("1000000003", "Copper Fox Adventures: The Lost Map", "A fox cub follows a map to the old mill by the river."),
    ("1000000004", "Copper Fox Adventures: The River Race", "A fox cub builds a raft for the summer race."),
    ("1000000005", "Field Guide to Northern Mosses", "Two hundred mosses of the northern forests, with keys."),
    ("1000000006", "Northern Lights Road Atlas 2014 (Travel Atlases)", "Road maps of the north at one to a quarter million."),
)] + OWN[6:]


def test_a_partial_title_clearly_one_product_is_answered_about_it(tmp_path):
    from productqa.catalog import CLEAR
    from productqa.chat import turn_json

    catalog = _catalog_of(tmp_path, TALK)
    session, llm, out = scripted_session("Road maps of the north at one to a quarter million. [1]", catalog)
    turn = session.ask("Tell me about Northern Lights Road Atlas 2014")
    assert turn.grounded and turn.why == "partial" and turn.confidence >= CLEAR
    assert turn.sources[0].uid == "1000000006" and turn.supported == ["1000000006"] and len(llm.calls) == 1
    record = turn_json(turn)
    assert record["why"] == "partial title" and record["about"] == [{"uid": "1000000006", "title": TALK[5]["title"]}]


def test_several_possible_products_are_listed_and_the_next_line_picks_one(tmp_path):
    from productqa.chat import turn_json

    catalog = _catalog_of(tmp_path, TALK)
    session, llm, out = scripted_session("A fox cub builds a raft for the summer race. [1]", catalog)
    turn = session.ask("Tell me about Copper Fox Adventures")
    assert llm.calls == [] and {s.uid for s in turn.choices} == {"1000000003", "1000000004"} and not turn.grounded
    assert "Did you mean:" in out.getvalue() and "match 95%: the title's main part" in out.getvalue()
    record = turn_json(turn)
    assert record["why"] == "several products may be meant" and all(c["confidence"] == 0.95 for c in record["choices"])
    race = [n for n, s in enumerate(turn.choices, 1) if s.uid == "1000000004"][0]
    turn = session.ask(f"[{race}]")
    assert turn.grounded and turn.why == "picked" and turn.sources[0].uid == "1000000004"
    assert "1000000003" not in [s.uid for s in turn.sources]  # the other candidate is not shown to the model
    assert turn.supported == ["1000000004"] and turn_json(turn)["about"][0]["uid"] == "1000000004"
    session.ask("Tell me about Copper Fox Adventures")
    assert session.ask("copper fox adventures the lost map").sources[0].uid == "1000000003"  # by its title


def test_a_follow_up_is_about_the_product_in_focus_until_another_is_named_or_reset(tmp_path):
    from productqa.chat import turn_json

    catalog = _catalog_of(tmp_path, TALK)
    session, llm, out = scripted_session("Two hundred mosses of the northern forests, with keys. [1]", catalog)
    first = session.ask("Tell me about Field Guide to Northern Mosses")
    assert first.why == "title" and first.sources[0].uid == "1000000005"
    for follow_up in ("Who is it for?", "Is it good for beginners?", "Who wrote it?"):
        turn = session.ask(follow_up)
        assert turn.grounded and turn.why == "focus" and [s.uid for s in turn.sources] == [s.uid for s in first.sources]
        assert llm.calls[-1][-1]["content"].endswith(
            f"Earlier question: Tell me about Field Guide to Northern Mosses\nQuestion: {follow_up}")
        assert turn_json(turn)["why"] == "follow-up: the product in focus" and turn.supported == ["1000000005"]
        assert format_sources(turn).splitlines()[1].startswith(" *[1] 1000000005")  # the Sources again
    switched = session.ask("What is the Marigold Lane Bakery?")  # another product named: it takes the focus
    assert switched.why == "partial" and switched.sources[0].uid == "1000000002"
    assert session.ask("Who wrote it?").sources[0].uid == "1000000002"
    session.ask("Tell me about Pottery for Beginners")  # not in the catalog: no product stays in focus
    calls = len(llm.calls)
    assert session.ask("Who wrote it?").why == "absent" and len(llm.calls) == calls
    session.ask("Tell me about Field Guide to Northern Mosses")
    session.reset()  # /reset
    assert session.ask("Who wrote it?").why == "absent"
