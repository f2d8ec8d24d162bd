"""Shared fixtures: everything offline, MLflow in a temporary store, tiny models on CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The modules that start from the one reproduced SMALL project (`small_pipeline`): under
# xdist (scripts/test.sh runs two workers) they run in one worker, so the session fixture is
# built once.
PIPELINE_GROUP = "small_pipeline"
SHARES_PIPELINE = frozenset({"tests/test_e2e.py", "tests/integrity/test_pipeline.py",
                             "tests/faults/test_killed_stage.py",
                             "tests/faults/test_tracking_server.py", "tests/test_sweep.py"})

# No test may reach a hub or send telemetry.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


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


def pytest_collection_modifyitems(config, items):
    """Slow modules first (each stays in file order), so the short tests fill the other
    worker around them (scripts/test.sh keeps this order: --no-loadscope-reorder)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under xdist, a test module is one unit of work, and the modules sharing the
    reproduced pipeline are one unit together. (xdist's own `xdist_group` marks do nothing
    with pytest 9: the `@group` suffix it writes into `item._nodeid` is not what the
    scheduler reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return PIPELINE_GROUP if path in SHARES_PIPELINE else path

    return ModuleScheduling(config, log)


@pytest.fixture(scope="session")
def small_pipeline(tmp_path_factory) -> tuple[Path, str]:
    """A project composed with `dvc_project.SMALL`, after one `dvc repro` (committed), and
    that repro's output. Built once per session; read it, or copy it
    (`dvc_project.copy_project`) to change it."""
    from .dvc_project import SMALL, git_commit, make_project, run

    root = make_project(tmp_path_factory.mktemp("pipeline") / "p", SMALL)
    out, _ = run(root, "dvc", "repro")
    git_commit(root, "repro")
    return root, out


def _warm_servers() -> dict[Path, str]:
    """The warm stage servers' lock files under this session's temporary directory (each
    names its server's pid; `slimline.warm`)."""
    from slimline import warm

    servers = {}
    for lock in warm._socket_path().parent.glob("*.lock"):
        try:
            servers[lock] = lock.read_text().strip()
        except OSError:
            continue
    return servers


def pytest_sessionstart(session):
    session.config.stash[_WARM_BEFORE] = _warm_servers()


def pytest_sessionfinish(session, exitstatus):
    """Stop the warm servers this session's pipelines started, rather than leave them to idle
    out after the suite (the controller only: workers share its temporary directory)."""
    import psutil

    if hasattr(session.config, "workerinput"):
        return
    before = session.config.stash.get(_WARM_BEFORE, {})
    for lock, pid in _warm_servers().items():
        if before.get(lock) == pid or not pid.isdigit():
            continue
        try:
            server = psutil.Process(int(pid))
            if any("slimline.warm" in part for part in server.cmdline()):
                server.terminate()
        except psutil.Error:
            continue


_WARM_BEFORE = pytest.StashKey[dict]()
