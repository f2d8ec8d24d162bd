"""Width, depth and 2:4 pruning of the base at about equal size, in one run.

Usage: python bench/prune_methods.py [--depth-ratio 0.25] [--channel-ratio 0.3125]
Needs artifacts/base and artifacts/data (`dvc repro base data`). Each method prunes the base
and is scored by held-out perplexity against it; "removed" is the share of parameters gone
from the checkpoint (2:4 keeps the dense layout: it zeroes half of every decoder linear
but stores them all). The default channel ratio removes about the parameters one of the
default's four blocks holds, so width and depth compare at equal size. Writes
bench/results/prune_methods.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from slimline.config import PruneConfig
from slimline.config.prune import DepthPruneConfig, Sparse24PruneConfig
from slimline.data import read_split
from slimline.evaluate.perplexity import checkpoint_perplexity
from slimline.paths import artifact_dir, project_root
from slimline.prune.build import prune_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depth-ratio", type=float, default=0.25)
    ap.add_argument("--channel-ratio", type=float, default=0.3125)
    ap.add_argument("--round-to", type=int, default=32)
    args = ap.parse_args()
    root = project_root()
    data = artifact_dir("data", root)
    _, calib = read_split(data, "calibration")
    _, heldout = read_split(data, "evaluation")
    base = checkpoint_perplexity(artifact_dir("base", root), heldout)
    methods = {
        "width taylor_first": PruneConfig(channel_ratio=args.channel_ratio,
                                          round_to=args.round_to),
        "width activation": PruneConfig(estimator="activation", channel_ratio=args.channel_ratio,
                                        round_to=args.round_to),
        "depth (block influence)": DepthPruneConfig(depth_ratio=args.depth_ratio),
        "2:4 sparsegpt": Sparse24PruneConfig(),
        "2:4 wanda": Sparse24PruneConfig(algorithm="wanda"),
    }
    rows = []
    for label, cfg in methods.items():
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "pruned"
            start = time.perf_counter()
            result = prune_checkpoint(artifact_dir("base", root), out, cfg, texts=calib)
            seconds = time.perf_counter() - start
            ppl = checkpoint_perplexity(out, heldout)
        rows.append({"method": label, "perplexity": ppl, "ppl_ratio_to_base": ppl / base,
                     "params_removed_share": result.metrics.get("params_removed_share", 0.0),
                     "seconds": seconds})
    print(f"base perplexity {base:.4f}")
    print(f"{'method':<26}{'ppl':>9}{'x base':>9}{'removed':>9}{'s':>7}")
    for r in rows:
        print(f"{r['method']:<26}{r['perplexity']:>9.4f}{r['ppl_ratio_to_base']:>9.3f}"
              f"{r['params_removed_share']:>9.1%}{r['seconds']:>7.1f}")
    path = root / "bench" / "results" / "prune_methods.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"args": vars(args), "base_perplexity": base, "rows": rows},
                               indent=2) + "\n")


if __name__ == "__main__":
    main()
