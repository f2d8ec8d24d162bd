"""One side-by-side speed measurement of every stage: one process, in turns with the base,
one device."""

import json
import shutil
import statistics
import subprocess
import sys

import pytest

from slimline.config import SideBySideSpeedConfig
from slimline.speed import measure_against_base, measure_stages
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
    # the ratio is the median of each round's ratio to the base timed right before it
    for key in ("prefill", "decode"):
        ours = pruned["rounds"][f"{key}_tokens_per_s"]
        theirs = pruned["base_rounds"][f"{key}_tokens_per_s"]
        assert pruned[f"{key}_vs_base"] == pytest.approx(
            statistics.median(o / t for o, t in zip(ours, theirs, strict=True)))
    assert base["rounds"]["decode_tokens_per_s"] == pruned["base_rounds"]["decode_tokens_per_s"]
    assert base["digest"] and base["digest"] == pruned["digest"]  # slimline.json's digest


def test_at_most_two_models_are_held_and_each_is_loaded_once(monkeypatch):
    """The base stays; every other stage is loaded once, after the previous one is gone."""
    import gc
    import weakref

    import torch

    from slimline.evaluate import speed

    monkeypatch.setattr(speed, "measure_speed", lambda model, cfg, seed=0: {
        "prefill_tokens_per_s": float(model.rate), "decode_tokens_per_s": float(model.rate)})
    alive: list[weakref.ref] = []
    loads: list[str] = []

    def loader(name, rate):
        def load():
            gc.collect()
            assert sum(r() is not None for r in alive) == 1, "a released stage is still held"
            loads.append(name)
            model = torch.nn.Module()
            model.rate = rate
            alive.append(weakref.ref(model))
            return model
        return load

    base = torch.nn.Module()
    base.rate = 10.0
    alive.append(weakref.ref(base))
    rows = measure_against_base(base, [(n, loader(n, r)) for n, r in
                                       (("pruned", 20.0), ("recovered", 15.0),
                                        ("quantized", 5.0))], FAST)
    assert loads == ["pruned", "recovered", "quantized"]
    assert list(rows) == ["base", "pruned", "recovered", "quantized"]
    assert [rows[n]["decode_vs_base"] for n in rows] == [1.0, 2.0, 1.5, 0.5]
    assert len(rows["base"]["rounds"]["decode_tokens_per_s"]) == 3 * FAST.rounds


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
