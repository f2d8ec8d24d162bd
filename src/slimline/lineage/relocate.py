"""Keep the embedded MLflow store relocatable: a copied or moved project writes into itself.

MLflow records absolute artifact locations in its database: `SqlAlchemyStore` passes every
experiment location (and its default artifact root) through `mlflow.utils.uri.
resolve_uri_if_local`, which turns a relative path into an absolute one against the current
directory, and each run, logged model and model version then stores its own absolute URI
derived from it. A relative location is therefore never kept relative, and after
`cp -a project copy` a run in the copy writes its artifacts into the original's
`mlruns/artifacts`.

The narrow fix: when slimline opens its embedded store (`mlruns/mlflow.db`) and finds
locations recorded under another directory's `mlruns/`, it rewrites that prefix to this
store's directory in every column MLflow fills with it, in one transaction. The copied
artifact tree stays where `cp` put it, so old runs stay readable from the copy and nothing
is written to the original. A store served by a tracking server (`MLFLOW_TRACKING_URI`)
is never touched.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

# (table, column[, condition]) that MLflow 3 fills with absolute artifact locations.
LOCATION_COLUMNS = (
    ("experiments", "artifact_location", ""),
    ("runs", "artifact_uri", ""),
    ("logged_models", "artifact_location", ""),
    ("model_versions", "source", ""),
    ("model_versions", "storage_location", ""),
    ("trace_tags", "value", "key = 'mlflow.artifactLocation'"),
)


def _local_path(location: str) -> Path | None:
    """The filesystem path of a local location (`file://...` or a plain absolute path)."""
    if location.startswith("file:"):
        return Path(unquote(urlparse(location).path))
    if location.startswith("/"):
        return Path(location)
    return None


def _old_stores(conn: sqlite3.Connection, store: Path) -> set[Path]:
    """Store directories other than `store` that slimline's experiments were made under
    (`<old>/mlruns/artifacts`, see `tracking.configure`). MLflow's Default experiment is
    left out: its location follows the working directory the database was created from."""
    found = set()
    for (location,) in conn.execute("SELECT artifact_location FROM experiments"):
        path = _local_path(location or "")
        if path is not None and path.name == "artifacts" and path.parent.name == store.name \
                and path.parent != store:
            found.add(path.parent)
    return found


def _prefixes(old: Path, new: Path) -> list[tuple[str, str]]:
    # Locations are recorded both as file URIs and as plain paths (Default experiment).
    return [(old.as_uri() + "/", new.as_uri() + "/"), (f"{old}/", f"{new}/")]


def relocate_store(store: Path) -> list[Path]:
    """Rewrite artifact locations recorded under another `mlruns/` to `store`; return the
    old store directories that were rewritten (empty when the store is where it was made).

    Args:
        store: the embedded store directory holding `mlflow.db` (the project's `mlruns/`).
    """
    store = Path(store).resolve()
    db = store / "mlflow.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=60)
    try:
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "experiments" not in tables:
            return []
        olds = sorted(_old_stores(conn, store))
        if not olds:
            return []
        with conn:  # one transaction: every location moves, or none does
            conn.execute("BEGIN IMMEDIATE")
            for old in olds:
                for before, after in _prefixes(old, store):
                    for table, column, condition in LOCATION_COLUMNS:
                        if table not in tables:
                            continue
                        where = f"substr({column}, 1, ?) = ?" + (
                            f" AND {condition}" if condition else "")
                        conn.execute(
                            f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                            f"WHERE {where}",
                            (after, len(before) + 1, len(before), before))
        return olds
    finally:
        conn.close()
