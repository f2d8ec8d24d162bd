"""Prefill and decode speed of every model stage, measured in one process, as ratios to base.

Usage: python bench/stage_speed.py [--prompt-tokens 64] [--new-tokens 32] [--batch-size 1]
       [--repeats 9] [--rounds 3] [--device auto]
Needs artifacts/{base,pruned,recovered,quantized} (`dvc repro quantize`). The same function
as the `speed` stage (`slimline.speed.measure_stages`): the stages are measured round-robin
(`--rounds` times each, median of `--repeats` per round) so drift on a shared machine hits
every stage alike. Writes bench/results/stage_speed.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from slimline.config import SideBySideSpeedConfig
from slimline.paths import artifact_dir, project_root
from slimline.speed import measure_stages
from slimline.stages import MODEL_STAGES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    root = project_root()
    cfg = SideBySideSpeedConfig(prompt_tokens=args.prompt_tokens, new_tokens=args.new_tokens,
                                batch_size=args.batch_size, repeats=args.repeats,
                                rounds=args.rounds, device=args.device)
    doc = measure_stages({s: artifact_dir(s, root) for s in MODEL_STAGES}, cfg)
    print(f"device: {doc['measurement']['device']}\nruntime: {doc['measurement']['runtime']}")
    print(f"{'stage':<10}{'prefill tok/s':>15}{'ratio':>8}{'decode tok/s':>15}{'ratio':>8}")
    for stage, r in doc["stages"].items():
        print(f"{stage:<10}{r['prefill_tokens_per_s']:>15,.0f}{r['prefill_vs_base']:>8.2f}"
              f"{r['decode_tokens_per_s']:>15,.0f}{r['decode_vs_base']:>8.2f}")
    out = Path(__file__).parent / "results" / "stage_speed.json"
    out.write_text(json.dumps({"args": vars(args), **doc}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
