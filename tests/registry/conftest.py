"""A slimline project on disk without running the pipeline: artifacts with slimline.json,
metrics and evaluation results, written the way the stages write them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from slimline.lineage.metadata import seal_artifact

DIRECTIONS = {"task": {"ppl": False, "acc": True}, "speed": {"decode_tokens_per_s": True}}
GOOD = {"base": (2.0, 0.90), "pruned": (2.4, 0.85), "recovered": (2.1, 0.89),
        "quantized": (2.12, 0.88)}


class Project:
    def __init__(self, root: Path, checkpoint: Path):
        self.root = root
        self.checkpoint = checkpoint
        (root / "params.yaml").write_text(
            "registry:\n  experiment: slimline\n  model_name: demo\n  gates:\n"
            "    task: {ppl: 0.9, acc: 0.95}\n")

    def stage(self, stage: str, parent: str | None, scores: tuple[float, float], *,
              params: dict, inputs: dict | None = None, content: str | None = None) -> str:
        """Write artifacts/<stage> (the tiny checkpoint plus a marker file that makes its
        content unique), its metrics and evaluation results; return its digest."""
        directory = self.root / "artifacts" / stage
        shutil.rmtree(directory, ignore_errors=True)
        shutil.copytree(self.checkpoint, directory)
        (directory / "marker.txt").write_text(content or f"{stage} {params} {parent} {inputs}")
        meta = seal_artifact(directory, stage=stage, parent_digest=parent, params=params,
                             metrics={"size_bytes": 1000.0}, inputs=inputs or {}, run_id=None,
                             title=stage, story=stage)
        ppl, acc = scores
        for folder, doc in (("metrics", {"task": {"ppl": ppl, "acc": acc},
                                         "speed": {"decode_tokens_per_s": 100.0}}),
                            ("evals", {"device": "cpu: test", "higher_is_better": DIRECTIONS})):
            (self.root / folder).mkdir(exist_ok=True)
            (self.root / folder / f"{stage}.json").write_text(json.dumps(doc))
        return meta.digest

    def pipeline(self, scores: dict | None = None, *, lr: float = 2e-4,
                 calibration: str = "c" * 64, skip_prune: bool = False,
                 base: dict | None = None) -> dict[str, str]:
        """Write every stage; `base` replaces the base's `model` params (a base upgrade)."""
        scores = {**GOOD, **(scores or {})}
        base = self.stage("base", None, scores["base"], params={"model": base or {"name": "t"}})
        if skip_prune:
            directory = self.root / "artifacts" / "pruned"
            shutil.rmtree(directory, ignore_errors=True)
            shutil.copytree(self.root / "artifacts" / "base", directory)
            meta = json.loads((directory / "slimline.json").read_text())
            meta.update(stage="pruned", parent_digest=base, params={"prune": {"method": "none"}})
            (directory / "slimline.json").write_text(json.dumps(meta))
            shutil.copy(self.root / "metrics" / "base.json", self.root / "metrics" / "pruned.json")
            shutil.copy(self.root / "evals" / "base.json", self.root / "evals" / "pruned.json")
            pruned = base
        else:
            pruned = self.stage("pruned", base, scores["pruned"],
                                params={"prune": {"method": "structured", "ratio": 0.25}})
        recovered = self.stage("recovered", pruned, scores["recovered"],
                               params={"recover": {"method": "lora", "lr": lr}})
        quantized = self.stage("quantized", recovered, scores["quantized"],
                               params={"quantize": {"method": "gptq", "bits": 4}},
                               inputs={"calibration_tokens": calibration})
        return {"base": base, "pruned": pruned, "recovered": recovered, "quantized": quantized}


@pytest.fixture
def project(tmp_path, monkeypatch, trained_checkpoint) -> Project:
    monkeypatch.setenv("SLIMLINE_ROOT", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return Project(tmp_path, trained_checkpoint)
