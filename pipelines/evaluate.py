"""DVC stage `eval@<stage>`: run the evaluation suite on one model stage's checkpoint."""

from __future__ import annotations

from slimline.warm import hand_off

hand_off(__name__)  # in a process forked with the libraries imported (slimline.warm)

import sys

from slimline.config import EvalConfig, parse_section
from slimline.evaluate.reuse import evaluate_or_reuse
from slimline.evaluate.tracking import log_evaluation
from slimline.lineage.metadata import ArtifactMetadata
from slimline.lineage.tags import EVAL_REUSED, EVAL_TARGET
from slimline.lineage.tracking import stage_run
from slimline.paths import artifact_dir, project_root
from slimline.pipeline import stage_params, tracking_experiment
from slimline.results import evals_file, metrics_file, write_metrics, write_results

STAGE = "eval"


def main(target: str) -> None:
    root = project_root()
    params = stage_params(f"{STAGE}@{target}", root)
    cfg = parse_section(EvalConfig, params["eval"], "eval")
    model_dir = artifact_dir(target, root)
    data_dir = artifact_dir("data", root)
    model = ArtifactMetadata.read(model_dir)
    with stage_run(STAGE, params=params, experiment=tracking_experiment(root),
                   dvc_stage=f"{STAGE}@{target}", run_name=f"eval {target}",
                   extra_tags={EVAL_TARGET: target}, root=root) as run:
        # A skipped stage (its parent's weights) or byte-identical weights are not
        # evaluated twice: the first evaluation of this exact model and suite is reused.
        result, reused = evaluate_or_reuse(model_dir, model.digest, data_dir, cfg, root)
        run.set_tags({EVAL_REUSED: reused})
        if reused:
            print(f"eval@{target}: reusing the evaluation of the same weights "
                  f"({model.digest[:12]}) and suite")
        row = write_metrics(metrics_file(root, target), metrics=result.metrics, model=model)
        results_file = evals_file(root, target)
        write_results(results_file, stage=target, device=result.device, model=model,
                      higher_is_better=result.higher_is_better, lm_eval=result.lm_eval,
                      root=root)
        log_evaluation(run, result, model_dir=model_dir, model=model, data_dir=data_dir,
                       root=root, size=row.get("size"))
        run.log_artifact(results_file, "lm_eval")


if __name__ == "__main__":
    from slimline.cli.errors import run_main

    run_main(main, *sys.argv[1:2])
