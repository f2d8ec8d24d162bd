"""GPTQ vs AWQ vs round-to-nearest on the recovered model, measured in one run.

Usage: python bench/quantize_methods.py [--bits 4] [--group-size 128]
Needs artifacts/{data,recovered} (`dvc repro recover`). Prints held-out perplexity against
the unquantized input, the quantized weights' share of their bf16 bytes, and wall time.
Writes bench/results/quantize_methods.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from slimline.config import QuantizeConfig
from slimline.data import read_split
from slimline.evaluate.perplexity import checkpoint_perplexity
from slimline.paths import artifact_dir, project_root
from slimline.quantize import METHODS, quantize_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bits", type=int, default=4, choices=[4, 8])
    ap.add_argument("--group-size", type=int, default=128)
    args = ap.parse_args()
    root = project_root()
    data = artifact_dir("data", root)
    _, calib = read_split(data, "calibration")
    _, heldout = read_split(data, "evaluation")
    parent = artifact_dir("recovered", root)
    reference = checkpoint_perplexity(parent, heldout)
    rows = []
    for name in METHODS:
        cfg = QuantizeConfig(method=name, bits=args.bits, group_size=args.group_size,
                             symmetric=name != "awq")
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = quantize_checkpoint(parent, Path(tmp) / "q", cfg, texts=calib)
            seconds = time.perf_counter() - start
            ppl = checkpoint_perplexity(Path(tmp) / "q", heldout)
        rows.append({"method": name, "symmetric": cfg.symmetric, "perplexity": ppl,
                     "ppl_ratio_to_input": ppl / reference, "seconds": seconds,
                     **{k: result.metrics[k] for k in ("quantized_to_bf16_ratio",
                                                       "effective_bits_per_weight",
                                                       "size_bytes")}})
    print(f"input (recovered) perplexity {reference:.4f}")
    print(f"{'method':<8}{'ppl':>9}{'x input':>9}{'w/bf16':>8}{'bits/w':>8}{'seconds':>9}")
    for r in rows:
        print(f"{r['method']:<8}{r['perplexity']:>9.4f}{r['ppl_ratio_to_input']:>9.4f}"
              f"{r['quantized_to_bf16_ratio']:>8.3f}{r['effective_bits_per_weight']:>8.2f}"
              f"{r['seconds']:>9.1f}")
    out = root / "bench" / "results" / "quantize_methods.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "input_perplexity": reference,
                               "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
