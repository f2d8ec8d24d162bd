"""DVC stage `base`: materialise and fingerprint the base checkpoint."""

from __future__ import annotations

from slimline.warm import hand_off

hand_off(__name__)  # in a process forked with the libraries imported (slimline.warm)

from slimline.base import build_base
from slimline.config import parse_model
from slimline.lineage.metadata import CARD_FILE, METADATA_FILE
from slimline.lineage.tags import ARTIFACT_PATH, input_key
from slimline.lineage.tracking import stage_run
from slimline.paths import artifact_dir, project_root
from slimline.pipeline import stage_params, tracking_experiment

STAGE = "base"


def main() -> None:
    root = project_root()
    params = stage_params(STAGE, root)
    cfg = parse_model(params["model"])
    out = artifact_dir(STAGE, root)
    with stage_run(STAGE, params=params, experiment=tracking_experiment(root),
                   run_name=f"base {cfg.name}", root=root) as run:
        result = build_base(cfg, out, params=params, run_id=run.run_id)
        run.record_artifact(result, files=(METADATA_FILE, CARD_FILE, "config.json"), tags={
            ARTIFACT_PATH: str(out.relative_to(root)),
            **{input_key(k): v for k, v in result.inputs.items()}})
        run.log_series("train_loss_step", result.extra.get("train_losses", []))


if __name__ == "__main__":
    from slimline.cli.errors import run_main

    run_main(main)
