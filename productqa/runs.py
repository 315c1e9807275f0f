"""The layout of a training run and of an export, shared by every stage after 02_train.

    runs/<name>/adapter/      LoRA adapter (safetensors) + tokenizer with its chat template
    runs/<name>/meta.json     resolved arguments, base model, chat template name, system prompt, figures
    runs/<name>/trainer_log.jsonl, loss.png, tensorboard/, checkpoints/ (while training)
    runs/<name>/eval/         03_evaluate's metrics.json, samples.jsonl, report.md
    runs/latest               symlink to the newest finished run
    export/<name>/            04_export's GGUF files, Modelfile, export.json; export/latest likewise
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from productqa.errors import UserError
from productqa.files import read_json, temp_sibling
from productqa.paths import EXPORTS, PROCESSED, RUNS

ADAPTER = "adapter"
META = "meta.json"
LATEST = "latest"


def point_latest(folder: Path, home: Path | None = None) -> None:
    """Make <home>/latest (home: `folder`'s parent by default) a symlink to `folder`, replacing the old one
    atomically: relative when `folder` is in `home`, else absolute (an --out elsewhere is still found)."""
    folder = Path(folder)
    home = Path(home) if home is not None else folder.parent
    home.mkdir(parents=True, exist_ok=True)
    real = folder.resolve()  # --out export/latest names the folder through the link itself
    target = real.name if real.parent == home.resolve() else str(real)
    link = home / LATEST
    tmp = temp_sibling(link)
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target, target_is_directory=True)
    os.replace(tmp, link)


def resolve_run(run: Path | str | None = None) -> Path:
    """A --run argument (default runs/latest) -> the real run folder, checked to hold an adapter."""
    path = Path(run) if run else RUNS / LATEST
    if not path.exists():
        hint = "run scripts/02_train.py first" if run is None else "pass --run runs/<name> of a finished run"
        raise UserError(f"no training run at {path}: {hint}")
    path = path.resolve()
    if not (path / META).is_file() or not (path / ADAPTER).is_dir():
        raise UserError(f"{path} is not a finished training run (no {META} or {ADAPTER}/): train again or pick another --run")
    run_meta(path)  # a broken meta.json: its sentence now, before a stage's hours of work
    return path


def run_meta(run_dir: Path) -> dict:
    """A run's meta.json; UserError when it cannot be read as the JSON object 02_train writes."""
    path = Path(run_dir) / META
    try:
        meta = read_json(path)
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from None
    except ValueError as err:  # not JSON, or not UTF-8
        raise UserError(f"{path} is not valid JSON ({err}): train again or pick another --run") from None
    if not isinstance(meta, dict):
        raise UserError(f"{path} is not a JSON object: train again or pick another --run")
    return meta


def writable_out(out: Path) -> Path:
    """--out, checked before hours of work: it (when it exists) and its nearest existing parent take a new
    file (a stage writes into a temporary sibling, then renames it into place); else UserError."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file: pass a folder to write into")
    parent = out.absolute().parent
    for folder in ([out] if out.is_dir() else []) + [next(p for p in (parent, *parent.parents) if p.exists())]:
        if not folder.is_dir():
            raise UserError(f"--out {out} cannot be made: {folder} is a file, not a folder")
        try:
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as err:
            raise UserError(f"--out {out} cannot be written: {folder} takes no new file ({err.strerror}); "
                            "pass a folder you can write to") from None
    return out


def data_folder(meta: dict, data: Path | str | None = None) -> Path:
    """--data if given, else the processed folder the run was trained on, else data/processed."""
    return Path(data or meta.get("args", {}).get("data") or PROCESSED)


def base_model_path(meta: dict, progress: bool = True) -> str:
    """The base checkpoint a run was trained from; re-resolved when the recorded folder is gone."""
    from productqa.models import resolve_model

    path = meta.get("base_model_path") or meta.get("base_model")
    if not path:
        raise UserError("the run's meta.json names no base_model: train again with scripts/02_train.py")
    if Path(path).is_dir():
        return str(path)
    return resolve_model(meta.get("base_model") or path, progress)


def resolve_export(export: Path | str | None = None) -> Path:
    path = Path(export) if export else EXPORTS / LATEST
    if not path.exists():
        raise UserError(f"no export at {path}: run scripts/04_export.py first")
    return path.resolve()
