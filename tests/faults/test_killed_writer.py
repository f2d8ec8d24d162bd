"""A stage killed with SIGKILL part-way leaves no artifact DVC would accept, and the next
run leaves no temporary directory behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from slimline._atomic import atomic_directory, clear_leftovers, write_text_atomic

# The writer runs in its own process and stops where it is told, printing "ready"; the test
# then kills it with SIGKILL. `where` is one of the points below.
WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from slimline._atomic import atomic_directory, write_text_atomic

    target, where = Path(sys.argv[1]), sys.argv[2]

    def stop():
        print("ready", flush=True)
        time.sleep(600)

    if where == "text":
        import os
        os.replace = lambda *a: stop()
        write_text_atomic(target, "half" * 1000)
    with atomic_directory(target) as tmp:
        (tmp / "model.safetensors").write_bytes(b"new" * 1000)
        if where == "writing":
            stop()
        if where == "between renames":
            real = Path.rename
            def rename(self, dst):
                real(self, dst)
                if self == target:  # moved aside, the new one not yet in place
                    stop()
            Path.rename = rename
""")

POINTS = {
    # kill point: what the target holds right after the kill
    "writing": "previous",            # still the previous version, untouched
    "between renames": "missing",     # gone; DVC sees a missing output and re-runs the stage
}


def _kill_at(target: Path, where: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target), where],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def _leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


@pytest.mark.parametrize("where", POINTS)
def test_a_killed_writer_leaves_no_artifact_and_the_next_run_no_leftovers(tmp_path, where):
    target = tmp_path / "artifacts" / "quantized"
    target.mkdir(parents=True)
    (target / "model.safetensors").write_bytes(b"previous")

    _kill_at(target, where)
    if POINTS[where] == "previous":
        assert (target / "model.safetensors").read_bytes() == b"previous"
    else:
        assert not target.exists()
    assert _leftovers(target.parent, "quantized")  # what the killed writer left

    with atomic_directory(target) as tmp:  # the next run
        (tmp / "model.safetensors").write_bytes(b"next")
    assert (target / "model.safetensors").read_bytes() == b"next"
    assert _leftovers(target.parent, "quantized") == []


def test_a_previous_version_moved_aside_is_put_back(tmp_path):
    """Between the renames the previous version is only under its aside name: clearing
    brings it back, so the workspace again holds what DVC last recorded."""
    target = tmp_path / "pruned"
    target.mkdir()
    (target / "config.json").write_text("previous")
    _kill_at(target, "between renames")
    assert clear_leftovers(target)  # the killed writer's temporary directory
    assert (target / "config.json").read_text() == "previous"
    assert _leftovers(tmp_path, "pruned") == []


def test_a_killed_text_writer_leaves_the_file_whole(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("previous\n")
    _kill_at(path, "text")
    assert path.read_text() == "previous\n"
    assert _leftovers(tmp_path, "params.yaml")
    write_text_atomic(path, "next\n")
    assert path.read_text() == "next\n" and _leftovers(tmp_path, "params.yaml") == []


def test_a_live_writers_temporary_directory_is_left_alone(tmp_path):
    """Two writers of one directory (another process, or another machine on a shared
    filesystem) never remove each other's work in progress."""
    target = tmp_path / "data"
    with atomic_directory(target) as mine:
        other = tmp_path / ".data.1-ffffffff.abc.tmp"  # another machine's pid 1
        other.mkdir()
        assert clear_leftovers(target) == []
        assert mine.exists() and other.exists()
