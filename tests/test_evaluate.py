import importlib.util
import json
from pathlib import Path

import pytest

from productqa import evaluate as E
from productqa.files import read_jsonl
from productqa.report import write_report

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
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
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
    spec = importlib.util.spec_from_file_location("evaluate_script", ROOT / "scripts" / "03_evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- report from a fake samples file ----------------------------------------------------------------

def fake_eval(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    base = {"rouge1": 0.2, "rouge2": 0.05, "rougeL": 0.141, "bleu": 0.009, "chrf": 0.2, "embedding_cosine": 0.4,
            "loss": 3.0, "perplexity": 20.09, "mean_answer_words": 40.0, "mean_new_tokens": 90.0,
            "stopped_fraction": 0.25, "tokens_per_second": 12.5, "generated_tokens": 360, "generation_seconds": 28.8,
            "cached": True}
    tuned = {**base, "rougeL": 0.150, "bleu": 0.020, "loss": 2.0, "perplexity": 7.39, "stopped_fraction": 1.0,
             "tokens_per_second": 11.0, "cached": False}
    metrics = {"base": base, "finetuned": tuned, "n": 2,
               "settings": {"run_name": "demo", "split": "test", "limit": 2, "max_new_tokens": 96, "batch_size": 8,
                            "base_model": "gemma-3-270m", "chat_template": "gemma3", "device": "cpu", "cpu_threads": 2,
                            "dtype": "float32"}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    samples = [{"question": "Tell me about A|B.", "reference": "A thing\nwith lines.", "base": "",
                "finetuned": "A thing.", "base_stopped": False, "finetuned_stopped": True},
               {"question": "What is C?", "reference": "C.", "base": "C?", "finetuned": "C.",
                "base_stopped": True, "finetuned_stopped": True}]
    (folder / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return folder


def test_report_from_fake_samples(tmp_path):
    run = tmp_path / "run"
    eval_dir = fake_eval(run / "eval")
    (run / "trainer_log.jsonl").write_text('{"step": 1, "loss": 3.0}\n{"step": 5, "loss": 1.5}\nnot json\n')
    text = write_report(eval_dir, run_dir=run, examples=1).read_text()
    assert "| ROUGE-L | 0.141 | 0.150 | +0.009 ▲ |" in text
    assert "| BLEU | 0.009 | 0.020 | +0.011 ▲ |" in text
    assert "| held-out answer loss | 3.000 | 2.000 | -1.000 ▲ |" in text  # lower loss is better
    assert "| answers that stopped by themselves | 25% | 100% | +75 pts ▲ |" in text
    assert "| base (measured when the base answers were cached) | 12.5 |" in text and "| fine-tuned | 11.0 |" in text
    assert "Tell me about A\\|B." in text and "A thing with lines." in text  # safe inside a table
    assert "*(empty)* *(cut at the token limit)*" in text
    assert "What is C?" not in text  # only --examples 1
    assert "Only 2 questions" in text
    assert "![training loss](loss.png)" in text and (eval_dir / "loss.png").is_file()
    assert "3.000 at step 1 → 1.500 at step 5" in text


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
    (ids, start), = E.answer_mask(tokenizer, [row], SYSTEM)
    assert tokenizer.decode(ids[start:]) == row["conversations"][-1]["value"] + "<end_of_turn>\n"
    assert E.prompt_text(tokenizer, row, SYSTEM).endswith("<start_of_turn>model\n")


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
    for ids, start in E.answer_mask(tokenizer, rows, None):
        labels = torch.tensor([-100] * start + ids[start:])
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([ids]), labels=labels[None])
        total += out.loss.item() * (len(ids) - start)
    assert one["loss"] == pytest.approx(total / one["tokens"], rel=1e-4)


RECORDS = {"B00000000G": "A cast iron skillet, pre-seasoned, twelve inches across, with a helper handle.",
           "B00000000D": "A paperback mystery set on a Scottish island, where a ferry strike strands nine guests.",
           "1000000002": "Wireless earbuds with eight hours of battery and a charging case that fits a pocket."}


def test_grounded_suite_judges_the_record_copied_and_the_uid_cited():
    row = {"id": "B00000000G", "kind": "grounded", "context": ["B00000000D", "B00000000G", "1000000002"]}
    answers = [RECORDS["B00000000G"] + " [B00000000G]",                   # right record, right uid
               RECORDS["B00000000D"] + " [B00000000D]",                   # a fluent copy of the wrong record
               RECORDS["B00000000G"] + " [ZZ00000000]",           # right text, invented citation
               "A skillet. [B00000000G]"]                         # too little of the record to tell? still closest to G1
    figures = E.suite_scores("grounded", [row] * 4, answers, [True, True, False, True], RECORDS, None)
    assert figures["right_record"] == 0.75 and figures["citation_accuracy"] == 0.5
    assert figures["invented_citation"] == 0.25 and figures["stopped_fraction"] == 0.75


def test_absent_suite_counts_only_whole_refusals():
    row = {"id": "B00000000G", "kind": "absent", "context": ["B00000000D", "1000000002", "1000000002"]}
    answers = ["That product is not in the catalog.", "that product is NOT in the catalog",
               "You are productqa... If no record is that product, say that it is not in the catalog.",
               RECORDS["B00000000D"] + " [B00000000D]"]
    figures = E.suite_scores("absent", [row] * 4, answers, [True] * 4, RECORDS, None)
    assert figures == {"stopped_fraction": 1.0, "refused": 0.5}  # the echoed system prompt is no refusal


def test_cache_key_covers_model_data_and_settings():
    settings = E.Settings(limit=10, max_new_tokens=32, batch_size=4)
    key = E.base_cache_key("m", "d", settings, "tpl", "sys")[0]
    assert key == E.base_cache_key("m", "d", E.Settings(limit=10, max_new_tokens=32, batch_size=4), "tpl", "sys")[0]
    assert key != E.base_cache_key("m", "d", settings, "tpl", "sys", device="cuda")[0]
    assert key != E.base_cache_key("m", "d", settings, "tpl", "sys", dtype="bfloat16")[0]
    for changed in [("m2", "d", settings, "tpl", "sys"), ("m", "d2", settings, "tpl", "sys"),
                    ("m", "d", E.Settings(limit=10, max_new_tokens=32, batch_size=16), "tpl", "sys"),
                    ("m", "d", E.Settings(limit=11, max_new_tokens=32), "tpl", "sys"),
                    ("m", "d", E.Settings(limit=10, max_new_tokens=33), "tpl", "sys"),
                    ("m", "d", E.Settings(split="val", limit=10, max_new_tokens=32), "tpl", "sys"),
                    ("m", "d", settings, "tpl2", "sys"), ("m", "d", settings, "tpl", "sys2")]:
        assert E.base_cache_key(*changed)[0] != key


def test_missing_split_is_one_sentence(tiny_run, tmp_path):
    from productqa.errors import UserError

    with pytest.raises(UserError, match="no held-out split"):
        E.load_split(tmp_path, "test", 5)


# ---- the whole stage on a tiny run -----------------------------------------------------------------

def test_tiny_run_produces_every_file_and_reuses_the_base_answers(tiny_run, private_cache, loaded, monkeypatch,
                                                                  capsys):
    script = load_script()
    argv = ["--run", str(tiny_run), "--limit", "4", "--max-new-tokens", "6", "--batch-size", "4", "--examples", "2"]
    script.main(argv)
    eval_dir = tiny_run / "eval"
    assert sorted(p.name for p in eval_dir.iterdir()) == ["loss.png", "meta.json", "metrics.json", "report.md",
                                                          "samples.jsonl"]
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    assert metrics["n"] == 4 and metrics["settings"]["split"] == "test"
    for model in ("base", "finetuned"):
        for key in ("loss", "perplexity", "mean_answer_words", "stopped_fraction", "tokens_per_second"):
            assert isinstance(metrics[model][key], float), (model, key)
    rows = read_jsonl(Path(metrics["settings"]["split_file"]))[:4]
    assert sum(suite["n"] for suite in metrics["suites"].values()) == 4
    expected = {"grounded": {"right_record", "citation_accuracy", "invented_citation", "rougeL", "chrf",
                             "embedding_cosine", "stopped_fraction"},
                "absent": {"refused", "stopped_fraction"},
                "closed_book": {"rougeL", "chrf", "embedding_cosine", "stopped_fraction"}}
    for kind, suite in metrics["suites"].items():
        assert suite["n"] == sum(row["kind"] == kind for row in rows)
        assert set(suite["base"]) >= expected[kind] and set(suite["finetuned"]) >= expected[kind]
    assert metrics["base"]["cached"] is False
    assert metrics["base"]["loss"] != metrics["finetuned"]["loss"]  # the adapter was on for one, off for the other
    samples = read_jsonl(eval_dir / "samples.jsonl")
    assert len(samples) == 4 and set(samples[0]) >= {"question", "reference", "base", "finetuned"}
    report = (eval_dir / "report.md").read_text()
    assert "## By question kind" in report and "tokens/s" in report and "![training loss](loss.png)" in report
    assert "report:" in capsys.readouterr().out
    assert len(list((private_cache / "eval-base").glob("*.json"))) == 1

    monkeypatch.setattr(E, "load_models", lambda *args: loaded)  # the same run: skip loading it again
    script.main(argv)  # the next evaluation of the same base model + data + settings re-uses its answers
    again = json.loads((eval_dir / "metrics.json").read_text())
    assert again["base"]["cached"] is True and again["suites"] == metrics["suites"]
    assert not list(tiny_run.glob(".eval*"))


def test_an_interrupted_evaluation_leaves_no_partial_eval(tiny_run, private_cache, loaded, monkeypatch):
    import productqa.report

    monkeypatch.setattr(E, "load_models", lambda *args: loaded)
    previous = (tiny_run / "eval" / "metrics.json").read_text() if (tiny_run / "eval").exists() else None

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(productqa.report, "write_report", interrupted)
    with pytest.raises(SystemExit) as exit_info:  # the same settings as above: the base answers are cached
        load_script().main(["--run", str(tiny_run), "--limit", "4", "--max-new-tokens", "6", "--batch-size", "4"])
    assert exit_info.value.code == 130
    assert not list(tiny_run.glob(".eval*"))  # no temp folder left behind
    now = (tiny_run / "eval" / "metrics.json").read_text() if (tiny_run / "eval").exists() else None
    assert now == previous  # the last complete evaluation (or none) is untouched


def test_help_is_instant_and_bad_flags_are_refused():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "03_evaluate.py"), "--help"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and "--max-new-tokens" in out.stdout
    with pytest.raises(SystemExit):
        load_script().parse_args(["--limit", "0"])
