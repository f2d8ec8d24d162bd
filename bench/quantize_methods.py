"""Every registered quantization method on one model stage, measured in one run.

Usage: python bench/quantize_methods.py [--parent recovered] [--bits 4] [--group-size 128]
Needs artifacts/data and the parent stage (`dvc repro recover`). The weight-only methods
(GPTQ, AWQ, RTN) take --bits/--group-size; FP8 and W8A8 have a fixed 8-bit format, and FP8
is measured once more with an FP8 KV cache. Prints held-out perplexity against the
unquantized input, the quantized weights' share of their bf16 bytes, and wall time.
Writes bench/results/quantize_methods.json (quantize_methods_<parent>.json for another
parent).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from slimline.config import QuantizeConfig
from slimline.config.quantize import FIXED_FORMAT_METHODS
from slimline.data import read_split
from slimline.evaluate.perplexity import checkpoint_perplexity
from slimline.paths import artifact_dir, project_root
from slimline.quantize import METHODS, quantize_checkpoint


def _configs(bits: int, group_size: int) -> list[tuple[str, QuantizeConfig]]:
    """(row label, config) for every registered method, and FP8 with an FP8 KV cache."""
    rows = []
    for name in METHODS:
        if name in FIXED_FORMAT_METHODS:
            rows.append((name, QuantizeConfig(method=name)))
        else:
            rows.append((name, QuantizeConfig(method=name, bits=bits, group_size=group_size,
                                              symmetric=name != "awq")))
    rows.append(("fp8+kv", QuantizeConfig(method="fp8", kv_cache="fp8")))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parent", default="recovered", choices=["base", "pruned", "recovered"])
    ap.add_argument("--bits", type=int, default=4, choices=[4, 8])
    ap.add_argument("--group-size", type=int, default=128)
    args = ap.parse_args()
    root = project_root()
    data = artifact_dir("data", root)
    _, calib = read_split(data, "calibration")
    _, heldout = read_split(data, "evaluation")
    parent = artifact_dir(args.parent, root)
    reference = checkpoint_perplexity(parent, heldout)
    rows = []
    for name, cfg in _configs(args.bits, args.group_size):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = quantize_checkpoint(parent, Path(tmp) / "q", cfg, texts=calib)
            seconds = time.perf_counter() - start
            ppl = checkpoint_perplexity(Path(tmp) / "q", heldout)
        rows.append({"method": name, "bits": cfg.bits, "symmetric": cfg.symmetric,
                     "perplexity": ppl,
                     "ppl_ratio_to_input": ppl / reference, "seconds": seconds,
                     **{k: result.metrics[k] for k in ("quantized_to_bf16_ratio",
                                                       "effective_bits_per_weight",
                                                       "size_bytes")}})
    print(f"input ({args.parent}) perplexity {reference:.4f}")
    print(f"{'method':<8}{'ppl':>9}{'x input':>9}{'w/bf16':>8}{'bits/w':>8}{'seconds':>9}")
    for r in rows:
        print(f"{r['method']:<8}{r['perplexity']:>9.4f}{r['ppl_ratio_to_input']:>9.4f}"
              f"{r['quantized_to_bf16_ratio']:>8.3f}{r['effective_bits_per_weight']:>8.2f}"
              f"{r['seconds']:>9.1f}")
    suffix = "" if args.parent == "recovered" else f"_{args.parent}"
    out = root / "bench" / "results" / f"quantize_methods{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "input_perplexity": reference,
                               "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
