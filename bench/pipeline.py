"""The whole pipeline through DVC on a random checkpoint of a real shape, to a registered
candidate, with every stage's peak memory against the checkpoint's weight bytes.

Usage: python bench/pipeline.py [--model qwen2.5-0.5b] [--workdir /tmp/slimline-pipeline]
       [--from-project DIR] [--results DIR] [--note TEXT] [OVERRIDE ...]
Builds the model's bf16 checkpoint (bench/scale.py's MODELS) unless `--workdir` holds one,
clones this repository's HEAD into `--workdir`/project, composes `model=hf` on it with a short
recipe (`recover.steps=4 eval.limit=8 eval.batch_size=2`, then OVERRIDEs) and runs
`dvc repro`. Then reads each stage's MLflow run (its `peak_memory_mb`, `wall_time_s`, the
commit it ran) and the registry (`registry.json`) and writes bench/results/pipeline.{json,md}.
`--from-project DIR` only reads an existing project. Issue 12's bound: every stage's peak
RSS at most 3x the checkpoint's weight bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
RESULTS = REPO / "bench" / "results"
RECIPE = ["recover.steps=4", "eval.limit=8", "eval.batch_size=2"]
BOUND = 3.0


def reproduce(model: str, workdir: Path, overrides: list[str]) -> Path:
    """Build the checkpoint if needed, clone HEAD, compose and `dvc repro`; the project."""
    from scale import build_checkpoint

    base = workdir / model / "base"
    if not (base / "config.json").exists():
        build_checkpoint(model, base)
    project = workdir / "project"
    subprocess.run(["git", "clone", "-q", str(REPO), str(project)], check=True)
    # the clone's code, with this interpreter's tools (slimline, dvc) first on PATH
    env = {**os.environ, "PYTHONPATH": str(project / "src"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(["slimline", "compose", "model=hf", f"model.name={model}-random",
                    f"model.source={base}", *RECIPE, *overrides], cwd=project, env=env,
                   check=True)
    subprocess.run(["dvc", "repro"], cwd=project, env=env, check=True)
    return project


def read_project(project: Path) -> dict:
    """Every stage's latest FINISHED run and the registry, from the project's own store."""
    import yaml
    from mlflow.tracking import MlflowClient
    from scale import checkpoint_weights

    from slimline.lineage.tags import DVC_STAGE
    from slimline.lineage.tracking import tracking_uri
    from slimline.stages import MODEL_STAGES

    params = yaml.safe_load((project / "params.yaml").read_text())
    source = Path(params["model"]["source"])
    weights = checkpoint_weights(source)[1]
    client = MlflowClient(tracking_uri(project))
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        f"tags.`{DVC_STAGE}` != '' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"], max_results=500)
    stages: dict[str, dict] = {}
    for run in runs:
        stage = run.data.tags[DVC_STAGE]
        if stage in stages:
            continue
        peak = run.data.metrics.get("peak_memory_mb")
        stages[stage] = {
            "peak_rss_mib": peak, "peak_over_weights": None if peak is None
            else round(peak * 2**20 / weights, 2),
            "wall_time_s": run.data.metrics.get("wall_time_s"),
            "commit": run.data.tags.get("mlflow.source.git.commit"),
            "run_id": run.info.run_id}
    order = list(yaml.safe_load((project / "dvc.yaml").read_text())["stages"])
    foreach = [f"eval@{s}" for s in MODEL_STAGES]
    order = [s for name in order for s in (foreach if name == "eval" else [name])]
    registry = json.loads((project / "registry.json").read_text())
    return {"model": params["model"]["name"], "source": str(source), "weight_bytes": weights,
            "overrides": RECIPE, "bound": BOUND, "cpus": os.cpu_count(),
            "stages": {s: stages[s] for s in order if s in stages},
            "candidate": registry.get("candidate"),
            "versions": {s: r.get("version") for s, r in registry.get("stages", {}).items()}}


def write_report(doc: dict, note: str, results: Path = RESULTS) -> None:
    lines = ["# The whole pipeline on a real shape, through DVC", "",
             f"`{doc['model']}`: {doc['weight_bytes'] / 1e9:.3f} GB of bf16 weights, "
             f"`model=hf` with {' '.join(doc['overrides'])}, {doc['cpus']} CPUs. Written by "
             "`bench/pipeline.py`; figures from each stage's MLflow run (`peak_memory_mb`: the "
             "stage process's peak RSS; `wall_time_s`: its run's own time).", "",
             "| stage | peak RSS | × weights | own time | commit |", "|---|---|---|---|---|"]
    for stage, row in doc["stages"].items():
        peak, ratio = row["peak_rss_mib"], row["peak_over_weights"]
        lines.append(f"| {stage} | {'—' if peak is None else f'{peak * 2**20 / 1e9:.2f} GB'} | "
                     f"{'—' if ratio is None else f'{ratio:.2f}×'} | "
                     f"{row['wall_time_s']:.0f} s | {(row['commit'] or '')[:7]} |")
    worst = max((r["peak_over_weights"] or 0) for r in doc["stages"].values())
    lines += ["", f"Highest stage peak: {worst:.2f}× the weights (bound {doc['bound']}×: "
              f"{'met' if worst <= doc['bound'] else 'missed'}). Registered versions: "
              + ", ".join(f"{s} v{v}" for s, v in doc["versions"].items())
              + f"; @candidate → v{doc['candidate']}.", ""]
    if note:
        lines += [note, ""]
    results.mkdir(parents=True, exist_ok=True)
    (results / "pipeline.md").write_text("\n".join(lines))
    (results / "pipeline.json").write_text(json.dumps({**doc, "note": note}, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="qwen2.5-0.5b")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/slimline-pipeline"))
    ap.add_argument("--from-project", type=Path)
    ap.add_argument("--note", default="", help="measurement conditions, for the report")
    ap.add_argument("--results", type=Path, default=RESULTS,
                    help="where pipeline.{md,json} go (bench/results)")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    project = args.from_project or reproduce(args.model, args.workdir, args.overrides)
    doc = read_project(project)
    write_report(doc, args.note, args.results)
    print((args.results / "pipeline.md").read_text())


if __name__ == "__main__":
    main()
