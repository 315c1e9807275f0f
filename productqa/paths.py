"""Where things live by default, so the happy path needs no flags."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "prompts"
SAMPLE_DATA = ROOT / "data" / "sample" / "trn.json"
PROCESSED = ROOT / "data" / "processed"
RUNS = ROOT / "runs"
EXPORTS = ROOT / "export"
CONFIGS = ROOT / "configs"  # the hardware presets (02_train), as YAML


def cache_dir() -> Path:
    """Converted model checkpoints live here; override with PRODUCTQA_CACHE."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "productqa"
    return Path(os.environ.get("PRODUCTQA_CACHE", default))
