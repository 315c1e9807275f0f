"""The parameters of 01_prepare, 03_evaluate, 04_export, 05_chat and 06_serve, each declared once, as a dataclass whose fields
carry their default and help: the script's flags are generated from it (`parser`), and the stage's
function takes it, or its fields as keywords (`given`). A field and its flag cannot drift apart, and a
new parameter is one line here. (02_train's are in productqa/train_args.py, read by HfArgumentParser.)

This module imports only the standard library and light productqa modules, so that a script's
--help stays instant: no torch, transformers or llama_cpp before the flags are parsed.

A field's metadata: "help", "choices", "metavar" go to argparse as they are; "flags" replaces the
default --kebab-case name (("-p", "--prompt")); "flag": False keeps a field off the command line.
A bool is a switch: False by default -> --name (store_true); True by default -> --no-name (store_false).
"""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from productqa import paths
from productqa.gate import MAX_KLD, MIN_TOP1

DEFAULT_CATALOG = paths.PROCESSED / "catalog.sqlite"  # missing: chat without sources; --catalog given: it must open


def add_arguments(parser: argparse.ArgumentParser, cls) -> argparse.ArgumentParser:
    """One flag per field of the dataclass `cls`, in field order, its dest the field's name."""
    hints = typing.get_type_hints(cls)
    for spec in dataclasses.fields(cls):
        options = dict(spec.metadata)
        if options.pop("flag", True) is False:
            continue
        kind = hints[spec.name]
        if typing.get_origin(kind) in (typing.Union, types.UnionType):
            kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))  # Optional[int] -> int
        name = spec.name.replace("_", "-")
        if kind is bool:
            options["action"] = "store_false" if spec.default else "store_true"
            names = options.pop("flags", None) or (f"--no-{name}" if spec.default else f"--{name}",)
        else:
            options["type"] = kind
            names = options.pop("flags", None) or (f"--{name}",)
        parser.add_argument(*names, dest=spec.name, default=spec.default, **options)
    return parser


def parser(cls, description: str | None = None) -> argparse.ArgumentParser:
    """A script's parser: its docstring as the description (kept as written), then `cls`'s flags."""
    return add_arguments(argparse.ArgumentParser(description=description,
                                                 formatter_class=argparse.RawDescriptionHelpFormatter), cls)


def parse(cls, argv=None, description: str | None = None):
    """The command line `argv` (None: sys.argv) -> an instance of `cls`."""
    return cls(**vars(parser(cls, description).parse_args(argv)))


def given(cls, args=None, keywords: dict | None = None):
    """What a stage function was called with: an instance of `cls` (default: every field's default),
    each keyword replacing its field. An unknown keyword is a TypeError, as for any function."""
    return dataclasses.replace(args if args is not None else cls(), **(keywords or {}))


# -------------------------------------------------------------------------------------------------
# 01_prepare -> productqa.prepare.prepare

@dataclass
class PrepareArgs:
    # input / output
    input: Path = field(default=paths.SAMPLE_DATA, metadata={
        "help": "trn.json or trn.json.gz (JSON Lines), or the zip archive that holds one"})
    out: Path = field(default=paths.PROCESSED, metadata={"help": "output folder"})
    # selection and splits
    max_records: Optional[int] = field(default=None, metadata={"help": "keep at most this many records"})
    val_size: float = field(default=0.05, metadata={"help": "fraction of records in val"})
    test_size: float = field(default=0.05, metadata={"help": "fraction of records in test"})
    seed: int = field(default=3407, metadata={"help": "seed for question phrasing, row kinds and distractors"})
    # grounded rows (RAFT)
    k: int = field(default=3, metadata={"help": "catalog records shown with a grounded question"})
    absent_share: float = field(default=0.2, metadata={
        "help": "share of questions whose product is left out of the records (answer: not in the catalog)"})
    closed_book_share: float = field(default=0.2, metadata={
        "help": "share of questions asked with no records (what fine-tuning itself teaches)"})
    partial_share: float = field(default=0.15, metadata={
        "help": "share of questions that name the product by part of its title"})
    followup_share: float = field(default=0.15, metadata={
        "help": "share of questions asked as a follow-up, after an earlier one named the product"})
    fact_share: float = field(default=1.0, metadata={
        "help": "share of products whose record states facts (an author, ages, a count...) that also get a "
                "factual question about each (three at most), answered with the record's sentence that states it"})
    not_said_share: float = field(default=0.3, metadata={
        "help": "share of products that also get a question about a fact their record does not mention "
                "(answer: the catalog record does not say)"})
    # cleaning
    min_chars: int = field(default=30, metadata={"help": "drop descriptions shorter than this"})
    max_chars: int = field(default=400, metadata={"help": "cut longer descriptions at a sentence end"})
    # speed
    workers: Optional[int] = field(default=None, metadata={
        "help": "worker processes that clean records and write rows (default: all cores)"})


# -------------------------------------------------------------------------------------------------
# 05_chat -> productqa.chat.run_chat

@dataclass
class ChatArgs:
    # model and sources
    model: Optional[Path] = field(default=None, metadata={
        "help": "a .gguf file or an export folder (default: export/latest, its default quant)"})
    catalog: Optional[Path] = field(default=None, metadata={
        "help": "the sources index written by 01_prepare (default: data/processed/catalog.sqlite; "
                "when that is missing, chat without sources)"})
    system: Optional[Path] = field(default=None, metadata={
        "help": "system prompt file (default: the one the model was trained with, from export.json)"})
    k: int = field(default=3, metadata={"help": "catalog records given with a grounded question (1-20)"})
    closed_book: bool = field(default=False, metadata={"help": "answer without catalog records (from memory)"})
    sources: bool = field(default=True, metadata={"help": "do not print the Sources block"})  # --no-sources
    compare: bool = field(default=False, metadata={
        "help": "answer each question with the base model too (before fine-tuning), same records"})
    base_model: Optional[Path] = field(default=None, metadata={
        "help": "the base model's GGUF for --compare (default: the bundled Gemma 3 270M, "
                "when the export was trained from it)"})
    # one-shot mode
    prompt: Optional[str] = field(default=None, metadata={"flags": ("-p", "--prompt"),
                                                          "help": "answer this one question and exit"})
    print_prompt: bool = field(default=False, metadata={
        "help": "with -p: print the grounded user message for Ollama or another runtime, and exit"})
    json: bool = field(default=False, metadata={
        "help": "after each answer, one JSON line: question, answer, sources, grounded, stopped"})
    # sampling
    temperature: float = field(default=0.7, metadata={"help": "0 = greedy"})
    top_p: float = 0.95
    max_tokens: int = field(default=512, metadata={"help": "longest answer, in tokens"})
    # runtime
    ctx: int = field(default=4096, metadata={"help": "context window in tokens (history is trimmed to fit)"})
    threads: Optional[int] = field(default=None, metadata={"help": "CPU threads (default: all cores)"})
    stats: bool = field(default=False, metadata={"help": "print load time, time to first token, tokens/s"})


# -------------------------------------------------------------------------------------------------
# 06_serve -> productqa.server.serve (temperature, top_p, max_tokens and sources_in_answer: what a
# request that sets none gets, productqa.server.Defaults)

@dataclass
class ServeArgs:
    model: Optional[Path] = field(default=None, metadata={
        "help": "a .gguf file or an export folder (default: export/latest, its default form)"})
    catalog: Path = field(default=DEFAULT_CATALOG, metadata={
        "help": "the catalog written by 01_prepare (default: data/processed/catalog.sqlite)"})
    closed_book: bool = field(default=False, metadata={"help": "serve without the catalog (answers from memory)"})
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on (default: this machine only)"})
    port: int = field(default=8000, metadata={"help": "port (0: any free one, printed)"})
    k: int = field(default=3, metadata={"help": "catalog records given with a grounded question (1-20)"})
    temperature: float = field(default=0.7, metadata={"help": "when a request sets none (0 = greedy)"})
    top_p: float = field(default=0.95, metadata={"help": "when a request sets none"})
    max_tokens: int = field(default=512, metadata={"help": "longest answer when a request sets none"})
    sources_in_answer: bool = field(default=True, metadata={
        "help": "keep the Sources block out of the answer's text (the sources field stays)"})  # --no-sources-in-answer
    queue: int = field(default=16, metadata={"help": "requests that may wait for the model (more: 503)"})
    ctx: int = field(default=4096, metadata={"help": "context window in tokens"})
    threads: Optional[int] = field(default=None, metadata={"help": "CPU threads (default: all cores)"})
    log_level: str = field(default="info", metadata={"choices": ("critical", "error", "warning", "info", "debug")})


# -------------------------------------------------------------------------------------------------
# 04_export -> productqa.export.export (run, name, out, data and quant resolved by the script first;
# push_to_hub done after)

@dataclass
class ExportArgs:
    # input / output
    run: Optional[Path] = field(default=None, metadata={"help": "training run folder (default: runs/latest)"})
    name: Optional[str] = field(default=None, metadata={"help": "export name (default: the run's folder name)"})
    out: Optional[Path] = field(default=None, metadata={"help": "output folder (default: export/NAME)"})
    data: Optional[Path] = field(default=None, metadata={
        "help": "folder with test.jsonl / val.jsonl (held-out answers; default: the data the run was trained on)"})
    # what to produce
    quant: str = field(default="q8_0,q6_k,q5_k_m,q4_k_m", metadata={
        "help": "comma-separated merged quants to make and measure: f16,q8_0,q6_k,q5_k_m,q4_k_m,q4_0,q3_k_m"})
    keep_f16: bool = field(default=False, metadata={"help": "keep the f16 GGUF (the reference; removed by default)"})
    adapter: bool = field(default=True, metadata={"help": "skip the base GGUF + LoRA adapter form"})  # --no-adapter
    base_gguf: Optional[Path] = field(default=None, metadata={
        "help": "the base model's GGUF for the adapter form (default: the bundled Gemma 3 270M, "
                "when the run was trained on it)"})
    description: Optional[str] = field(default=None, metadata={"help": "general.description written into the GGUF"})
    # quality gate and parity check
    gate_tokens: int = field(default=2000, metadata={
        "help": "held-out answer tokens to measure, at least (test split, then val; fewer if they run out)"})
    gate_samples: int = field(default=0, metadata={
        "help": "at most this many held-out conversations (0: as many as --gate-tokens needs)"})
    max_kld: float = field(default=MAX_KLD, metadata={"help": "a form above this mean KL divergence fails"})
    min_top1: float = field(default=MIN_TOP1, metadata={"help": "a form below this top-1 agreement fails"})
    parity_samples: int = field(default=3, metadata={"help": "questions for the f16 vs Hugging Face check"})
    parity_tokens: int = field(default=24, metadata={"help": "greedy tokens generated per parity question"})
    max_tokens: int = field(default=256, metadata={"help": "score at most this many tokens of each held-out answer"})
    # publishing (opt-in, needs a network)
    push_to_hub: Optional[str] = field(default=None, metadata={"metavar": "REPO",
                                                               "help": "upload the export to this Hub repo"})


# -------------------------------------------------------------------------------------------------
# 03_evaluate -> productqa.evaluate.evaluate (EvalSettings: what the evaluation itself depends on;
# EvalArgs adds where it reads and writes, which the script resolves)

@dataclass
class EvalSettings:
    split: str = field(default="test", metadata={
        "choices": ("test", "val", "train"),
        "help": "split of the held-out products (the trained suite always uses train)"})
    per_suite: Optional[int] = field(default=None, metadata={  # None: GPU_PER_SUITE on CUDA, CPU_PER_SUITE on CPU
        "help": "questions per suite, the first of each (default 200 on CUDA, 5 on CPU)"})
    max_new_tokens: int = field(default=160, metadata={"help": "answer length limit (tokens)"})
    batch_size: Optional[int] = field(default=None, metadata={  # None: GPU_BATCH on CUDA, CPU_BATCH on CPU
        "help": "questions generated together (default 32 on CUDA, 8 on CPU)"})
    use_cache: bool = field(default=True, metadata={"flags": ("--no-cache",),
                                                    "help": "regenerate the base model's answers"})
    retrieval_k: Optional[int] = field(default=None, metadata={  # None: as many as the grounded questions show
        "help": "records retrieved per question (default: as many as the grounded questions show)"})
    resamples: int = field(default=2000, metadata={"help": "bootstrap resamples for the intervals"})
    examples: int = field(default=2, metadata={"help": "side-by-side examples per suite in report.md"})
    seed: int = field(default=0, metadata={"flag": False})  # of the bootstrap
    progress: bool = field(default=True, metadata={"flag": False})


@dataclass
class EvalArgs(EvalSettings):
    run: Optional[Path] = field(default=None, metadata={"help": "training run folder (default runs/latest)"})
    data: Optional[Path] = field(default=None, metadata={"help": "processed data folder (default: the run's)"})
    device: Optional[str] = field(default=None, metadata={"help": "cpu or cuda (default: cuda when there is one)"})
    out: Optional[Path] = field(default=None, metadata={"help": "output folder (default runs/<name>/eval)"})

    def settings(self) -> EvalSettings:
        """The EvalSettings part, as evaluate() takes it (and metrics.json records it)."""
        return EvalSettings(**{spec.name: getattr(self, spec.name) for spec in dataclasses.fields(EvalSettings)})
