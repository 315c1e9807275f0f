#!/usr/bin/env python3
"""Stage 2: fine-tune a LoRA adapter on the prepared conversations with Unsloth + TRL.

    python scripts/02_train.py                                     # bundled Gemma 3 270M, preset auto
    python scripts/02_train.py --max-steps 10 --run-name smoke     # a quick look
    python scripts/02_train.py --model unsloth/gemma-3-1b-it --preset t4 --epochs 1
    python scripts/02_train.py --resume                            # continue the interrupted run
    accelerate launch --num_processes 2 scripts/02_train.py --preset 24gb   # data-parallel, 2 GPUs
    torchrun --nproc_per_node 2 scripts/02_train.py --preset 24gb          # the same with torchrun

Writes runs/<name>/ (adapter/, meta.json, trainer_log.jsonl, loss.png, tensorboard/) and points
runs/latest at it. While training, everything lives in runs/.<name>.partial/ (checkpoints included);
Ctrl-C saves a checkpoint there and --resume continues from it to the same final step.
"""
import argparse
from pathlib import Path

from productqa import paths  # sets Unsloth's environment before any Unsloth import
from productqa.errors import cli
from productqa.presets import CHOICES


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # model, data, run
    parser.add_argument("--model", default="gemma-3-270m", help="gemma-3-270m (bundled), a Hugging Face id, or a folder")
    parser.add_argument("--data", type=Path, default=paths.PROCESSED, help="folder with train.jsonl and val.jsonl")
    parser.add_argument("--run-name", default=None, help="runs/<name> (default: <model>-<date>-<time>)")
    parser.add_argument("--runs-dir", type=Path, default=paths.RUNS, help="where runs are written")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run (--run-name, else the newest)")
    parser.add_argument("--system-prompt", type=Path, default=paths.PROMPTS / "system.txt", help="system prompt file")
    parser.add_argument("--seed", type=int, default=3407)
    # hardware preset: every value below defaults to the preset's
    parser.add_argument("--preset", default="auto", choices=CHOICES, help="auto: cpu without CUDA, t4 under 20 GB, else 24gb")
    parser.add_argument("--max-steps", type=int, default=None, help="optimizer steps (-1: use --epochs)")
    parser.add_argument("--epochs", type=float, default=None, help="epochs when --max-steps is -1")
    parser.add_argument("--batch-size", type=int, default=None, help="sequences per device per step")
    parser.add_argument("--grad-accum", type=int, default=None, help="gradient accumulation steps")
    parser.add_argument("--max-seq-length", type=int, default=None, help="tokens per sequence (longer ones are cut)")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (linear decay)")
    parser.add_argument("--warmup-steps", type=int, default=None)
    parser.add_argument("--optim", default=None, help="adamw_8bit (GPU), adamw_torch, ...")
    parser.add_argument("--load-in-4bit", action=argparse.BooleanOptionalAction, default=None,
                        help="4-bit QLoRA (CUDA only; ignored on CPU)")
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None,
                        help="recompute activations in the backward pass (less memory, slower)")
    parser.add_argument("--eval-steps", type=int, default=None, help="evaluate on val every N steps")
    parser.add_argument("--save-steps", type=int, default=None, help="checkpoint every N steps")
    parser.add_argument("--logging-steps", type=int, default=None)
    # LoRA
    parser.add_argument("--lora-r", type=int, default=16, help="LoRA rank")
    parser.add_argument("--lora-alpha", type=int, default=16, help="LoRA scale numerator (alpha / r)")
    parser.add_argument("--lora-dropout", type=float, default=0.0)
    return parser.parse_args(argv)


@cli
def main(argv=None):
    args = parse_args(argv)
    from productqa.train import train

    train(model=args.model, data=args.data, run_name=args.run_name, preset=args.preset, runs_dir=args.runs_dir,
          resume=args.resume, seed=args.seed, lora_r=args.lora_r, lora_alpha=args.lora_alpha,
          lora_dropout=args.lora_dropout, system_prompt_file=args.system_prompt,
          max_steps=args.max_steps, epochs=args.epochs, batch_size=args.batch_size, grad_accum=args.grad_accum,
          max_seq_length=args.max_seq_length, lr=args.lr, warmup_steps=args.warmup_steps, optim=args.optim,
          load_in_4bit=args.load_in_4bit, gradient_checkpointing=args.gradient_checkpointing,
          eval_steps=args.eval_steps, save_steps=args.save_steps,
          logging_steps=args.logging_steps)


if __name__ == "__main__":
    main()
