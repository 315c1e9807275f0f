"""02_train's parameters, declared once: the run's own here (RunArgs), the hardware preset's in
productqa.presets (Preset). Each is a --flag of scripts/02_train.py (transformers' HfArgumentParser reads
the dataclasses), a key of a --config YAML file, and a keyword of productqa.train.train.

A value given on the command line wins over the --config file, which wins over the preset.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from productqa.errors import UserError
from productqa.models import BUNDLED
from productqa.paths import PROCESSED, PROMPTS, RUNS
from productqa.presets import CHOICES, OVERRIDABLE, Preset, read_config


@dataclass
class RunArgs:
    model: str = field(default=BUNDLED, metadata={"help": f"{BUNDLED} (bundled), a Hugging Face id, or a folder"})
    data: Path = field(default=PROCESSED, metadata={"help": "folder with train.jsonl and val.jsonl"})
    run_name: Optional[str] = field(default=None, metadata={"help": "runs/<name> (default: <model>-<date>-<time>)"})
    runs_dir: Path = field(default=RUNS, metadata={"help": "where runs are written"})
    resume: bool = field(default=False, metadata={"help": "continue the interrupted run (--run-name, else the newest)"})
    system_prompt: Path = field(default=PROMPTS / "system.txt", metadata={"help": "system prompt file"})
    seed: int = field(default=3407, metadata={"help": "random seed (LoRA init, data order)"})
    preset: str = field(default="auto", metadata={"choices": CHOICES,
                                                  "help": "auto: cpu without CUDA, t4 under 20 GB, else 24gb"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scale numerator (alpha / r)"})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout"})


def _optional(preset_field: dataclasses.Field) -> tuple:
    """A Preset field as an optional flag: None (not given) keeps the preset's value. A bool flag works
    bare (--load-in-4bit) or with a value (--load-in-4bit false)."""
    kind = {"int": int, "float": float, "str": str, "bool": bool}[str(preset_field.type)]
    metadata = {"help": preset_field.metadata["help"] + " (default: the preset's)"}
    if kind is bool:
        metadata.update(nargs="?", const=True)
    return preset_field.name, Optional[kind], field(default=None, metadata=metadata)


PresetArgs = dataclasses.make_dataclass(
    "PresetArgs", [_optional(f) for f in dataclasses.fields(Preset) if f.name in OVERRIDABLE])
RUN_KEYS = tuple(f.name for f in dataclasses.fields(RunArgs))
PATH_KEYS = ("data", "runs_dir", "system_prompt")  # compared as resolved paths (a --resume gives them again)
KEYS = RUN_KEYS + OVERRIDABLE


def defaults() -> dict:
    """Every key with its default: the run's, and None (the preset's) for each preset field."""
    return {**dataclasses.asdict(RunArgs()), **{key: None for key in OVERRIDABLE}}


def check_keys(given: dict, where: str) -> None:
    unknown = [key for key in given if key not in KEYS]
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}; the keys are 02_train's flags with underscores: "
                        f"{', '.join(KEYS)}")


def parse_train_args(argv=None, description: str | None = None) -> dict:
    """scripts/02_train.py's command line (with --config FILE.yaml) -> every key with its value."""
    from transformers import HfArgumentParser

    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--config", type=Path, default=None)
    known, _ = first.parse_known_args(argv)
    parser = HfArgumentParser([RunArgs, PresetArgs], description=description,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=None,
                        help="a YAML file of these keys (batch_size: 4, ...; configs/ has the presets); flags win")
    if known.config is not None:
        config = read_config(known.config)
        check_keys(config, str(known.config))
        # as strings, so that argparse converts and checks them as it does typed flags (batch_size: 2.5 fails)
        parser.set_defaults(**{k: v if v is None else str(v) for k, v in config.items()})
    # -> the two dataclasses, a namespace of the other flags (--config), the strings left over
    run, overrides, _, rest = parser.parse_args_into_dataclasses(argv, return_remaining_strings=True)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return {**dataclasses.asdict(run), **dataclasses.asdict(overrides)}
