"""DVC stage `prune`: structured pruning of the base (or a pass-through for prune=none)."""

from __future__ import annotations

from slimline import runtime
from slimline.config import PruneStageConfig, RuntimeConfig, parse_section
from slimline.data import read_split
from slimline.lineage.metadata import ArtifactMetadata
from slimline.lineage.tracking import stage_run
from slimline.paths import artifact_dir, project_root
from slimline.pipeline import stage_params, tracking_experiment
from slimline.prune.build import KEPT_FILE, prune_checkpoint

STAGE = "prune"


def main() -> None:
    root = project_root()
    params = stage_params(STAGE, root)
    cfg = parse_section(PruneStageConfig, params["prune"], "prune")
    rt = parse_section(RuntimeConfig, params["runtime"], "runtime")
    data_dir = artifact_dir("data", root)
    split, texts = read_split(data_dir, "calibration")
    out = artifact_dir("pruned", root)
    with stage_run(STAGE, params=params, experiment=tracking_experiment(root),
                   run_name=f"prune {cfg.method}") as run:
        run.log_split(data_dir, split)
        result = prune_checkpoint(artifact_dir("base", root), out, cfg,
                                  texts=texts, params=params,
                                  inputs={"calibration": split.sha256}, run_id=run.run_id,
                                  runtime=rt)
        run.set_tags({"artifact_digest": result.digest, "parent_digest": result.parent_digest,
                      "skipped": str(result.skipped).lower(), "calibration_split": split.sha256,
                      **runtime.run_tags(ArtifactMetadata.read(out).inputs)})
        run.log_metrics(result.metrics)
        for name in ("slimline.json", "README.md", "config.json", KEPT_FILE):
            if (out / name).exists():
                run.log_artifact(out / name, "model")


if __name__ == "__main__":
    from slimline.cli.errors import run_main

    run_main(main)
