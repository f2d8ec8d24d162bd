"""DVC stage `eval@<stage>`: run the evaluation suite on one model stage's checkpoint."""

from __future__ import annotations

import sys

from slimline.config import EvalConfig, parse_section
from slimline.data import read_split
from slimline.evaluate import evaluate_checkpoint
from slimline.lineage.metadata import ArtifactMetadata
from slimline.lineage.tracking import stage_run
from slimline.paths import artifact_dir, project_root
from slimline.pipeline import stage_params, tracking_experiment
from slimline.reporting import write_metrics

STAGE = "eval"


def main(target: str) -> None:
    root = project_root()
    params = stage_params(f"{STAGE}@{target}", root)
    cfg = parse_section(EvalConfig, params["eval"], "eval")
    model_dir = artifact_dir(target, root)
    data_dir = artifact_dir("data", root)
    split, texts = read_split(data_dir, "evaluation")
    model = ArtifactMetadata.read(model_dir)
    with stage_run(STAGE, params=params, experiment=tracking_experiment(root),
                   dvc_stage=f"{STAGE}@{target}", run_name=f"eval {target}",
                   extra_tags={"slimline.eval_target": target}) as run:
        run.set_tags({"artifact_digest": model.digest, "model_run_id": model.mlflow_run_id,
                      "evaluation_digest": split.sha256})
        run.log_split(data_dir, split)
        metrics = evaluate_checkpoint(model_dir, texts, cfg)
        run.log_metrics(metrics)
        write_metrics(root / "metrics" / f"{target}.json", stage=target, metrics=metrics,
                      model=model)


if __name__ == "__main__":
    from slimline.cli.errors import run_main

    run_main(main, *sys.argv[1:2])
