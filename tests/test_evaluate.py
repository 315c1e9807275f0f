import json
from pathlib import Path

import pytest

from productqa import evaluate as E
from productqa.chat_format import answer_of, conversation_ids, prompt_text
from productqa.files import read_jsonl
from productqa.report import write_report
from productqa.train import TARGET_MODULES
from tests.conftest import load_script as load_script_file

ROOT = Path(__file__).resolve().parents[1]
SYSTEM = "You are a test assistant."


def make_run(folder: Path, model_dir: Path, data: Path) -> Path:
    """A finished run folder as 02_train leaves it: LoRA adapter + gemma3-templated tokenizer + meta.json."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from unsloth.chat_templates import get_chat_template

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    targets = TARGET_MODULES
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=targets, task_type="CAUSAL_LM",
                                             init_lora_weights=False))  # random B: fine-tuned != base
    tokenizer = get_chat_template(AutoTokenizer.from_pretrained(model_dir), "gemma3")
    model.save_pretrained(folder / "adapter")
    tokenizer.save_pretrained(folder / "adapter")
    meta = {"base_model": str(model_dir), "base_model_path": str(model_dir), "chat_template": "gemma3",
            "system_prompt": SYSTEM, "max_seq_length": 256, "args": {"data": str(data)}}
    (folder / "meta.json").write_text(json.dumps(meta))
    with open(folder / "trainer_log.jsonl", "w") as handle:
        for step, loss in [(1, 3.0), (2, 2.5), (3, 2.2)]:
            handle.write(json.dumps({"step": step, "loss": loss}) + "\n")
        handle.write(json.dumps({"step": 3, "eval_loss": 2.4}) + "\n")
    return folder


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_model_dir, prepared_sample):
    return make_run(tmp_path_factory.mktemp("runs") / "tiny", tiny_model_dir, prepared_sample)


@pytest.fixture(scope="module")
def loaded(tiny_run):
    return E.load_models(tiny_run, E.base_model_path(E.run_meta(tiny_run)), "cpu", None)


@pytest.fixture(scope="module")
def private_cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(E, "cache_dir", lambda: folder)
        yield folder


def load_script():
    return load_script_file("03_evaluate.py")


# ---- report from a fake samples file ----------------------------------------------------------------

def fake_eval(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    base = {"rouge1": 0.2, "rouge2": 0.05, "rougeL": 0.141, "bleu": 0.009, "chrf": 0.2, "embedding_cosine": 0.4,
            "loss": 3.0, "perplexity": 20.09, "mean_answer_words": 40.0, "mean_new_tokens": 90.0,
            "stopped_fraction": 0.25, "tokens_per_second": 12.5, "generated_tokens": 360, "generation_seconds": 28.8,
            "cached": True}
    tuned = {**base, "rougeL": 0.150, "bleu": 0.020, "loss": 2.0, "perplexity": 7.39, "stopped_fraction": 1.0,
             "tokens_per_second": 11.0, "cached": False}
    grounded = {"n": 1, "base": {"right_record": 0.0, "rougeL": 0.057, "stopped_fraction": 0.0},
                "finetuned": {"right_record": 1.0, "rougeL": 0.990, "stopped_fraction": 1.0},
                "delta": {"right_record": 1.0, "rougeL": 0.933, "stopped_fraction": 1.0},
                "ci": {"right_record": [1.0, 1.0], "rougeL": [0.851, 0.990], "stopped_fraction": [-0.2, 1.0]},
                "significant": ["right_record", "rougeL"]}
    trained = {"n": 1, "base": {"rougeL": 0.1, "perplexity": 9.0}, "finetuned": {"rougeL": 0.3, "perplexity": 4.5},
               "delta": {"rougeL": 0.2, "perplexity": -4.5}, "ci": {"rougeL": [-0.1, 0.4], "perplexity": [-6.0, -3.0]},
               "significant": ["perplexity"]}
    retrieval = {"k": 3, "n": 2, "values": {"p_at_1": 0.5, "recall_at_k": 1.0},
                 "ci": {"p_at_1": [0.0, 1.0], "recall_at_k": [1.0, 1.0]},
                 "by_suite": {"grounded": {"n": 1, "values": {"p_at_1": 1.0, "recall_at_k": 1.0},
                                           "ci": {"p_at_1": [1.0, 1.0], "recall_at_k": [1.0, 1.0]}}}}
    metrics = {"base": base, "finetuned": tuned, "n": 2, "suites": {"grounded": grounded, E.TRAINED: trained},
               "retrieval": retrieval,
               "settings": {"run_name": "demo", "split": "test", "per_suite": 5, "per_suite_default": True,
                            "max_new_tokens": 96, "batch_size": 8, "base_model": "gemma-3-270m", "k": 3,
                            "chat_template": "gemma3", "device": "cpu", "cpu_threads": 2, "dtype": "float32",
                            "resamples": 2000, "seed": 0, "epochs": 0.82}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    samples = [{"suite": "grounded", "question": "Tell me about A|B.", "reference": "A thing\nwith lines.",
                "base": "", "finetuned": "A thing.", "base_stopped": False, "finetuned_stopped": True},
               {"suite": "grounded", "question": "What is C?", "reference": "C.", "base": "C?", "finetuned": "C.",
                "base_stopped": True, "finetuned_stopped": True},
               {"suite": E.TRAINED, "question": "What do you know about D?", "training_question": "What is D?",
                "reference": "D.", "base": "D?", "finetuned": "D.", "base_stopped": True, "finetuned_stopped": True}]
    (folder / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return folder


@pytest.fixture
def report(tmp_path):
    """The report written from fake samples: (its text, the eval folder)."""
    run = tmp_path / "run"
    eval_dir = fake_eval(run / "eval")
    (run / "trainer_log.jsonl").write_text('{"step": 1, "loss": 3.0}\n{"step": 5, "loss": 1.5}\nnot json\n')
    return write_report(eval_dir, run_dir=run, examples=1).read_text(), eval_dir


def test_report_bolds_a_delta_whose_interval_excludes_zero(report):
    text, _ = report
    assert "| right record (closer to it than to every other record shown) | 0% | 100% | **+100 pts** ▲ | " \
           "[+100, +100] pts |" in text
    assert "| ROUGE-L | 0.057 | 0.990 | **+0.933** ▲ | [+0.851, +0.990] |" in text
    assert "| answers that stopped by themselves | 0% | 100% | +100 pts ▲ | [-20, +100] pts |" in text
    assert "| ROUGE-L | 0.100 | 0.300 | +0.200 ▲ | [-0.100, +0.400] |" in text  # not significant: not bold
    assert "| answer perplexity (teacher-forced) | 9.0 | 4.5 | **-4.5** ▲ | [-6.0, -3.0] |" in text


def test_report_summarizes_each_suite_and_warns_of_small_n(report):
    text, _ = report
    assert "| grounded | 1 | right record" in text and "| closed_book_trained | 1 | ROUGE-L" in text
    assert "— n = 1 *(small n" in text and "Small n (1-1 questions per suite, the CPU default)" in text
    assert "(measures style only" not in text  # no held-out closed-book suite in this result


def test_report_overall_table_and_speed(report):
    text, _ = report
    assert "| ROUGE-L | 0.141 | 0.150 | +0.009 ▲ |" in text and "| BLEU | 0.009 | 0.020 | +0.011 ▲ |" in text
    assert "| answer loss (teacher-forced) | 3.000 | 2.000 | -1.000 ▲ |" in text  # lower loss is better
    assert "| base (measured when the base answers were cached) | 12.5 |" in text and "| fine-tuned | 11.0 |" in text


def test_report_examples_one_a_suite_safe_inside_tables(report):
    text, _ = report
    assert "Tell me about A\\|B." in text and "A thing with lines." in text
    assert "*(empty)* *(cut at the token limit)*" in text
    assert "What is C?" not in text  # only --examples 1 per suite
    assert "| asked in training as | What is D? |" in text and "What do you know about D?" in text


def test_report_retrieval_with_intervals_overall_and_per_suite(report):
    text, _ = report
    assert "| questions | n | precision@1 | recall@3 |" in text
    assert "| all | 2 | 50% [0%, 100%] | 100% [100%, 100%] |" in text and "| grounded | 1 | 100% [100%, 100%]" in text


def test_report_training_curve_epochs_and_command(report):
    text, eval_dir = report
    assert "![training loss](loss.png)" in text and (eval_dir / "loss.png").is_file()
    assert "3.000 at step 1 → 1.500 at step 5" in text
    assert "The run trained 0.82 epochs" in text
    assert "--per-suite 5 --max-new-tokens 96" in text


def test_report_links_the_runs_loss_png(tmp_path):
    run = tmp_path / "run"
    eval_dir = fake_eval(run / "eval")
    (run / "loss.png").write_bytes(b"png")
    assert "![training loss](../loss.png)" in write_report(eval_dir, run_dir=run).read_text()


# ---- pieces of the evaluation ----------------------------------------------------------------------

class FakeModel:
    """generate() returns the prompt followed by fixed continuations."""

    device = "cpu"

    def __init__(self, continuations):
        self.continuations = continuations

    def generate(self, input_ids, attention_mask, max_new_tokens, **kwargs):
        import torch

        assert kwargs["do_sample"] is False and len(kwargs["eos_token_id"]) >= 2
        tail = torch.tensor(self.continuations[:len(input_ids)])
        return torch.cat([input_ids, tail], dim=1)


def test_generate_trims_at_end_tokens_and_counts(loaded):
    _, tokenizer, _ = loaded
    end, eos, pad = tokenizer.convert_tokens_to_ids("<end_of_turn>"), tokenizer.eos_token_id, tokenizer.pad_token_id
    hi = tokenizer.encode("hi", add_special_tokens=False)
    k = len(hi)
    fake = FakeModel([hi + [end] + [pad] * (k + 1), hi + [eos, pad, pad] + [pad] * (k - 1), hi + hi + [pad, pad][:0] + [hi[0]] * 2])
    out = E.generate(fake, tokenizer, ["q1", "q2 longer", "q3"], max_new_tokens=2 * k + 2, batch_size=3, progress=False)
    assert out["answers"][:2] == ["hi", "hi"] and out["answers"][2].startswith("hihi")
    assert out["new_tokens"] == [k + 1, k + 1, 2 * k + 2]  # up to and including the end token; all when none
    assert out["stopped"] == [True, True, False]
    assert out["tokens_per_second"] > 0


def test_answer_tokens_are_the_reference_and_end_of_turn(loaded, prepared_sample):
    _, tokenizer, _ = loaded
    row = read_jsonl(prepared_sample / "test.jsonl")[0]
    ids, start = conversation_ids(tokenizer, row, SYSTEM)
    assert tokenizer.decode(ids[start:]) == row["conversations"][-1]["value"] + "<end_of_turn>\n"
    assert prompt_text(tokenizer, row, SYSTEM).endswith("<start_of_turn>model\n")


def test_answer_loss_is_the_teacher_forced_loss_of_the_answer_tokens(loaded):
    import torch

    model, tokenizer, _ = loaded
    rows = [{"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]}
            for q, a in [("Hi?", "Yes."), ("What is it?", "A small lamp."), ("Ok", "Fine, thanks.")]]
    one = E.answer_loss(model, tokenizer, rows, None, batch_size=1, progress=False)
    three = E.answer_loss(model, tokenizer, rows, None, batch_size=3, progress=False)
    assert one["tokens"] == three["tokens"] > 0
    assert one["loss"] == pytest.approx(three["loss"], rel=1e-4)  # padding changes nothing
    assert one["perplexity"] == pytest.approx(torch.tensor(one["loss"]).exp().item(), rel=1e-6)
    # the reference: the model's own loss with every non-answer label masked, summed over the rows
    total = 0.0
    for ids, start in (conversation_ids(tokenizer, row, None) for row in rows):
        labels = torch.tensor([-100] * start + ids[start:])
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([ids]), labels=labels[None])
        total += out.loss.item() * (len(ids) - start)
    assert one["loss"] == pytest.approx(total / one["tokens"], rel=1e-4)


RECORDS = {"B00000000G": "A cast iron skillet, pre-seasoned, twelve inches across, with a helper handle.",
           "B00000000D": "A paperback mystery set on a Scottish island, where a ferry strike strands nine guests.",
           "1000000002": "Wireless earbuds with eight hours of battery and a charging case that fits a pocket."}


def test_grounded_suite_judges_the_record_copied_and_the_number_cited():
    from productqa.metrics import values

    row = {"id": "B00000000G", "kind": "grounded", "context": ["B00000000D", "B00000000G", "1000000002"]}
    answers = [RECORDS["B00000000G"] + " [2]",                   # right record, right number
               RECORDS["B00000000D"] + " [1]",                   # a fluent copy of the wrong record
               RECORDS["B00000000G"] + " [7]",                   # right text, a number no record has
               "A skillet. [2]",                                 # too little of the record to tell? still closest to G
               RECORDS["B00000000G"] + " [3]",                   # right text, the citation of another record
               "That product is not in the catalog."]            # a false refusal: the record was shown
    outputs = {"answers": answers, "stopped": [True, True, False, True, True, True], "new_tokens": [20, 20, 30, 5, 0, 0],
               "loss_rows": [[2.0, 4], [6.0, 4], [0.0, 1], [2.0, 1], [1.0, 1], [1.0, 1]]}
    figures = values(E.suite_statistics("grounded", [row] * 6, outputs, RECORDS, None))
    assert figures["right_record"] == pytest.approx(4 / 6) and figures["citation_accuracy"] == pytest.approx(2 / 6)
    assert figures["invented_citation"] == pytest.approx(1 / 6) and figures["stopped_fraction"] == pytest.approx(5 / 6)
    # the star follows the text: answers 1, 3 and 5 come from G (whatever they cite), 2 from D, 4 and 6 from none
    assert figures["right_starred"] == pytest.approx(3 / 6) and figures["wrong_starred"] == pytest.approx(1 / 6)
    assert figures["false_refusal"] == pytest.approx(1 / 6)
    assert figures["mean_new_tokens"] == 12.5 and figures["loss"] == 1.0  # 12 nats over 12 answer tokens


def test_absent_suite_counts_only_whole_refusals():
    from productqa.metrics import values

    row = {"id": "B00000000G", "kind": "absent", "context": ["B00000000D", "1000000002", "1000000002"]}
    answers = ["That product is not in the catalog.", "that product is NOT in the catalog",
               "You are productqa... If no record is that product, say that it is not in the catalog.",
               RECORDS["B00000000D"] + " [B00000000D]"]
    figures = values(E.suite_statistics("absent", [row] * 4, {"answers": answers, "stopped": [True] * 4},
                                        RECORDS, None))
    assert figures["refused"] == 0.5 and figures["stopped_fraction"] == 1.0  # the echoed system prompt is no refusal
    assert set(figures) == {"refused", "stopped_fraction", "mean_answer_words"}


def test_suites_pair_each_suite_and_bootstrap_its_deltas():
    rows = [{"id": "B00000000G", "suite": E.TRAINED, "kind": "closed_book", "context": None}] * 3 + \
           [{"id": "B00000000D", "kind": "absent", "context": ["B00000000G"]}] * 2
    answer = RECORDS["B00000000G"]
    base = {"answers": ["no idea"] * 3 + ["x", "That product is not in the catalog."], "stopped": [False] * 5,
            "new_tokens": [9] * 5, "loss": {"rows": [[3.0, 1]] * 5}}
    tuned = {"answers": [answer] * 3 + ["That product is not in the catalog."] * 2, "stopped": [True] * 5,
             "new_tokens": [9] * 5, "loss": {"rows": [[1.0, 1]] * 5}}
    out = E.suites(rows, base, tuned, RECORDS, None, resamples=200, seed=0)
    assert list(out) == ["absent", E.TRAINED]  # SUITES order, empty suites left out
    assert out["absent"]["n"] == 2 and out[E.TRAINED]["n"] == 3
    assert out["absent"]["delta"]["refused"] == 0.5 and out["absent"]["ci"]["refused"] == [0.0, 1.0]
    assert out[E.TRAINED]["finetuned"]["rougeL"] == pytest.approx(1.0)
    assert out[E.TRAINED]["ci"]["stopped_fraction"] == [1.0, 1.0]
    assert {"stopped_fraction", "rougeL", "loss"} <= set(out[E.TRAINED]["significant"])


def test_retrieval_precision_and_recall_per_suite():
    rows = [{"id": "A", "kind": "grounded"}, {"id": "B", "kind": "grounded"}, {"id": "C", "suite": E.TRAINED},
            {"id": "D", "suite": E.TRAINED}]
    found = E.retrieval(rows, [["A", "X"], ["X", "B"], ["C"], ["X", "Y"]], k=2, resamples=200)
    assert found["k"] == 2 and found["n"] == 4
    assert found["values"] == {"p_at_1": 0.5, "recall_at_k": 0.75}
    assert found["by_suite"]["grounded"]["values"] == {"p_at_1": 0.5, "recall_at_k": 1.0}
    assert found["by_suite"][E.TRAINED]["values"] == {"p_at_1": 0.5, "recall_at_k": 0.5}
    assert found["ci"]["recall_at_k"][1] == 1.0


def test_cache_key_covers_model_questions_and_settings():
    settings = E.EvalSettings(per_suite=10, max_new_tokens=32, batch_size=4)
    key = E.base_cache_key("m", "q", settings, "tpl", "sys")[0]
    assert key == E.base_cache_key("m", "q", E.EvalSettings(per_suite=10, max_new_tokens=32, batch_size=4), "tpl", "sys")[0]
    assert key == E.base_cache_key("m", "q", E.EvalSettings(per_suite=10, max_new_tokens=32, batch_size=4, examples=9,
                                                        resamples=10), "tpl", "sys")[0]  # scoring is not cached
    assert key != E.base_cache_key("m", "q", settings, "tpl", "sys", device="cuda")[0]
    assert key != E.base_cache_key("m", "q", settings, "tpl", "sys", dtype="bfloat16")[0]
    for changed in [("m2", "q", settings, "tpl", "sys"), ("m", "q2", settings, "tpl", "sys"),
                    ("m", "q", E.EvalSettings(per_suite=10, max_new_tokens=32, batch_size=16), "tpl", "sys"),
                    ("m", "q", E.EvalSettings(per_suite=10, max_new_tokens=33, batch_size=4), "tpl", "sys"),
                    ("m", "q", settings, "tpl2", "sys"), ("m", "q", settings, "tpl", "sys2")]:
        assert E.base_cache_key(*changed)[0] != key
    # the questions hash sees the suites, their order and the held-out phrasing
    rows = [{"conversations": [{"from": "human", "value": "What is A?"}, {"from": "gpt", "value": "A."}]},
            {"conversations": [{"from": "human", "value": "What is B?"}, {"from": "gpt", "value": "B."}]}]
    assert E.rows_sha256(rows) != E.rows_sha256(rows[::-1]) != E.rows_sha256(rows[:1])


def _plain(template: str) -> str:
    import re

    return " ".join(re.sub(r"[^\w\s{}]", " ", template.casefold()).split())


def test_heldout_phrasings_are_never_training_phrasings():
    from productqa.prompts import read_heldout_templates, read_question_templates

    training, heldout = read_question_templates(), read_heldout_templates()
    assert len(heldout) >= 6 and all("{title}" in t for t in heldout)
    assert not {_plain(t) for t in heldout} & {_plain(t) for t in training}  # not even up to case/punctuation
    # 01_prepare reads only the training files: exactly the lines of questions_en.txt and questions_pt.txt
    files = [ROOT / "prompts" / name for name in ("questions_en.txt", "questions_pt.txt")]
    lines = [line.strip() for path in files for line in path.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert training == lines


def test_trained_suite_asks_train_products_with_a_heldout_phrasing(prepared_sample):
    from productqa.prompts import read_heldout_templates

    rows, files = E.load_questions(prepared_sample, "test", 3)
    assert files["trained"].endswith("train.jsonl")
    suites = [E.suite_of(row) for row in rows]
    assert suites == sorted(suites, key=E.SUITES.index) and set(suites) == set(E.SUITES)
    assert all(suites.count(suite) <= 3 for suite in E.SUITES)
    train = {(row["id"], row["kind"]): row for row in read_jsonl(prepared_sample / "train.jsonl")}  # a product has fact rows too
    test_ids = {row["id"] for row in read_jsonl(prepared_sample / "test.jsonl")}
    templates = [_plain(t).split("{title}") for t in read_heldout_templates()]
    for row in rows:
        if E.suite_of(row) != E.TRAINED:
            assert row["id"] in test_ids and row["suite"] == E.SUITE_OF_KIND.get(row["kind"], row["kind"])
            continue
        trained = train.get((row["id"], "closed_book"))
        assert trained is not None and row["context"] is None
        assert row["training_question"] == trained["question"] != row["question"]
        assert answer_of(row) == answer_of(trained)  # the reference is the trained description
        asked = _plain(row["question"])
        assert any(asked.startswith(before) and asked.endswith(after) for before, after in templates)


def test_missing_split_is_one_sentence(tmp_path):
    from productqa.errors import UserError

    with pytest.raises(UserError, match="no test split"):
        E.load_questions(tmp_path, "test", 5)


def test_an_unusable_device_is_one_sentence():
    import torch

    from productqa.errors import UserError

    assert E.pick_device("cpu") == "cpu"
    with pytest.raises(UserError, match="--device gpu is not usable here"):
        E.pick_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="--device cuda is not usable here"):
            E.pick_device("cuda")


def test_a_damaged_split_is_one_sentence(tmp_path):
    from productqa.errors import UserError

    turns = [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]
    good = json.dumps({"id": "u1", "title": "T", "kind": "grounded", "conversations": turns})
    (tmp_path / "test.jsonl").write_text(good + "\n" + '{"kind": "grounded", "conversations": [\n')
    with pytest.raises(UserError, match=r"test.jsonl line 2 is not JSON"):
        E.load_questions(tmp_path, "test", 5)
    (tmp_path / "test.jsonl").write_text(good + "\n" + json.dumps({"kind": "absent", "conversations": turns}) + "\n")
    with pytest.raises(UserError, match=r"test.jsonl row 2: no text 'id', 'title'"):
        E.load_questions(tmp_path, "test", 5)


# ---- the factual suites: scores of answers we write, rows re-asked with held-out phrasings ----------

AUTHOR = "Tessa Castillo is the author of more than 25 books on local history and the canals."


def test_fact_answer_scores_want_the_words_the_citation_and_a_short_answer():
    from productqa.fact_scores import fact_answer_scores

    right = fact_answer_scores(AUTHOR + " [2]", "Tessa Castillo", 2)
    assert right == {"right_words": True, "cited_right": True, "short": True, "answered_right": True,
                     "false_refusal": False, "not_said": False}
    wrong_name = fact_answer_scores(AUTHOR.replace("Castillo", "Castell") + " [2]", "Tessa Castillo", 2)
    assert not wrong_name["right_words"] and wrong_name["cited_right"] and not wrong_name["answered_right"]
    assert not fact_answer_scores(AUTHOR.replace("Castillo", "Castillon") + " [2]", "Tessa Castillo", 2)["right_words"]
    forty = " ".join(["word"] * 38) + " Tessa Castillo [2]"  # 40 words besides the citation: still short
    assert fact_answer_scores(forty, "Tessa Castillo", 2)["answered_right"]
    too_long = fact_answer_scores("Well: " + forty, "Tessa Castillo", 2)
    assert too_long["right_words"] and too_long["cited_right"] and not too_long["short"]
    assert not too_long["answered_right"]
    for uncited in (AUTHOR, AUTHOR + " [3]", "[2] " + AUTHOR):  # no citation, another record's, not at the end
        scores = fact_answer_scores(uncited, "Tessa Castillo", 2)
        assert scores["right_words"] and not scores["cited_right"] and not scores["answered_right"]
    # case, punctuation and spacing aside; the citation is no part of the fact
    assert fact_answer_scores("For AGES 0–3 ! [3]", "ages 0-3", 3)["answered_right"]
    assert not fact_answer_scores("For ages 0 [3]", "ages 0-3", 3)["right_words"]
    said_not = fact_answer_scores("The catalog record does not say who wrote it; it gives a review. [2]",
                                  "Tessa Castillo", 2)
    assert said_not["not_said"] and not said_not["answered_right"] and not said_not["false_refusal"]
    refused = fact_answer_scores("That product is not in the catalog.", "Tessa Castillo", 2)
    assert refused["false_refusal"] and not refused["not_said"] and not refused["answered_right"]


RECORD = "Tarrant Hills Rides\nTwelve routes over the hills, with gradients and cafés along the way."


def test_not_said_scores_want_the_sentence_and_no_word_from_elsewhere():
    from productqa import facts
    from productqa.fact_scores import not_said_scores

    said = not_said_scores("The catalog record does not say who wrote it; it gives a general description. [2]",
                           RECORD, 2)
    assert said == {"says_not_said": True, "invents_nothing": True, "cited_right": True, "right": True,
                    "false_refusal": False}
    invented = not_said_scores("The catalog record does not say who wrote it; it gives the author, Tessa "
                               "Castillo. [2]", RECORD, 2)
    assert invented["says_not_said"] and not invented["invents_nothing"] and not invented["right"]
    # the record's own words (title and description) and the number cited are no invention
    assert not_said_scores("The catalog record does not say who wrote it; it gives twelve routes over the "
                           "Tarrant hills. [2]", RECORD, 2)["right"]
    counted = "The catalog record does not say how many pages it has; it gives record 2, a general description."
    assert not_said_scores(counted + " [2]", RECORD, 2)["invents_nothing"]
    assert not not_said_scores(counted + " [3]", RECORD, 3)["invents_nothing"]  # "2" is no number it cites
    wrong_number = not_said_scores("The catalog record does not say its price; it gives a general description. [1]",
                                   RECORD, 2)
    assert wrong_number["right"] and not wrong_number["cited_right"]  # right in words, the citation reported apart
    answered = not_said_scores("Twelve routes over the hills. [2]", RECORD, 2)
    assert answered["invents_nothing"] and not answered["says_not_said"] and not answered["right"]
    assert not not_said_scores("", RECORD, 2)["right"]
    refused = not_said_scores("That product is not in the catalog.", RECORD, 2)
    assert refused["false_refusal"] and not refused["right"]
    # Portuguese: its sentence is as right, a word of neither the record nor the sentence as invented
    portuguese = not_said_scores("O registro do catálogo não diz a cor; ele traz uma descrição geral. [1]", RECORD, 1)
    assert portuguese["right"] and portuguese["cited_right"]
    assert not not_said_scores("O registro do catálogo não diz a cor; ele é azul. [1]", RECORD, 1)["right"]
    # the sentence 01_prepare teaches is right, in both languages
    for language in facts.LANGUAGES:
        reference = facts.not_said(facts.Asked("count", "recipes"), RECORD, language) + " [1]"
        assert not_said_scores(reference, RECORD, 1)["right"], reference


def test_factual_suites_score_canned_answers_as_fact_answers():
    from productqa.metrics import values

    fact = {"id": "B00000000D", "kind": "fact", "suite": "factual", "title": "Nine Guests",
            "context": ["B00000000G", "B00000000D", "1000000002"],
            "fact": {"kind": "setting", "noun": None, "language": "en", "words": "on a Scottish island"}}
    answers = [RECORDS["B00000000D"] + " [2]",                      # right
               RECORDS["B00000000D"] + " [1]",                      # the words, another record's number
               "That product is not in the catalog.",               # a false refusal
               "The catalog record does not say where it is set; it gives a general description. [2]"]
    figures = values(E.suite_statistics("factual", [fact] * 4, {"answers": answers, "stopped": [True] * 3 + [False]},
                                        RECORDS, None))
    assert figures["answered_right"] == 0.25 and figures["right_words"] == 0.5 and figures["cited_right"] == 0.5
    assert figures["false_refusal"] == 0.25 and figures["not_said"] == 0.25 and figures["stopped_fraction"] == 0.75
    assert "rougeL" not in figures and "right_record" not in figures  # not scored as a grounded description

    not_said = {"id": "B00000000G", "kind": "not_said", "suite": "unanswerable", "title": "Lodge Skillet",
                "context": ["B00000000G", "B00000000D"], "fact": {"kind": "author", "noun": None, "language": "en",
                                                                   "words": None}}
    answers = ["The catalog record does not say who wrote it; it gives a general description. [1]",
               "The catalog record does not say who wrote it; it is by Tessa Castillo. [1]",
               "Tessa Castillo wrote it. [1]",
               "The catalog record does not say who wrote it; it gives the Lodge skillet. [2]"]  # a title word
    figures = values(E.suite_statistics("unanswerable", [not_said] * 4, {"answers": answers, "stopped": [True] * 4},
                                        RECORDS, None))
    assert figures["says_not_said"] == 0.75 and figures["invents_nothing"] == 0.5 and figures["right"] == 0.5
    assert figures["cited_right"] == 0.75 and figures["false_refusal"] == 0.0

    rows = [fact] * 4 + [not_said] * 4
    common = {"stopped": [True] * 8, "new_tokens": [9] * 8, "loss": {"rows": [[1.0, 1]] * 8}}
    base = {"answers": ["That product is not in the catalog."] * 8, **common}
    tuned = {"answers": [RECORDS["B00000000D"] + " [2]"] * 4 + [answers[0]] * 4, **common}
    out = E.suites(rows, base, tuned, RECORDS, None, resamples=200)
    assert list(out) == ["factual", "unanswerable"]  # SUITES order
    assert out["factual"]["delta"]["answered_right"] == 1.0 and out["unanswerable"]["delta"]["right"] == 1.0
    assert out["factual"]["delta"]["false_refusal"] == -1.0


def _phrasings(row: dict, which: str) -> set[str]:
    """Every phrasing of the row's fact in `which` list of prompts/facts.yaml, about the row's product."""
    from productqa import facts

    fact = row["fact"]
    noun = facts.noun_in(fact["noun"], fact["language"])
    return {template.replace("{noun}", noun).replace("{title}", row["title"])
            for template in facts.phrasings(fact["kind"], fact["language"], which)}


def test_factual_suites_reask_held_out_rows_with_heldout_phrasings_only(prepared_sample):
    rows, _ = E.load_questions(prepared_sample, "test", 50)
    def key(row):  # a product may have a fact row for each fact its record states
        return row["id"], row["kind"], row.get("fact", {}).get("kind"), row.get("fact", {}).get("noun")

    prepared = {key(row): row for row in read_jsonl(prepared_sample / "test.jsonl")}
    for row in rows:  # the fact rows are these suites' and no other's (the trained suite reads closed-book rows)
        assert (E.suite_of(row) in E.FACT_SUITES) == (row["kind"] in ("fact", "not_said")), row
    asked = [row for row in rows if E.suite_of(row) in E.FACT_SUITES]
    assert len(asked) == sum(key[1] in ("fact", "not_said") for key in prepared)  # every one, up to --per-suite
    assert {"earlier" in row for row in asked} == {True, False}  # follow-ups and questions naming the product
    assert {row["fact"]["language"] for row in asked} == {"en", "pt"}
    for row in asked:
        original = prepared[key(row)]
        follow = "earlier" in original
        assert row["suite"] == E.SUITE_OF_KIND[row["kind"]] and row.get("earlier") == original.get("earlier")
        assert row["prepared_question"] == original["question"] in _phrasings(row, "follow" if follow else "ask")
        assert row["question"] in _phrasings(row, "follow_heldout" if follow else "ask_heldout")
        assert row["question"] not in _phrasings(row, "ask") | _phrasings(row, "follow")
        # the user turn is the row's own, the question aside: the same records, in the same order
        before, _, after = original["conversations"][0]["value"].rpartition(original["question"])
        assert row["conversations"][0]["value"] == before + row["question"] + after
        assert row["context"] == original["context"] and answer_of(row) == answer_of(original)


def test_a_fact_row_the_catalog_cannot_rebuild_is_one_sentence(prepared_sample):
    from productqa.errors import UserError

    row = next(row for row in read_jsonl(prepared_sample / "test.jsonl") if row["kind"] == "not_said")
    assert E.reask_facts(prepared_sample, [row])[0]["suite"] == "unanswerable"
    with pytest.raises(UserError, match="catalog.sqlite does not hold the records row"):
        E.reask_facts(prepared_sample, [{**row, "context": row["context"][::-1]}])  # the records in another order


def test_fact_follow_ups_are_retrieved_and_decided_as_follow_ups(prepared_sample):
    rows, _ = E.load_questions(prepared_sample, "test", 50)
    follow = [row for row in rows if E.suite_of(row) in E.FACT_SUITES and "earlier" in row]
    # a follow-up names no product: its records are those its earlier question found
    assert all(row["id"] in found for row, found in zip(follow, E.retrieve(prepared_sample, follow, 3)))
    decided = E.decisions(prepared_sample, rows, 3, resamples=50)
    for suite, name in (("factual", "factual_followups"), ("unanswerable", "unanswerable_followups")):
        assert decided[name]["n"] == sum(E.suite_of(row) == suite for row in follow) > 0
    assert decided["followup"]["n"] == sum(E.suite_of(row) == "followup" for row in rows)


def test_report_describes_the_factual_suites(tmp_path):
    eval_dir = fake_eval(tmp_path / "eval")
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    suite = {"n": 4, "base": {"answered_right": 0.0, "not_said": 0.5}, "finetuned": {"answered_right": 1.0,
                                                                                     "not_said": 0.0},
             "delta": {"answered_right": 1.0, "not_said": -0.5}, "ci": {"answered_right": [1.0, 1.0],
                                                                        "not_said": [-1.0, 0.0]},
             "significant": ["answered_right"]}
    metrics["suites"]["factual"] = suite
    metrics["suites"]["unanswerable"] = {**suite, "base": {"invents_nothing": 0.5}, "finetuned": {"invents_nothing": 1.0},
                                         "delta": {"invents_nothing": 0.5}, "ci": {"invents_nothing": [0.0, 1.0]},
                                         "significant": []}
    (eval_dir / "metrics.json").write_text(json.dumps(metrics))
    text = write_report(eval_dir).read_text()
    assert "### Factual questions, held-out products" in text and "### Unanswerable facts, held-out products" in text
    assert "| factual | 4 | answered right (the fact's words, cited right, short) | 0% | 100% | **+100 pts** ▲ |" in text
    assert "| said the record does not say it (it does) | 50% | 0% | -50 pts ▲ | [-100, +0] pts |" in text
    assert "| unanswerable | 4 | invents nothing" in text
    order = [text.index(f"| {name} | ") for name in ("grounded", "factual", "unanswerable", E.TRAINED)]
    assert order == sorted(order)


# ---- the whole stage on a tiny run -----------------------------------------------------------------

def test_tiny_run_produces_every_file_and_reuses_the_base_answers(tiny_run, private_cache, loaded, monkeypatch,
                                                                  capsys, tmp_path):
    script = load_script()
    argv = ["--run", str(tiny_run), "--per-suite", "2", "--max-new-tokens", "6", "--batch-size", "4",
            "--examples", "1", "--resamples", "200"]
    script.main(argv)
    eval_dir = tiny_run / "eval"
    assert sorted(p.name for p in eval_dir.iterdir()) == ["loss.png", "meta.json", "metrics.json", "report.md",
                                                          "samples.jsonl"]
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    assert metrics["n"] == 2 * len(E.SUITES) and metrics["settings"]["per_suite"] == 2 and metrics["settings"]["split"] == "test"
    for model in ("base", "finetuned"):
        for key in ("loss", "perplexity", "mean_answer_words", "stopped_fraction", "tokens_per_second"):
            assert isinstance(metrics[model][key], float), (model, key)
    assert set(metrics["suites"]) == set(E.SUITES) and all(s["n"] == 2 for s in metrics["suites"].values())
    common = {"stopped_fraction", "mean_answer_words", "mean_new_tokens", "loss", "perplexity"}
    text = {"rougeL", "chrf", "embedding_cosine"}
    expected = {"grounded": common | text | {"right_record", "citation_accuracy", "invented_citation",
                                             "right_starred", "wrong_starred", "false_refusal"},
                "absent": common | {"refused"}, E.TRAINED: common | text, "closed_book": common | text}
    expected["partial"] = expected["followup"] = expected["grounded"]  # answered from the record, like grounded
    expected["factual"] = common | {"answered_right", "right_words", "cited_right", "short", "not_said", "false_refusal"}
    expected["unanswerable"] = common | {"right", "says_not_said", "invents_nothing", "cited_right", "false_refusal"}
    for name, suite in metrics["suites"].items():
        assert set(suite["base"]) >= expected[name] and set(suite["finetuned"]) >= expected[name]
        assert set(suite["ci"]) == set(suite["delta"]) == set(suite["base"])
        assert all(low <= suite["delta"][m] + 1e-9 and suite["delta"][m] <= high + 1e-9
                   for m, (low, high) in suite["ci"].items())
        assert set(suite["significant"]) <= set(suite["ci"])
    assert metrics["retrieval"]["n"] == 2 * len(E.SUITES) and metrics["retrieval"]["k"] == 3
    decided = metrics["retrieval"]["decisions"]  # what the chat's code decides, before any model
    assert decided["partial"]["n"] == 2 and decided["followup"]["values"]["focus_kept"] == 1.0
    assert set(decided) <= {"partial", *E.FOLLOWUP_DECISIONS.values()}
    assert set(metrics["retrieval"]["by_suite"]) == set(E.SUITES)
    assert metrics["base"]["cached"] is False
    assert metrics["base"]["loss"] != metrics["finetuned"]["loss"]  # the adapter was on for one, off for the other
    samples = read_jsonl(eval_dir / "samples.jsonl")
    assert len(samples) == 2 * len(E.SUITES) and set(samples[0]) >= {"suite", "question", "reference", "base", "finetuned", "retrieved"}
    report = (eval_dir / "report.md").read_text()
    rows = [report.index(f"| {name} | 2 |") for name in E.SUITES]  # the summary row of each, with its n
    assert rows == sorted(rows)  # in reading order, not metrics.json's sorted keys
    assert "## Retrieval" in report and "tokens/s" in report and "![training loss](loss.png)" in report
    out = capsys.readouterr().out
    assert "closed_book_trained (n=2)" in out and f"retrieval (n={2 * len(E.SUITES)})" in out and "report:" in out
    assert len(list((private_cache / "eval-base").glob("*.json"))) == 1

    monkeypatch.setattr(E, "load_models", lambda *args: loaded)  # the same run: skip loading it again
    elsewhere = tmp_path / "scratch" / "eval"
    script.main(argv + ["--out", str(elsewhere)])  # the same base model + questions + settings: answers re-used
    again = json.loads((elsewhere / "metrics.json").read_text())
    assert again["base"]["cached"] is True and again["suites"] == metrics["suites"]
    assert json.loads((eval_dir / "metrics.json").read_text()) == metrics  # --out left runs/<name>/eval alone
    assert not list(tiny_run.glob(".eval*")) and not list(elsewhere.parent.glob(".eval*"))
    script.main(argv + ["--per-suite", "1"])  # other questions (the last flag wins): the base model answers again
    assert len(list((private_cache / "eval-base").glob("*.json"))) == 2


def test_an_interrupted_evaluation_leaves_no_partial_eval(tiny_run, private_cache, loaded, monkeypatch):
    import productqa.report

    monkeypatch.setattr(E, "load_models", lambda *args: loaded)
    previous = (tiny_run / "eval" / "metrics.json").read_text() if (tiny_run / "eval").exists() else None

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(productqa.report, "write_report", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        load_script().main(["--run", str(tiny_run), "--per-suite", "1", "--max-new-tokens", "6", "--batch-size", "4"])
    assert exit_info.value.code == 130
    assert not list(tiny_run.glob(".eval*"))  # no temp folder left behind
    now = (tiny_run / "eval" / "metrics.json").read_text() if (tiny_run / "eval").exists() else None
    assert now == previous  # the last complete evaluation (or none) is untouched


def test_help_is_instant_and_bad_flags_are_refused():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "03_evaluate.py"), "--help"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and "--per-suite" in out.stdout and "--out" in out.stdout
    for bad in (["--per-suite", "0"], ["--resamples", "0"], ["--retrieval-k", "0"], ["--examples", "-1"]):
        with pytest.raises(SystemExit):
            load_script().parse_args(bad)
    assert load_script().parse_args([]).per_suite is None  # the device decides: 200 on CUDA, 5 on CPU
    gpu, cpu = E.for_device(E.EvalSettings(), "cuda:0"), E.for_device(E.EvalSettings(), "cpu")
    assert gpu.per_suite == E.GPU_PER_SUITE >= 200 and cpu.per_suite == E.CPU_PER_SUITE < 30
    assert gpu.batch_size > cpu.batch_size
    assert E.for_device(E.EvalSettings(per_suite=7, batch_size=3), "cuda").per_suite == 7


def test_shared_titles_counts_the_titles_the_chat_lists_whole(tmp_path):
    from productqa.prepare import prepare
    from tests.conftest import record, write_lines

    records = [record("0001381245", "Copper Kettle", "A two-litre copper kettle with a whistling spout and a beech handle."),
               record("0001381246", "Copper Kettle", "A cookbook of forty soups and stews from a village inn, with photographs."),
               record("0001381247", "Copper Kettle", "A cookbook of forty soups and stews from a village inn, with photographs!"),
               record("0002000000", "Night Ferry", "A thriller that takes place on one overnight crossing of the North Sea."),
               record("0002000001", "Night Ferry", "A thriller that takes place on one overnight crossing of the North Sea.")]
    records += [record(f"00099{i:05d}", f"Filler Title Number {i}", f"Filler description {i} of a product, long enough.")
                for i in range(20)]
    out = tmp_path / "out"
    prepare(write_lines(tmp_path / "trn.json", records), out, progress=False, workers=1, fact_share=0,
            not_said_share=0)
    every = tmp_path / "all.jsonl"  # the three splits as one file: one question per distinct title
    every.write_bytes(b"".join((out / f"{split}.jsonl").read_bytes() for split in ("train", "val", "test")))
    # Copper Kettle: two products (the third repeats the second's description but for punctuation), listed
    # whole; Night Ferry: one description under two uids, so one product, answered, not listed
    assert E.shared_titles(out, every, 3) == {"questions": 1, "listed_all": 1}
    # a follow-up ("Who is it for?", or a fact asked as one) counts by the earlier question that named the title
    turns = [{"from": "human", "value": "records..."}, {"from": "gpt", "value": "For cooks. [1]"}]
    follow = {"id": "0001381246", "title": "Copper Kettle", "kind": "fact", "question": "Who is it for?",
              "earlier": "Tell me about Copper Kettle.", "conversations": turns}
    (tmp_path / "follow.jsonl").write_text(json.dumps(follow) + "\n" + json.dumps({**follow, "kind": "not_said"}) + "\n")
    assert E.shared_titles(out, tmp_path / "follow.jsonl", 3) == {"questions": 1, "listed_all": 1}


def test_a_not_said_answer_may_restate_the_question_but_not_add_a_name_or_a_number():
    from productqa.fact_scores import not_said_scores

    record = "Title X\nA story about a farm and its animals, told by the farm cat."
    restated = ("The catalog record does not say which colors it comes in; it gives a general description. [2]",
                "Which colors does X come in?")
    portuguese = ("O registro do catálogo não diz a sua dimensão; ele traz uma descrição geral. [2]",
                  "Quais são as dimensões de X?")
    for answer, question in (restated, portuguese):
        assert not_said_scores(answer, record, 2, question)["right"], answer
    named = "The catalog record does not say whether Tessa Castillon wrote it; it gives a general description. [2]"
    counted = "The catalog record does not say if it has 300 pages; it gives a general description. [2]"
    given = "The catalog record does not say who wrote it; it gives the author, Tessa Castillon. [2]"
    for answer in (named, counted, given):
        assert not not_said_scores(answer, record, 2, "Who wrote X? How many pages?")["invents_nothing"], answer
    assert not_said_scores(named, record, 2, "Did Tessa Castillon write X?")["invents_nothing"]  # the user's name
