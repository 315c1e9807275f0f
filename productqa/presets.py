"""Hardware presets: batch, length, optimizer, precision and schedule for a CPU, a 16 GB GPU, a 24 GB+ GPU.

The presets are data: configs/<name>.yaml, each value commented there. Every Preset field is also a flag
of scripts/02_train.py and a key of a --config file; a value given wins over the preset's.

    auto  cpu without CUDA; t4 under 20 GB of GPU memory; 24gb at 20 GB or more.

How a step's sequences become tensors (`batching`, productqa.train.make_trainer; bench/train_bench.py):
    grouped       (cpu) padded batches of similar lengths: on the demo data 3% of the computed tokens are
                  padding (23-25% in random batches), and on CPU nothing measured was faster.
    padding_free  the batch's conversations end to end in one row, position ids restarting at each one:
                  no pad token, and the mask transformers builds from the position ids keeps conversations
                  apart. The same conversations per step as padded batches: the same loss and curve. On
                  CPU, SDPA computes the row's whole masked square, so it is slower than grouped (docs/benchmarks.md,
                  training speed); on CUDA, varlen attention computes only each conversation's own square.
    padded        padded batches in random order.
    packed        TRL's best-fit packing: conversations fill rows of max_seq_length, so a step holds
                  more conversations than batch_size (another recipe: the loss curve is not comparable).
    auto          (GPU presets) Unsloth chooses: padding-free with its varlen kernels, or padded
                  length-grouped batches where its measurements say that is faster.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from productqa.errors import UserError
from productqa.paths import CONFIGS


@dataclass(frozen=True)
class Preset:
    name: str
    batch_size: int = field(metadata={"help": "sequences per device per step"})
    grad_accum: int = field(metadata={"help": "gradient accumulation steps"})
    max_seq_length: int = field(metadata={"help": "tokens per sequence (longer ones are cut)"})
    optim: str = field(metadata={"help": "adamw_8bit (GPU), adamw_torch, ..."})
    max_steps: int = field(metadata={"help": "optimizer steps (-1: use --epochs)"})
    epochs: float = field(metadata={"help": "epochs when --max-steps is -1"})
    lr: float = field(metadata={"help": "peak learning rate (linear decay)"})
    load_in_4bit: bool = field(metadata={"help": "4-bit QLoRA (CUDA only; ignored on CPU)"})
    eval_steps: int = field(metadata={"help": "evaluate on val every N steps"})
    save_steps: int = field(metadata={"help": "checkpoint every N steps"})
    logging_steps: int = field(metadata={"help": "log every N steps"})
    warmup_steps: int = field(metadata={"help": "linear warm-up steps"})
    gradient_checkpointing: bool = field(metadata={"help": "recompute activations in the backward pass: less memory, ~30%% more time"})
    batching: str = field(metadata={"help": "how a step's conversations become tensors: %s (docs/benchmarks.md, training speed)"
                                            % ", ".join(("grouped", "padding_free", "padded", "packed", "auto"))})

    def as_dict(self) -> dict:
        return asdict(self)


OVERRIDABLE = tuple(f.name for f in fields(Preset) if f.name != "name")


def read_preset(path: Path) -> Preset:
    """A preset file of configs/: its `preset` name and every Preset field."""
    data = read_config(path)
    missing = [key for key in OVERRIDABLE if key not in data]
    if missing or "preset" not in data:
        raise UserError(f"{path} is not a complete preset: it lacks {', '.join(missing or ['preset'])}")
    return Preset(name=data["preset"], **{key: data[key] for key in OVERRIDABLE})


def read_config(path: Path) -> dict:
    """A --config YAML file as a dict of 02_train keys; one sentence for a missing or malformed file."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise UserError(f"cannot read the config file {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path} is not valid YAML ({str(err).splitlines()[0]}): fix it or drop --config") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} must be a YAML mapping of 02_train keys (batch_size: 4, ...)")
    return data


# configs/<name>.yaml for each; other files there (a user's own --config) are not presets
PRESETS = {name: read_preset(CONFIGS / f"{name}.yaml") for name in ("cpu", "t4", "24gb")}
CHOICES = ("auto", *sorted(PRESETS, key=lambda name: PRESETS[name].batch_size * PRESETS[name].max_seq_length))
BATCHINGS = ("padding_free", "grouped", "padded", "packed", "auto")
BIG_GPU_GB = 20
# The cpu preset does not recompute activations (a third less time); 02_train on the demo then peaks at
# ~7.4 GB RSS (docs/benchmarks.md). Under this much RAM it recomputes them instead (~3.8 GB), unless told.
CPU_NO_RECOMPUTE_RAM_GB = 12


def total_ram_gb() -> float:
    import psutil

    return psutil.virtual_memory().total / 2**30


def detect() -> tuple[str, str]:
    """(preset name, what was seen) for the hardware at hand."""
    import torch

    if not torch.cuda.is_available():
        return "cpu", "no CUDA GPU"
    props = torch.cuda.get_device_properties(0)
    gigabytes = props.total_memory / 2**30
    seen = f"{props.name}, {gigabytes:.0f} GB x {torch.cuda.device_count()}"
    return ("24gb" if gigabytes >= BIG_GPU_GB else "t4"), seen


# The smallest value of each number a run takes (max_steps -1: train for --epochs instead).
AT_LEAST = {"batch_size": 1, "grad_accum": 1, "max_seq_length": 1, "eval_steps": 1, "save_steps": 1,
            "logging_steps": 1, "warmup_steps": 0, "lora_r": 1, "lora_alpha": 1}


def check_values(values: dict) -> None:
    """One sentence naming the flag of the first number out of range among `values` (02_train keys)."""
    def flag(key: str) -> str:
        return "--" + key.replace("_", "-")

    for key, least in AT_LEAST.items():
        if key in values and values[key] is not None and values[key] < least:
            raise UserError(f"{flag(key)} must be at least {least} (got {values[key]})")
    if values.get("max_steps") is not None and values["max_steps"] != -1 and values["max_steps"] < 1:
        raise UserError(f"--max-steps must be at least 1, or -1 to train for --epochs (got {values['max_steps']})")
    for key in ("epochs", "lr"):
        if values.get(key) is not None and not values[key] > 0:
            raise UserError(f"{flag(key)} must be above 0 (got {values[key]})")
    if values.get("lora_dropout") is not None and not 0 <= values["lora_dropout"] < 1:
        raise UserError(f"--lora-dropout must be in [0, 1) (got {values['lora_dropout']})")


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
    if given.get("batching", "auto") not in BATCHINGS:
        raise UserError(f"unknown batching {given['batching']!r}: choose one of {', '.join(BATCHINGS)}")
    preset = replace(PRESETS[name], **given)
    check_values(asdict(preset))
    if given:
        why += " with " + ", ".join(f"{k}={v}" for k, v in given.items())
    if name == "cpu" and not preset.gradient_checkpointing and "gradient_checkpointing" not in given:
        ram = total_ram_gb()
        if ram < CPU_NO_RECOMPUTE_RAM_GB:
            preset = replace(preset, gradient_checkpointing=True)
            why += f"; gradient checkpointing on: {ram:.0f} GB of RAM is under {CPU_NO_RECOMPUTE_RAM_GB}"
    return preset, why
