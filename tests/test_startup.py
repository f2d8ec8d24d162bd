"""Stage start-up: each DVC entry point imports only what its own work uses (issue 18).

Every stage is a fresh process, so a heavy import at module level is paid once per stage and
pipeline run. Checked by the modules a fresh interpreter holds after importing the entry
points, not by timing, so a loaded machine cannot make it flaky.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import REPO

# Libraries of one stage's work, seconds to import each.
HEAVY = ("torch", "transformers", "mlflow", "sklearn", "lm_eval", "llmcompressor", "peft",
         "matplotlib", "datasets", "compressed_tensors", "accelerate")

# What each entry point may hold before main() runs: the model stages compute with torch;
# nothing else is imported before the stage needs it.
ALLOWED = {
    "data": set(), "base": set(), "speed": set(), "report": set(), "register": set(),
    "prune": {"torch"}, "recover": {"torch"}, "quantize": {"torch"}, "evaluate": {"torch"},
}

# Entry points with the same allowance share one interpreter: what each adds is its own, and
# a package an earlier one loaded already breaks that one's allowance, which is the same.
PROBE = """
import importlib.util, json, sys
heavy, held = json.loads(sys.argv[1]), {}
for path in sys.argv[2:]:
    before = {m for m in heavy if m in sys.modules}
    spec = importlib.util.spec_from_file_location("stage_" + str(len(held)), path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    held[path] = sorted(m for m in heavy if m in sys.modules and m not in before)
print(json.dumps(held))
"""


def _last_json(args: list[str]):
    out = subprocess.run([sys.executable, "-c", *args], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_every_entry_point_is_covered():
    assert {p.stem for p in (REPO / "pipelines").glob("*.py")} == set(ALLOWED)


@pytest.mark.parametrize("allowed", [set(), {"torch"}], ids=["cheap", "model"])
def test_entry_points_import_only_what_their_work_uses(allowed):
    paths = {str(REPO / "pipelines" / f"{s}.py"): s for s, a in ALLOWED.items() if a == allowed}
    held = _last_json([PROBE, json.dumps(HEAVY), *paths])
    extra = {f"pipelines/{stage}.py": sorted(set(held[path]) - allowed)
             for path, stage in paths.items()}
    assert not any(extra.values()), extra


def test_run_setup_imports_mlflow_and_nothing_of_the_models():
    """Opening a stage's run (tracking, the input check, the store) costs MLflow's import,
    not torch, transformers or scikit-learn: the cheap stages never load a model library."""
    code = ("import json, sys\n"
            "import slimline.integrity, slimline.lineage.relocate, slimline.lineage.tracking\n"
            "from mlflow.tracking import MlflowClient\n"
            "print(json.dumps(sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)))")
    assert _last_json([code, json.dumps(HEAVY)]) == ["mlflow"]
