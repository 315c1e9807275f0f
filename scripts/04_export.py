#!/usr/bin/env python3
"""Stage 4: export a training run to GGUF for llama.cpp and Ollama, every form measured against the f16.

    python scripts/04_export.py                                   # runs/latest -> export/<run name>
    python scripts/04_export.py --run runs/my-run --quant q8_0,q6_k --keep-f16
    ollama create productqa -f export/latest/Modelfile && ollama run productqa

Merges the LoRA adapter (16-bit), converts with llama.cpp's converter, quantizes with llama.cpp's
quantizer, writes the adapter as a llama.cpp LoRA GGUF for the base's own GGUF, and measures every
form against the f16 on held-out answers as llama-perplexity --kl-divergence does (KL divergence mean
and 99th percentile, top-1 agreement, perplexity ratio); checks the f16 GGUF's greedy answers against
the merged Hugging Face model's, and writes export/NAME/{NAME.QUANT.gguf, NAME.lora.gguf, Modelfile,
export.json, meta.json}; export/latest points to it. 05_chat serves export.json's default form.
"""
import argparse
from pathlib import Path

from productqa import paths
from productqa.errors import cli
from productqa.gate import MAX_KLD, MIN_TOP1  # light: torch is imported when exporting


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # input / output
    parser.add_argument("--run", type=Path, default=None, help="training run folder (default: runs/latest)")
    parser.add_argument("--name", default=None, help="export name (default: the run's folder name)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: export/NAME)")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder with test.jsonl / val.jsonl (held-out answers; default: the data the run was trained on)")
    # what to produce
    parser.add_argument("--quant", default="q8_0,q6_k,q5_k_m,q4_k_m",
                        help="comma-separated merged quants to make and measure: f16,q8_0,q6_k,q5_k_m,q4_k_m,q4_0,q3_k_m")
    parser.add_argument("--keep-f16", action="store_true", help="keep the f16 GGUF (the reference; removed by default)")
    parser.add_argument("--no-adapter", action="store_true", help="skip the base GGUF + LoRA adapter form")
    parser.add_argument("--base-gguf", type=Path, default=None,
                        help="the base model's GGUF for the adapter form (default: the bundled Gemma 3 270M, "
                             "when the run was trained on it)")
    parser.add_argument("--description", default=None, help="general.description written into the GGUF")
    # quality gate and parity check
    parser.add_argument("--gate-tokens", type=int, default=2000,
                        help="held-out answer tokens to measure, at least (test split, then val; fewer if they run out)")
    parser.add_argument("--gate-samples", type=int, default=0,
                        help="at most this many held-out conversations (0: as many as --gate-tokens needs)")
    parser.add_argument("--max-kld", type=float, default=MAX_KLD, help="a form above this mean KL divergence fails")
    parser.add_argument("--min-top1", type=float, default=MIN_TOP1, help="a form below this top-1 agreement fails")
    parser.add_argument("--parity-samples", type=int, default=3, help="questions for the f16 vs Hugging Face check")
    parser.add_argument("--parity-tokens", type=int, default=24, help="greedy tokens generated per parity question")
    parser.add_argument("--max-tokens", type=int, default=256, help="score at most this many tokens of each held-out answer")
    # publishing (opt-in, needs a network)
    parser.add_argument("--push-to-hub", metavar="REPO", default=None, help="upload the export to this Hub repo")
    return parser.parse_args(argv)


@cli
def main(argv=None):
    args = parse_args(argv)
    from productqa.export import export, opens, parse_quants, push_to_hub
    from productqa.meta import write_meta
    from productqa.runs import data_folder, resolve_run, run_meta, writable_out

    quants = parse_quants(args.quant)
    run_dir = resolve_run(args.run)
    name = args.name or run_dir.name
    out = writable_out(args.out or paths.EXPORTS / name)

    meta = run_meta(run_dir)
    figures = export(run_dir, meta, out, name, quants, data_folder(meta, args.data), keep_f16=args.keep_f16,
                     gate_tokens=args.gate_tokens, gate_samples=args.gate_samples, max_kld=args.max_kld,
                     min_top1=args.min_top1, adapter=not args.no_adapter, base_gguf=args.base_gguf,
                     parity_samples=args.parity_samples, parity_tokens=args.parity_tokens,
                     max_tokens=args.max_tokens, description=args.description, latest_home=paths.EXPORTS)
    write_meta(out / "meta.json", "export", args, run=str(run_dir), default=figures["default"],
               default_file=figures["default_file"])

    # ---------------------------------------------------------------------------------------------
    quant_times = ", ".join(f"{q} {s}s" for q, s in figures["quantize_seconds"].items())
    print(f"\nmerge {figures['merge_seconds']}s, convert {figures['convert_seconds']}s, quantize: {quant_times or 'none'}")
    if figures.get("adapter_skipped"):
        print(f"adapter form skipped: {figures['adapter_skipped']}")
    gate = figures["gate"]
    short = "" if gate["enough_tokens"] else f", fewer than the {gate['wanted_tokens']} wanted: {gate['fewer_because']}"
    print(f"quality gate ({gate['samples']} held-out answers, {gate['answer_tokens']} tokens{short}; "
          f"pass: mean KLD <= {gate['max_kld']}, top-1 >= {gate['min_top1']:.0%}):")
    print(figures["table"])
    parity = figures["parity"]
    print(f"parity f16 GGUF vs Hugging Face (greedy, {parity['max_new_tokens']} tokens): "
          f"{parity['exact']}/{parity['samples']} identical, agreement {parity['agreement']:.0%}")
    if not parity["tokenizer_match"]:
        print("warning: llama.cpp tokenizes text differently from the training tokenizer (see export.json)")
    print(f"-> served by 05_chat: {figures['default']} ({opens(figures['forms'][figures['default']])})\n"
          f"-> Ollama: {out}/Modelfile (FROM {figures['ollama']['file']})\n"
          f"   ollama create productqa -f {out}/Modelfile && ollama run productqa")
    if args.push_to_hub:
        print(f"pushed to {push_to_hub(out, args.push_to_hub)}")


if __name__ == "__main__":
    main()
