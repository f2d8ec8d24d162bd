"""Two `slimline promote` processes moving one alias at once (issue 14): the alias history
keeps every promotion once, each process's in its own order, every event names the version
it replaced, and the alias ends where the last event says."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mlflow.tracking import MlflowClient

from slimline.registry import register_pipeline

ROUNDS = 6
# Each process runs the promote command ROUNDS times, starting together once both have
# imported slimline and MLflow, so the two interleave for seconds rather than racing once at
# start-up. `reason` carries who and which round. Without the lock, 6 rounds lost 1 to 4 of
# the 12 events in every try.
DRIVER = """
import pathlib, sys, time
from slimline.cli.main import main

who, version, rounds, ready = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
(pathlib.Path(ready) / who).touch()
while len(list(pathlib.Path(ready).iterdir())) < 2:
    time.sleep(0.01)
for i in range(rounds):
    main(["promote", version, "--alias", "production", "--reason", f"{who}{i}"])
"""


def test_two_promotions_at_once_keep_the_alias_history_whole(project, tmp_path):
    project.pipeline()
    register_pipeline(project.root, "demo", "slimline")  # v1..v4, @candidate v4
    project.pipeline({"recovered": (2.05, 0.9), "quantized": (2.06, 0.89)}, lr=1e-4)
    register_pipeline(project.root, "demo", "slimline")  # v5 recovered, v6 quantized
    env = {**os.environ, "SLIMLINE_ROOT": str(project.root)}
    ready = tmp_path / "ready"
    ready.mkdir()
    procs = {who: subprocess.Popen([sys.executable, "-c", DRIVER, who, version, str(ROUNDS),
                                    str(ready)], env=env, cwd=project.root,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for who, version in (("a", "4"), ("b", "6"))}
    for proc in procs.values():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
        assert "database is locked" not in out

    model = MlflowClient().get_registered_model("demo")
    events = json.loads(model.tags["slimline.alias_history.production"])
    reasons = [e["reason"] for e in events]
    assert sorted(reasons) == sorted(f"{w}{i}" for w in "ab" for i in range(ROUNDS)), reasons
    for who in "ab":  # each process's promotions in the order it made them
        assert [r for r in reasons if r[0] == who] == [f"{who}{i}" for i in range(ROUNDS)]
    assert {e["version"] for e in events if e["reason"][0] == "a"} == {"4"}
    # Every event read the alias as the previous event left it: none slipped in between.
    assert [e["replaced"] for e in events] == [None] + [e["version"] for e in events[:-1]]
    assert str(model.aliases["production"]) == events[-1]["version"]
