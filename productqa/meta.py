"""What each stage records about itself in meta.json: arguments, versions, machine."""
from __future__ import annotations

import datetime as _dt
import importlib.metadata
import platform
import sys
from pathlib import Path

from productqa.files import write_json

_LIBRARIES = ("torch", "transformers", "trl", "peft", "unsloth", "unsloth_zoo", "datasets",
              "accelerate", "llama_cpp_python", "gguf", "sacrebleu")


def library_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0], "productqa": __import__("productqa").__version__}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def jsonable(args) -> dict:
    """argparse.Namespace (or dict) -> plain JSON values (paths become strings)."""
    items = vars(args).items() if not isinstance(args, dict) else args.items()
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in items}


def write_meta(path: Path, stage: str, args, **extra) -> dict:
    meta = {
        "stage": stage,
        "args": jsonable(args),
        "versions": library_versions(),
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }
    write_json(path, meta)
    return meta
