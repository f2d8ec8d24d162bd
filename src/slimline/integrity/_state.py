"""A small local record of files already hashed: the fast path of integrity checks.

Each entry keys a file by path and remembers (size, mtime, ctime, inode) with the digest
they had. A file whose values have not moved is trusted without reading it; anything else
is hashed again (a new hard link or chmod moves ctime: one more full read, never a miss).
It lives in DVC's own scratch directory (`.dvc/tmp/`, git-ignored), so each clone keeps its
own and losing it only costs one full hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from slimline._digest import file_sha256

STATE_FILE = Path(".dvc") / "tmp" / "slimline-hashes.json"


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class HashState:
    """sha256 of files with a size/mtime/inode fast path; `save()` writes what was learnt."""

    def __init__(self, root: Path | None) -> None:
        self.path = Path(root) / STATE_FILE if root and (Path(root) / ".dvc").is_dir() \
            else None
        self.entries: dict[str, list] = {}
        self.hashed = 0  # files read in full, for reports and tests
        if self.path and self.path.exists():
            try:
                self.entries = json.loads(self.path.read_text())
            except ValueError:  # a torn or foreign file: start again
                self.entries = {}
        self._dirty = False

    def sha256(self, path: Path) -> str:
        return self.digest(path, "sha256")

    def md5(self, path: Path) -> str:
        """DVC's content hash (the name of a cache file)."""
        return self.digest(path, "md5")

    def digest(self, path: Path, algo: str) -> str:
        key = f"{algo}:{Path(path).resolve()}"
        st = os.stat(path)
        # ctime too: a write that restores mtime (or a `touch -r`) still moves it.
        stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        entry = self.entries.get(key)
        if entry and entry[:4] == stamp:
            return entry[4]
        digest = file_sha256(Path(path)) if algo == "sha256" else _md5(Path(path))
        self.hashed += 1
        self.entries[key] = [*stamp, digest]
        self._dirty = True
        return digest

    def save(self) -> None:
        """Replace the state file by rename (concurrent stages may each write theirs)."""
        if not (self.path and self._dirty):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        live = {k: v for k, v in self.entries.items() if os.path.exists(k.split(":", 1)[1])}
        fd, tmp = tempfile.mkstemp(prefix=".slimline-hashes.", dir=self.path.parent)
        with os.fdopen(fd, "w") as fh:
            json.dump(live, fh)
        os.replace(tmp, self.path)
        self._dirty = False
