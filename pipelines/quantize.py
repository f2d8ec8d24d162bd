"""DVC stage `quantize`: post-training quantization of the recovered model."""

from __future__ import annotations

from slimline import runtime
from slimline.config import QuantizeStageConfig, RuntimeConfig, parse_section
from slimline.data import read_split
from slimline.lineage.metadata import ArtifactMetadata
from slimline.lineage.tracking import stage_run
from slimline.paths import artifact_dir, project_root
from slimline.pipeline import stage_params, tracking_experiment
from slimline.quantize import quantize_checkpoint

STAGE = "quantize"


def main() -> None:
    root = project_root()
    params = stage_params(STAGE, root)
    cfg = parse_section(QuantizeStageConfig, params["quantize"], "quantize")
    rt = parse_section(RuntimeConfig, params["runtime"], "runtime")
    data_dir = artifact_dir("data", root)
    split, texts = read_split(data_dir, "calibration")
    out = artifact_dir("quantized", root)
    with stage_run(STAGE, params=params, experiment=tracking_experiment(root),
                   run_name=f"quantize {cfg.method}") as run:
        result = quantize_checkpoint(
            artifact_dir("recovered", root), out, cfg,
            texts=texts, params=params,
            inputs={"calibration": split.sha256}, run_id=run.run_id, runtime=rt)
        if result.calibration_digest:
            run.log_dataset(data_dir / split.file, name="quantize/calibration_tokens",
                            digest=result.calibration_digest, context="calibration",
                            num_rows=getattr(cfg, "num_samples", None))
        run.set_tags({"artifact_digest": result.digest, "parent_digest": result.parent_digest,
                      "calibration_digest": result.calibration_digest or "",
                      "skipped": str(result.skipped).lower(),
                      **runtime.run_tags(ArtifactMetadata.read(out).inputs)})
        run.log_metrics(result.metrics)
        for name in ("slimline.json", "README.md", "config.json", "recipe.yaml"):
            if (out / name).exists():
                run.log_artifact(out / name, "model")


if __name__ == "__main__":
    from slimline.cli.errors import run_main

    run_main(main)
