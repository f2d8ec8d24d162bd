"""Shared fixtures: everything offline, MLflow in a temporary store, tiny models on CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# No test may reach a hub or send telemetry.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")


@pytest.fixture(autouse=True)
def _isolated_mlflow(tmp_path_factory, monkeypatch):
    """Each test logs to its own SQLite store, never to the project's mlruns/."""
    import mlflow

    store = tmp_path_factory.mktemp("mlruns")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("SLIMLINE_PIPELINE_ID", raising=False)
    mlflow.set_tracking_uri(uri)  # stage_run sets the global URI; never let it leak across tests
    yield


@pytest.fixture(scope="session")
def tiny_config():
    from slimline.config import TinyModelConfig, TinyTrainConfig

    return TinyModelConfig(
        vocab_size=384, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        train=TinyTrainConfig(steps=60, batch_size=16, seq_len=64, lr=5e-3, warmup_steps=5),
    )


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory, tiny_config) -> Path:
    """A tiny Llama trained briefly on the built-in corpus, saved as a HF checkpoint."""
    from slimline.base import build_base

    out = tmp_path_factory.mktemp("ckpt") / "base"
    build_base(tiny_config, out, params={"model": tiny_config.model_dump()})
    return out
