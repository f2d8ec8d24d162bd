"""DVC stage `speed`: every model stage's prefill and decode speed in one side-by-side
measurement (metrics/speed.json), the only speed the report compares stages by."""

from __future__ import annotations

from slimline.warm import hand_off

hand_off(__name__)  # in a process forked with the libraries imported (slimline.warm)

import json

from slimline.config import SideBySideSpeedConfig, parse_section
from slimline.lineage.tags import DEVICE, RUNTIME
from slimline.lineage.tracking import stage_run
from slimline.paths import artifact_dir, project_root
from slimline.pipeline import stage_params, tracking_experiment
from slimline.speed import SPEED_FILE, measure_stages
from slimline.stages import MODEL_STAGES

STAGE = "speed"


def main() -> None:
    root = project_root()
    params = stage_params(STAGE, root)
    cfg = parse_section(SideBySideSpeedConfig, params["report"]["speed"], "report.speed")
    directories = {stage: artifact_dir(stage, root) for stage in MODEL_STAGES}
    with stage_run(STAGE, params=params, experiment=tracking_experiment(root),
                   root=root) as run:
        doc = measure_stages(directories, cfg)
        out = root / SPEED_FILE
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(doc, indent=2) + "\n")
        run.set_tags({DEVICE: doc["measurement"]["device"],
                      RUNTIME: doc["measurement"]["runtime"]})
        run.log_metrics({f"{stage}.{key}": row[key] for stage, row in doc["stages"].items()
                         for key in ("prefill_tokens_per_s", "decode_tokens_per_s",
                                     "prefill_vs_base", "decode_vs_base")})
    print(f"{doc['measurement']['device']}; {doc['measurement']['runtime']}")
    for stage, row in doc["stages"].items():
        print(f"{stage:<10} prefill {row['prefill_tokens_per_s']:>10,.0f} tok/s "
              f"({row['prefill_vs_base']:.2f}× base)  decode {row['decode_tokens_per_s']:>8,.1f} "
              f"tok/s ({row['decode_vs_base']:.2f}× base)")


if __name__ == "__main__":
    from slimline.cli.errors import run_main

    run_main(main)
