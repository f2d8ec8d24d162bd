"""The weekly loop on a user's own data, end to end with real `dvc` and `slimline` processes.

Each test reproduces one way the loop used to give a silently wrong answer and shows it
fixed. The tests share one project and run in file order: each starts from what the one
before left (composed choices, DVC locks, registry versions), as a user's week would.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from . import dvc_project as dp
from .dvc_project import SMALL, compose, git_commit, make_project, ran, run, slimline

pytestmark = pytest.mark.slow

GATES = [o for o in SMALL if not o.startswith("registry.gates.slimline_facts")]
CHOICES = [*GATES, "data=files", "data.calibration.path=userdata/calibration.jsonl",
           "data.recovery.path=userdata/recovery.jsonl",
           "data.evaluation.path=userdata/evaluation.jsonl", "eval.tasks=[slimline_heldout]",
           "eval.golden=[golden/support.jsonl]", "registry.gates.slimline_facts_mc=null",
           "registry.gates.slimline_facts_gen=null"]


def _write_user_data(root: Path) -> None:
    from slimline.data.corpus import build_corpus

    corpus = build_corpus()
    (root / "userdata").mkdir()
    for name, docs in (("calibration", corpus.train[:40]), ("recovery", corpus.train[40:240]),
                       ("evaluation", corpus.heldout[:40])):
        (root / "userdata" / f"{name}.jsonl").write_text(
            "".join(json.dumps({"text": d}) + "\n" for d in docs))
    probes = corpus.probes(seed=0)[:12]
    (root / "golden" / "support.jsonl").write_text(
        "".join(json.dumps({"prompt": p["prompt"], "answer": p["answer"]}) + "\n"
                for p in probes))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("weekly")
    return make_project(root, CHOICES, before_compose=_write_user_data)


def _params(project: Path) -> dict:
    return yaml.safe_load((project / "params.yaml").read_text())


def _model_name(project: Path) -> str:
    return _params(project)["registry"]["model_name"]


def _version(project: Path, alias: str):
    return dp.client(project).get_model_version_by_alias(_model_name(project), alias)


def test_compose_refuses_the_default_suite_on_user_data_before_anything_runs(project):
    before = (project / "params.yaml").read_text()
    out = slimline(project, "compose", *CHOICES, "eval.tasks=[slimline_heldout,slimline_facts_mc]",
                   code=1)
    assert "need the built-in corpus's fact probes" in out
    out = slimline(project, "compose", *CHOICES, "data.recovery.num_docs=4096", code=1)
    assert "data.recovery.num_docs=4096 but userdata/recovery.jsonl holds 200 documents" in out
    assert (project / "params.yaml").read_text() == before
    assert not (project / "artifacts").exists()


def test_dvc_exp_run_starts_from_the_composed_data_and_suite(project):
    out, _ = run(project, "dvc", "exp", "run", "-S", "prune.channel_ratio=0.5", "data")
    assert ran(out) == {"data"}
    params = _params(project)
    assert params["prune"]["channel_ratio"] == 0.5
    assert params["data"]["source"] == "files" and params["overrides"] == CHOICES
    assert params["eval"]["tasks"] == ["slimline_heldout"]
    assert params["eval"]["golden"] == ["golden/support.jsonl"]
    manifest = json.loads((project / "artifacts" / "data" / "manifest.json").read_text())
    sources = {s["name"]: s["source"] for s in manifest["splits"]}
    assert sources["calibration"] == str(project / "userdata" / "calibration.jsonl")
    compose(project, CHOICES)


def test_an_edit_to_a_user_file_is_seen_by_dvc(project):
    run(project, "dvc", "repro", "data")
    out, _ = run(project, "dvc", "status", "data")
    assert "modified" not in out
    calibration = project / "userdata" / "calibration.jsonl"
    calibration.write_text(calibration.read_text().replace("the", "a", 1))
    out, _ = run(project, "dvc", "status", "data")
    assert "modified:           userdata/calibration.jsonl" in out


def test_an_in_place_edit_to_a_local_base_is_seen_by_dvc(project, trained_checkpoint, tmp_path):
    source = tmp_path / "my-base"
    shutil.copytree(trained_checkpoint, source)
    not_tiny = [o for o in CHOICES if not o.startswith("model.")]
    compose(project, [*not_tiny, "model=hf", "model.name=mine", f"model.source={source}"])
    run(project, "dvc", "repro", "base")
    out, _ = run(project, "dvc", "status", "base")
    assert "modified" not in out
    # Saved the way editors and save_pretrained save (a new file renamed over the old one);
    # writing through the hard link would change DVC's cache entry too (slimline then refuses
    # it: tests/integrity).
    config = json.loads((source / "config.json").read_text())
    edited = source / "config.json.new"
    edited.write_text(json.dumps({**config, "rope_theta": 5000.0}))
    edited.replace(source / "config.json")
    out, _ = run(project, "dvc", "status", "base")
    assert f"modified:           {source}" in out
    compose(project, CHOICES)


def test_the_pipeline_on_user_data_registers_a_candidate(project):
    out, _ = run(project, "dvc", "repro")
    assert {"data", "base", "prune", "recover", "quantize", "register"} <= ran(out)
    metrics = json.loads((project / "metrics" / "base.json").read_text())
    assert {"slimline_heldout", "golden_support"} <= set(metrics)
    assert "slimline_facts_mc" not in metrics
    out = slimline(project, "promote", "@candidate")
    assert "@production" in out
    git_commit(project, "first week")


def test_an_experiment_registers_under_its_name_and_moves_no_alias(project):
    candidate = _version(project, "candidate")
    out, _ = run(project, "dvc", "exp", "run", "-n", "try-lr", "-S", "recover.lr=0.01")
    assert "register" in ran(out)
    client = dp.client(project)
    made = [v for v in client.search_model_versions(f"name = '{_model_name(project)}'")
            if v.tags.get("slimline.experiment") == "try-lr"]
    assert {v.tags["slimline.stage"] for v in made} == {"recovered", "quantized"}
    assert all(v.tags.get("slimline.experiment_only") == "true" for v in made)
    assert _version(project, "candidate").version == candidate.version
    assert _version(project, "production").version == candidate.version
    # Applying the experiment and registering it is how it becomes the candidate.
    run(project, "dvc", "exp", "apply", "try-lr")
    slimline(project, "register")
    quantized = next(v for v in made if v.tags["slimline.stage"] == "quantized")
    assert _version(project, "candidate").version == quantized.version
    run(project, "git", "checkout", "--", ".")
    run(project, "dvc", "checkout", "--force")


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


def test_a_copied_project_writes_only_into_itself(project, tmp_path):
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(project), str(copy)], check=True)
    before = _tree(project / "mlruns")
    run(copy, "dvc", "repro", "-f", "report")
    assert _tree(project / "mlruns") == before
    new = set(_tree(copy / "mlruns" / "artifacts")) - set(before)
    assert any(p.endswith("report.md") for p in new)
    report = [r for r in dp.runs(copy) if r.data.tags["slimline.stage"] == "report"]
    newest = max(report, key=lambda r: r.info.start_time)
    assert newest.info.artifact_uri.startswith((copy / "mlruns").as_uri())
    oldest = min(report, key=lambda r: r.info.start_time)
    assert dp.client(copy).list_artifacts(oldest.info.run_id)  # old runs still readable


def test_a_skipped_stage_and_unchanged_inputs_are_not_evaluated_again(project):
    recipe = [o for o in CHOICES if not o.startswith("prune.")]
    compose(project, [*recipe, "prune=none", "data.calibration.num_docs=12"])
    out, _ = run(project, "dvc", "repro")
    assert "eval@base" not in ran(out)  # a new calibration split does not change its inputs
    assert "eval@pruned: reusing the evaluation of the same weights" in out
    base = json.loads((project / "metrics" / "base.json").read_text())
    pruned = json.loads((project / "metrics" / "pruned.json").read_text())
    assert pruned["slimline_heldout"] == base["slimline_heldout"]
    compose(project, CHOICES)


def test_the_weekly_loop_upgrades_the_base_on_one_registered_model(project):
    """README: upgrade the base, `dvc repro`, compare with production, promote. (One
    upgrade: a second week would re-run the same code on another seed.)"""
    week, seed = 2, 1
    name = _model_name(project)
    production = _version(project, "production")
    compose(project, [*CHOICES, f"model.train.seed={seed}", f"model.name=tiny-week{week}"])
    out, _ = run(project, "dvc", "repro")
    assert {"base", "prune", "recover", "quantize", "register"} <= ran(out)
    assert _model_name(project) == name  # the base's name does not name the registered model
    candidate = _version(project, "candidate")
    assert candidate.tags["slimline.base_digest"] != production.tags["slimline.base_digest"]
    assert candidate.tags["slimline.base_name"] == f"tiny-week{week}"
    out = slimline(project, "promote", "@candidate", "--against", "production")
    assert f"@production → v{candidate.version}" in out
    out = slimline(project, "bisect", "--good", f"{name}/{production.version}", "--bad",
                   "@production")
    assert "culprit: the base stage" in out
    assert production.tags["slimline.base_name"] in out and f"tiny-week{week}" in out
    git_commit(project, f"week {week}")
