#!/usr/bin/env python3
"""Training throughput by batching: Unsloth (the 02_train path) vs plain transformers + PEFT + TRL.

    python bench/train_bench.py                                  # every configuration, 12 steps each
    python bench/train_bench.py --steps 20 --configs unsloth-grouped,unsloth-padding-free

Configurations (each in its own process, one after the other, so one's imports and memory cannot
touch another's):
    unsloth-padded        padded batches in random order
    unsloth-grouped       padded batches of similar lengths (the cpu preset)
    unsloth-padding-free  the batch's conversations in one row, positions restarting
    unsloth-packed        TRL best-fit packing into rows of --max-seq-length (more conversations a step)
    plain-padded          transformers + PEFT + TRL, prompt/completion rows, TRL's completion-only loss
    plain-padding-free    the same, TRL padding_free=True
    plain-packed          the same, TRL packing=True (best-fit)
Same model, rows, LoRA (r, alpha, all attention and MLP projections), batch, optimizer, learning
rate and steps; the hardware preset (`auto`) decides gradient checkpointing and, on CUDA, 4-bit
QLoRA for Unsloth. Rows longer than --max-seq-length are left out, so no configuration truncates.
The random-order configurations draw the same batches (same seed), so their per-step losses agree;
the grouped and packed ones see other batches: compare their mean loss.

Prints tokens/s (real tokens, no padding, counted from each batch; steps after the first, which warms up),
s/step, peak memory (RSS on CPU, max allocated VRAM on CUDA), first/last/mean loss, ratios to
"unsloth-padded" and to "unsloth-grouped", and the largest per-step loss gap between configurations
that drew the same batches; then one layer's attention (forward + backward) for padded batches against
the same conversations as one padding-free row, which is why padding-free does not pay on CPU.
Writes the figures to --out/results.json.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from productqa import paths  # sets Unsloth's environment
from productqa.allocator import keep_freed_memory
from productqa.files import write_json
from productqa.train import TARGET_MODULES

LORA = dict(r=16, lora_alpha=16, lora_dropout=0.0,
            target_modules=TARGET_MODULES)
SEED = 3407
CONFIGS = {  # name -> (stack, batching, label)
    "unsloth-padded": ("unsloth", "padded", "Unsloth padded (random batches)"),
    "unsloth-grouped": ("unsloth", "grouped", "Unsloth length-grouped"),
    "unsloth-padding-free": ("unsloth", "padding_free", "Unsloth padding-free"),
    "unsloth-packed": ("unsloth", "packed", "Unsloth packed (best-fit)"),
    "plain-padded": ("plain", "padded", "plain TRL padded (random)"),
    "plain-padding-free": ("plain", "padding_free", "plain TRL padding-free"),
    "plain-packed": ("plain", "packed", "plain TRL packed (best-fit)"),
}
BASELINE, TODAY = "unsloth-padded", "unsloth-grouped"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gemma-3-270m")
    parser.add_argument("--data", type=Path, default=paths.PROCESSED)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-seq-length", type=int, default=512)
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated, from: " + ", ".join(CONFIGS))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "train_bench")
    parser.add_argument("--glibc-default", action="store_true",
                        help="leave glibc's malloc as it is (02_train keeps freed memory: productqa.allocator)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: run one configuration
    args = parser.parse_args(argv)
    args.configs = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = [name for name in args.configs if name not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration {unknown[0]!r}: choose from {', '.join(CONFIGS)}")
    # the plain workers read the texts an Unsloth worker rendered (the chat template comes from Unsloth)
    args.configs.sort(key=lambda name: CONFIGS[name][0] != "unsloth")
    return args


# ------------------------------------------------------------------------------------------------
# what every configuration shares


def bench_preset(args, batching):
    """The hardware preset (auto) with the bench's batch, length, steps and batching; no eval, no saving."""
    from productqa.presets import choose

    preset, _ = choose("auto", {"batch_size": args.batch_size, "grad_accum": 1, "max_seq_length": args.max_seq_length,
                                "max_steps": args.steps, "warmup_steps": 0, "eval_steps": 10**6,
                                "save_steps": 10**6, "logging_steps": 1, "batching": batching})
    return preset


def timing_callback():
    from transformers import TrainerCallback

    class Timing(TrainerCallback):
        """(time, real tokens trained so far, loss) at every logged step; count_tokens feeds `tokens`."""

        def __init__(self):
            self.points = []
            self.tokens = 0

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.points.append((time.perf_counter(), float(self.tokens), logs["loss"]))

    return Timing()


def count_tokens(trainer, timing) -> None:
    """Count each training batch's real tokens (no padding) into timing.tokens, the same way for both stacks
    (TRL logs num_tokens only from its own compute_loss, which Unsloth replaces on CUDA)."""
    compute_loss = trainer.compute_loss

    def counted(model, inputs, *args, **kwargs):
        if model.training:
            mask = inputs.get("attention_mask")
            timing.tokens += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
        return compute_loss(model, inputs, *args, **kwargs)

    trainer.compute_loss = counted


def figures(timing, name):
    import torch

    if len(timing.points) < 2 or timing.points[-1][1] == timing.points[0][1]:
        sys.exit(f"{name}: {len(timing.points)} steps logged a loss and {timing.tokens} tokens were counted: "
                 f"no rate to report (raise --steps; or this stack's trainer bypasses compute_loss)")
    (t0, n0, _), (t1, n1, _) = timing.points[0], timing.points[-1]  # from the end of step 1 to the end
    steps = len(timing.points) - 1
    losses = [loss for _, _, loss in timing.points]
    result = {"config": name, "label": CONFIGS[name][2], "steps_timed": steps,
              "tokens_per_second": round((n1 - n0) / (t1 - t0), 1), "seconds_per_step": round((t1 - t0) / steps, 3),
              "tokens_per_step": round((n1 - n0) / steps, 1),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
              "losses": losses, "mean_loss": round(statistics.fmean(losses), 4)}
    if torch.cuda.is_available():
        result["peak_vram_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        result["device"] = torch.cuda.get_device_name(0)
    else:
        result["device"] = f"cpu x{torch.get_num_threads()} threads"
    return result


# ------------------------------------------------------------------------------------------------
# the two stacks


def run_unsloth(args, name):
    """The 02_train path (productqa.train); writes the rendered texts for the plain workers."""
    from productqa.files import read_jsonl
    from productqa.prompts import read_system_prompt
    from productqa.families import for_template
    from productqa.train import load_model, make_trainer, render

    preset = bench_preset(args, CONFIGS[name][1])
    model, tokenizer, _, template, stop, repair = load_model(args.model, preset.max_seq_length, preset.load_in_4bit,
                                                     LORA["r"], LORA["lora_alpha"], LORA["lora_dropout"], SEED,
                                                     progress=False,
                                                     gradient_checkpointing=preset.gradient_checkpointing)
    texts = render(read_jsonl(args.data / "train.jsonl"), tokenizer, read_system_prompt())
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    kept = [(text, n) for text, n in zip(texts, lengths) if n <= preset.max_seq_length]
    texts = [text for text, _ in kept]
    write_json(args.out / "texts.json", {"texts": texts, "lengths": [n for _, n in kept], "stop": stop,
                                         "response_part": for_template(template).model, "token_repair": repair})
    timing = timing_callback()
    trainer = make_trainer(model, tokenizer, texts, texts[:1], preset, args.out / name, SEED, template,
                           callbacks=[timing])
    count_tokens(trainer, timing)
    trainer.train()
    return figures(timing, name)


def run_plain(args, name):
    """transformers + PEFT + TRL, no Unsloth import: prompt/completion rows, TRL's completion-only loss."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer
    from trl import SFTConfig, SFTTrainer

    from productqa.models import resolve_model
    from productqa.tokens import apply_repair

    assert "unsloth" not in sys.modules
    batching = CONFIGS[name][1]
    preset = bench_preset(args, batching)
    saved = json.loads((args.out / "texts.json").read_text())
    marker = saved["response_part"]
    prompts, completions = zip(*[(t[: t.index(marker) + len(marker)], t[t.index(marker) + len(marker):])
                                 for t in saved["texts"]])
    path = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    cuda = torch.cuda.is_available()
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, device_map="cuda" if cuda else None)
    apply_repair(model, saved["token_repair"])  # the end-of-turn row 02_train repairs: the same model, the same loss
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", bias="none", **LORA))
    bf16 = cuda and torch.cuda.is_bf16_supported()
    config = SFTConfig(
        output_dir=str(args.out / name), max_steps=preset.max_steps, per_device_train_batch_size=preset.batch_size,
        gradient_accumulation_steps=1, learning_rate=preset.lr, warmup_steps=0, optim=preset.optim,
        lr_scheduler_type="linear", weight_decay=0.01, seed=SEED, data_seed=SEED, logging_steps=1,
        eos_token=saved["stop"],  # the same last label as the Unsloth path (the end-of-turn token)
        save_strategy="no", eval_strategy="no", report_to="none", disable_tqdm=True, dataset_num_proc=None,
        # padding-free without packing: TRL does not truncate, and every row already fits (run_unsloth)
        max_length=None if batching == "padding_free" else preset.max_seq_length,
        packing=batching == "packed", padding_free=batching == "padding_free",
        gradient_checkpointing=preset.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        **({"bf16": bf16, "fp16": not bf16} if cuda else {"use_cpu": True, "bf16": True}))

    class PlainSFT(SFTTrainer):
        """TRL 1.15's default loss is a fused Triton kernel with no CPU path: use the model's own loss."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = {**inputs, "use_cache": False}  # no KV cache: transformers then separates packed rows
            return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    timing = timing_callback()
    trainer = PlainSFT(model=model, processing_class=tokenizer, args=config, callbacks=[timing],
                       train_dataset=Dataset.from_dict({"prompt": list(prompts), "completion": list(completions)}))
    count_tokens(trainer, timing)
    trainer.train()
    return figures(timing, name)


# ------------------------------------------------------------------------------------------------
# why padding-free does not pay on CPU


def attention_seconds(args, batches: int = 3, repeats: int = 3) -> tuple[float, float]:
    """One layer's attention, forward + backward (SDPA, bf16 autocast on CPU), summed over random batches
    of the rows: (padded batches with their mask, the same conversations as one padding-free row).

    The padding-free row's mask is block-diagonal, but SDPA computes its whole square; the fastest of
    `repeats` runs is kept (the machine may be shared).
    """
    import random

    import torch
    import torch.nn.functional as F
    from transformers import AutoConfig

    from productqa.models import resolve_model

    config = AutoConfig.from_pretrained(resolve_model(args.model)).get_text_config()
    heads, kv_heads, dim = config.num_attention_heads, config.num_key_value_heads, config.head_dim
    lengths = json.loads((args.out / "texts.json").read_text())["lengths"]
    random.Random(SEED).shuffle(lengths)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    def timed(rows: int, width: int, mask) -> float:
        q = torch.randn(rows, heads, width, dim, device=device, requires_grad=True)
        k, v = (torch.randn(rows, kv_heads, width, dim, device=device, requires_grad=True) for _ in range(2))
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            with torch.autocast(device, dtype=torch.bfloat16):
                F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True).sum().backward()
            if device == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - started)
        return best

    padded = flat = 0.0
    for b in range(batches):
        batch = lengths[b * args.batch_size:(b + 1) * args.batch_size]
        width, total = max(batch), sum(batch)
        mask = torch.zeros(len(batch), 1, width, width, dtype=torch.bool, device=device)
        block = torch.zeros(1, 1, total, total, dtype=torch.bool, device=device)
        start = 0
        for row, n in enumerate(batch):
            causal = torch.ones(n, n, dtype=torch.bool, device=device).tril()
            mask[row, 0, :n, :n] = causal
            mask[row, 0, n:, 0] = True  # pad queries see one key: no empty softmax row
            block[0, 0, start:start + n, start:start + n] = causal
            start += n
        padded += timed(len(batch), width, mask)
        flat += timed(1, total, block)
    return padded, flat


# ------------------------------------------------------------------------------------------------
# the run and its table


def run_worker(args, name) -> dict:
    """One configuration in a fresh process; its figures from the RESULT line it prints."""
    common = ["--glibc-default"] * args.glibc_default + [
              "--model", args.model, "--data", str(args.data), "--steps", str(args.steps),
              "--batch-size", str(args.batch_size), "--max-seq-length", str(args.max_seq_length),
              "--out", str(args.out)]
    print(f"--- {name}", file=sys.stderr, flush=True)
    proc = subprocess.run([sys.executable, __file__, "--worker", name, *common], text=True, capture_output=True,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        print(proc.stderr[-3000:], file=sys.stderr)
        sys.exit(f"the {name} configuration failed (exit {proc.returncode})")
    return json.loads(lines[-1][len("RESULT "):])


def ratio(result: dict, by_name: dict, other: str) -> str:
    """result's tokens/s over another configuration's, or "-" where that one did not run."""
    if other not in by_name:
        return "-"
    return f"{result['tokens_per_second'] / by_name[other]['tokens_per_second']:.2f}"


def print_table(args, results: list[dict]) -> None:
    memory = "peak_vram_mb" if "peak_vram_mb" in results[0] else "peak_rss_mb"
    by_name = {r["config"]: r for r in results}
    print(f"\n{args.steps} steps of batch {args.batch_size}, at most {args.max_seq_length} tokens a conversation, "
          f"LoRA r{LORA['r']}, model {args.model}, on {results[0]['device']}")
    print(f"{'configuration':32} {'tokens/s':>9} {'s/step':>7} {'tok/step':>8} {memory:>12} "
          f"{'loss first -> last (mean)':>27} {'x padded':>8} {'x grouped':>9}")
    for r in results:
        print(f"{r['label']:32} {r['tokens_per_second']:9.1f} {r['seconds_per_step']:7.2f} {r['tokens_per_step']:8.0f} "
              f"{r[memory]:12.0f} {r['losses'][0]:8.3f} -> {r['losses'][-1]:.3f} ({r['mean_loss']:.3f}) "
              f"{ratio(r, by_name, BASELINE):>8} {ratio(r, by_name, TODAY):>9}")
    same_batches = [name for name in by_name if CONFIGS[name][1] in ("padded", "padding_free")]
    for name in same_batches[1:]:
        gap = max(abs(a - b) for a, b in zip(by_name[same_batches[0]]["losses"], by_name[name]["losses"]))
        print(f"same batches: {CONFIGS[name][2]} vs {CONFIGS[same_batches[0]][2]}: largest per-step loss gap {gap:.4f}")


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.worker:
        if not args.glibc_default:
            keep_freed_memory()  # as 02_train does on CPU
        stack = CONFIGS[args.worker][0]
        result = (run_unsloth if stack == "unsloth" else run_plain)(args, args.worker)
        print("RESULT " + json.dumps(result), flush=True)
        return
    if not any(CONFIGS[name][0] == "unsloth" for name in args.configs) and not (args.out / "texts.json").is_file():
        sys.exit("the plain configurations read the texts an Unsloth configuration renders: add one to --configs")
    results = [run_worker(args, name) for name in args.configs]
    print_table(args, results)
    padded, flat = attention_seconds(args)
    print(f"one layer's attention, forward + backward, 3 random batches: padded {padded * 1000:.0f} ms, "
          f"the same conversations padding-free {flat * 1000:.0f} ms (x{flat / padded:.2f})")
    write_json(args.out / "results.json", results)


if __name__ == "__main__":
    main()
