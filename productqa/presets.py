"""Training presets: batch size, accumulation, sequence length, optimizer and length per hardware.

Every field is also a flag of scripts/02_train.py; a flag given on the command line wins.

    cpu   2-core laptop: the bundled demo (~215 records) in a few minutes. Batch 4 of <=256 tokens,
          a fixed 30 steps (120 rows, ~0.56 epoch), plain AdamW (8-bit optimizers need a GPU), 16-bit LoRA.
    t4    16 GB GPU (Colab T4): 4-bit QLoRA, batch 8 x 2 accumulation (16 sequences of <=512 tokens
          per step), 1 epoch over tens of thousands of records, adamw_8bit.
    24gb  24 GB+ GPU (L4/A10/3090/4090/A100/H100): 4-bit QLoRA, batch 16 x 1 of <=1024 tokens.
    auto  cpu without CUDA; t4 under 20 GB of GPU memory; 24gb at 20 GB or more.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from productqa.errors import UserError


@dataclass(frozen=True)
class Preset:
    name: str
    batch_size: int
    grad_accum: int
    max_seq_length: int
    optim: str
    max_steps: int  # -1: train for `epochs` instead
    epochs: float
    lr: float
    load_in_4bit: bool
    eval_steps: int
    save_steps: int
    logging_steps: int
    warmup_steps: int
    gradient_checkpointing: bool  # recompute activations: less memory, ~30% more time

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    "cpu": Preset("cpu", batch_size=4, grad_accum=1, max_seq_length=512, optim="adamw_torch", max_steps=60,
                  epochs=1, lr=2e-4, load_in_4bit=False, eval_steps=30, save_steps=30, logging_steps=1,
                  warmup_steps=3, gradient_checkpointing=False),
    "t4": Preset("t4", batch_size=8, grad_accum=2, max_seq_length=512, optim="adamw_8bit", max_steps=-1,
                 epochs=1, lr=2e-4, load_in_4bit=True, eval_steps=200, save_steps=200, logging_steps=10,
                 warmup_steps=20, gradient_checkpointing=True),
    "24gb": Preset("24gb", batch_size=16, grad_accum=1, max_seq_length=1024, optim="adamw_8bit", max_steps=-1,
                   epochs=1, lr=2e-4, load_in_4bit=True, eval_steps=200, save_steps=200, logging_steps=10,
                   warmup_steps=20, gradient_checkpointing=True),
}
CHOICES = ("auto", *PRESETS)
BIG_GPU_GB = 20


def detect() -> tuple[str, str]:
    """(preset name, what was seen) for the hardware at hand."""
    import torch

    if not torch.cuda.is_available():
        return "cpu", "no CUDA GPU"
    props = torch.cuda.get_device_properties(0)
    gigabytes = props.total_memory / 2**30
    seen = f"{props.name}, {gigabytes:.0f} GB x {torch.cuda.device_count()}"
    return ("24gb" if gigabytes >= BIG_GPU_GB else "t4"), seen


def choose(name: str, overrides: dict | None = None) -> tuple[Preset, str]:
    """A --preset value plus flags that were given (None = not given) -> (preset, one-line reason)."""
    if name == "auto":
        name, seen = detect()
        why = f"preset auto -> {name} ({seen})"
    elif name in PRESETS:
        why = f"preset {name}"
    else:
        raise UserError(f"unknown preset {name!r}: choose one of {', '.join(CHOICES)}")
    given = {k: v for k, v in (overrides or {}).items() if v is not None and k in Preset.__dataclass_fields__}
    preset = replace(PRESETS[name], **given)
    if given:
        why += " with " + ", ".join(f"{k}={v}" for k, v in given.items())
    return preset, why
