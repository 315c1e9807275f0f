"""What to serve from an export, opened in llama.cpp: a merged GGUF, or a base GGUF + a LoRA adapter GGUF.

export.json (04_export) lists every form it measured under "forms", each saying how to open it:
{"file": "x.q8_0.gguf"} or {"base": "x.base.gguf" or an absolute path, "adapter": "x.lora.gguf"}
(paths relative to the export folder), and names the one to serve under "default". It also records
what the model was trained as (chat template, system prompt, base model): `Served` carries that
export.json, read once, next to the files to open.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from productqa.errors import UserError
from productqa.families import DEFAULT, Family, for_template
from productqa.files import read_json

EXPORT_JSON = "export.json"
ADAPTER_SUFFIX = ".lora.gguf"
REPAIRED_BASE_SUFFIX = ".base.gguf"  # the base GGUF with the end-of-turn repair (productqa.adapter)
NOT_MODELS = (ADAPTER_SUFFIX, REPAIRED_BASE_SUFFIX)  # GGUFs of an export that are no model on their own


@dataclass(frozen=True)
class Served:
    """One servable form: the model GGUF, an optional LoRA GGUF on top, and the export it came from."""
    model: Path
    adapter: Path | None = None
    folder: Path | None = None
    form: str = ""
    info: dict = field(default_factory=dict, compare=False)  # the export's export.json ({} without one)

    @property
    def label(self) -> str:
        return self.model.name + (f" + {self.adapter.name}" if self.adapter else "")

    @property
    def family(self) -> Family:
        """The model family it was trained as (its stop strings)."""
        return for_template(self.info.get("chat_template")) or DEFAULT

    @property
    def system_prompt(self) -> str:
        """The system prompt it was trained with, else prompts/system.txt."""
        from productqa.prompts import read_system_prompt

        found = self.info.get("system_prompt")
        return found if isinstance(found, str) else read_system_prompt()

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.model, self.adapter) if p is not None)


def export_info(folder: Path | None) -> dict:
    """A folder's export.json, or {} (none, or unreadable: the chat still serves the files)."""
    path = Path(folder) / EXPORT_JSON if folder is not None else None
    if path is None or not path.is_file():
        return {}
    try:
        info = read_json(path)
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def form_paths(folder: Path, entry: dict) -> tuple[Path, Path | None]:
    """An export.json form entry -> (model GGUF, adapter GGUF or None), relative paths from `folder`."""
    if "file" in entry:
        return Path(folder) / entry["file"], None
    base = Path(folder) / entry["base"]  # an absolute base stays absolute
    if not base.is_file() and entry.get("bundled_base"):
        from productqa.gguf import bundled_gguf

        base = bundled_gguf()  # assembled again into this machine's cache
    return base, Path(folder) / entry["adapter"]


def _from_folder(folder: Path) -> Served:
    """export.json's default form; else (an older export.json) its default_file / default_quant; else the
    smallest model GGUF in the folder."""
    info = export_info(folder)
    forms, default = info.get("forms") or {}, info.get("default")
    if default in forms:
        model, adapter = form_paths(folder, forms[default])
        return Served(model, adapter, folder, default, info)
    ggufs = sorted(p for p in folder.glob("*.gguf") if not p.name.endswith(NOT_MODELS))
    named = Path(str(info.get("default_file") or "")).name
    quant = str(info.get("default_quant") or "").lower()
    for wanted in (lambda p: p.name == named, lambda p: quant and p.name.lower().endswith(f".{quant}.gguf")):
        for gguf in ggufs:
            if wanted(gguf):
                return Served(gguf, None, folder, gguf.name, info)
    if not ggufs:
        raise UserError(f"no .gguf file in {folder}: run scripts/04_export.py or pass --model FILE.gguf")
    smallest = min(ggufs, key=lambda p: (p.stat().st_size, p.name))
    return Served(smallest, None, folder, smallest.name, info)


def export_forms(folder: Path) -> list[Served]:
    """Every form of an export folder whose files are here (export.json's forms), smallest first; without
    forms in export.json, each model GGUF of the folder."""
    info = export_info(folder)
    forms = [Served(*form_paths(folder, entry), folder, name, info) for name, entry in (info.get("forms") or {}).items()]
    forms = [f for f in forms if f.model.is_file() and (f.adapter is None or f.adapter.is_file())]
    if not forms:
        forms = [Served(p, None, folder, p.name, info) for p in folder.glob("*.gguf")
                 if not p.name.endswith(NOT_MODELS)]
    if not forms:
        raise UserError(f"no .gguf file in {folder}: run scripts/04_export.py")
    return sorted(forms, key=lambda f: (f.bytes, f.label))


def resolve_served(model: Path | str | None = None) -> Served:
    """--model: an export folder (its default form), a .gguf file, or nothing (export/latest)."""
    from productqa.runs import resolve_export

    path = resolve_export(None) if model is None else Path(model)
    if path.is_dir():
        return _from_folder(path)
    if path.name.endswith(ADAPTER_SUFFIX):
        raise UserError(f"{path} is a LoRA adapter, not a model: pass its export folder, whose export.json "
                        f"names the base GGUF it goes on")
    folder = path.parent if (path.parent / EXPORT_JSON).is_file() else None
    return Served(path, None, folder, path.name, export_info(folder))


def check_gguf(path: Path) -> None:
    """One sentence for a missing file or one that is not a GGUF."""
    if not Path(path).is_file():
        raise UserError(f"model file {path} does not exist: run scripts/04_export.py or pass --model FILE.gguf")
    with open(path, "rb") as handle:
        if handle.read(4) != b"GGUF":
            raise UserError(f"{path} is not a GGUF file: pass --model with a .gguf from export/")


def adapter_chat_template(adapter: Path) -> str | None:
    """The chat template an adapter GGUF carries (04_export writes the training template into it). Every
    tensor is checked to be whole: llama.cpp loads a cut-short adapter without a word, and serves wrong
    answers from it; so a cut or corrupt file is a UserError here."""
    import gguf

    try:
        field_ = gguf.GGUFReader(adapter).fields.get("tokenizer.chat_template")
    except (ValueError, IndexError, KeyError, OSError) as err:
        raise UserError(f"the LoRA adapter {adapter} is truncated or corrupt ({err}): export it again with "
                        "scripts/04_export.py") from None
    return field_.contents() if field_ is not None else None


def use_chat_template(llm, template: str) -> None:
    """Prompt `llm` with `template`, as llama-cpp-python does with a GGUF's own template."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def text(token: int) -> str:
        return llm.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

    llm.metadata["tokenizer.chat_template"] = template
    llm.chat_handler = Jinja2ChatFormatter(template, eos_token=text(llm.token_eos()), bos_token=text(llm.token_bos()),
                                           stop_token_ids=[llm.token_eos()]).to_chat_handler()


def context_tokens(llm) -> int:
    """Tokens a prompt and its answer may fill: the context asked for. llama.cpp rounds its own up (to a
    multiple of 256: n_ctx() says 512 when 300 were asked for), but llama-cpp-python's token buffer keeps
    the size asked for, and evaluating past it fails."""
    return min(llm.n_ctx(), llm.context_params.n_ctx)


def longest_context(llm) -> int:
    """The most tokens --ctx can usefully give `llm`: the context it was trained with, within flags.MAX_CTX."""
    from productqa.flags import MAX_CTX

    model = getattr(llm, "_model", None)  # llama-cpp-python's model: the Llama has no n_ctx_train() of its own
    return min(model.n_ctx_train(), MAX_CTX) if model is not None else MAX_CTX


def has_amx() -> bool:
    """The CPU has Intel AMX (Sapphire Rapids and later), whose llama.cpp matrix kernels segfault on the
    first Q4_K_M decode (seen on a 2-core Xeon with amx_int8, llama-cpp-python 0.3.36; llama.cpp #20824)."""
    try:
        return "amx_int8" in Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False


@contextlib.contextmanager
def _without_extra_buffers():
    """llama-cpp-python's Llama() takes no use_extra_bufts: its default model parameters are what it
    reads, so they are given that one field changed while the model loads. Off, llama.cpp keeps the
    weights in plain CPU buffers (no AMX or repacked layout): the same results, without the crash."""
    from llama_cpp import llama_cpp as native

    defaults = native.llama_model_default_params

    def params():
        found = defaults()
        found.use_extra_bufts = False
        return found

    native.llama_model_default_params = params
    try:
        yield
    finally:
        native.llama_model_default_params = defaults


def open_llama(served: Served | Path | str, n_ctx: int = 4096, threads: int | None = None, verbose: bool = False,
               chat_template: str | None = None, need_template: bool = True, **llama_kwargs):
    """A checked llama_cpp.Llama for `served` (a Served, or one GGUF file): the files exist, are GGUFs,
    load, and give a chat template: the model's own, else the adapter's, else `chat_template` (the
    bundled base GGUF has none, and is prompted like the export). Without `need_template` (measuring
    logits of token ids, checking a file loads) a model with no template is returned as it is."""
    import llama_cpp

    from productqa.gguf import quiet_stderr

    if not isinstance(served, Served):
        served = Served(Path(served))
    for path in filter(None, (served.model, served.adapter)):
        check_gguf(path)
    adapter_template = adapter_chat_template(served.adapter) if served.adapter else None
    threads = threads or os.cpu_count()
    try:
        with quiet_stderr() if not verbose else contextlib.nullcontext(), \
                _without_extra_buffers() if has_amx() else contextlib.nullcontext():
            llm = llama_cpp.Llama(str(served.model), lora_path=str(served.adapter) if served.adapter else None,
                                  n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=verbose,
                                  **llama_kwargs)
    except (ValueError, RuntimeError, OSError) as err:
        raise UserError(f"llama.cpp could not load {served.label} (truncated, corrupt, or an adapter for "
                        f"another base?): {err}") from None
    if "tokenizer.chat_template" not in llm.metadata:
        template = adapter_template or chat_template
        if template:
            use_chat_template(llm, template)
    if need_template and "tokenizer.chat_template" not in llm.metadata:
        llm.close()
        raise UserError(f"{served.label} has no chat template (tokenizer.chat_template): export it again with "
                        "scripts/04_export.py, which writes the training template into the GGUF")
    return llm


def base_model_file(served: Served, base: Path | str | None = None) -> Path:
    """--compare's base model: --base-model, else the bundled GGUF when the export was trained from it."""
    from productqa.models import BUNDLED

    if base is not None:
        return Path(base)
    if served.info.get("base_model") != BUNDLED:
        raise UserError(f"--compare needs the base model as a GGUF and {served.label} was not trained from the "
                        f"bundled {BUNDLED}: pass --base-model FILE.gguf")
    from productqa.gguf import bundled_gguf

    return bundled_gguf()
