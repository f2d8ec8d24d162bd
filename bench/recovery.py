"""How much held-out perplexity recovery wins back, against a control, in one run.

Usage: python bench/recovery.py [--steps N]
Needs artifacts/{data,base,pruned} (`dvc repro prune`). For lora and distill it fine-tunes
the pruned model; as the control it gives the unpruned base the same LoRA training, so
extra training is not mistaken for recovery (the tiny base is undertrained). Writes
bench/results/recovery.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from slimline.config import DistillRecoverConfig, LoraRecoverConfig
from slimline.data import read_split
from slimline.evaluate.perplexity import checkpoint_perplexity
from slimline.paths import artifact_dir, project_root
from slimline.recover import recover_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=None, help="override recover steps")
    args = ap.parse_args()
    root = project_root()
    data = artifact_dir("data", root)
    _, train = read_split(data, "recovery")
    _, heldout = read_split(data, "evaluation")
    base, pruned = artifact_dir("base", root), artifact_dir("pruned", root)
    ppl = {"base": checkpoint_perplexity(base, heldout),
           "pruned": checkpoint_perplexity(pruned, heldout)}
    steps = {"steps": args.steps} if args.steps else {}
    runs = {"lora": (pruned, LoraRecoverConfig(**steps)),
            "distill": (pruned, DistillRecoverConfig(**steps)),
            "control (base + lora)": (base, LoraRecoverConfig(**steps))}
    seconds = {}
    for name, (parent, cfg) in runs.items():
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            recover_checkpoint(parent, Path(tmp) / "r", cfg, texts=train, teacher=base)
            seconds[name] = time.perf_counter() - start
            ppl[name] = checkpoint_perplexity(Path(tmp) / "r", heldout)
    lost = ppl["pruned"] - ppl["base"]
    print(f"{'model':<24}{'ppl':>9}{'x base':>9}{'won back':>10}{'seconds':>9}")
    rows = []
    for name, value in ppl.items():
        won = (ppl["pruned"] - value) / lost if name in ("lora", "distill") and lost else None
        rows.append({"model": name, "perplexity": value, "ratio_to_base": value / ppl["base"],
                     "share_won_back": won, "seconds": seconds.get(name)})
        print(f"{name:<24}{value:>9.4f}{value / ppl['base']:>9.3f}"
              f"{'' if won is None else f'{won:.0%}':>10}"
              f"{'' if name not in seconds else f'{seconds[name]:.1f}':>9}")
    out = root / "bench" / "results" / "recovery.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
