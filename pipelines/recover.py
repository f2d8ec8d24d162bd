"""DVC stage `recover`: LoRA / distillation fine-tune of the pruned model, merged."""

from __future__ import annotations

from slimline import runtime
from slimline.config import RecoverStageConfig, RuntimeConfig, parse_section
from slimline.data import read_split
from slimline.lineage.metadata import ArtifactMetadata
from slimline.lineage.tracking import stage_run
from slimline.paths import artifact_dir, project_root
from slimline.pipeline import stage_params, tracking_experiment
from slimline.recover import recover_checkpoint, write_loss_curve

STAGE = "recover"


def main() -> None:
    root = project_root()
    params = stage_params(STAGE, root)
    cfg = parse_section(RecoverStageConfig, params["recover"], "recover")
    rt = parse_section(RuntimeConfig, params["runtime"], "runtime")
    data_dir = artifact_dir("data", root)
    split, texts = read_split(data_dir, "recovery")
    out = artifact_dir("recovered", root)
    with stage_run(STAGE, params=params, experiment=tracking_experiment(root),
                   run_name=f"recover {cfg.method}") as run:
        run.log_split(data_dir, split)
        result = recover_checkpoint(
            artifact_dir("pruned", root), out, cfg, texts=texts,
            teacher=artifact_dir("base", root), params=params,
            inputs={"recovery": split.sha256}, run_id=run.run_id, runtime=rt)
        run.set_tags({"artifact_digest": result.digest, "parent_digest": result.parent_digest,
                      "skipped": str(result.skipped).lower(),
                      **runtime.run_tags(ArtifactMetadata.read(out).inputs)})
        run.log_metrics(result.metrics)
        run.log_series("recover_loss_step", result.losses)
        write_loss_curve(root / "plots" / "recover_loss.json", result.losses)
        for name in ("slimline.json", "README.md", "config.json"):
            run.log_artifact(out / name, "model")


if __name__ == "__main__":
    from slimline.cli.errors import run_main

    run_main(main)
