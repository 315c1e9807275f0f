"""Bad input never costs an answer, a file or the truth of a citation: input that is not UTF-8, a broken
--catalog, a question longer than the context, broken files where a sentence is promised, flags out of
range. Each is one sentence (exit 2 where the run cannot go on), never a traceback."""
import json
import shutil
import sqlite3
import subprocess

import pytest

from productqa.catalog import Catalog
from productqa.chat import Repl, open_catalog
from productqa.errors import UserError
from tests.conftest import ROOT, load_script
from tests.test_chat import ENV, SCRIPT, chat, scripted_session


def chat_bytes(*args, input=b"", timeout=60):
    """05_chat.py with raw bytes allowed in argv and on stdin; its output as bytes, to check it is UTF-8."""
    return subprocess.run(SCRIPT + [a if isinstance(a, bytes) else str(a) for a in args] + ["--threads", "1"],
                          input=input, capture_output=True, timeout=timeout, env=ENV, cwd=ROOT)


def json_lines(text: str) -> list[dict]:
    """The --json objects of an output (the answers' own text is not JSON)."""
    found = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "question" in value:
            found.append(value)
    return found


def one_sentence(result, says: str) -> None:
    err = result.stderr if isinstance(result.stderr, str) else result.stderr.decode("utf-8")
    assert result.returncode == 2 and says in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def run_main(script: str, argv: list, capsys) -> str:
    """A stage's main() in-process: it must exit 2 with one sentence on stderr, which is returned."""
    with pytest.raises(SystemExit) as leaving:
        load_script(script).main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert leaving.value.code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    return err


# ---------------------------------------------------------------------------------------------
# 1. Input that is not UTF-8

def test_a_piped_line_that_is_not_utf8_costs_only_itself(chat_export, catalog_path, sample_titles):  # noqa: F811
    _, title = sample_titles[0]
    lines = f"Tell me about {title}\n".encode() + b"Tell me about \xff\xfe caf\xe9\n" + "zzqxv café\n".encode()
    result = chat_bytes("--model", chat_export, "--catalog", catalog_path, "--max-tokens", 4, "--json", input=lines)
    assert result.returncode == 0 and b"Traceback" not in result.stderr, result.stderr
    found = json_lines(result.stdout.decode("utf-8"))  # strict: the output is UTF-8
    assert [f["question"] for f in found] == [f"Tell me about {title}", "Tell me about \ufffd\ufffd caf\ufffd", "zzqxv café"]
    assert "error" not in found[0] and found[2]["answer"] == "That product is not in the catalog."
    assert found[1]["error"] == "line 2 is not UTF-8 text (byte 0xff at byte 15): send it as UTF-8"
    result = chat_bytes("--model", chat_export, "--catalog", catalog_path, "--max-tokens", 4, input=lines)
    out = result.stdout.decode("utf-8")
    assert result.returncode == 0 and "[line 2 is not UTF-8 text" in out and "Traceback" not in result.stderr.decode()
    assert "you> zzqxv café" in out and "That product is not in the catalog." in out


def test_a_question_given_with_p_that_is_not_utf8_is_one_sentence(chat_export, catalog_path):  # noqa: F811
    result = chat_bytes("--model", chat_export, "--catalog", catalog_path, "-p", b"Tell me about \xffdelle", "--json")
    one_sentence(result, "error: -p is not UTF-8 text (byte 0xff at byte 15): send it as UTF-8")
    assert result.stdout == b""


def test_a_line_python_could_not_decode_is_refused_in_the_repl_too(catalog_path, sample_titles):  # noqa: F811
    _, title = sample_titles[0]
    session, llm, out = scripted_session("An answer. [1]", Catalog(catalog_path))
    repl = Repl(session, 0.0, as_json=True)
    # a terminal's or argv's undecodable bytes arrive as lone surrogates
    repl.piped(["Tell me about caf\udce9\n", f"Tell me about {title}\n", "\n"])
    out.getvalue().encode("utf-8")  # strict: every line written is UTF-8
    found = json_lines(out.getvalue())
    assert len(found) == 2 and found[0]["error"].startswith("line 1 is not UTF-8 text (byte 0xe9 at byte 18)")
    assert found[1]["grounded"] and len(llm.calls) == 1


# ---------------------------------------------------------------------------------------------
# 3. A --catalog that cannot be read

def damaged(catalog_path, tmp_path, sql: str):  # noqa: F811
    copy = shutil.copy(catalog_path, tmp_path / "damaged.sqlite")
    with sqlite3.connect(copy) as db:
        db.execute(sql)
    db.close()
    return copy


def test_a_catalog_asked_for_must_open(chat_export, catalog_path, tmp_path, sample_titles, capsys):  # noqa: F811
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    broken = damaged(catalog_path, tmp_path, "DROP TABLE records")
    for path, says in ((junk, "is not a productqa catalog"), (tmp_path / "nope.sqlite", "does not exist"),
                       (broken, "is damaged (no such table: records)")):
        result = chat("--model", chat_export, "--catalog", path, "-p", f"Tell me about {sample_titles[0][1]}")
        one_sentence(result, says)
        assert "leave out --catalog" in result.stderr and result.stdout == ""
    # the default catalog missing: the chat goes on without sources, saying so
    assert open_catalog(tmp_path / "nope.sqlite") is None
    assert "chatting without sources" in capsys.readouterr().err
    with pytest.raises(UserError, match="is not a productqa catalog"):
        open_catalog(junk, asked=True)


@pytest.mark.parametrize("sql, says", [
    ("DROP TABLE records", "no such table: records"),
    ("DELETE FROM arrays WHERE name = 'titles'", "no 'titles' array"),
    ("UPDATE arrays SET data = substr(data, 1, length(data) - 1) WHERE name = 'term_counts'", "multiple of element size"),
    ("UPDATE arrays SET data = substr(data, 1, length(data) - 4) WHERE name = 'postings'", "word index does not add up"),
    ("UPDATE arrays SET data = randomblob(length(data)) WHERE name = 'titles'", "title index is out of order"),
    ("UPDATE arrays SET data = zeroblob(length(data)) WHERE name = 'postings'", "names records it does not have"),
    ("DELETE FROM records WHERE id = (SELECT max(id) FROM records)", "disagree on how many records"),
    ("UPDATE meta SET value = 'many' WHERE name = 'records'", "invalid literal"),
])
def test_a_damaged_catalog_is_one_sentence_when_opened(catalog_path, tmp_path, sql, says):  # noqa: F811
    with pytest.raises(UserError, match=f"damaged.sqlite is damaged .*{says}.*: rebuild it with scripts/01_prepare.py"):
        Catalog(damaged(catalog_path, tmp_path, sql))


# ---------------------------------------------------------------------------------------------
# 4. A question longer than the context

def test_a_question_too_long_for_the_context_names_its_length_and_keeps_json_in_step(chat_export, catalog_path,  # noqa: F811
                                                                                      sample_titles):
    _, title = sample_titles[0]
    long = f'Tell me about "{title}".' + " Please be thorough." * 6000
    result = chat("--model", chat_export, "--catalog", catalog_path, "--max-tokens", 4, "--json", "-p", long)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (found,) = json_lines(result.stdout)
    assert found["question"] == long and found["error"].startswith(f"the question is {len(long):,} characters")
    assert found["error"].endswith("shorten it")  # the model reads no context that long: no --ctx to raise
    result = chat("--model", chat_export, "--catalog", catalog_path, "--max-tokens", 4, "--json",
                  input=f"{long}\nTell me about {title}\n")
    assert result.returncode == 0, result.stderr
    assert [("error" in f, f["question"]) for f in json_lines(result.stdout)] == [
        (True, long), (False, f"Tell me about {title}")]


def test_raise_ctx_is_said_only_when_a_larger_context_would_hold_the_prompt(catalog_path, sample_titles):  # noqa: F811
    _, title = sample_titles[0]
    catalog = Catalog(catalog_path)
    # the scripted model counts words; 2048 tokens of context, 64 kept for the answer: 1984 for the prompt
    session, llm, out = scripted_session("An answer. [1]", catalog)
    question = f'Tell me about "{title}". ' + "word " * 1960  # fits alone, not with the record
    with pytest.raises(UserError) as refused:
        session.ask(question)
    assert str(refused.value).startswith(f"the question is {len(question):,} characters, "
                                         f"{len(question.split()) + 1:,} tokens with the system prompt and ")
    assert str(refused.value).endswith("more than the 1,984 tokens a prompt may have in the 2,048-token context; "
                                       "shorten it or raise --ctx to 3,072")
    llm._model = type("Model", (), {"n_ctx_train": lambda self: 2048})()  # a model that reads no more than 2048
    with pytest.raises(UserError, match=r"2,048-token context; shorten it$") as refused:
        session.ask(question)
    repl = Repl(session, 0.0, as_json=True)
    assert repl.answer(question) is False
    assert json_lines(out.getvalue()) == [{"question": question, "error": str(refused.value)}]
    assert llm.calls == [] and session.turns == []


# ---------------------------------------------------------------------------------------------
# 7. Broken files and folders: one sentence each

def test_a_truncated_lora_adapter_is_one_sentence(base_gguf, tmp_path):  # noqa: F811
    import gguf
    import numpy as np

    from productqa.served import open_llama, resolve_served

    lora = tmp_path / "x.lora.gguf"
    writer = gguf.GGUFWriter(lora, "gemma3")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, 16.0)
    writer.add_tensor("blk.0.attn_q.weight.lora_a", np.zeros((8, 640), np.float16))  # Gemma 3 270M's shapes
    writer.add_tensor("blk.0.attn_q.weight.lora_b", np.zeros((1024, 8), np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    lora.write_bytes(lora.read_bytes()[:20_000])  # cut short in the last tensor (llama.cpp loads it silently)
    (tmp_path / "export.json").write_text(json.dumps({"default": "adapter", "forms": {
        "adapter": {"base": str(base_gguf), "adapter": lora.name}}}))
    with pytest.raises(UserError, match=r"the LoRA adapter .*x\.lora\.gguf is truncated or corrupt .*: export it again"):
        open_llama(resolve_served(tmp_path), n_ctx=256, threads=1)


def test_a_system_prompt_not_utf8_or_too_long_is_one_sentence(chat_export, catalog_path, tmp_path):  # noqa: F811
    (tmp_path / "latin1.txt").write_bytes("Réponds en français.".encode("latin-1"))
    result = chat("--model", chat_export, "--catalog", catalog_path, "--system", tmp_path / "latin1.txt", "-p", "hi")
    one_sentence(result, "latin1.txt is not UTF-8 text (byte 0xe9 at byte 2): save it as UTF-8")
    # fits the context, but not with room for the answer: closed book it was a ValueError from history.fit
    (tmp_path / "long.txt").write_text("You are helpful. " * 900)
    result = chat("--model", chat_export, "--catalog", catalog_path, "--system", tmp_path / "long.txt", "--closed-book",
                  "--max-tokens", 2000, "-p", "hi")
    one_sentence(result, "cannot hold even the system prompt and one record's frame")
    assert "and the 2,000 kept for the answer (--max-tokens): shorten the system prompt" in result.stderr


def test_a_system_prompt_too_long_for_the_chat_keeps_the_one_before(catalog_path):  # noqa: F811
    from productqa.chat import Command

    session, llm, out = scripted_session("An answer.", Catalog(catalog_path))
    session.count.tokens = lambda messages: " ".join(m["content"] for m in messages).split()
    llm.reset = llm.eval = lambda *args: None
    Repl(session, 0.0).command(Command("system", "word " * 3000))
    assert session.system == "SYS" and "cannot hold even the system prompt" in out.getvalue()
    Repl(session, 0.0).command(Command("system", "Be brief."))
    assert session.system == "Be brief."


@pytest.fixture
def fake_run(tmp_path):
    run = tmp_path / "runs" / "r1"
    (run / "adapter").mkdir(parents=True)
    (run / "meta.json").write_text(json.dumps({"base_model": "gemma-3-270m", "args": {"data": str(tmp_path / "none")}}))
    return run


@pytest.mark.parametrize("script", ["03_evaluate.py", "04_export.py"])
@pytest.mark.parametrize("meta, says", [(b'{"base_model": "gemma', "is not valid JSON"),
                                        (b"\xff\xfe{}", "is not valid JSON"), (b"[1, 2]", "is not a JSON object")])
def test_a_broken_run_meta_json_is_one_sentence(fake_run, script, meta, says, capsys):
    (fake_run / "meta.json").write_bytes(meta)
    assert says in run_main(script, ["--run", fake_run], capsys)


@pytest.mark.parametrize("script", ["03_evaluate.py", "04_export.py"])
def test_an_out_folder_that_cannot_be_written_is_one_sentence_before_any_work(fake_run, script, tmp_path, capsys):
    err = run_main(script, ["--run", fake_run, "--out", "/proc/self/productqa-out"], capsys)
    assert "--out /proc/self/productqa-out cannot be written: /proc/self takes no new file" in err
    (tmp_path / "file").write_text("x")
    err = run_main(script, ["--run", fake_run, "--out", tmp_path / "file" / "out"], capsys)
    assert "cannot be made" in err and "is a file, not a folder" in err


# ---------------------------------------------------------------------------------------------
# 8. Flags out of range: one table (productqa.flags), both scripts

@pytest.mark.parametrize("args, says", [
    (["--temperature", "-1"], "--temperature must be a number from 0 to 2, not -1.0"),
    (["--temperature", "nan"], "--temperature must be a number from 0 to 2, not nan"),
    (["--top-p", "5"], "--top-p must be a number from 0.01 to 1, not 5.0"),
    (["--max-tokens", "0"], "--max-tokens must be a whole number of at least 1, not 0"),
    (["--threads", "-1"], "--threads must be a whole number from 1 to 1024, not -1"),
    (["--ctx", "-5"], "--ctx must be a whole number from 64 to 131072, not -5"),
    (["--k", "1000"], "--k must be a whole number from 1 to 20, not 1000: each record lengthens the prompt"),
    (["--k", "0"], "--k must be a whole number from 1 to 20, not 0"),
])
@pytest.mark.parametrize("script", ["05_chat.py", "06_serve.py"])
def test_flags_out_of_range_are_one_sentence_in_both_scripts(script, args, says, tmp_path, capsys):
    err = run_main(script, ["--model", tmp_path / "missing.gguf", "--catalog", tmp_path / "none.sqlite", *args], capsys)
    assert err.startswith(f"error: {says}")


def test_temp_in_the_chat_keeps_to_the_same_range(catalog_path):  # noqa: F811
    from productqa.chat import Command

    session, llm, out = scripted_session("An answer.", Catalog(catalog_path))
    repl = Repl(session, 0.0)
    for bad in ("nan", "-1", "3", "warm"):
        repl.command(Command("temp", bad))
        assert session.temperature == 0
    assert out.getvalue().count("the temperature must be a number from 0 to 2") == 4
    repl.command(Command("temp", "0.5"))
    assert session.temperature == 0.5


def test_a_json_line_stays_one_line_for_any_line_splitter(catalog_path):  # noqa: F811
    session, llm, out = scripted_session("An answer.", Catalog(catalog_path))
    Repl(session, 0.0, as_json=True).piped(["zzqxv\u2028one\x85two\u2029three\n"])
    (line,) = out.getvalue().splitlines()[-1:]
    assert json.loads(line)["question"] == "zzqxv\u2028one\x85two\u2029three" and "\u2028" not in line
