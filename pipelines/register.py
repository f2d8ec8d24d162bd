"""DVC stage `register`: each model stage becomes a version of the pipeline's registered
model; the lineage graph goes to the register run and the final stage's run."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from slimline._atomic import write_text_atomic
from slimline.config import RegistryConfig, parse_section
from slimline.lineage.tracking import stage_run
from slimline.paths import project_root
from slimline.pipeline import stage_params, tracking_experiment
from slimline.registry import draw_lineage, lineage_chain, register_pipeline

STAGE = "register"


def main() -> None:
    root = project_root()
    params = stage_params(STAGE, root)
    name = params["registry"]["model_name"]
    parse_section(RegistryConfig, {"model_name": name}, "registry")
    experiment = tracking_experiment(root)
    with stage_run(STAGE, params=params, experiment=experiment) as run:
        registered = register_pipeline(root, name, experiment)
        final = registered[-1].version
        summary = {"registered_model": name, "candidate": final.version,
                   "stages": {r.stage: {"version": r.version.version, "created": r.created,
                                        "skipped": r.skipped, "digest": r.version.digest}
                              for r in registered}}
        run.set_tags({"registered_model": name, "candidate_version": final.version,
                      "registered_versions": json.dumps(summary["stages"], sort_keys=True)})
        with tempfile.TemporaryDirectory() as tmp:
            image = draw_lineage(lineage_chain(final), Path(tmp) / "lineage.png")
            run.log_artifact(image, "lineage")
            stage_run_id = final.tags.get("slimline.stage_run_id")
            if stage_run_id:
                from mlflow.tracking import MlflowClient

                MlflowClient().log_artifact(stage_run_id, str(image), "lineage")
        write_text_atomic(root / "registry.json", json.dumps(summary, indent=2) + "\n")
    for r in registered:
        state = "skipped (same artifact)" if r.skipped else ("new" if r.created else "exists")
        print(f"{r.stage:<10} {name} v{r.version.version}  {state}")


if __name__ == "__main__":
    from slimline.cli.errors import run_main

    run_main(main)
