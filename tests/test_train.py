"""02_train: a tiny Gemma 3 trains through the real code path; resume; answer-only loss; bad input."""
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from productqa.errors import UserError
from productqa.paths import ROOT
from productqa.presets import PRESETS, choose

# A few steps of batch 2 over short sequences: seconds on a 2-core CPU with the tiny model.
TINY = dict(preset="cpu", batch_size=2, max_seq_length=160, eval_steps=2, save_steps=2, logging_steps=1,
            warmup_steps=0, lr=1e-3, lora_r=4, lora_alpha=8, progress=False)


def small_data(prepared_sample, tmp_path, n_train=12, n_val=2):
    """The shortest rows of the prepared sample, in file order (fewer rows: less tokenizing and evaluating;
    short ones: the sample's grounded rows run to ~600 tokens, and these answers start within 160)."""
    out = tmp_path / "data"
    out.mkdir()
    (tmp_path / "system.txt").write_text("Answer.")  # short prompts: the answers start within 160 tokens
    for split, n in (("train", n_train), ("val", n_val)):
        lines = (prepared_sample / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        shortest = sorted(sorted(range(len(lines)), key=lambda i: len(lines[i]))[:n])
        (out / f"{split}.jsonl").write_text("\n".join(lines[i] for i in shortest) + "\n", encoding="utf-8")
    return out


def test_tiny_model_trains_and_saves_a_run(tiny_model_dir, prepared_sample, tmp_path):
    from productqa.train import train

    runs = tmp_path / "runs"
    run = train(model=str(tiny_model_dir), data=small_data(prepared_sample, tmp_path), run_name="tiny",
                runs_dir=runs, max_steps=3, system_prompt=tmp_path / "system.txt", **TINY)
    assert run == runs / "tiny" and (runs / "latest").resolve() == run.resolve()
    assert not list(runs.glob(".*partial"))  # renamed into place, nothing half-written left behind
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    from transformers import AutoTokenizer  # the chat template trained with travels with the adapter

    assert "<start_of_turn>model" in AutoTokenizer.from_pretrained(run / "adapter").chat_template
    meta = json.loads((run / "meta.json").read_text())
    assert meta["base_model"] == str(tiny_model_dir) and meta["chat_template"] == "gemma3"
    assert meta["max_seq_length"] == 160 and meta["system_prompt"] == "Answer." and meta["stop_token"] == "<end_of_turn>"
    assert meta["figures"]["steps"] == 3 and meta["figures"]["eval_loss"] > 0
    on_cpu_glibc = platform.libc_ver()[0] == "glibc" and meta["figures"]["device"] == "cpu"
    assert meta["figures"]["malloc_keeps_freed_memory"] is on_cpu_glibc  # allocator.py
    log = [json.loads(line) for line in (run / "trainer_log.jsonl").read_text().splitlines()]
    assert any("eval_loss" in e for e in log) and any("loss" in e for e in log)
    assert (run / "loss.png").stat().st_size > 1000 and list((run / "tensorboard").iterdir())
    assert not (run / "checkpoints").exists()


def test_resume_reaches_the_same_final_step(tiny_model_dir, prepared_sample, tmp_path):
    from productqa.train import Interrupted, train

    runs, data = tmp_path / "runs", small_data(prepared_sample, tmp_path)
    with pytest.raises(Interrupted):  # what Ctrl-C does: finish the step, save a checkpoint, stop
        train(model=str(tiny_model_dir), data=data, run_name="r", runs_dir=runs, max_steps=4, stop_at_step=2,
              system_prompt=tmp_path / "system.txt", **TINY)
    assert (runs / ".r.partial" / "checkpoints" / "checkpoint-2").is_dir() and not (runs / "r").exists()
    with pytest.raises(UserError, match="--resume"):  # the same name again without --resume
        train(model=str(tiny_model_dir), data=data, run_name="r", runs_dir=runs, max_steps=4,
              system_prompt=tmp_path / "system.txt", **TINY)
    with pytest.raises(UserError, match="--lora-r, --lr cannot change on --resume"):  # the optimizer continues
        train(runs_dir=runs, resume=True, progress=False, lr=5e-4, lora_r=8)
    with pytest.raises(UserError, match="unknown batching"):  # refused before anything of the run is rewritten
        train(runs_dir=runs, resume=True, progress=False, batching="sorted")
    # arguments come from the interrupted run; a flag that may change is honoured and recorded
    # the same values again (the learning rate, a relative data path, the cpu preset's optimizer) are no change
    run = train(runs_dir=runs, resume=True, progress=False, max_steps=5, batch_size=TINY["batch_size"], lr=TINY["lr"],
                optim=PRESETS["cpu"].optim, data=Path(os.path.relpath(data)))
    meta = json.loads((run / "meta.json").read_text())
    assert run.name == "r" and meta["figures"]["steps"] == 5 and meta["figures"]["resumed_from"] == "checkpoint-2"
    assert meta["figures"]["resume_changes"] == [{"at": "checkpoint-2", "max_steps": 5}]  # batch_size: unchanged
    assert meta["args"]["max_steps"] == 5 and meta["preset"]["max_steps"] == 5


def test_answer_only_loss_masks_the_prompt(tiny_model_dir, prepared_sample, tmp_path):
    from productqa.files import read_jsonl
    from productqa.models import CPU_ATTENTION
    from productqa.presets import choose
    from productqa.train import load_model, make_trainer, render

    model, tokenizer, _, template, stop, _ = load_model(str(tiny_model_dir), 2048, False, 4, 8, 0.0, 0)
    assert model.config._attn_implementation == CPU_ATTENTION  # the faster one on CPU (models.py)
    rows = read_jsonl(prepared_sample / "train.jsonl")[:3]
    texts = render(rows, tokenizer, "SYSTEM PROMPT")
    # nothing cut; recomputation given, since the cpu preset's default depends on the machine's RAM
    preset, _ = choose("cpu", {"max_seq_length": 2048, "gradient_checkpointing": False})
    trainer = make_trainer(model, tokenizer, texts, texts[:1], preset, tmp_path / "out", 0, template)
    example = trainer.train_dataset[0]
    ids, labels = example["input_ids"], example["labels"]
    answer = [t for t, label in zip(ids, labels) if label != -100]
    prompt = [t for t, label in zip(ids, labels) if label == -100]
    assert tokenizer.decode(answer) == rows[0]["conversations"][1]["value"] + stop  # the answer, then end of turn
    assert "SYSTEM PROMPT" in tokenizer.decode(prompt) and "<start_of_turn>model" in tokenizer.decode(prompt)
    assert labels.index(next(label for label in labels if label != -100)) == len(prompt)  # prompt first, then answer
    assert labels[-1] == tokenizer.convert_tokens_to_ids("<end_of_turn>") == tokenizer.eos_token_id
    # the preset decides recomputation (TRL's SFTConfig would turn it on for the cpu preset too)
    assert trainer.args.gradient_checkpointing is preset.gradient_checkpointing is False
    preset, _ = choose("cpu", {"max_seq_length": 2048, "gradient_checkpointing": True})
    assert make_trainer(model, tokenizer, texts, texts[:1], preset, tmp_path / "out2", 0, template).args.gradient_checkpointing


def _conversations(batch) -> list[tuple[list, list]]:
    """A batch -> each conversation's (input_ids, labels): padded rows cut at their length, or one
    padding-free row split where the positions restart."""
    if "attention_mask" in batch:
        return [(ids[:n], labels[:n]) for ids, labels, n in
                zip(batch["input_ids"].tolist(), batch["labels"].tolist(), batch["attention_mask"].sum(1).tolist())]
    ids, labels, positions = (batch[key][0].tolist() for key in ("input_ids", "labels", "position_ids"))
    starts = [i for i, p in enumerate(positions) if p == 0] + [len(ids)]
    return [(ids[a:b], labels[a:b]) for a, b in zip(starts, starts[1:])]


@pytest.mark.parametrize("batching", ["grouped", "padding_free", "packed"])
def test_answer_only_loss_is_exact_under_each_batching(tiny_model_dir, prepared_sample, tmp_path, batching):
    """A step trains on exactly the answer tokens, with the loss of its conversations run one by one.

    For one padding-free row, the same row with positions that do not restart (attention crossing
    conversations) must give another loss: the comparison catches a leak between conversations.
    """
    import torch

    from productqa.chat_format import answer_of
    from productqa.files import read_jsonl
    from productqa.train import load_model, make_trainer, render

    model, tokenizer, _, template, stop, _ = load_model(str(tiny_model_dir), 512, False, 4, 8, 0.0, 0,
                                                        progress=False, gradient_checkpointing=False)
    rows = read_jsonl(prepared_sample / "train.jsonl")[:4]
    texts = render(rows, tokenizer, "Answer.")
    preset, _ = choose("cpu", {"max_seq_length": 512, "batch_size": 4, "batching": batching})
    trainer = make_trainer(model, tokenizer, texts, texts[:1], preset, tmp_path / "out", 0, template)
    batch = next(iter(trainer.get_train_dataloader()))
    flattened = batching != "grouped"
    assert ("attention_mask" not in batch and batch["input_ids"].shape[0] == 1) == flattened
    conversations = _conversations(batch)
    assert len(conversations) == 4  # every conversation of the step (one padding-free row: 4 restarts)

    # the labels: exactly each conversation's answer and its end-of-turn, nothing of the prompt
    by_ids = {tuple(tokenizer(text)["input_ids"]): row for text, row in zip(texts, rows)}
    for ids, labels in conversations:
        kept = [t for t, label in zip(ids, labels) if label != -100]
        assert tokenizer.decode(kept) == answer_of(by_ids[tuple(ids)]) + stop
        assert labels[0] == -100 and ids[-len(kept):] == kept  # the answer is the conversation's tail

    # the loss: the mean over the same answer tokens, each conversation forward on its own
    model.double()  # float64: the batching is under test, not bf16 rounding (one by one vs batched: ~1e-7)
    with torch.no_grad():
        step_loss = trainer.compute_loss(model, dict(batch)).item()
        total, count = 0.0, 0
        for ids, labels in conversations:
            single = {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]),
                      "position_ids": torch.arange(len(ids))[None]}
            n = sum(label != -100 for label in labels[1:])
            total += trainer.compute_loss(model, single).item() * n
            count += n
        if flattened:
            leaking = dict(batch, position_ids=torch.arange(batch["input_ids"].shape[1])[None])
            leak_loss = trainer.compute_loss(model, leaking).item()
            assert abs(leak_loss - step_loss) > 100 * 1e-6 * step_loss  # far outside the tolerance below (~5e-4)
    assert step_loss == pytest.approx(total / count, rel=1e-6)


def test_bad_input_is_one_sentence(tmp_path, prepared_sample, monkeypatch):
    from productqa.train import load_splits, train

    with pytest.raises(UserError, match="01_prepare"):
        load_splits(tmp_path)
    (tmp_path / "train.jsonl").write_text("")
    (tmp_path / "val.jsonl").write_text("")
    with pytest.raises(UserError, match="empty"):
        load_splits(tmp_path)
    unanswered = '{"conversations": [{"from": "human", "value": "q"}]}\n'
    for text, message in (('{"conversations": [\n', "train.jsonl line 1 is not JSON"),
                          ('{"id": "u1"}\n', "train.jsonl row 1: no 'conversations' list"),
                          (unanswered, "the last turn is not the answer")):
        (tmp_path / "train.jsonl").write_text(text)
        with pytest.raises(UserError, match=message):
            load_splits(tmp_path)
    with pytest.raises(UserError, match="unknown preset"):
        choose("a100")
    with pytest.raises(UserError, match="unknown batching"):
        choose("cpu", {"batching": "sorted"})
    for given, message in (({"batch_size": 0}, "--batch-size must be at least 1"),
                           ({"max_steps": 0}, "--max-steps must be at least 1, or -1"),
                           ({"lr": -1e-4}, "--lr must be above 0"), ({"epochs": 0.0}, "--epochs must be above 0")):
        with pytest.raises(UserError, match=message):
            choose("cpu", given)
    assert choose("cpu", {"max_steps": -1, "epochs": 0.5})[0].epochs == 0.5
    with pytest.raises(UserError, match="--lora-r must be at least 1"):  # the run's own numbers, before any loading
        train(data=prepared_sample, runs_dir=tmp_path / "runs", lora_r=0, progress=False)
    with pytest.raises(UserError, match="no checkpoint"):
        train(runs_dir=tmp_path / "runs", resume=True)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(UserError, match="--runs-dir .* is a file"):  # before the model loads
        train(data=prepared_sample, runs_dir=tmp_path / "a-file", progress=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # read at import time too: set the constant, or it waits on the network
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(UserError, match="HF_HUB_OFFLINE"):
        train(model="no-such-org/no-such-model", data=prepared_sample, runs_dir=tmp_path / "runs", progress=False)


def test_a_run_without_eval_loss_ends_with_its_summary_not_a_crash(tmp_path):
    from productqa.train import summary_line

    figures = {"steps": 3, "seconds_per_step": 1.5, "tokens_per_second": None, "first_loss": 2.5,
               "last_loss": 1.25, "eval_loss": None}
    line = summary_line(figures, 4.5, tmp_path / "run")
    assert line.startswith("trained 3 steps in 4s") and "loss 2.500 -> 1.250, eval loss n/a ->" in line
    assert "loss n/a -> n/a" in summary_line({**figures, "first_loss": None, "last_loss": None}, 1, tmp_path)
    assert "(1.5 s/step, n/a tokens/s)" in line and "(1.5 s/step, 99.5 tokens/s)" in summary_line(
        {**figures, "tokens_per_second": 99.5}, 4.5, tmp_path)


def test_presets_and_overrides():
    preset, why = choose("cpu", {"max_steps": 7, "lr": None})
    assert preset.max_steps == 7 and preset.lr == PRESETS["cpu"].lr and "max_steps=7" in why
    assert PRESETS["t4"].optim == "adamw_8bit" and PRESETS["t4"].load_in_4bit
    assert choose("auto")[0].name in PRESETS


def test_cpu_preset_recomputes_activations_only_where_ram_is_short(monkeypatch):
    from productqa import presets

    monkeypatch.setattr(presets, "total_ram_gb", lambda: 7.6)
    preset, why = choose("cpu")
    assert preset.gradient_checkpointing and "8 GB of RAM is under 12" in why
    assert not choose("cpu", {"gradient_checkpointing": False})[0].gradient_checkpointing  # told: kept
    monkeypatch.setattr(presets, "total_ram_gb", lambda: 24.0)
    assert not choose("cpu")[0].gradient_checkpointing
    assert choose("t4")[0].gradient_checkpointing  # GPU presets are as written


def test_presets_are_the_config_files_and_flags_are_declared_once(tmp_path):
    """configs/<preset>.yaml is the preset; --config sets any key; a flag on the command line wins."""
    from productqa.paths import CONFIGS
    from productqa.presets import Preset, read_preset
    from productqa.train_args import KEYS, parse_train_args

    assert {p.stem for p in CONFIGS.glob("*.yaml")} == set(PRESETS) == {"cpu", "t4", "24gb"}
    assert read_preset(CONFIGS / "cpu.yaml") == PRESETS["cpu"] and PRESETS["cpu"].batching == "grouped"
    assert set(KEYS) >= set(Preset.__dataclass_fields__) - {"name"}
    plain = parse_train_args([])
    assert plain["preset"] == "auto" and plain["batch_size"] is None and plain["lora_r"] == 16
    config = tmp_path / "mine.yaml"
    config.write_text("preset: t4\nbatch_size: 2\nlr: 1.0e-4\nload_in_4bit: false\ndata: /somewhere\n")
    args = parse_train_args(["--config", str(config), "--batch-size", "3", "--gradient-checkpointing"])
    assert (args["preset"], args["batch_size"], args["lr"], args["load_in_4bit"]) == ("t4", 3, 1e-4, False)
    assert args["gradient_checkpointing"] is True and args["data"] == Path("/somewhere")
    assert parse_train_args(["--load-in-4bit", "false"])["load_in_4bit"] is False
    preset, _ = choose(args["preset"], args)
    assert (preset.batch_size, preset.grad_accum, preset.lr) == (3, PRESETS["t4"].grad_accum, 1e-4)
    config.write_text("batch_size: 2.5\n")
    with pytest.raises(SystemExit):  # argparse checks a config's values as it checks flags
        parse_train_args(["--config", str(config)])
    config.write_text("batch_sise: 2\n")
    with pytest.raises(UserError, match="unknown key 'batch_sise'"):
        parse_train_args(["--config", str(config)])
    config.write_text("batch_size: [2\n")
    with pytest.raises(UserError, match="not valid YAML"):
        parse_train_args(["--config", str(config)])
    with pytest.raises(UserError, match="cannot read the config file"):
        parse_train_args(["--config", str(tmp_path / "none.yaml")])


def test_script_help_is_instant_and_errors_are_one_line(tmp_path):
    script = str(ROOT / "scripts" / "02_train.py")
    help_text = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, timeout=30)
    assert help_text.returncode == 0 and "--resume" in help_text.stdout and "accelerate launch" in help_text.stdout
    missing = subprocess.run([sys.executable, script, "--data", str(tmp_path)], capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 2 and missing.stderr.strip().splitlines()[-1].startswith("error: no prepared data")
    assert "Traceback" not in missing.stderr


@pytest.mark.slow
def test_bundled_model_loss_falls(prepared_sample, tmp_path):
    from productqa.train import train

    run = train(data=prepared_sample, run_name="slow", runs_dir=tmp_path / "runs", preset="cpu", max_steps=8,
                batch_size=4, max_seq_length=512, eval_steps=8, save_steps=100, warmup_steps=1, lr=5e-4,
                progress=False)
    meta = json.loads((run / "meta.json").read_text())
    assert meta["token_repair"] == {"rows": [106], "source": 1, "scale": 1.05}  # <end_of_turn> from <eos>
    log = [json.loads(line) for line in (run / "trainer_log.jsonl").read_text().splitlines()]
    assert len([e["loss"] for e in log if "loss" in e]) == 8
    # per-step losses mix row kinds (a copied record ~0.01, a closed-book description ~2): compare the
    # held-out answer loss of the same validation rows before and after the 8 steps instead
    from productqa import evaluate as E
    from productqa.files import read_jsonl
    from productqa.tokens import swapped

    rows = read_jsonl(prepared_sample / "val.jsonl")
    model, tokenizer, originals = E.load_models(run, meta["base_model_path"], "cpu", meta["token_repair"])
    after = E.answer_loss(model, tokenizer, rows, meta["system_prompt"], 4, progress=False)["loss"]
    with model.disable_adapter(), swapped(model, originals):
        before = E.answer_loss(model, tokenizer, rows, meta["system_prompt"], 4, progress=False)["loss"]
    assert after < before
