"""Held-out perplexity after pruning the base with each importance estimator, in one run.

Usage: python bench/prune_estimators.py [--channel-ratio 0.25] [--head-ratio 0.0]
       [--kv-group-ratio 0.0] [--round-to 128] [--seeds 3]
Needs artifacts/base and artifacts/data (run `dvc repro base data` first). Writes
bench/results/prune_estimators.json and prints a table with ratios to the base.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from slimline.config import PruneConfig
from slimline.data import read_split
from slimline.evaluate.perplexity import checkpoint_perplexity
from slimline.paths import artifact_dir, project_root
from slimline.prune.build import prune_checkpoint
from slimline.prune.importance import ESTIMATORS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--channel-ratio", type=float, default=0.25)
    ap.add_argument("--head-ratio", type=float, default=0.0)
    ap.add_argument("--kv-group-ratio", type=float, default=0.0)
    ap.add_argument("--round-to", type=int, default=128)
    ap.add_argument("--seeds", type=int, default=3, help="seeds for the random control")
    args = ap.parse_args()
    root = project_root()
    data = artifact_dir("data", root)
    _, calib = read_split(data, "calibration")
    _, heldout = read_split(data, "evaluation")
    base = checkpoint_perplexity(artifact_dir("base", root), heldout)
    rows = []
    for estimator in ESTIMATORS:
        draws = ESTIMATORS[estimator].draw is not None  # the control: several seeds
        for seed in range(args.seeds if draws else 1):
            cfg = PruneConfig(estimator=estimator, channel_ratio=args.channel_ratio,
                              head_ratio=args.head_ratio, kv_group_ratio=args.kv_group_ratio,
                              round_to=args.round_to, seed=seed)
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "pruned"
                result = prune_checkpoint(artifact_dir("base", root), out, cfg, texts=calib)
                ppl = checkpoint_perplexity(out, heldout)
            rows.append({"estimator": estimator, "seed": seed, "perplexity": ppl,
                         "ppl_ratio_to_base": ppl / base,
                         "params_removed_share": result.metrics["params_removed_share"]})
    print(f"base perplexity {base:.4f}")
    print(f"{'estimator':<15}{'seed':>5}{'ppl':>10}{'x base':>9}{'removed':>9}")
    for r in rows:
        print(f"{r['estimator']:<15}{r['seed']:>5}{r['perplexity']:>10.4f}"
              f"{r['ppl_ratio_to_base']:>9.3f}{r['params_removed_share']:>9.1%}")
    out = root / "bench" / "results" / "prune_estimators.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "base_perplexity": base, "rows": rows},
                              indent=2) + "\n")


if __name__ == "__main__":
    main()
