"""MLflow wiring: one run per stage execution, grouped under one parent run per pipeline.

The embedded store is `mlruns/` (SQLite database + artifact root) unless
`MLFLOW_TRACKING_URI` is set. A pipeline execution is one `dvc repro` / `dvc exp run`
process (or whatever sets `SLIMLINE_PIPELINE_ID`); every stage that process runs finds the
same parent run through the `slimline.pipeline_key` tag.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimline.lineage.tags import (
    ARTIFACT_DIGEST,
    DVC_STAGE,
    EXPERIMENT,
    GIT_COMMIT,
    OWNER,
    PARENT_DIGEST,
    PARENT_RUN_ID,
    PIPELINE_KEY,
    PREFIX,
    STAGE,
    WARM,
)
from slimline.paths import MLRUNS, project_root

DB_NAME = "mlflow.db"


def store_dir(root: Path | None = None) -> Path:
    """The embedded store's directory: `mlruns/` of the project.

    A queued or `--temp` `dvc exp run` runs in a throw-away copy under `.dvc/tmp/exps/`;
    DVC then sets `DVC_ROOT` to the repository the experiment belongs to (with
    `DVC_EXP_NAME`), and its runs and versions go to that repository's store.
    """
    if os.environ.get("DVC_EXP_NAME") and os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve() / MLRUNS
    return (root or project_root()) / MLRUNS


def tracking_uri(root: Path | None = None) -> str:
    """`MLFLOW_TRACKING_URI` if set, else the embedded SQLite store under `mlruns/`."""
    if uri := os.environ.get("MLFLOW_TRACKING_URI"):
        return uri
    store = store_dir(root)
    store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / DB_NAME}"


# Seconds a tracking server gets to answer the first request of a process. MLflow's client
# retries a refused connection for minutes (MLFLOW_HTTP_REQUEST_MAX_RETRIES, backoff), which
# suits a busy server mid-pipeline, not a URI that is wrong or a server that is down.
PROBE_TIMEOUT_S = 5


def check_server(uri: str) -> None:
    """Fail in seconds, naming `uri`, when an HTTP tracking server does not answer.

    One GET of the server's /health without retries; any HTTP answer (even an error status)
    shows the server is there, and the requests after it keep MLflow's retries.
    """
    if not uri.startswith(("http://", "https://")):
        return
    from mlflow.exceptions import MlflowException
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request
    from requests.exceptions import RequestException

    from slimline.errors import SlimlineError

    try:
        http_request(get_default_host_creds(uri), "/health", "GET", max_retries=0,
                     backoff_factor=0, timeout=PROBE_TIMEOUT_S, raise_on_status=False)
    except (MlflowException, RequestException) as exc:
        text = str(exc).lower()
        reason = ("connection refused" if "refused" in text else
                  f"no answer within {PROBE_TIMEOUT_S} s" if "timed out" in text else
                  "the host is unknown" if "resolve" in text or "not known" in text else
                  str(exc).splitlines()[0][:160])
        raise SlimlineError(
            f"the MLflow tracking server MLFLOW_TRACKING_URI={uri} does not answer ({reason}). "
            "Start it or fix the URI, or unset MLFLOW_TRACKING_URI to use the project's own "
            "store (mlruns/).") from None


def lost_server(exc: BaseException) -> str | None:
    """The message for `exc` when it is the HTTP tracking server going away mid-stage (MLflow
    gives up after its retries), else None: the stage's work is lost, not its inputs."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri.startswith(("http://", "https://")):
        return None
    seen: BaseException | None = exc
    while seen is not None:
        text = f"{type(seen).__name__}: {seen}"
        if any(s in text for s in ("Max retries exceeded", "Connection refused",
                                   "ConnectionError", "Failed to establish",
                                   "RemoteDisconnected", "Connection aborted")):
            return (f"the MLflow tracking server MLFLOW_TRACKING_URI={uri} stopped answering "
                    "during this stage; it was not recorded and registered nothing. Start the "
                    "server again and re-run (`dvc repro`): finished stages are not run "
                    "again, and the next stage run marks this one KILLED. "
                    "MLFLOW_HTTP_REQUEST_MAX_RETRIES / MLFLOW_HTTP_REQUEST_TIMEOUT set how long "
                    "a stage waits for a busy server.")
        seen = seen.__cause__ or seen.__context__
    return None


def close_orphaned_runs(client: Any, experiment_id: str) -> list[str]:
    """Mark KILLED the stage runs left RUNNING by a process of this machine that is gone
    (SIGKILL, out of memory), and their pipeline runs; return the stage runs' ids.

    Runs of live processes and of other machines sharing the server are left alone.
    """
    from slimline._atomic import owner_is_dead

    closed = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = "
                                  "'RUNNING'", max_results=1000):
        owner = run.data.tags.get(OWNER)
        if owner and owner_is_dead(owner):
            client.set_terminated(run.info.run_id, status="KILLED")
            if parent := run.data.tags.get(PARENT_RUN_ID):
                client.set_terminated(parent, status="KILLED")
            closed.append(run.info.run_id)
    return closed


def use_store(root: Path | None = None) -> bool:
    """Point MLflow's tracking and registry at the store; True if it is the embedded one.

    The embedded store is first made to point at itself if it was copied or moved (see
    `slimline.lineage.relocate`).
    """
    import mlflow

    from slimline.lineage.relocate import relocate_store

    # Decide before set_tracking_uri: mlflow exports MLFLOW_TRACKING_URI to the environment.
    embedded = "MLFLOW_TRACKING_URI" not in os.environ
    uri = tracking_uri(root)
    if embedded:
        relocate_store(store_dir(root))
    else:
        check_server(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return embedded


def configure(experiment: str, root: Path | None = None) -> str:
    """Point MLflow at the store and make sure `experiment` exists; return its id."""
    import mlflow

    embedded = use_store(root)
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is not None:
        return exp.experiment_id
    return mlflow.create_experiment(experiment, artifact_location=_artifact_root(
        store_dir(root) if embedded else None, mlflow.get_tracking_uri()))


def _artifact_root(store: Path | None, uri: str) -> str | None:
    """Where a new experiment's artifacts go: `artifacts/` next to the SQLite database
    (the embedded store's, or one named by `MLFLOW_TRACKING_URI`); None lets a server
    decide. Without it MLflow uses `./mlruns` of whatever directory the process runs in."""
    if store is None and uri.startswith("sqlite:///"):
        store = Path(uri.removeprefix("sqlite:///")).parent
    return (store / "artifacts").resolve().as_uri() if store is not None else None


def git_commit(root: Path | None = None) -> str | None:
    """HEAD of the project's git checkout, with `-dirty` when tracked files changed."""
    cwd = root or project_root()
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if dirty.strip() else "")


def pipeline_key() -> str | None:
    """Identify the pipeline execution this process belongs to, if any.

    `SLIMLINE_PIPELINE_ID` wins; otherwise the nearest ancestor `dvc` process (its pid and
    start time, so a reused pid is not mistaken for the same execution) of the stage's entry
    point (in a warm worker, the process that handed the stage over: `slimline.warm`).
    """
    if env := os.environ.get("SLIMLINE_PIPELINE_ID"):
        return env
    import psutil

    from slimline.warm import entry_pid

    try:
        for proc in psutil.Process(entry_pid()).parents():
            cmd = proc.cmdline()
            names = {Path(part).name for part in cmd[:2]}
            if "dvc" in names or proc.name() == "dvc":
                return f"{socket.gethostname()}:{proc.pid}:{proc.create_time():.0f}"
    except psutil.Error:
        return None
    return None


def _parent_run(client: Any, experiment_id: str, key: str, params_file: Path) -> str:
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{PIPELINE_KEY}` = '{key}'", max_results=1
    )
    if runs:
        return runs[0].info.run_id
    run = client.create_run(
        experiment_id,
        run_name=f"pipeline {time.strftime('%Y-%m-%d %H:%M:%S')}",
        tags={PIPELINE_KEY: key, STAGE: "pipeline",
              GIT_COMMIT: git_commit(params_file.parent) or "unknown",
              # The DVC experiment it runs (queued ones too): how `slimline sweep` finds
              # and nests the pipelines of its points.
              **({EXPERIMENT: exp} if (exp := os.environ.get("DVC_EXP_NAME")) else {})},
    )
    if params_file.exists():
        client.log_artifact(run.info.run_id, str(params_file))
    return run.info.run_id


@dataclass
class StageRun:
    """Handle on the active stage run: log what the stage saw and made."""

    run_id: str
    stage: str
    parent_run_id: str | None

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None, *,
                    model_id: str | None = None, dataset: Any = None) -> None:
        """Log metrics, optionally linked to a logged model and the dataset they measure."""
        import mlflow

        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None}, step=step,
                           model_id=model_id, dataset=dataset)

    def log_series(self, name: str, values: list[float]) -> None:
        """Log a curve (e.g. per-step loss) in one batch call instead of one call a point."""
        if not values:
            return
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient

        now = int(time.time() * 1000)
        points = [Metric(name, float(v), now, step) for step, v in enumerate(values)]
        client = MlflowClient()
        for i in range(0, len(points), 1000):
            client.log_batch(self.run_id, metrics=points[i:i + 1000])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Tag the run; keys are full names from `slimline.lineage.tags`."""
        import mlflow

        from slimline.errors import SlimlineError

        foreign = sorted(k for k in tags if not k.startswith(PREFIX))
        if foreign:
            raise SlimlineError(f"tag keys {foreign} are not slimline tags: name each one in "
                                "slimline.lineage.tags and pass the constant.")
        mlflow.set_tags({k: str(v) for k, v in tags.items() if v is not None})

    def log_dataset(self, path: Path, *, name: str, digest: str, context: str,
                    num_rows: int | None = None) -> Any:
        """Record a data file the stage read, named by our content digest; return the
        MLflow dataset so metrics can be linked to it."""
        import mlflow
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset

        with warnings.catch_warnings():
            # mlflow registers the local source twice (for '' and 'file'); either is right.
            warnings.filterwarnings("ignore", message=".*interpreted in multiple ways.*")
            source = resolve_dataset_source(Path(path).resolve().as_uri())
        dataset = MetaDataset(source=source, name=name, digest=digest[:36])
        tags = {"sha256": digest}
        if num_rows is not None:
            tags["num_rows"] = str(num_rows)
        mlflow.log_input(dataset, context=context, tags=tags)
        return dataset

    def log_split(self, data_dir: Path, split: Any) -> Any:
        """Record a split of the data stage (a `SplitInfo`) as the dataset `data/<name>`."""
        return self.log_dataset(Path(data_dir) / split.file, name=f"data/{split.name}",
                         digest=split.sha256, context=split.name, num_rows=split.num_docs)

    def record_artifact(self, result: Any, *, files: tuple[str, ...],
                        tags: Mapping[str, Any] | None = None) -> None:
        """The tail every model stage's run shares: tag the artifact's digest, its parent's
        and the runtime it computed on, log its metrics and its `files` (those present).

        Args:
            result: the built stage (a `slimline.model_stage.StageResult`).
            files: names in the artifact directory to log under `model/`.
            tags: more tags for this stage (`SKIPPED` for the stages after the base).
        """
        from slimline import runtime

        self.set_tags({ARTIFACT_DIGEST: result.digest, PARENT_DIGEST: result.parent_digest or "",
                       **{PREFIX + k: v for k, v in runtime.run_tags(result.inputs).items()},
                       **(tags or {})})
        self.log_metrics(result.metrics)
        for name in files:
            if (result.path / name).exists():
                self.log_artifact(result.path / name, "model")

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        import mlflow

        if Path(path).is_dir():
            mlflow.log_artifacts(str(path), artifact_path)
        else:
            mlflow.log_artifact(str(path), artifact_path)


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1 << 20) if os.uname().sysname == "Darwin" else rss / 1024


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def flatten_params(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _flatten("", params, out)
    return out


@contextmanager
def stage_run(stage: str, *, params: Mapping[str, Any], experiment: str,
              dvc_stage: str | None = None, run_name: str | None = None,
              extra_tags: Mapping[str, str] | None = None,
              root: Path | None = None) -> Iterator[StageRun]:
    """Open the MLflow run of one stage execution, nested under the pipeline's parent run.

    Logs exactly `params` (flattened), the lineage tags, the entry point's start-up (its
    process start to this run, `startup_s`; whether it ran warm, `slimline.warm`), and on
    exit the wall time and peak memory; a failure marks the run (and the parent) FAILED and
    is re-raised. First it checks the artifacts the stage depends on against their
    producers' digests and refuses a damaged one (`slimline.integrity`).
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    from slimline._atomic import owner_tag
    from slimline.integrity import check_stage_inputs
    from slimline.warm import in_worker, process_started

    root = root or project_root()
    check_stage_inputs(dvc_stage or stage, root)
    experiment_id = configure(experiment, root)
    client = MlflowClient()
    for run_id in close_orphaned_runs(client, experiment_id):
        print(f"notice: run {run_id} was left RUNNING by a killed process; marked KILLED.")
    key = pipeline_key()
    parent_id = _parent_run(client, experiment_id, key, root / "params.yaml") if key else None
    tags = {
        STAGE: stage,
        DVC_STAGE: dvc_stage or stage,
        GIT_COMMIT: git_commit(root) or "unknown",
        PARENT_RUN_ID: parent_id or "",
        OWNER: owner_tag(),
        WARM: str(in_worker()).lower(),
        **(extra_tags or {}),
    }
    started = process_started()
    start = time.perf_counter()
    status = "FINISHED"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name or stage,
                          parent_run_id=parent_id, tags=tags) as active:
        handle = StageRun(active.info.run_id, stage, parent_id)
        if started is not None:
            handle.log_metrics({"startup_s": max(0.0, time.time() - started)})
        flat = flatten_params(params)
        if flat:
            mlflow.log_params({k: "null" if v is None else v for k, v in flat.items()})
        try:
            yield handle
        except BaseException:
            status = "FAILED"
            raise
        finally:
            handle.log_metrics({"wall_time_s": time.perf_counter() - start,
                                "peak_memory_mb": peak_memory_mb()})
            mlflow.end_run(status)
            if parent_id:
                client.set_terminated(parent_id, status=status)
