"""Move an alias (production) behind quality gates, with a record of who, when and why, and
undo it. The record is an append-only log in a registered-model tag, so rollback is a replay
of that log and the MLflow UI shows the history next to the aliases.

MLflow has no compare-and-set for tags: appending is read, extend, write. Two promotions at
once (issue 14) would each write the log they read plus their own event, and one would be
lost, so the read and the write happen under a file lock (`_history_lock`)."""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimline.errors import SlimlineError
from slimline.lineage.tags import ALIAS_HISTORY, alias_note
from slimline.registry.gates import GateResult, check_gates, gate_table
from slimline.registry.refs import by_alias, get_version, lineage_chain, registry_client
from slimline.registry.register import MANAGED_ALIASES
from slimline.registry.versions import VersionInfo

MANAGED = set(MANAGED_ALIASES)  # moved by the register stage, not by hand


@dataclass
class Reference:
    """The version a promotion's gates compare against, and how to name it."""

    version: VersionInfo
    column: str  # the gate table's compared-with column: "base v1" or "@production v4"
    label: str  # "base v1 (tiny-llama, sha256 …)" or "@production v4 (quantized; base …)"


def reference_for(version: VersionInfo, against: str | None = None) -> Reference:
    """The base of `version`'s own lineage, or the version holding alias `against`."""
    if against is None:
        base = lineage_chain(version)[0]
        return Reference(base, base.label, base.describe_base())
    try:
        held = by_alias(version.name, against)
    except SlimlineError as exc:
        raise SlimlineError(f"--against {against}: {exc} Promote without --against to gate "
                            "against the version's own base.") from None
    base = lineage_chain(held)[0]
    return Reference(held, f"@{against} v{held.version}",
                     f"@{against} {held.label} (its base: {base.describe_base()})")


class GateFailure(SlimlineError):
    """A promotion refused because gated metrics fell below their least retention."""

    def __init__(self, version: VersionInfo, alias: str, results: list[GateResult],
                 reference: Reference):
        self.results = results
        self.reference = reference
        super().__init__(
            f"{version.name} v{version.version} ({version.stage}) fails the gates for "
            f"@{alias} against {reference.label}:\n"
            f"{gate_table(results, reference.column)}\n"
            "Fix the pipeline, relax registry.gates in conf/registry/, or override with "
            "--force --reason TEXT (recorded).")


@dataclass
class Event:
    action: str
    alias: str
    version: str | None
    replaced: str | None
    by: str
    at: str
    reason: str | None = None
    forced: bool = False
    failing: list[str] | None = None
    compared_with: str | None = None  # the reference the gates were evaluated against


def _lock_dir() -> Path:
    """Beside a local registry store (SQLite file or directory), so every process using that
    store shares the lock; for a tracking server, the project's `mlruns/`, which serialises
    promotions made from this project only (MLflow offers no lock across machines)."""
    from urllib.parse import urlparse

    import mlflow

    from slimline.lineage.tracking import store_dir

    uri = mlflow.get_registry_uri()
    if uri.startswith("sqlite:///"):  # sqlite:///relative.db, sqlite:////absolute.db
        return Path(uri.removeprefix("sqlite:///")).resolve().parent
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path)
    return store_dir()


@contextmanager
def _history_lock(name: str) -> Iterator[None]:
    """One alias-history update of registered model `name` at a time."""
    import hashlib

    from slimline._atomic import file_lock

    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    with file_lock(_lock_dir() / f"alias-history-{digest}.lock"):
        yield


def history(name: str, alias: str) -> list[dict[str, Any]]:
    """Every promotion and rollback of `alias`, oldest first."""
    from mlflow.exceptions import MlflowException

    try:
        model = registry_client().get_registered_model(name)
    except MlflowException:
        raise SlimlineError(f"no registered model {name}: run the pipeline first.") from None
    return json.loads(model.tags.get(ALIAS_HISTORY + alias, "[]"))


def _stack(events: list[dict[str, Any]]) -> list[str]:
    stack: list[str] = []
    for event in events:
        if event["action"] == "promote":
            stack.append(event["version"])
        elif event["action"] == "rollback" and stack:
            stack.pop()
    return stack


def _current(name: str, alias: str) -> str | None:
    try:
        return by_alias(name, alias).version
    except SlimlineError:
        return None


def _record(name: str, alias: str, event: Event, events: list[dict[str, Any]]) -> None:
    client = registry_client()
    client.set_registered_model_tag(name, ALIAS_HISTORY + alias,
                                    json.dumps([*events, event.__dict__]))
    if event.version is None:
        client.delete_registered_model_alias(name, alias)
        return
    client.set_registered_model_alias(name, alias, event.version)
    note = f"{event.action} by {event.by} at {event.at}" + (
        f" (forced: {event.reason})" if event.forced else
        f": {event.reason}" if event.reason else "") + (
        f"; replaced v{event.replaced}" if event.replaced else "") + (
        f"; gated against {event.compared_with}" if event.compared_with else "")
    client.set_model_version_tag(name, event.version, alias_note(alias), note)


def promote(version: VersionInfo, alias: str, gates: dict[str, float], *, force: bool = False,
            reason: str | None = None, against: str | None = None
            ) -> tuple[Event, list[GateResult]]:
    """Point `alias` at `version` if every gate passes (or `force` with a `reason`).

    Args:
        version: the version to promote.
        alias: the alias to move (not one the register stage manages).
        gates: least retention per flat metric name (`task.metric`).
        force: promote even if gates fail; needs `reason`.
        reason: why (recorded in the alias history).
        against: gate against the version holding this alias (e.g. "production") instead
            of the base of `version`'s own lineage.
    """
    if alias in MANAGED:
        raise SlimlineError(f"@{alias} is moved by the register stage; promote to another "
                            "alias (e.g. production, staging).")
    if force and not (reason or "").strip():
        raise SlimlineError("--force needs --reason TEXT: the override is recorded.")
    if not gates and not force:
        raise SlimlineError("no gates configured (registry.gates in conf/registry/): promote "
                            "needs at least one, or --force --reason.")
    reference = reference_for(version, against)
    results = check_gates(version, reference.version, gates)
    failing = [r.metric for r in results if not r.passed]
    if failing and not force:
        raise GateFailure(version, alias, results, reference)
    with _history_lock(version.name):
        events = history(version.name, alias)
        event = Event("promote", alias, version.version, _current(version.name, alias),
                      getpass.getuser(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      reason, bool(force and failing), failing or None, reference.label)
        _record(version.name, alias, event, events)
    return event, results


def rollback(name: str, alias: str = "production", *, reason: str | None = None) -> Event:
    """Point `alias` back at the version it had before the last promotion still in force."""
    with _history_lock(name):
        events = history(name, alias)
        stack = _stack(events)
        current = _current(name, alias)
        if len(stack) < 2:
            raise SlimlineError(f"{name}@{alias} has no earlier promoted version to roll back "
                                f"to (history: {len(events)} event(s)).")
        restored = stack[-2]
        get_version(name, restored)  # still exists?
        event = Event("rollback", alias, restored, current, getpass.getuser(),
                      time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), reason)
        _record(name, alias, event, events)
    return event
