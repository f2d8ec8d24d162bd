"""Write a directory completely or not at all, and clear what a killed writer left behind."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def owner_tag() -> str:
    """`<pid>-<host hash>`: which process on which machine made a file (or a tracking run)."""
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
    return f"{os.getpid()}-{host}"


def owner_is_dead(tag: str) -> bool:
    """Whether `tag` (an `owner_tag`) names a process of this machine that no longer runs.
    Other machines' tags (a shared filesystem or tracking server), live processes and tags
    of unknown shape are never taken for dead."""
    pid, _, host = tag.partition("-")
    if not pid.isdigit() or host != owner_tag().partition("-")[2]:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def clear_leftovers(target: Path) -> list[Path]:
    """Remove the temporary siblings of `target` whose writer was killed (SIGKILL, OOM, a
    lost machine), so they neither fill the disk nor confuse DVC; return what was removed.

    A previous version moved aside (`.NAME.<tag>.old`) by a writer killed between its two
    renames is put back when `target` is missing: it is what DVC last recorded.
    """
    target = Path(target)
    prefix = f".{target.name}."
    removed = []
    if not target.parent.is_dir():
        return removed
    for path in sorted(target.parent.glob(f"{prefix}*")):
        tag = path.name[len(prefix):].split(".", 1)[0]
        if not path.name.endswith((".tmp", ".old")) or not owner_is_dead(tag):
            continue
        if path.name.endswith(".old") and not target.exists():
            path.rename(target)
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `target`; on success it replaces `target` by rename.

    On any exception the temporary directory is removed and `target` is left untouched, so
    a failed stage never leaves a half-written artifact for DVC or a later stage to pick up;
    what a killed writer left is cleared by the next one (`clear_leftovers`).
    Files are only ever created in the new directory, so a previous `target` whose files
    are hard links into the DVC cache is moved aside and removed, never written through.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clear_leftovers(target)
    tag = owner_tag()
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{tag}.", suffix=".tmp",
                                dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.{tag}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename, so readers never see half a file.

    The text goes into a new file (a fresh inode), never into `path` itself: when `path` is
    hard-linked to a DVC cache entry, the cache keeps its bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clear_leftovers(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{owner_tag()}.", suffix=".tmp",
                               dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would differ from a plain write_text
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (created with its directory) meanwhile: one
    holder at a time among the processes of this machine; released when the holder dies."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
