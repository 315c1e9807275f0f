#!/usr/bin/env python3
"""Training speed and memory: Unsloth (the 02_train path) vs plain transformers + PEFT + TRL.

    python bench/train_bench.py                       # bundled Gemma 3 270M, 6 steps each, batch 4
    python bench/train_bench.py --steps 20 --rows 128 --max-seq-length 512

Same model, same rendered conversations, same LoRA (r, alpha, all attention and MLP projections),
same batch, sequence length, optimizer and steps, answer-only loss in both. Each path runs in its
own process, one after the other (so one's imports and memory cannot touch the other's); on a CUDA
machine Unsloth also runs with 4-bit QLoRA against 16-bit LoRA. Prints tokens/s (steps after the
first, which warms up), s/step, peak memory (RSS on CPU, max allocated VRAM on GPU) and ratios.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from productqa import paths  # noqa: E402  (sets Unsloth's environment)

LORA = dict(r=16, lora_alpha=16, lora_dropout=0.0,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gemma-3-270m")
    parser.add_argument("--data", type=Path, default=paths.PROCESSED)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rows", type=int, default=64, help="training rows used")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "train_bench")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: run one path
    parser.add_argument("--load-in-4bit", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------------
# what both paths share


def config(args, out_dir, optim):
    import torch
    from trl import SFTConfig

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    return SFTConfig(output_dir=str(out_dir), max_steps=args.steps, per_device_train_batch_size=args.batch_size,
                     gradient_accumulation_steps=1, learning_rate=2e-4, warmup_steps=0, optim=optim, seed=3407,
                     max_length=args.max_seq_length, logging_steps=1, save_strategy="no", eval_strategy="no",
                     report_to="none", disable_tqdm=True, dataset_num_proc=None, packing=False,
                     gradient_checkpointing=True,
                     gradient_checkpointing_kwargs={"use_reentrant": False},
                     **({"bf16": bf16, "fp16": not bf16} if cuda else {"use_cpu": True, "bf16": True}))


def timing_callback():
    from transformers import TrainerCallback

    class Timing(TrainerCallback):
        def __init__(self):
            self.points = []

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "num_tokens" in logs and "loss" in logs:
                self.points.append((time.perf_counter(), float(logs["num_tokens"]), logs.get("loss")))

    return Timing()


def figures(timing, label):
    import torch

    (t0, n0, _), (t1, n1, _) = timing.points[0], timing.points[-1]  # from the end of step 1 to the end
    result = {"path": label, "steps_timed": len(timing.points) - 1, "tokens_per_second": round((n1 - n0) / (t1 - t0), 1),
              "seconds_per_step": round((t1 - t0) / max(1, len(timing.points) - 1), 3),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
              "first_loss": timing.points[0][2], "last_loss": timing.points[-1][2]}
    if torch.cuda.is_available():
        result["peak_vram_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        result["device"] = torch.cuda.get_device_name(0)
    else:
        result["device"] = f"cpu x{torch.get_num_threads()} threads"
    return result


# ------------------------------------------------------------------------------------------------
# the two paths


def run_unsloth(args):
    """The 02_train path (productqa.train); also writes the rendered texts for the plain path."""
    import torch

    from productqa.files import read_jsonl
    from productqa.presets import choose
    from productqa.prompts import read_system_prompt
    from productqa.train import RESPONSE_PARTS, load_model, make_trainer, render

    model, tokenizer, _, template, _, _ = load_model(args.model, args.max_seq_length, args.load_in_4bit, LORA["r"],
                                                  LORA["lora_alpha"], LORA["lora_dropout"], 3407)
    rows = read_jsonl(args.data / "train.jsonl")[: args.rows]
    texts = render(rows, tokenizer, read_system_prompt())
    (args.out / "texts.json").write_text(json.dumps({"texts": texts, "response_part": RESPONSE_PARTS[template][1]}))
    optim = "adamw_8bit" if torch.cuda.is_available() else "adamw_torch"
    preset, _ = choose("cpu", {"batch_size": args.batch_size, "max_seq_length": args.max_seq_length,
                               "max_steps": args.steps, "optim": optim, "warmup_steps": 0,
                               "eval_steps": 10**6, "save_steps": 10**6, "logging_steps": 1})
    timing = timing_callback()
    trainer = make_trainer(model, tokenizer, texts, texts[:1], preset, args.out / "unsloth", 3407, template,
                           callbacks=[timing])
    trainer.train()
    return figures(timing, "unsloth 4-bit" if args.load_in_4bit and torch.cuda.is_available() else "unsloth 16-bit")


def run_plain(args):
    """transformers + PEFT + TRL, no Unsloth import: prompt/completion rows, TRL's completion-only loss."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer
    from trl import SFTTrainer

    from productqa.models import resolve_model

    assert "unsloth" not in sys.modules
    saved = json.loads((args.out / "texts.json").read_text())
    marker = saved["response_part"]
    prompts, completions = zip(*[(t[: t.index(marker) + len(marker)], t[t.index(marker) + len(marker):])
                                 for t in saved["texts"]])
    path = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    cuda = torch.cuda.is_available()
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, device_map="cuda" if cuda else None)
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", bias="none", **LORA))
    timing = timing_callback()
    cfg = config(args, args.out / "plain", "adamw_8bit" if cuda else "adamw_torch")
    class PlainSFT(SFTTrainer):
        # TRL 1.15's default loss is a fused Triton kernel with no CPU path: use the model's own loss.
        # Count tokens as TRL's own compute_loss does (num_tokens in the logs), which this bypasses.
        tokens = 0

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if model.training:
                self.tokens += int(inputs["attention_mask"].sum())
            return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

        def log(self, logs, *args, **kwargs):
            return super().log({**logs, "num_tokens": float(self.tokens)}, *args, **kwargs)

    trainer = PlainSFT(model=model, processing_class=tokenizer, args=cfg, callbacks=[timing],
                         train_dataset=Dataset.from_dict({"prompt": list(prompts), "completion": list(completions)}))
    trainer.train()
    return figures(timing, "plain transformers+PEFT+TRL")


# ------------------------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.worker:
        result = run_unsloth(args) if args.worker == "unsloth" else run_plain(args)
        print("RESULT " + json.dumps(result), flush=True)
        return

    import torch

    workers = [("unsloth", [])]
    if torch.cuda.is_available():
        workers.append(("unsloth", ["--load-in-4bit"]))
    workers.append(("plain", []))
    common = ["--model", args.model, "--data", str(args.data), "--steps", str(args.steps), "--rows", str(args.rows),
              "--batch-size", str(args.batch_size), "--max-seq-length", str(args.max_seq_length), "--out", str(args.out)]
    results = []
    for worker, extra in workers:
        print(f"--- {worker} {' '.join(extra)}", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, __file__, "--worker", worker, *common, *extra], text=True,
                              capture_output=True, env={**os.environ, "TQDM_DISABLE": "1"})
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            print(proc.stderr[-3000:], file=sys.stderr)
            sys.exit(f"the {worker} path failed (exit {proc.returncode})")
        results.append(json.loads(lines[-1][len("RESULT "):]))

    memory = "peak_vram_mb" if torch.cuda.is_available() else "peak_rss_mb"
    print(f"\n{args.steps} steps, batch {args.batch_size}, max {args.max_seq_length} tokens, LoRA r{LORA['r']} "
          f"on {results[0]['device']}, model {args.model}")
    print(f"{'path':32} {'tokens/s':>9} {'s/step':>7} {memory:>12} {'loss first->last':>18}")
    for r in results:
        print(f"{r['path']:32} {r['tokens_per_second']:9.1f} {r['seconds_per_step']:7.2f} {r[memory]:12.0f} "
              f"{r['first_loss']:8.3f} -> {r['last_loss']:.3f}")
    unsloth, plain = results[0], results[-1]
    print(f"unsloth / plain: tokens/s x{unsloth['tokens_per_second'] / plain['tokens_per_second']:.2f}, "
          f"{memory} x{unsloth[memory] / plain[memory]:.2f}")
    if len(results) == 3:
        print(f"4-bit / 16-bit (unsloth): tokens/s x{results[1]['tokens_per_second'] / unsloth['tokens_per_second']:.2f}, "
              f"{memory} x{results[1][memory] / unsloth[memory]:.2f}")
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
