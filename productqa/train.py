"""Stage 2: LoRA fine-tuning with Unsloth (4-bit QLoRA on CUDA, Unsloth's CPU backend elsewhere).

A run trains in runs/.<name>.partial/ (its checkpoints/ are what --resume continues from) and is
renamed to runs/<name>/ only when adapter, meta.json, trainer_log.jsonl and loss.png are all
written: a folder named runs/<name> is always a finished run (layout: productqa/runs.py).
Under `accelerate launch` / `torchrun` the same code trains data-parallel (Trainer does the work);
only the main process writes the run folder.
"""
from __future__ import annotations

import json
import os
import re
import resource
import shutil
import sys
import time
from pathlib import Path

from productqa import presets
from productqa.allocator import keep_freed_memory
from productqa.chat_format import read_conversations, template_name, to_messages
from productqa.errors import UserError
from productqa.families import for_template
from productqa.files import atomic_open, output_folder, write_json
from productqa.interrupt import CtrlC
from productqa.lossplot import loss_points, plot_loss
from productqa.runs import ADAPTER, META, point_latest
from productqa.tokens import apply_repair, plan_repair

TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ARGS_FILE = "args.json"
CHECKPOINTS = "checkpoints"


class Interrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C (or stop_at_step) after saving a checkpoint."""


# ------------------------------------------------------------------------------------------------
# the stage; the helpers it calls follow, grouped by subject


def train(progress: bool = True, stop_at_step: int | None = None, **kwargs) -> Path:
    """Train a LoRA adapter; returns the finished run folder. `kwargs` are productqa.train_args keys (the
    run's: model, data, ...; a preset's: batch_size, ...; None or absent = the default / the preset's).

    stop_at_step acts like a Ctrl-C after that step (a checkpoint is saved, Interrupted is raised).
    """
    import torch

    from productqa.meta import jsonable, write_meta
    from productqa.prompts import read_system_prompt
    from productqa.train_args import check_keys, defaults

    check_keys(kwargs, "train()")
    given = {**defaults(), **{k: v for k, v in kwargs.items() if v is not None}}
    given = {k: str(v) if isinstance(v, Path) else v for k, v in given.items()}
    runs_dir, run_name, resume = Path(given.pop("runs_dir")), given["run_name"], given.pop("resume")
    presets.check_values(given)  # the numbers given, before anything is read or written; choose() checks the preset's
    # -- where the run lives; --resume takes its arguments from the interrupted run ------------------
    if resume:
        partial = find_resumable(runs_dir, run_name)
        saved = json.loads((partial / ARGS_FILE).read_text(encoding="utf-8"))
        args, changed = resume_args(saved["given"], given)
        name = saved["run_name"]
        checkpoint = last_checkpoint(partial)
        described = "".join(f", {key} {saved['given'].get(key)} -> {value}" for key, value in changed.items())
        print(f"resuming {name} from {checkpoint.name}{described}", file=sys.stderr)
        resume_changes = saved.get("resume_changes", []) + ([{"at": checkpoint.name, **changed}] if changed else [])
    else:
        name = run_name or default_run_name(given["model"])
        output_folder(runs_dir, "--runs-dir")  # checked before the model loads
        partial, checkpoint = partial_dir(runs_dir, name), None
        if (runs_dir / name).exists():
            raise UserError(f"run {runs_dir / name} already exists: pick another --run-name or delete it")
        if partial.exists() and last_checkpoint(partial):
            raise UserError(f"an interrupted run is in {partial}: continue it with --resume --run-name {name}, "
                            f"or delete that folder")
        args, resume_changes = given, []
    chosen, why = presets.choose(args["preset"], args)  # the preset's fields among args override it
    args["preset"] = chosen.name  # what auto chose: a --resume keeps it on other hardware
    print(why, file=sys.stderr)

    # -- data ----------------------------------------------------------------------------------------
    train_rows, val_rows = load_splits(Path(args["data"]))
    system_prompt = read_system_prompt(Path(args["system_prompt"]))

    # -- model ---------------------------------------------------------------------------------------
    net, tokenizer, resolved, template, stop, repair = load_model(
        args["model"], chosen.max_seq_length, chosen.load_in_4bit, args["lora_r"], args["lora_alpha"],
        args["lora_dropout"], args["seed"], progress, chosen.gradient_checkpointing)
    train_texts, val_texts = render(train_rows, tokenizer, system_prompt), render(val_rows, tokenizer, system_prompt)
    stats = {"train": length_stats(train_texts, tokenizer, chosen.max_seq_length),
             "val": length_stats(val_texts, tokenizer, chosen.max_seq_length)}

    partial.mkdir(parents=True, exist_ok=True)
    # written once the values are checked (a --resume with a bad value leaves the run as it was)
    write_json(partial / ARGS_FILE, {"run_name": name, "given": jsonable(args), "resume_changes": resume_changes})
    Progress, Stop = _callbacks()
    progress_cb, stop_cb = Progress(progress), Stop(stop_at_step)
    trainer = make_trainer(net, tokenizer, train_texts, val_texts, chosen, partial / CHECKPOINTS, args["seed"],
                           template, callbacks=[progress_cb, stop_cb], tensorboard_dir=partial / "tensorboard")

    # -- train ---------------------------------------------------------------------------------------
    kept_freed = not torch.cuda.is_available() and keep_freed_memory()  # CPU: steps reuse memory (allocator.py)
    started = time.perf_counter()
    try:
        result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except torch.OutOfMemoryError:
        raise UserError(f"CUDA ran out of memory at --batch-size {chosen.batch_size} and --max-seq-length "
                        f"{chosen.max_seq_length}: lower --batch-size (raise --grad-accum to keep the effective "
                        f"batch) or --max-seq-length, then --resume") from None
    seconds = time.perf_counter() - started
    state = trainer.state
    if stop_cb.requested and state.global_step < state.max_steps:
        kept = last_checkpoint(partial)
        message = (f"stopped at step {state.global_step}/{state.max_steps}; checkpoint {kept} saved: "
                   f"continue with `python scripts/02_train.py --resume --run-name {name}`")
        print(message, file=sys.stderr)
        raise Interrupted(message)
    final_eval = trainer.evaluate()
    if not trainer.is_world_process_zero():
        return runs_dir / name

    # -- save: adapter + tokenizer (with its chat template), logs, figures, meta; then rename ---------
    adapter = partial / ADAPTER
    trainer.model.save_pretrained(adapter)
    tokenizer.save_pretrained(adapter)
    if getattr(net, "generation_config", None) is not None:
        net.generation_config.save_pretrained(adapter)
    history = state.log_history
    write_log(history, partial / "trainer_log.jsonl")
    train_points, eval_points = loss_points(history)
    plot_loss(train_points, eval_points, partial / "loss.png")
    losses = [loss for _, loss in train_points]
    tps = progress_cb.tokens_per_second()
    session_steps = state.global_step - (int(checkpoint.name.split("-")[-1]) if checkpoint else 0)
    figures = {"wall_seconds": round(seconds, 1), "steps": state.global_step,
               "seconds_per_step": round(seconds / max(1, session_steps), 3),
               "tokens_per_second": round(tps, 1) if tps else None, "first_loss": losses[0] if losses else None,
               "last_loss": losses[-1] if losses else None, "train_loss": result.training_loss,
               "eval_loss": final_eval.get("eval_loss"), "epochs": round(state.epoch or 0, 3), **peak_memory_mb(),
               "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
               "world_size": trainer.args.world_size, "malloc_keeps_freed_memory": kept_freed,
               "resumed_from": checkpoint.name if checkpoint else None, "resume_changes": resume_changes}
    write_meta(partial / META, "train", args, run_name=name, base_model=args["model"], base_model_path=resolved,
               chat_template=template, stop_token=stop, token_repair=repair, system_prompt=system_prompt,
               max_seq_length=chosen.max_seq_length, preset=chosen.as_dict(), preset_choice=why,
               lora={"r": args["lora_r"], "alpha": args["lora_alpha"], "dropout": args["lora_dropout"],
                     "target_modules": TARGET_MODULES},
               seed=args["seed"], dataset=stats, figures=figures)
    shutil.rmtree(partial / CHECKPOINTS, ignore_errors=True)
    (partial / ARGS_FILE).unlink(missing_ok=True)
    final = runs_dir / name
    os.replace(partial, final)
    point_latest(final)
    print(summary_line(figures, seconds, final), file=sys.stderr)
    return final


# ------------------------------------------------------------------------------------------------
# run folders


def partial_dir(runs_dir: Path, name: str) -> Path:
    return Path(runs_dir) / f".{name}.partial"


def default_run_name(model: str) -> str:
    base = Path(model).name if "/" not in model or Path(model).is_dir() else model.split("/")[-1]
    slug = re.sub(r"[^\w.-]+", "-", base)
    return f"{slug.strip('-') or 'run'}-{time.strftime('%Y%m%d-%H%M%S')}"


def last_checkpoint(partial: Path) -> Path | None:
    """The newest complete checkpoint. Not transformers' get_last_checkpoint: that takes the newest
    checkpoint-N folder even when a kill interrupted its writing (no trainer_state.json yet)."""
    found = [p for p in (partial / CHECKPOINTS).glob("checkpoint-*") if p.name.split("-")[-1].isdigit()
             and (p / "trainer_state.json").is_file()]
    return max(found, key=lambda p: int(p.name.split("-")[-1]), default=None)


def find_resumable(runs_dir: Path, name: str | None) -> Path:
    """The partial folder --resume continues: the named one, else the most recently touched."""
    runs_dir = Path(runs_dir)
    if name:
        candidates = [partial_dir(runs_dir, name)]
        if (runs_dir / name).is_dir() and not candidates[0].exists():
            raise UserError(f"run {runs_dir / name} already finished: nothing to resume")
    else:
        candidates = sorted(runs_dir.glob(".*.partial"), key=lambda p: p.stat().st_mtime, reverse=True)
    for partial in candidates:
        if partial.is_dir() and (partial / ARGS_FILE).is_file() and last_checkpoint(partial):
            return partial
    where = candidates[0] if name else runs_dir
    raise UserError(f"--resume found no checkpoint in {where}: start a new run without --resume")


# ------------------------------------------------------------------------------------------------
# data


def load_splits(data: Path) -> tuple[list[dict], list[dict]]:
    data = Path(data)
    rows = {}
    for split in ("train", "val"):
        path = data / f"{split}.jsonl"
        if not path.is_file():
            raise UserError(f"no prepared data at {path}: run scripts/01_prepare.py first (or pass --data)")
        rows[split] = list(read_conversations(path))
        if not rows[split]:
            hint = "prepare more records" if split == "train" else "prepare with a larger --val-size"
            raise UserError(f"{path} is empty: {hint} with scripts/01_prepare.py")
    return rows["train"], rows["val"]


def render(rows: list[dict], tokenizer, system_prompt: str) -> list[str]:
    """Rows -> training texts in the chat template; each ends with the end-of-turn (= eos) token.

    The leading <bos> is left to the tokenizer (it adds it), the template's trailing newline is cut
    so that the last label is the end-of-turn token itself: the fine-tuned model stops by itself.
    """
    texts = []
    bos = tokenizer.bos_token or ""
    for row in rows:
        text = tokenizer.apply_chat_template(to_messages(row, system_prompt), tokenize=False)
        if bos and text.startswith(bos):
            text = text[len(bos):]
        texts.append(text.rstrip("\n"))
    return texts


def length_stats(texts: list[str], tokenizer, max_seq_length: int) -> dict:
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]
    return {"records": len(texts), "tokens": sum(lengths), "mean_tokens": round(sum(lengths) / len(lengths), 1),
            "max_tokens": max(lengths), "truncated": sum(n > max_seq_length for n in lengths)}


# ------------------------------------------------------------------------------------------------
# model


def set_stop_tokens(model, tokenizer, template: str | None) -> str:
    """Make the template's end-of-turn token the eos (tokenizer, config, generation config); pad != eos."""
    stop = tokenizer.eos_token
    if template:
        from unsloth.chat_templates import CHAT_TEMPLATES

        word = CHAT_TEMPLATES[template][1]
        if word != "eos_token" and word in tokenizer.get_vocab():
            stop = word
    old_eos = tokenizer.eos_token_id
    tokenizer.eos_token = stop
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    stop_ids = list(dict.fromkeys([tokenizer.eos_token_id, old_eos]))
    for config in (model.config, getattr(model, "generation_config", None)):
        if config is not None:
            config.eos_token_id = stop_ids if len(stop_ids) > 1 else stop_ids[0]
            config.pad_token_id = tokenizer.pad_token_id
    return stop


def load_model(model_name: str, max_seq_length: int, load_in_4bit: bool, lora_r: int, lora_alpha: int,
               lora_dropout: float, seed: int, progress: bool = True, gradient_checkpointing: bool = True):
    """(peft model, tokenizer with chat template, resolved path, template name, stop token, row repair).

    When the template's end-of-turn token has an untrained embedding row, it is repaired before LoRA
    (productqa.tokens): the repair is recorded in meta.json and every later stage applies it again.
    """
    from unsloth import FastLanguageModel
    from unsloth.chat_templates import get_chat_template

    from productqa.models import load_for_training

    model, tokenizer, resolved = load_for_training(model_name, max_seq_length, load_in_4bit, progress,
                                                   gradient_checkpointing)
    template = template_name(model.config.model_type, tokenizer)
    if template:
        tokenizer = get_chat_template(tokenizer, chat_template=template)
    eos_id = tokenizer.eos_token_id
    stop = set_stop_tokens(model, tokenizer, template)
    repair = plan_repair(model, tokenizer.convert_tokens_to_ids(stop), eos_id)
    apply_repair(model, repair)
    model = FastLanguageModel.get_peft_model(
        model, r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules=TARGET_MODULES,
        bias="none", use_gradient_checkpointing="unsloth" if gradient_checkpointing else False, random_state=seed)
    return model, tokenizer, resolved, template, stop, repair


# ------------------------------------------------------------------------------------------------
# callbacks


def _callbacks():
    from transformers import TrainerCallback

    from productqa.progress import progress

    class Progress(TrainerCallback):
        """One bar (a few lines in a log): step/max, ETA, loss, eval loss and tokens/s from the trainer's logs."""

        def __init__(self, enabled: bool):
            self.enabled, self.bar, self.first, self.last = enabled, None, None, None
            self.postfix: dict = {}

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero and self.enabled:
                self.bar = progress(total=state.max_steps, initial=state.global_step, desc="train", unit="step")

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar:
                self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "num_tokens" in logs:
                point = (time.perf_counter(), float(logs["num_tokens"]))
                self.first = self.first or point
                self.last = point
            if "loss" in logs:
                self.postfix["loss"] = f"{logs['loss']:.3f}"
            if "eval_loss" in logs:
                self.postfix["eval"] = f"{logs['eval_loss']:.3f}"
            if self.tokens_per_second():
                self.postfix["tok/s"] = f"{self.tokens_per_second():.0f}"
            if self.bar:
                self.bar.set_postfix(self.postfix, refresh=False)

        def tokens_per_second(self) -> float | None:
            if not self.first or self.last[0] <= self.first[0]:
                return None
            return (self.last[1] - self.first[1]) / (self.last[0] - self.first[0])

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar:
                self.bar.close()

    class Stop(TrainerCallback):
        """First Ctrl-C: finish the step, save a checkpoint, stop. A second Ctrl-C stops at once."""

        def __init__(self, stop_at_step: int | None):
            self.stop_at_step = stop_at_step
            self.ctrl_c = CtrlC("Ctrl-C: saving a checkpoint after this step (press again to quit without saving)")

        @property
        def requested(self) -> bool:
            return self.ctrl_c.requested

        def on_train_begin(self, args, state, control, **kwargs):
            self.ctrl_c.start()

        def on_step_end(self, args, state, control, **kwargs):
            if self.stop_at_step is not None and state.global_step >= self.stop_at_step:
                self.ctrl_c.requested = True
            if self.requested:
                control.should_save = True
                control.should_training_stop = True

        def on_train_end(self, args, state, control, **kwargs):
            self.ctrl_c.stop()

    return Progress, Stop


# ------------------------------------------------------------------------------------------------
# the trainer


# Preset.batching -> the training sampler: grouping rows by length only pays where rows are padded; the
# others draw random batches (a batch of only long or only short rows would make the loss jumpy).
SAMPLERS = {"padding_free": "random", "grouped": "group_by_length", "padded": "random", "packed": "random",
            "auto": "group_by_length"}


def batching_flags(batching: str) -> dict:
    """SFTConfig's packing / padding_free for Preset.batching; "auto" leaves padding_free to Unsloth."""
    if batching == "auto":
        return {"packing": False}
    return {"packing": batching == "packed", "padding_free": batching == "padding_free"}


def use_padding_free_batches(trainer, pad_token_id: int) -> None:
    """Train on TRL's padding-free batches where Unsloth's CPU backend switched them off.

    Unsloth's CPU backend turns padding_free and packing off, on the grounds that SDPA would attend
    across the conversations of a flattened row. In transformers 5.x that happens only where a KV cache
    is made: without one and without an attention mask (TRL's loss passes use_cache=False),
    create_causal_mask reads the restarting position ids as packed sequences and gives sdpa/eager a
    block-diagonal causal mask (tests/test_train.py checks the loss against the conversations run one by
    one, and that the check catches a leak).
    TRL's collator concatenates the rows that the sampler batched, their labels (answer-only, built per
    row) included, and masks the label at each restart. TRL refuses padding_free with a max_length, so
    the rows are built (and truncated) as for padded batches and only the collator is swapped; it serves
    evaluation too, as TRL's own padding_free does.
    """
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    trainer.data_collator = DataCollatorForLanguageModeling(pad_token_id=pad_token_id, padding_free=True)


def make_trainer(model, tokenizer, train_texts, val_texts, preset, out_dir: Path, seed: int, template: str | None,
                 callbacks=(), tensorboard_dir: Path | None = None):
    """TRL SFTTrainer on rendered texts, loss on the answers only (Unsloth's train_on_responses_only),
    batches as preset.batching says (presets module docstring)."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer
    from unsloth.chat_templates import train_on_responses_only

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    flags = batching_flags(preset.batching)
    config = SFTConfig(
        output_dir=str(out_dir), seed=seed, data_seed=seed,
        per_device_train_batch_size=preset.batch_size, per_device_eval_batch_size=preset.batch_size,
        gradient_accumulation_steps=preset.grad_accum, max_steps=preset.max_steps,
        num_train_epochs=preset.epochs, learning_rate=preset.lr, warmup_steps=preset.warmup_steps,
        lr_scheduler_type="linear", weight_decay=0.01, optim=preset.optim,
        # TRL's SFTConfig turns checkpointing on unless told: the preset's choice would be ignored
        gradient_checkpointing=preset.gradient_checkpointing,
        max_length=preset.max_seq_length, dataset_text_field="text", dataset_num_proc=None,
        train_sampling_strategy=SAMPLERS[preset.batching], eval_packing=False,
        eval_strategy="steps", eval_steps=preset.eval_steps, save_strategy="steps", save_steps=preset.save_steps,
        save_total_limit=2, logging_steps=preset.logging_steps, logging_first_step=True,
        report_to="none", disable_tqdm=True,
        **({"bf16": bf16, "fp16": not bf16, **flags} if cuda else {}),
    )
    if not cuda:  # Unsloth's CPU backend turns packing off in SFTConfig (use_padding_free_batches says why)
        config.packing = flags["packing"]
    callbacks = list(callbacks)
    if tensorboard_dir is not None:
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback

        callbacks.append(TensorBoardCallback(SummaryWriter(log_dir=str(tensorboard_dir))))
    trainer = SFTTrainer(model=model, processing_class=tokenizer, args=config, callbacks=callbacks,
                         train_dataset=Dataset.from_dict({"text": train_texts}),
                         eval_dataset=Dataset.from_dict({"text": val_texts}))
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for default in (ProgressCallback, PrinterCallback):
        trainer.remove_callback(default)
    family = for_template(template)  # None: unsloth_zoo detects the parts from the tokenizer's template
    instruction, response = (family.user, family.model) if family else (None, None)
    try:
        trainer = train_on_responses_only(trainer, instruction_part=instruction, response_part=response)
    except ValueError as err:
        if "masked all" not in str(err):
            raise
        raise UserError(f"at --max-seq-length {preset.max_seq_length} most prompts are cut before their answer "
                        f"starts: raise --max-seq-length") from None
    if preset.batching == "padding_free" and not cuda:
        use_padding_free_batches(trainer, tokenizer.pad_token_id)
    return trainer


# ------------------------------------------------------------------------------------------------
# outputs


def peak_memory_mb() -> dict:
    import torch

    figures = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if torch.cuda.is_available():
        figures["peak_vram_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return figures


def write_log(log_history: list[dict], path: Path) -> None:
    with atomic_open(path) as handle:
        for entry in log_history:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")


# ------------------------------------------------------------------------------------------------
# the stage


# What a --resume may change: how steps are computed and logged, not what is learnt from or optimized
# (model, data, LoRA shape, seed, optimizer, learning rate and schedule continue from the checkpoint).
RESUMABLE = ("batch_size", "grad_accum", "max_seq_length", "gradient_checkpointing", "batching", "max_steps",
             "epochs", "eval_steps", "save_steps", "logging_steps")


def resume_args(saved: dict, given: dict) -> tuple[dict, dict]:
    """The interrupted run's arguments with the flags given again that may change (RESUMABLE); raises
    UserError naming a given flag that would change what cannot. A flag counts as given when it is set
    and differs from its default and from what the run uses (a preset's value included; paths resolved)."""
    from productqa.train_args import PATH_KEYS, defaults

    default = defaults()
    saved = dict(saved)
    if "system_prompt_file" in saved:  # the args.json of a run interrupted before the key's rename
        saved.setdefault("system_prompt", saved.pop("system_prompt_file"))
    saved = {**default, **saved}
    preset, _ = presets.choose(saved["preset"], saved)
    uses = {**saved, **{k: v for k, v in preset.as_dict().items() if k != "name"}}

    def same(key, value, other) -> bool:
        if key in PATH_KEYS and value is not None and other is not None:
            return Path(value).expanduser().resolve() == Path(other).expanduser().resolve()
        return str(value) == str(other)

    given = {k: v for k, v in given.items()
             if v is not None and k != "run_name" and not same(k, v, default.get(k)) and not same(k, v, uses.get(k))}
    fixed = [k for k in given if k not in RESUMABLE]
    if fixed:
        flags = ", ".join("--" + k.replace("_", "-") for k in fixed)
        raise UserError(f"{flags} cannot change on --resume (the checkpoint's model, data, optimizer and schedule "
                        f"continue); drop {'it' if len(fixed) == 1 else 'them'}, or start a new run. "
                        f"These may change: {', '.join('--' + k.replace('_', '-') for k in RESUMABLE)}")
    return {**saved, **given}, given


def summary_line(figures: dict, seconds: float, final: Path) -> str:
    """The last line of a run; a figure the run did not produce (no eval step, no logged loss) reads n/a."""
    def figure(key, spec=".3f"):
        return "n/a" if figures.get(key) is None else format(figures[key], spec)

    return (f"trained {figures['steps']} steps in {seconds:.0f}s ({figures['seconds_per_step']} s/step, "
            f"{figure('tokens_per_second', '')} tokens/s); loss {figure('first_loss')} -> {figure('last_loss')}, "
            f"eval loss {figure('eval_loss')} -> {final}")
