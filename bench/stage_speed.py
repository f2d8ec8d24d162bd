"""Prefill and decode speed of every model stage, measured in one process, as ratios to base.

Usage: python bench/stage_speed.py [--prompt-tokens 64] [--new-tokens 32] [--batch-size 1]
       [--repeats 9] [--rounds 3]
Needs artifacts/{base,pruned,recovered,quantized} (`dvc repro quantize`). The stages are
measured round-robin (`--rounds` times each, median of `--repeats` per round) so drift on a
shared machine hits every stage alike. Writes bench/results/stage_speed.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from slimline.checkpoint import load_checkpoint
from slimline.config import SpeedConfig
from slimline.evaluate.speed import describe_device, measure_speed
from slimline.paths import artifact_dir, project_root

STAGES = ("base", "pruned", "recovered", "quantized")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    root = project_root()
    cfg = SpeedConfig(prompt_tokens=args.prompt_tokens, new_tokens=args.new_tokens,
                      batch_size=args.batch_size, repeats=args.repeats)
    models = {s: load_checkpoint(artifact_dir(s, root))[0] for s in STAGES}
    samples: dict[str, list[dict]] = {s: [] for s in STAGES}
    for _ in range(args.rounds):
        for stage, model in models.items():
            samples[stage].append(measure_speed(model, cfg))
    rows = []
    for stage in STAGES:
        prefill = statistics.median(r["prefill_tokens_per_s"] for r in samples[stage])
        decode = statistics.median(r["decode_tokens_per_s"] for r in samples[stage])
        rows.append({"stage": stage, "prefill_tokens_per_s": prefill,
                     "decode_tokens_per_s": decode})
    base = rows[0]
    device = describe_device(next(models["base"].parameters()).device)
    print(f"device: {device}")
    print(f"{'stage':<10}{'prefill tok/s':>15}{'ratio':>8}{'decode tok/s':>15}{'ratio':>8}")
    for r in rows:
        r["prefill_ratio"] = r["prefill_tokens_per_s"] / base["prefill_tokens_per_s"]
        r["decode_ratio"] = r["decode_tokens_per_s"] / base["decode_tokens_per_s"]
        print(f"{r['stage']:<10}{r['prefill_tokens_per_s']:>15,.0f}{r['prefill_ratio']:>8.2f}"
              f"{r['decode_tokens_per_s']:>15,.0f}{r['decode_ratio']:>8.2f}")
    out = Path(__file__).parent / "results" / "stage_speed.json"
    out.write_text(json.dumps({"args": vars(args), "device": device, "rows": rows},
                              indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
