"""A copied project's embedded MLflow store writes only into the copy (issue 19, item 4)."""

import hashlib
import shutil
import sqlite3
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from slimline.lineage.relocate import LOCATION_COLUMNS, relocate_store
from slimline.lineage.tracking import stage_run
from slimline.registry import register_pipeline, resolve


def _tree(root: Path) -> dict[str, str]:
    """Every file under `root` with its sha256 (a byte-for-byte picture of the tree)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _log(name: str, tmp: Path) -> str:
    note = tmp / f"{name}.txt"
    note.write_text(name)
    with stage_run("data", params={"n": name}, experiment="slimline") as run:
        run.log_artifact(note, "notes")
    return run.run_id


def test_a_copied_project_writes_only_into_itself(project, monkeypatch, tmp_path_factory):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # the embedded store under mlruns/
    scratch = tmp_path_factory.mktemp("notes")
    project.pipeline()
    register_pipeline(project.root, "demo", "slimline")
    old_run = _log("before", scratch)
    original = project.root
    copy = tmp_path_factory.mktemp("elsewhere") / "copy"
    shutil.copytree(original, copy, symlinks=True)
    before = _tree(original)

    monkeypatch.setenv("SLIMLINE_ROOT", str(copy))
    # A new process in the copy: mlflow exported the original's URI to this one's environment.
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    new_run = _log("after", scratch)
    project.root = copy
    project.pipeline({"quantized": (2.2, 0.87)}, calibration="d" * 64)
    register_pipeline(copy, "demo", "slimline")

    assert _tree(original) == before  # the original is untouched, byte for byte
    client = MlflowClient()
    assert (copy / "mlruns/artifacts" / new_run / "artifacts/notes/after.txt").exists()
    for run_id in (old_run, new_run):
        assert client.get_run(run_id).info.artifact_uri.startswith((copy / "mlruns").as_uri())
    old_note = mlflow.artifacts.download_artifacts(run_id=old_run, artifact_path="notes",
                                                   dst_path=str(scratch / "dl"))
    assert (Path(old_note) / "before.txt").read_text() == "before"  # old runs still readable
    experiment = client.get_experiment_by_name("slimline")
    assert experiment.artifact_location == (copy / "mlruns/artifacts").as_uri()
    newest = resolve("demo@candidate")
    assert newest.version == "5"
    for mv in client.search_model_versions("name = 'demo'"):
        logged = client.get_logged_model(mv.source.removeprefix("models:/"))
        assert logged.artifact_location.startswith((copy / "mlruns").as_uri())
    with sqlite3.connect(copy / "mlruns" / "mlflow.db") as db:  # no location left behind
        for table, column, _ in LOCATION_COLUMNS:
            rows = db.execute(f"SELECT {column} FROM {table}").fetchall()
            assert not [v for (v,) in rows if v and str(original / "mlruns") in v], table


def test_relocation_is_a_no_op_where_the_store_was_made(project, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    _log("here", project.root)
    db = project.root / "mlruns" / "mlflow.db"
    stamp = db.read_bytes()
    assert relocate_store(project.root / "mlruns") == []
    assert db.read_bytes() == stamp
    assert relocate_store(project.root / "nowhere") == []
