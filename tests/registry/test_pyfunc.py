"""Registered versions load through MLflow's own API (`mlflow.pyfunc.load_model`), verified
against their digest, and answer prompts with generated text."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from slimline.errors import SlimlineError
from slimline.registry import register_pipeline


def test_models_uri_loads_the_verified_checkpoint_and_generates(project):
    project.pipeline()
    register_pipeline(project.root, "demo", "slimline")
    model = mlflow.pyfunc.load_model("models:/demo@candidate")
    completions = model.predict(["the capital of"], params={"max_new_tokens": 6})
    assert len(completions) == 1 and completions[0].strip()
    # The logged model behind every version is an MLflow Model now, not an external one.
    version = MlflowClient().get_model_version_by_alias("demo", "candidate")
    logged = mlflow.get_logged_model(version.tags["slimline.model_id"])
    assert logged.tags.get("mlflow.model.isExternal", "false") == "false"
    assert logged.tags["slimline.artifact_digest"] == version.tags["slimline.artifact_digest"]


def test_a_tampered_checkpoint_is_refused_by_the_mlflow_loader(project):
    project.pipeline()
    register_pipeline(project.root, "demo", "slimline")
    weights = project.root / "artifacts" / "quantized" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.unlink()  # a new file: the trained checkpoint fixture stays intact
    weights.write_bytes(bytes(data))
    with pytest.raises(SlimlineError, match="cannot find the files of"):
        mlflow.pyfunc.load_model("models:/demo@candidate")
