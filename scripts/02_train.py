#!/usr/bin/env python3
"""Stage 2: fine-tune a LoRA adapter on the prepared conversations with Unsloth + TRL.

    python scripts/02_train.py                                     # bundled Gemma 3 270M, preset auto
    python scripts/02_train.py --max-steps 10 --run-name smoke     # a quick look
    python scripts/02_train.py --model unsloth/gemma-3-1b-it --preset t4 --epochs 1
    python scripts/02_train.py --resume                            # continue the interrupted run
    python scripts/02_train.py --config configs/t4.yaml --lr 1e-4  # a YAML of these keys; flags win
    accelerate launch --num_processes 2 scripts/02_train.py --preset 24gb   # data-parallel, 2 GPUs
    torchrun --nproc_per_node 2 scripts/02_train.py --preset 24gb          # the same with torchrun

Writes runs/<name>/ (adapter/, meta.json, trainer_log.jsonl, loss.png, tensorboard/) and points
runs/latest at it. While training, everything lives in runs/.<name>.partial/ (checkpoints included);
Ctrl-C saves a checkpoint there and --resume continues from it to the same final step.
Every flag is declared once, in productqa/train_args.py (the run's) and productqa/presets.py (a preset's).
"""
from productqa import paths  # noqa: F401  (sets Unsloth's environment before any Unsloth import)
from productqa.errors import cli


@cli
def main(argv=None):
    from productqa.train_args import parse_train_args

    args = parse_train_args(argv, description=__doc__)
    from productqa.train import train

    train(**args)


if __name__ == "__main__":
    main()
