"""A 6-point sweep (3 channel ratios × 2 quantizers) against one pipeline run, on the
embedded default, each in its own throw-away copy of the project (own DVC cache, own MLflow
store), back to back.

Usage: python bench/sweep.py [--workdir /tmp/slimline-sweep-bench] [--jobs 2] [--small]
Writes bench/results/sweep.json (times, ratio, load average, the frontier) and prints the
frontier table. `--small` uses the test suite's SMALL overrides (bench/results/sweep_small.json:
the same ratio on a model whose stages take seconds, so fixed costs weigh more).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.dvc_project import SMALL, make_project, run  # noqa: E402

GRID = ["prune.channel_ratio=0.25,0.375,0.5", "quantize=gptq,rtn"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/slimline-sweep-bench"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--small", action="store_true")
    args = ap.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    overrides = [*SMALL, "report.speed.prompt_tokens=16", "report.speed.new_tokens=8",
                 "report.speed.repeats=1", "report.speed.rounds=1"] if args.small else []
    load = {"start": os.getloadavg()}

    single = make_project(args.workdir / "single", overrides)
    _, single_s = run(single, "dvc", "repro")
    print(f"single pipeline (dvc repro): {single_s:.0f} s", flush=True)
    load["after_single"] = os.getloadavg()

    swept = make_project(args.workdir / "sweep", overrides)
    out, sweep_s = run(swept, "slimline", "sweep", *GRID, "-j", str(args.jobs))
    load["after_sweep"] = os.getloadavg()
    sweep_id = out.split("sweep ", 1)[1].split(":", 1)[0]
    folder = swept / "sweeps" / sweep_id
    frontier = json.loads((folder / "frontier.json").read_text())
    table = [line for line in (folder / "frontier.md").read_text().splitlines()
             if line.startswith("|")]
    print(f"6-point sweep (-j {args.jobs}): {sweep_s:.0f} s = {sweep_s / single_s:.2f}× one "
          f"pipeline\n" + "\n".join(table), flush=True)
    result = {"small": args.small, "grid": GRID, "jobs": args.jobs,
              "single_pipeline_s": round(single_s, 1), "sweep_s": round(sweep_s, 1),
              "ratio": round(sweep_s / single_s, 2), "cpus": os.cpu_count(),
              "load_average": load, "frontier_table": table, "frontier": frontier,
              "sweep_output": out.splitlines()[-40:]}
    name = "sweep_small.json" if args.small else "sweep.json"
    (REPO / "bench" / "results" / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
