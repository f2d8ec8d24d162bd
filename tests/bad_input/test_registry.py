"""A registry reference that names nothing, or a tracking server that does not answer, is
refused with a message naming it, and nothing is registered or written."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from slimline.cli.main import main

from ._project import assert_message, make_project, state

CASES = [
    # (command, key words: the input, then the fix)
    (["load", "@nosuch"], [r"slimline has no alias @nosuch", r"it has none"]),
    (["load", "7"], [r"slimline has no version 7", r"slimline lineage"]),
    (["load", "othermodel@candidate"], [r"no registered model othermodel", r"dvc repro"]),
    (["load", "models:/slimline/3"], [r"slimline has no version 3"]),
    (["promote", "@nosuch", "--alias", "production"], [r"slimline has no alias @nosuch"]),
    (["promote", "4"], [r"slimline has no version 4"]),
    (["lineage", "99"], [r"slimline has no version 99", r"slimline lineage"]),
    (["lineage", "0123456789abcdef0123456789abcdef"],
     [r"0123456789abcdef0123456789abcdef is not a run"]),
    (["lineage", "no-such-ref"], [r"cannot resolve 'no-such-ref'", r"models:/NAME/VERSION"]),
]


@pytest.fixture(scope="module")
def store_with_a_model(tmp_path_factory) -> Path:
    """A SQLite store holding a registered model with no versions, made once: creating
    MLflow's tables costs seconds, copying the file nothing."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    uri = f"sqlite:///{db}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).create_registered_model("slimline")
    return db


@pytest.fixture
def project(tmp_path, monkeypatch, store_with_a_model):
    import mlflow

    monkeypatch.chdir(make_project(tmp_path))
    uri = os.environ["MLFLOW_TRACKING_URI"]  # this test's store (tests/conftest.py)
    shutil.copy(store_with_a_model, uri.removeprefix("sqlite:///"))
    mlflow.set_registry_uri(uri)  # a command sets it globally; never let it leak
    return tmp_path


@pytest.mark.parametrize("command, words", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_a_reference_to_nothing(project, capsys, command, words):
    before = state(project)
    with pytest.raises(SystemExit) as exit_:
        main(command)
    assert exit_.value.code == 1
    assert_message(capsys.readouterr().err, words)
    assert state(project) == before


@pytest.mark.parametrize("command", [["load", "@candidate"], ["lineage", "@production"],
                                     ["promote", "@candidate"]])
def test_an_unreachable_tracking_server_is_named_in_seconds(project, capsys, monkeypatch,
                                                             command):
    """Nothing listens on port 9 (discard): MLflow alone would retry for minutes."""
    before, store = state(project), os.environ["MLFLOW_TRACKING_URI"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    start = time.monotonic()
    with pytest.raises(SystemExit) as exit_:
        main(command)
    assert time.monotonic() - start < 10
    assert exit_.value.code == 1
    assert_message(capsys.readouterr().err,
                   [r"MLFLOW_TRACKING_URI=http://127\.0\.0\.1:9 does not answer",
                    r"connection refused", r"Start it or fix the URI"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    assert state(project) == before


def test_a_stage_names_an_unreachable_tracking_server_in_seconds(project, monkeypatch):
    """Every stage opens its run through the same store set-up as the registry commands."""
    from slimline.errors import SlimlineError
    from slimline.lineage.tracking import stage_run

    before, store = state(project), os.environ["MLFLOW_TRACKING_URI"]
    monkeypatch.setenv("SLIMLINE_ROOT", str(project))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    start = time.monotonic()
    with pytest.raises(SlimlineError) as err, stage_run("data", params={},
                                                        experiment="slimline"):
        pass
    assert time.monotonic() - start < 10
    assert_message(str(err.value), [r"MLFLOW_TRACKING_URI=http://127\.0\.0\.1:9 does not answer",
                                    r"connection refused"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    assert state(project) == before
