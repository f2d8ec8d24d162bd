"""Run a sweep: queue its points on DVC's experiment queue wave by wave, wait, judge every
finished point against the gates, write the frontier and crown the smallest that passes.

Resumable by construction: a point is done when DVC holds an experiment of that name for
the current commit, so a second invocation (or one after an interruption) queues only
what is missing and waits for what is still queued or running.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from slimline.errors import SlimlineError
from slimline.sweep import queue
from slimline.sweep.frontier import Outcome, by_size, closest_failure, mark_pareto, winner
from slimline.sweep.grid import LEVEL_STAGES, Point, expand, make_points, waves
from slimline.sweep.report import Verdict, write

POLL_S = 5.0
KICK_S = 30.0  # how long a queued point may wait for a missing worker


@dataclass
class SweepResult:
    verdict: Verdict
    files: list[Path]
    queued: list[str]  # the points this invocation ran
    wall_s: float


def _outcome(root: Path, point: Point, commit: str, model_name: str,
             gates: dict[str, float]) -> Outcome | None:
    """The point's final registered version judged as `slimline promote` would."""
    from slimline.registry.gates import check_gates
    from slimline.registry.promote import reference_for
    from slimline.registry.refs import get_version

    raw = queue.read_file(root, commit, "registry.json")
    if raw is None:
        return None
    record = json.loads(raw)
    version = get_version(record.get("registered_model", model_name), record["final_version"])
    results = check_gates(version, reference_for(version).version, gates)
    return Outcome(point.name, point.label, version.version, version.stage,
                   version.metrics.get("size.size_bytes", float("inf")), results,
                   version.metrics.get("speed.decode_tokens_per_s"))


class _Progress:
    def __init__(self, sweep_id: str, total: int, echo: Callable[[str], None]):
        self.sweep_id, self.total, self.echo = sweep_id, total, echo
        self.last = ""

    def show(self, done: int, running: int, queued: int, best: Outcome | None) -> None:
        line = (f"[sweep {self.sweep_id}] {done}/{self.total} done, {running} running, "
                f"{queued} queued; best so far: " + (
                    f"{best.name} v{best.version} ({best.size_bytes:,.0f} bytes)" if best
                    else "none passing yet"))
        if line != self.last:
            self.echo(line)
            self.last = line


def run_sweep(root: Path, overrides: Sequence[str], *, jobs: int = 2,
              alias: str = "candidate", poll_s: float = POLL_S,
              echo: Callable[[str], None] = print) -> SweepResult:
    """Sweep the grid `overrides` (Hydra sweep syntax) on DVC's queue with `jobs` workers.

    Args:
        root: the project (a git commit to branch from, params.yaml composed).
        overrides: e.g. `["prune.channel_ratio=0.25,0.5", "quantize=gptq,rtn"]`.
        jobs: queue workers (`dvc queue start -j`).
        alias: the alias the winner gets.
        poll_s: seconds between looks at the queue.
        echo: where progress lines go.
    """
    from mlflow.tracking import MlflowClient

    from slimline.config import RegistryConfig, parse_section
    from slimline.lineage.tracking import configure
    from slimline.pipeline import PARAMS_FILE, load_params, tracking_experiment
    from slimline.sweep import record

    start = time.perf_counter()
    if not (root / PARAMS_FILE).exists():
        raise SlimlineError("no params.yaml: run `slimline compose` first.")
    registry = parse_section(RegistryConfig, load_params(root)["registry"], "registry")
    gates = registry.gate_items()
    base = queue.baseline(root)
    points = make_points(expand(overrides), (root / PARAMS_FILE).read_text())
    names = [p.name for p in points]
    sweep_id = hashlib.sha256("\n".join([base, *names]).encode()).hexdigest()[:8]
    experiment_id = configure(tracking_experiment(root), root)
    client = MlflowClient()
    run_id = record.sweep_run(client, experiment_id, sweep_id, {
        "overrides": " ".join(overrides), "jobs": str(jobs), "alias": alias,
        "points": str(len(points)), "baseline": base})
    echo(f"sweep {sweep_id}: {len(points)} point(s) from {base[:7]}, MLflow run {run_id}")

    try:
        outcomes: dict[str, Outcome] = {}
        failed: dict[str, str] = {}
        progress = _Progress(sweep_id, len(points), echo)

        def look() -> dict[str, str]:
            """Collect what finished; return the live status of the others."""
            refs = queue.finished(root, base)
            status = queue.queue_status(root)
            for point in points:
                if point.name in refs and point.name not in outcomes:
                    judged = _outcome(root, point, refs[point.name], registry.model_name, gates)
                    if judged is None:
                        failed[point.name] = "finished without registry.json"
                    else:
                        outcomes[point.name] = judged
                        failed.pop(point.name, None)
            record.adopt_runs(client, experiment_id, run_id, sweep_id, names)
            live = {n: status[n] for n in names if n not in outcomes and n in status}
            best = winner(list(outcomes.values()))[0]
            progress.show(len(outcomes), sum(s == "Running" for s in live.values()),
                          sum(s == "Queued" for s in live.values()), best)
            return live

        def wait(wanted: list[str]) -> None:
            """Start up to `jobs` workers for `wanted` and wait until none is queued or running."""
            workers = min(jobs, len(wanted))
            queue.start(root, workers)
            kicked = time.monotonic()
            while True:
                live = look()
                open_ = [n for n in wanted if n not in outcomes and live.get(n) in
                         ("Queued", "Running")]
                if not open_:
                    break
                running = sum(live.get(n) == "Running" for n in open_)
                if running < min(workers, len(open_)) and time.monotonic() - kicked > KICK_S:
                    # DVC may count a worker that was just exiting (idle workers stop after
                    # 10 s) and start none in its place: start the missing ones again.
                    queue.start(root, workers)
                    kicked = time.monotonic()
                time.sleep(poll_s)
            for name in wanted:
                if name not in outcomes and name not in failed:
                    failed[name] = queue.logs(root, name)
                    echo(f"point {name} failed:\n{failed[name]}")

        live = look()
        inflight = [n for n, s in live.items() if s in ("Queued", "Running")]
        if inflight:  # an interrupted sweep's points still on the queue
            echo(f"waiting for {len(inflight)} point(s) already queued")
            wait(inflight)
        pending = [p for p in points if p.name not in outcomes and p.name not in inflight]
        queue.remove(root, [p.name for p in pending if live.get(p.name) == "Failed"])
        ran: list[str] = []
        done = [p for p in points if p.name in outcomes]
        plan = waves(pending, done, queue.built_stages(root, LEVEL_STAGES) if pending else 0)
        for i, wave in enumerate(plan, 1):
            echo(f"wave {i}/{len(plan)}: " + ", ".join(p.name for p in wave))
            for point in wave:
                queue.enqueue(root, point)
            ran += [p.name for p in wave]
            wait([p.name for p in wave])

        judged = list(outcomes.values())
        mark_pareto(judged, sorted(gates))
        best, runner = winner(judged)
        verdict = Verdict(sweep_id, registry.model_name, gates, by_size(judged), best, runner,
                          None if best else closest_failure(judged),
                          [n for n in names if n not in outcomes])
        if best is not None:
            record.crown(client, registry.model_name, alias, best, runner, sweep_id,
                         len(judged), sum(o.passed for o in judged))
        wall = time.perf_counter() - start
        files = write(verdict, root, [f"Ran {len(ran)} point(s) in {wall:.0f} s "
                                      f"(`-j {jobs}`); sweep run {run_id}."])
        record.finish_run(client, run_id, files, {
            "points": len(judged), "passing": sum(o.passed for o in judged),
            "points_run": len(ran), "wall_time_s": wall,
            **({"winner_size_bytes": best.size_bytes} if best else {})},
            {f"{record.SWEEP}_winner": best.name if best else "",
             f"{record.SWEEP}_winner_version": best.version if best else ""})
        echo(verdict.summary())
        return SweepResult(verdict, files, ran, wall)
    except KeyboardInterrupt:
        # Queued points run on in DVC's workers; a resumed sweep sets its run RUNNING again.
        client.set_terminated(run_id, "KILLED")
        raise
