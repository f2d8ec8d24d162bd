"""DVC stage `data`: write the calibration, recovery and evaluation splits."""

from __future__ import annotations

from slimline.warm import hand_off

hand_off(__name__)  # in a process forked with the libraries imported (slimline.warm)

from slimline.config import DataConfig, parse_section
from slimline.data import build_splits
from slimline.lineage.tags import split_sha256
from slimline.lineage.tracking import stage_run
from slimline.paths import artifact_dir, project_root
from slimline.pipeline import stage_params, tracking_experiment

STAGE = "data"


def main() -> None:
    root = project_root()
    params = stage_params(STAGE, root)
    cfg = parse_section(DataConfig, params["data"], "data")
    out = artifact_dir(STAGE, root)
    with stage_run(STAGE, params=params, experiment=tracking_experiment(root),
                   root=root) as run:
        splits = build_splits(cfg, out, root=root)
        for split in splits:
            run.log_split(out, split)
            run.set_tags({split_sha256(split.name): split.sha256})
        run.log_metrics({f"{s.name}_docs": s.num_docs for s in splits})
        run.log_artifact(out / "manifest.json")


if __name__ == "__main__":
    from slimline.cli.errors import run_main

    run_main(main)
