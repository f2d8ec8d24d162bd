"""A throw-away slimline project run the way a user runs one: real `dvc` and `slimline`
processes in a git repository, the embedded MLflow store under the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mlflow.tracking import MlflowClient

from .conftest import REPO

# Small enough that a whole pipeline runs in a couple of minutes on 2 cores.
SMALL = ["model.vocab_size=384", "model.hidden_size=64", "model.intermediate_size=128",
         "model.num_hidden_layers=2", "model.max_position_embeddings=64",
         "model.train.steps=30", "model.train.seq_len=64", "model.train.batch_size=16",
         "data.calibration.num_docs=16", "data.recovery.num_docs=64", "eval.seq_len=64",
         "eval.limit=16", "eval.speed.prompt_tokens=16", "eval.speed.new_tokens=8",
         "eval.speed.repeats=1", "report.speed.prompt_tokens=16", "report.speed.new_tokens=8",
         "report.speed.repeats=1", "report.speed.rounds=1", "prune.round_to=32",
         "prune.num_batches=2",
         "recover.steps=5", "recover.batch_size=4", "recover.seq_len=64",
         "quantize.group_size=32", "quantize.num_samples=8", "quantize.seq_len=32",
         # A 30-step model is far from saturated: gate on large losses only.
         "registry.gates.slimline_heldout.word_perplexity=0.5",
         "registry.gates.slimline_facts_mc.acc=0.3",
         "registry.gates.slimline_facts_gen.exact_match=0.01"]


def _env(project: Path) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)  # the embedded store: <project>/mlruns/mlflow.db
    env.pop("SLIMLINE_ROOT", None)
    env["XDG_CACHE_HOME"] = str(project / ".test-cache")
    return env


def run(project: Path, *args: str, code: int = 0) -> tuple[str, float]:
    """Run a command in `project`; assert its exit code; return its output and seconds."""
    start = time.perf_counter()
    result = subprocess.run(args, cwd=project, env=_env(project), capture_output=True,
                            text=True)
    assert result.returncode == code, result.stdout + result.stderr
    return result.stdout + result.stderr, time.perf_counter() - start


def slimline(project: Path, *args: str, code: int = 0) -> str:
    return run(project, "slimline", *args, code=code)[0]


def ran(output: str) -> set[str]:
    """The stages `dvc repro` / `dvc exp run` ran, from their output."""
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def store(project: Path) -> str:
    return f"sqlite:///{project / 'mlruns' / 'mlflow.db'}"


def client(project: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=store(project), registry_uri=store(project))


def runs(project: Path) -> list:
    c = client(project)
    return c.search_runs([c.get_experiment_by_name("slimline").experiment_id])


def git_commit(project: Path, message: str) -> None:
    for cmd in (["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message]):
        subprocess.run(cmd, cwd=project, check=True, capture_output=True)


def make_project(root: Path, overrides: list[str],
                 before_compose: Callable[[Path], None] | None = None) -> Path:
    """A new project at `root` composed with `overrides` (kept in conf/ like a user's);
    `before_compose` writes the files the composition names (a user's data)."""
    for name in ("conf", "pipelines", "src", "golden"):
        shutil.copytree(REPO / name, root / name,
                        ignore=shutil.ignore_patterns("__pycache__", "choices"))
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(REPO / name, root / name)
    (root / ".dvc").mkdir()
    shutil.copy(REPO / ".dvc" / "config", root / ".dvc" / "config")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    if before_compose is not None:
        before_compose(root)
    compose(root, overrides)
    git_commit(root, "init")
    return root


def copy_project(source: Path, to: Path) -> Path:
    """`cp -a`: hard links between the workspace and the DVC cache survive, and slimline
    relocates the copied MLflow store on its first use (slimline.lineage.relocate)."""
    subprocess.run(["cp", "-a", str(source), str(to)], check=True)
    return to


def compose(project: Path, overrides: list[str]) -> None:
    """`slimline compose` in-process (a few seconds cheaper than the CLI)."""
    import yaml

    from slimline.choices import compose_choices
    from slimline.cli.compose import HEADER

    values, _ = compose_choices(overrides, project / "conf", project)
    (project / "params.yaml").write_text(HEADER + yaml.safe_dump(values, sort_keys=False))
