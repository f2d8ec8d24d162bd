"""One side-by-side speed measurement of every stage: one process, round-robin, one device."""

import json
import shutil
import subprocess
import sys

import pytest

from slimline.config import SideBySideSpeedConfig
from slimline.speed import measure_stages
from tests.conftest import REPO

FAST = SideBySideSpeedConfig(prompt_tokens=8, new_tokens=4, repeats=2, rounds=2, device="cpu")


def test_every_stage_is_measured_in_turns_with_ratios_to_the_first(trained_checkpoint):
    doc = measure_stages({"base": trained_checkpoint, "pruned": trained_checkpoint}, FAST)
    m = doc["measurement"]
    assert m["device"].startswith("cpu: ") and m["runtime"].startswith("transformers ")
    assert m["base"] == "base" and m["rounds"] == 2 and m["started"] <= m["finished"]
    base, pruned = doc["stages"]["base"], doc["stages"]["pruned"]
    assert base["prefill_vs_base"] == 1.0 and base["decode_vs_base"] == 1.0
    assert len(pruned["rounds"]["decode_tokens_per_s"]) == 2
    assert pruned["decode_vs_base"] == pytest.approx(
        pruned["decode_tokens_per_s"] / base["decode_tokens_per_s"])
    assert base["digest"] and base["digest"] == pruned["digest"]  # slimline.json's digest


def test_the_speed_stage_writes_metrics_speed_json(trained_checkpoint, tmp_path):
    for stage in ("base", "pruned", "recovered", "quantized"):
        shutil.copytree(trained_checkpoint, tmp_path / "artifacts" / stage)
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "params.yaml").write_text(
        "registry: {experiment: slimline}\nreport:\n  speed: " + json.dumps(FAST.model_dump())
        + "\n")
    done = subprocess.run([sys.executable, str(REPO / "pipelines" / "speed.py")], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "metrics" / "speed.json").read_text())
    assert list(doc["stages"]) == ["base", "pruned", "recovered", "quantized"]
    assert "× base" in done.stdout
