"""The evaluation suite as lm-eval tasks: built-in YAML shipped in the package, golden prompt
files turned into tasks, and any task name from lm-eval's own registry.

The built-in YAML names its data files relative to the data stage's directory; `TaskDir`
copies the YAML into a temporary include directory with those paths made absolute, so the
tasks work wherever the project (or the installed package) lives.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from slimline.config import BUILTIN_TASKS, EvalConfig
from slimline.errors import SlimlineError
from slimline.evaluate.golden import golden_task, read_golden, task_name

TASKS_DIR = Path(__file__).parent / "tasks"


@dataclass
class TaskData:
    """A data file a task reads, so the run can log it as a dataset input."""

    task: str
    path: Path
    kind: str  # "data" = a split of the data stage, "golden" = a user's golden file


@dataclass
class TaskDir:
    """A materialised include directory for lm-eval's TaskManager."""

    path: Path
    tasks: list[str]
    inputs: list[TaskData] = field(default_factory=list)


def _data_files(config: dict) -> dict[str, str]:
    return (config.get("dataset_kwargs") or {}).get("data_files") or {}


def materialise_tasks(cfg: EvalConfig, data_dir: Path, root: Path, dest: Path) -> TaskDir:
    """Write the built-in and golden task YAML for `cfg` into `dest`."""
    data_dir = Path(data_dir).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    out = TaskDir(path=dest, tasks=list(cfg.tasks))
    files: dict[str, str] = {}  # yaml file -> the data file it names
    includes: dict[str, str] = {}  # yaml file -> the file it includes
    for src in sorted(TASKS_DIR.iterdir()):
        if not (src.suffix == ".yaml" or src.name.endswith("_yaml")):
            continue
        config = yaml.safe_load(src.read_text())
        includes[src.name] = config.get("include", "")
        for split, name in _data_files(config).items():
            config["dataset_kwargs"]["data_files"][split] = str(data_dir / name)
            files[src.name] = name
        (dest / src.name).write_text(yaml.safe_dump(config, sort_keys=False))
    for task in cfg.tasks:
        if task not in BUILTIN_TASKS:
            continue
        yaml_file = f"{task}.yaml"
        name = files.get(yaml_file) or files.get(includes.get(yaml_file, ""))
        if name is None:
            raise SlimlineError(f"built-in task {task} names no data file (package bug).")
        if not (data_dir / name).exists():
            raise SlimlineError(
                f"eval task {task} needs {data_dir / name}, which the data stage writes only "
                "for the built-in corpus (data=builtin); drop it from eval.tasks or run "
                "`dvc repro data`.")
        out.inputs.append(TaskData(task, data_dir / name, "data"))
    golden_dir = dest / "golden"
    golden_dir.mkdir(exist_ok=True)
    for suite in cfg.golden:
        name = task_name(suite)
        if name in out.tasks:
            raise SlimlineError(f"golden suite {suite.path} would be task {name}, which is "
                                "already in the suite; give it another eval.golden[].name.")
        source = (root / suite.path) if not Path(suite.path).is_absolute() else Path(suite.path)
        rows = read_golden(source)
        data_file = golden_dir / f"{name}.jsonl"
        data_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
        (dest / f"{name}.yaml").write_text(
            yaml.safe_dump(golden_task(suite, rows, data_file), sort_keys=False))
        out.tasks.append(name)
        out.inputs.append(TaskData(name, source, "golden"))
    return out


def _load_tasks(task_dir: TaskDir, builtin: set[str]) -> tuple[Any, list[Any]]:
    """Load every task up front so a failure names the task, not a library frame.

    lm-eval's own registry (thousands of YAML files, ~15 s to index) is searched only when
    the suite names a task that is not slimline's."""
    from lm_eval.tasks import TaskManager

    external = [t for t in task_dir.tasks if t not in builtin]
    manager = TaskManager(include_path=str(task_dir.path), include_defaults=bool(external),
                          verbosity="ERROR")
    unknown = [t for t in task_dir.tasks if t not in manager.all_tasks]
    if unknown:
        raise SlimlineError(
            f"unknown eval task(s) {', '.join(unknown)}: use slimline's built-in tasks "
            f"({', '.join(BUILTIN_TASKS)}), a golden suite (eval.golden) or an lm-eval task "
            "name (`lm-eval ls tasks`).")
    loaded: list[Any] = []
    for task in task_dir.tasks:
        try:
            found = manager.load(task)
        except Exception as exc:  # datasets/hub failures come in many types
            hint = ("it is a built-in task, so its data file is probably damaged: rerun "
                    "`dvc repro data`" if task in builtin else
                    "it needs its dataset from the Hugging Face hub or a local datasets cache; "
                    "run once with network access, or drop it from eval.tasks")
            raise SlimlineError(f"eval task {task} could not be loaded ({type(exc).__name__}: "
                                f"{exc}); {hint}.") from None
        if task in found["groups"]:
            loaded.append(found["groups"][task])
        else:
            loaded.extend(found["tasks"].values())
    return manager, loaded


def _metric_keys(row: dict) -> list[tuple[str, str]]:
    """A task's lm-eval keys ("metric,filter", stderrs left out) with slimline's name for
    each: the metric alone, or `metric_filter` when two filters report the same metric."""
    keys = [k for k in row if "," in k and "_stderr" not in k]
    bases = [k.split(",", 1)[0] for k in keys]
    return [(key, base if bases.count(base) == 1 else f"{base}_{key.split(',', 1)[1]}")
            for key, base in zip(keys, bases, strict=True)]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def flatten_results(results: dict) -> tuple[dict[str, dict[str, float]], dict[str, dict]]:
    """lm-eval's results as {task: {metric: value}} and {task: {metric: higher_is_better}}.

    lm-eval keys metrics as "metric,filter"; the filter name is dropped unless two filters
    report the same metric. Standard errors (`flatten_stderrs`) and non-numbers are left out.
    """
    values: dict[str, dict[str, float]] = {}
    better: dict[str, dict] = {}
    for task, row in results.get("results", {}).items():
        hib = results.get("higher_is_better", {}).get(task, {})
        metrics: dict[str, float] = {}
        directions: dict[str, bool | None] = {}
        for key, name in _metric_keys(row):
            value = _number(row[key])
            if value is None:
                continue
            metrics[name] = value
            directions[name] = hib.get(key.split(",", 1)[0])
        if metrics:
            values[task] = metrics
            better[task] = directions
    return values, better


def flatten_stderrs(results: dict) -> dict[str, dict[str, float]]:
    """Each metric's standard error from lm-eval's results (`metric_stderr,filter`), named
    as `flatten_results` names the metric; metrics whose stderr lm-eval reports as N/A
    (perplexities) or not at all have none."""
    out: dict[str, dict[str, float]] = {}
    for task, row in results.get("results", {}).items():
        errors = {}
        for key, name in _metric_keys(row):
            metric, _, filt = key.partition(",")
            stderr = _number(row.get(f"{metric}_stderr,{filt}"))
            if stderr is not None and _number(row[key]) is not None:
                errors[name] = stderr
        if errors:
            out[task] = errors
    return out


def run_suite(lm, cfg: EvalConfig, data_dir: Path, root: Path) -> tuple[dict, list[TaskData]]:
    """Run the suite with lm-eval on an `HFLM`; return lm-eval's results and the data read."""
    from lm_eval import simple_evaluate

    with tempfile.TemporaryDirectory(prefix="slimline-tasks-") as tmp:
        task_dir = materialise_tasks(cfg, data_dir, root, Path(tmp))
        ours = set(BUILTIN_TASKS) | {task_name(g) for g in cfg.golden}
        manager, tasks = _load_tasks(task_dir, ours)
        results = simple_evaluate(
            model=lm, tasks=tasks, task_manager=manager, num_fewshot=cfg.num_fewshot,
            limit=cfg.limit, log_samples=False, random_seed=cfg.seed,
            numpy_random_seed=cfg.seed, torch_random_seed=cfg.seed,
            fewshot_random_seed=cfg.seed, verbosity="WARNING")
    return results, task_dir.inputs
