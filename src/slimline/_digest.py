"""Content digests: artifacts and data sets are named by what they contain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 20
# Files that describe an artifact rather than make it up: they may carry run ids and times,
# so they are left out of its digest.
METADATA_FILES = frozenset({"slimline.json", "README.md"})


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def combine(entries: Iterable[tuple[str, str]]) -> str:
    """Digest of a directory listing given as (relative path, file digest) pairs."""
    h = hashlib.sha256()
    for name, digest in sorted(entries):
        h.update(f"{name}\0{digest}\n".encode())
    return h.hexdigest()


def file_digests(root: Path, known: dict[str, str] | None = None) -> dict[str, str]:
    """{relative path: sha256} of every content file below `root` (metadata files excluded).

    `known` maps relative paths to digests already computed while writing, so a file that
    was just hashed on its way in is not read a second time.
    """
    known = known or {}
    out = {}
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel not in METADATA_FILES:
            out[rel] = known.get(rel) or file_sha256(path)
    return out


def directory_digest(root: Path, known: dict[str, str] | None = None) -> str:
    """sha256 over every content file below `root` (see `file_digests`)."""
    return combine(file_digests(root, known).items())


def json_digest(obj: object) -> str:
    """Digest of a JSON-serialisable object, independent of key order."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
