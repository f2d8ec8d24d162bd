"""What slimline's orchestration costs on the embedded default (issue 18): each stage's wall
time, start-up, peak memory and artifact bytes; the pipeline's process overhead; the
quantize and eval stages against direct llm-compressor / lm-eval calls in fresh processes;
disk amplification; a no-op repro and a repro after a `quantize.*` change.

Usage: python bench/overhead.py [--workdir /tmp/slimline-overhead] [--small] [--rounds 2]
Runs in a throw-away project under --workdir (never in the repository) and writes
bench/results/overhead.json (bench/results/overhead_small.json with --small).

Start-up is measured from outside the stages' code: a `sitecustomize` on PYTHONPATH wraps
`slimline.lineage.tracking.stage_run` in each stage process and records the process's start
(from the kernel), the moment the stage's run opens (its own work starts) and closes, the
process's exit and the heavy packages imported by the time the work starts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

# The environment every command here gets, taken before any import below can add to it
# (MLflow, torch and huggingface_hub set variables when imported): a stage's warm server is
# keyed by its environment, so one that changed half-way would start a second server.
ENV_AT_START = dict(os.environ)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.dvc_project import SMALL, client, make_project, ran  # noqa: E402

# Runs inside every Python process of the timed repro (PYTHONPATH); active only in a
# stage entry point (pipelines/*.py, the process DVC starts), so dvc's own processes and a
# warm server are untouched. The stage's start-up and own work are on its MLflow run
# (`startup_s`, `wall_time_s`); this adds the entry point process's start and exit.
HOOK = '''
import atexit, json, os, sys, time
if os.environ.get("SLIMLINE_BENCH_LOG") and sys.argv and "pipelines" in sys.argv[0]:
    from slimline.warm import process_started

    _record = {"stage": os.environ.get("DVC_STAGE"), "argv": sys.argv,
               "process_start": process_started()}

    @atexit.register
    def _write():
        _record["exit"] = time.time()
        with open(os.environ["SLIMLINE_BENCH_LOG"], "a") as f:
            f.write(json.dumps(_record) + "\\n")
'''

# Direct llm-compressor: the recovered model, the recipe the stage wrote and the same
# calibration token ids (prepared by the parent), in a fresh process; saved compressed.
DIRECT_QUANTIZE = '''
import json, sys, time
t0 = time.time()
import torch
from datasets import Dataset
from llmcompressor import oneshot
from transformers import AutoModelForCausalLM, AutoTokenizer
spec = json.loads(open(sys.argv[1]).read())
model = AutoModelForCausalLM.from_pretrained(spec["model"], torch_dtype="auto")
tokenizer = AutoTokenizer.from_pretrained(spec["model"])
ids = spec["samples"]
torch.manual_seed(spec["seed"])
oneshot(model=model, recipe=spec["recipe"], dataset=Dataset.from_dict(
            {"input_ids": ids, "attention_mask": [[1] * len(s) for s in ids]}),
        num_calibration_samples=len(ids), max_seq_length=spec["seq_len"],
        shuffle_calibration_samples=False, **spec["oneshot_kwargs"])
model.save_pretrained(spec["out"], save_compressed=True)
tokenizer.save_pretrained(spec["out"])
print(json.dumps({"in_process_s": time.time() - t0}))
'''

# Direct lm-eval: the same task files (materialised by the parent), limit, seeds, batch
# size and length on the quantized checkpoint, in a fresh process. The eval stage also
# measures speed on the loaded model; the same call is timed here and reported apart.
DIRECT_EVAL = '''
import json, sys, time
t0 = time.time()
import torch
from lm_eval import simple_evaluate
from lm_eval.models.huggingface import HFLM
from lm_eval.tasks import TaskManager
from transformers import AutoModelForCausalLM, AutoTokenizer
spec = json.loads(open(sys.argv[1]).read())
model = AutoModelForCausalLM.from_pretrained(spec["model"], torch_dtype="auto")
tokenizer = AutoTokenizer.from_pretrained(spec["model"])
speed_s = 0.0
if spec["speed"] is not None:
    from slimline.config import SpeedConfig
    from slimline.evaluate.speed import measure_speed
    t = time.time()
    measure_speed(model, SpeedConfig(**spec["speed"]), seed=spec["seed"])
    speed_s = time.time() - t
lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=spec["batch_size"],
          max_length=spec["seq_len"], device="cpu")
manager = TaskManager(include_path=spec["task_dir"], include_defaults=False, verbosity="ERROR")
seed = spec["seed"]
simple_evaluate(model=lm, tasks=spec["tasks"], task_manager=manager,
                num_fewshot=spec["num_fewshot"], limit=spec["limit"], log_samples=False,
                random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
                fewshot_random_seed=seed, verbosity="WARNING")
print(json.dumps({"in_process_s": time.time() - t0, "speed_s": speed_s}))
'''


def _timed(args: list[str], project: Path, env: dict[str, str] | None = None) -> tuple[str, float]:
    start = time.perf_counter()
    result = subprocess.run(args, cwd=project, capture_output=True, text=True,
                            env={**_base_env(project), **(env or {})})
    if result.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr, time.perf_counter() - start


def _base_env(project: Path) -> dict[str, str]:
    from tests.dvc_project import _env

    # The project's own copy of slimline, not the repository's (edited while this runs).
    env = {k: v for k, v in _env(project).items()
           if k in ENV_AT_START or k in ("PATH", "XDG_CACHE_HOME")}
    return {**env, "PYTHONPATH": str(project / "src")}


def _committed_code(project: Path) -> None:
    """The project runs the repository's committed code (other work in progress stays out)."""
    for name in ("src", "pipelines"):
        shutil.rmtree(project / name)
    archive = subprocess.run(["git", "archive", "HEAD", "src", "pipelines"], cwd=REPO,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(project)], input=archive, check=True)


def _hooked(workdir: Path) -> dict[str, str]:
    hook = workdir / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    return {"PYTHONPATH": os.pathsep.join((str(hook), str(workdir / "project" / "src"))),
            "SLIMLINE_BENCH_LOG": str(workdir / "stages.jsonl")}


def _records(workdir: Path) -> list[dict]:
    path = workdir / "stages.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def stage_processes(records: list[dict], runs: dict[str, dict]) -> dict[str, dict]:
    """Per stage: the entry point process's life, its start-up (process start to its run,
    recorded by the run as `startup_s`) and its teardown (run end to process exit)."""
    out = {}
    for r in records:
        run = runs.get(r["stage"] or "")
        if run is None or "exit" not in r:
            continue
        out[r["stage"]] = {"process_s": round(r["exit"] - r["process_start"], 2),
                           "teardown_s": round(r["exit"] - run["end_time"], 2)}
    return out


def stage_runs(project: Path) -> dict[str, dict]:
    """The latest MLflow stage run per DVC stage: what it recorded of its time and memory,
    and whether it ran warm."""
    c = client(project)
    exp = c.get_experiment_by_name("slimline")
    out: dict[str, dict] = {}
    for r in c.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"]):
        stage = r.data.tags.get("slimline.dvc_stage")
        m = r.data.metrics
        if stage and "wall_time_s" in m:
            out[stage] = {"wall_time_s": round(m["wall_time_s"], 2),
                          "startup_s": round(m["startup_s"], 2) if "startup_s" in m else None,
                          "peak_memory_mb": round(m["peak_memory_mb"], 1),
                          "warm": r.data.tags.get("slimline.warm") == "true",
                          "end_time": r.info.end_time / 1000}
    return out


def artifact_bytes(project: Path) -> dict[str, int]:
    return {d.name: sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
            for d in sorted((project / "artifacts").iterdir()) if d.is_dir()}


def _plain_recipe(recipe: Path, out: Path) -> Path:
    """The stage's recipe.yaml with its enum values as plain strings: llm-compressor writes
    them as Python object tags, which its own loader (yaml.safe_load) refuses."""
    import enum

    import yaml

    def plain(node):
        if isinstance(node, dict):
            return {k: plain(v) for k, v in node.items()}
        if isinstance(node, list):
            return [plain(v) for v in node]
        return node.value if isinstance(node, enum.Enum) else node

    # Our own file, written by the stage: the unsafe loader only rebuilds the enums.
    out.write_text(yaml.safe_dump(plain(yaml.unsafe_load(recipe.read_text())),
                                  sort_keys=False))
    return out


def _quantize_spec(project: Path, workdir: Path) -> Path:
    import yaml

    from slimline.checkpoint import load_checkpoint
    from slimline.config import QuantizeStageConfig, RuntimeConfig, parse_section
    from slimline.data import read_split
    from slimline.quantize._onload import plan_onload
    from slimline.quantize.calibration import calibration_samples
    from slimline.quantize.methods import method_for

    params = yaml.safe_load((project / "params.yaml").read_text())
    cfg = parse_section(QuantizeStageConfig, params["quantize"], "quantize")
    rt = parse_section(RuntimeConfig, params["runtime"], "runtime")
    model, tokenizer = load_checkpoint(project / "artifacts" / "recovered")
    _, texts = read_split(project / "artifacts" / "data", "calibration")
    samples = calibration_samples(tokenizer, texts, num_samples=cfg.num_samples,
                                  seq_len=cfg.seq_len, seed=cfg.seed)
    device, _ = rt.resolve()
    plan = plan_onload(method_for(cfg).calibrated(cfg), device,
                       list(model._no_split_modules or []))
    spec = {"model": str(project / "artifacts" / "recovered"), "samples": samples,
            "recipe": str(_plain_recipe(project / "artifacts" / "quantized" / "recipe.yaml",
                                        workdir / "direct_recipe.yaml")),
            "seed": cfg.seed, "seq_len": cfg.seq_len, "oneshot_kwargs": plan.oneshot_kwargs(),
            "out": str(workdir / "direct_quantized")}
    path = workdir / "direct_quantize.json"
    path.write_text(json.dumps(spec))
    return path


def _eval_spec(project: Path, workdir: Path) -> Path:
    import yaml

    from slimline.config import EvalConfig, parse_section
    from slimline.evaluate.suite import materialise_tasks

    params = yaml.safe_load((project / "params.yaml").read_text())
    cfg = parse_section(EvalConfig, params["eval"], "eval")
    task_root = workdir / "direct_tasks"
    shutil.rmtree(task_root, ignore_errors=True)
    task_root.mkdir()
    tasks = materialise_tasks(cfg, project / "artifacts" / "data", project, task_root)
    spec = {"model": str(project / "artifacts" / "quantized"), "task_dir": str(tasks.path),
            "tasks": tasks.tasks, "limit": cfg.limit, "seed": cfg.seed,
            "num_fewshot": cfg.num_fewshot, "batch_size": cfg.batch_size,
            "seq_len": cfg.seq_len,
            "speed": cfg.speed.model_dump(mode="json") if cfg.speed is not None else None}
    path = workdir / "direct_eval.json"
    path.write_text(json.dumps(spec))
    return path


def compare(project: Path, workdir: Path, stage: str, script: str, spec: Path,
            rounds: int, before_stage=None) -> dict:
    """`dvc repro -f -s stage` against `python -c script spec`, alternating, `rounds` each."""
    stage_s, direct_s, direct_out = [], [], []
    for _ in range(rounds):
        if before_stage:
            before_stage()
        stage_s.append(_timed(["dvc", "repro", "-f", "-s", stage], project)[1])
        out, seconds = _timed([sys.executable, "-c", script, str(spec)], project)
        direct_s.append(seconds)
        direct_out.append(json.loads(next(line for line in reversed(out.splitlines())
                                          if line.startswith('{"in_process_s"'))))
    ratio = statistics.median(stage_s) / statistics.median(direct_s)
    return {"stage_command": f"dvc repro -f -s {stage}", "stage_s": [round(s, 2) for s in stage_s],
            "direct_s": [round(s, 2) for s in direct_s], "direct_reported": direct_out,
            "ratio": round(ratio, 3)}


def warm_up(project: Path, tries: int = 4) -> None:
    """Run the quantize stage untimed until it runs warm: the comparisons are of warm stages
    (a server listening for DVC's stage environment, as after a pipeline's first stage)."""
    for _ in range(tries):
        _timed(["dvc", "repro", "-f", "-s", "quantize"], project)
        c = client(project)
        (latest,) = c.search_runs([c.get_experiment_by_name("slimline").experiment_id],
                                  "tags.`slimline.dvc_stage` = 'quantize'",
                                  order_by=["attributes.start_time DESC"], max_results=1)
        if latest.data.tags.get("slimline.warm") == "true":
            return
    raise SystemExit(f"the quantize stage did not run warm in {tries} tries")


def disk(project: Path) -> dict:
    from tests.integrity.test_pipeline import disk_amplification

    total, weights = disk_amplification(project)
    return {"all_files": round(total, 3), "weight_files": round(weights, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/slimline-overhead"))
    ap.add_argument("--small", action="store_true", help="the test suite's SMALL overrides")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cold", action="store_true",
                    help="every stage in a process of its own (SLIMLINE_WARM=0), as before "
                         "slimline.warm")
    ap.add_argument("--resume", action="store_true",
                    help="keep the project and pipeline run of an earlier call in --workdir")
    args = ap.parse_args()
    workdir = args.workdir.resolve()
    if workdir == REPO or REPO in workdir.parents:
        raise SystemExit("--workdir must be outside the repository")
    overrides = list(SMALL) if args.small else []
    if args.cold:
        os.environ["SLIMLINE_WARM"] = "0"  # every command below inherits it
    project = workdir / "project"
    first = workdir / "pipeline.json"
    if not (args.resume and first.exists()):
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        load = {"start": os.getloadavg()}
        make_project(project, overrides, before_compose=_committed_code)
        _, repro_s = _timed(["dvc", "repro"], project, _hooked(workdir))
        load["after_repro"] = os.getloadavg()
        first.write_text(json.dumps({"repro_s": repro_s, "load": load, "runs": stage_runs(project),
                                     "sizes": artifact_bytes(project)}))
    state = json.loads(first.read_text())
    repro_s, load, runs, sizes = state["repro_s"], state["load"], state["runs"], state["sizes"]
    processes = stage_processes(_records(workdir), runs)
    own = sum(r["wall_time_s"] for r in runs.values())
    print(f"dvc repro: {repro_s:.1f} s; stages' own {own:.1f} s", flush=True)

    noop_out, noop_s = _timed(["dvc", "repro"], project)
    if not args.cold:
        warm_up(project)
    quantize = compare(project, workdir, "quantize", DIRECT_QUANTIZE,
                       _quantize_spec(project, workdir), args.rounds)
    print(f"quantize: {quantize}", flush=True)
    evaluation = compare(project, workdir, "eval@quantized", DIRECT_EVAL,
                         _eval_spec(project, workdir), args.rounds,
                         before_stage=lambda: shutil.rmtree(project / ".slimline" / "evals",
                                                            ignore_errors=True))
    print(f"eval: {evaluation}", flush=True)
    load["after_compare"] = os.getloadavg()
    amplification = disk(project)

    import yaml

    from tests.dvc_project import compose

    seed = yaml.safe_load((project / "params.yaml").read_text())["quantize"]["seed"]
    change = f"quantize.seed={seed + 1}"  # a value not run before (--resume runs it again)
    compose(project, [*overrides, change])
    change_out, change_s = _timed(["dvc", "repro"], project)
    load["end"] = os.getloadavg()

    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "load_average": load},
        "small": args.small,
        "warm": not args.cold,
        "command": " ".join(["python bench/overhead.py", *sys.argv[1:]]),
        "pipeline": {"command": "dvc repro", "wall_s": round(repro_s, 1),
                     "stages_own_s": round(own, 1),
                     "process_overhead": round(repro_s / own, 3),
                     "stages_startup_s": round(sum(r["startup_s"] or 0 for r in runs.values()),
                                               1),
                     "stage_processes_s": round(sum(p["process_s"]
                                                    for p in processes.values()), 1)},
        "stages": {stage: {**runs.get(stage, {}), **processes.get(stage, {}),
                           **({"artifact_bytes": sizes[name]} if (name := _artifact(stage))
                              in sizes else {})}
                   for stage in runs},
        "quantize_vs_oneshot": quantize,
        "eval_vs_simple_evaluate": evaluation,
        "disk_amplification": amplification,
        "noop_repro": {"command": "dvc repro", "s": round(noop_s, 2),
                       "ran": sorted(ran(noop_out))},
        "quantize_change": {"command": f"slimline compose {change}; dvc repro",
                            "s": round(change_s, 1), "ran": sorted(ran(change_out))},
    }
    name = "overhead" + ("_small" if args.small else "") + ("_cold" if args.cold else "")
    name += ".json"
    (REPO / "bench" / "results" / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _artifact(stage: str) -> str:
    return {"prune": "pruned", "recover": "recovered", "quantize": "quantized"}.get(stage, stage)


if __name__ == "__main__":
    main()
