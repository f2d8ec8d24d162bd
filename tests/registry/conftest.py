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
# lm-eval's standard error of the accuracy (about that of 0.9 on 900 items); perplexities
# have none (lm-eval reports "N/A"), as in the real suite.
ACC_STDERR = 0.01


def lm_eval_results(ppl: float, acc: float, acc_stderr: float | None) -> dict:
    """lm-eval's `results` for the test task as `simple_evaluate` returns them."""
    return {"results": {"task": {
        "alias": "task", "ppl,none": ppl, "ppl_stderr,none": "N/A", "acc,none": acc,
        "acc_stderr,none": "N/A" if acc_stderr is None else acc_stderr}},
        "higher_is_better": {"task": {"ppl": False, "acc": True}}}


class Project:
    def __init__(self, root: Path, checkpoint: Path):
        self.root = root
        self.checkpoint = checkpoint
        (root / "params.yaml").write_text(
            "registry:\n  experiment: slimline\n  model_name: demo\n  gates:\n"
            "    task: {ppl: 0.9, acc: 0.95}\n")

    def stage(self, stage: str, parent: str | None, scores: tuple[float, float], *,
              params: dict, inputs: dict | None = None, content: str | None = None,
              acc_stderr: float | None = ACC_STDERR) -> str:
        """Write artifacts/<stage> (the tiny checkpoint plus a marker file that makes its
        content unique), its metrics and evaluation results (lm-eval's, with the accuracy's
        standard error `acc_stderr`); return its digest."""
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
                            ("evals", {"device": "cpu: test", "higher_is_better": DIRECTIONS,
                                       "lm_eval": lm_eval_results(ppl, acc, acc_stderr)})):
            (self.root / folder).mkdir(exist_ok=True)
            (self.root / folder / f"{stage}.json").write_text(json.dumps(doc))
        return meta.digest

    def pipeline(self, scores: dict | None = None, *, lr: float = 2e-4,
                 calibration: str = "c" * 64, skip_prune: bool = False,
                 base: dict | None = None, stderrs: dict[str, float | None] | None = None
                 ) -> dict[str, str]:
        """Write every stage; `base` replaces the base's `model` params (a base upgrade);
        `stderrs` sets a stage's accuracy stderr (default `ACC_STDERR`, None: none)."""
        scores = {**GOOD, **(scores or {})}
        errs = {stage: ACC_STDERR for stage in GOOD} | (stderrs or {})
        base = self.stage("base", None, scores["base"], params={"model": base or {"name": "t"}},
                          acc_stderr=errs["base"])
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
                                params={"prune": {"method": "structured", "ratio": 0.25}},
                                acc_stderr=errs["pruned"])
        recovered = self.stage("recovered", pruned, scores["recovered"],
                               params={"recover": {"method": "lora", "lr": lr}},
                               acc_stderr=errs["recovered"])
        quantized = self.stage("quantized", recovered, scores["quantized"],
                               params={"quantize": {"method": "gptq", "bits": 4}},
                               inputs={"calibration_tokens": calibration},
                               acc_stderr=errs["quantized"])
        return {"base": base, "pruned": pruned, "recovered": recovered, "quantized": quantized}


@pytest.fixture
def project(tmp_path, monkeypatch, trained_checkpoint) -> Project:
    monkeypatch.setenv("SLIMLINE_ROOT", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return Project(tmp_path, trained_checkpoint)
