#!/usr/bin/env python3
"""Stage 4: export a training run to GGUF for llama.cpp and Ollama, with a measured quality gate.

    python scripts/04_export.py                                   # runs/latest -> export/<run name>
    python scripts/04_export.py --run runs/my-run --quant q8_0,q6_k,q4_k_m --keep-f16
    ollama create productqa -f export/latest/Modelfile && ollama run productqa

Merges the LoRA adapter (16-bit), converts with llama.cpp's converter, quantizes with llama.cpp's
quantizer, measures every quant against the f16 on held-out answers (perplexity ratio, greedy-token
agreement), checks the f16 GGUF's greedy answers against the merged Hugging Face model's, and writes
export/NAME/{NAME.QUANT.gguf, Modelfile, export.json, meta.json}; export/latest points to it.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from productqa import paths  # noqa: E402
from productqa.errors import cli  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # input / output
    parser.add_argument("--run", type=Path, default=None, help="training run folder (default: runs/latest)")
    parser.add_argument("--name", default=None, help="export name (default: the run's folder name)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: export/NAME)")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder with test.jsonl (held-out answers; default: the data the run was trained on)")
    # what to produce
    parser.add_argument("--quant", default="q8_0,q4_k_m", help="comma-separated: f16,q8_0,q6_k,q5_k_m,q4_k_m,q4_0,q3_k_m")
    parser.add_argument("--keep-f16", action="store_true", help="keep the f16 GGUF (it is removed by default)")
    parser.add_argument("--description", default=None, help="general.description written into the GGUF")
    # quality gate and parity check
    parser.add_argument("--gate-samples", type=int, default=6, help="held-out conversations the gate scores")
    parser.add_argument("--gate-tokens", type=int, default=32, help="greedy agreement over the first N answer tokens")
    parser.add_argument("--max-ppl-ratio", type=float, default=1.10, help="a quant above this perplexity ratio fails")
    parser.add_argument("--parity-samples", type=int, default=3, help="questions for the f16 vs Hugging Face check")
    parser.add_argument("--parity-tokens", type=int, default=24, help="greedy tokens generated per parity question")
    parser.add_argument("--max-tokens", type=int, default=128, help="score at most this many tokens of each held-out answer")
    # publishing (opt-in, needs a network)
    parser.add_argument("--push-to-hub", metavar="REPO", default=None, help="upload the export to this Hub repo")
    return parser.parse_args(argv)


@cli
def main(argv=None):
    args = parse_args(argv)
    from productqa.export import export, parse_quants, push_to_hub
    from productqa.meta import write_meta
    from productqa.runs import data_folder, resolve_run, run_meta

    quants = parse_quants(args.quant)
    run_dir = resolve_run(args.run)
    name = args.name or run_dir.name
    out = args.out or paths.EXPORTS / name

    meta = run_meta(run_dir)
    figures = export(run_dir, meta, out, name, quants, data_folder(meta, args.data), keep_f16=args.keep_f16,
                     gate_samples=args.gate_samples, gate_tokens=args.gate_tokens, max_ppl_ratio=args.max_ppl_ratio,
                     parity_samples=args.parity_samples, parity_tokens=args.parity_tokens,
                     max_tokens=args.max_tokens, description=args.description)
    write_meta(out / "meta.json", "export", args, run=str(run_dir), default_file=figures["default_file"])

    # ---------------------------------------------------------------------------------------------
    quant_times = ", ".join(f"{q} {s}s" for q, s in figures["quantize_seconds"].items())
    print(f"\nmerge {figures['merge_seconds']}s, convert {figures['convert_seconds']}s, quantize: {quant_times or 'none'}")
    print(f"quality gate ({figures['gate']['samples']} held-out answers, {figures['gate']['answer_tokens']} tokens, "
          f"max perplexity ratio {args.max_ppl_ratio}):")
    print(figures["table"])
    parity = figures["parity"]
    print(f"parity f16 GGUF vs Hugging Face (greedy, {parity['max_new_tokens']} tokens): "
          f"{parity['exact']}/{parity['samples']} identical, agreement {parity['agreement']:.0%}")
    if not parity["tokenizer_match"]:
        print("warning: llama.cpp tokenizes text differently from the training tokenizer (see export.json)")
    print(f"-> {out}/{figures['default_file']} (default), {out}/Modelfile\n"
          f"   ollama create productqa -f {out}/Modelfile && ollama run productqa")
    if args.push_to_hub:
        print(f"pushed to {push_to_hub(out, args.push_to_hub)}")


if __name__ == "__main__":
    main()
