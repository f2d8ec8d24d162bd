"""Move an alias (production) behind quality gates, with a record of who, when and why, and
undo it. The record is an append-only log in a registered-model tag, so rollback is a replay
of that log and the MLflow UI shows the history next to the aliases."""

from __future__ import annotations

import getpass
import json
import time
from dataclasses import dataclass
from typing import Any

from slimline.errors import SlimlineError
from slimline.registry.gates import GateResult, check_gates, gate_table
from slimline.registry.refs import by_alias, get_version, lineage_chain, registry_client
from slimline.registry.register import CANDIDATE, STAGE_SECTIONS
from slimline.registry.versions import TAG, VersionInfo

HISTORY = TAG + "alias_history."
MANAGED = {CANDIDATE, *STAGE_SECTIONS}  # moved by the register stage, not by hand


class GateFailure(SlimlineError):
    """A promotion refused because gated metrics fell below their least retention."""

    def __init__(self, version: VersionInfo, alias: str, results: list[GateResult]):
        self.results = results
        super().__init__(
            f"{version.name} v{version.version} ({version.stage}) fails the gates for "
            f"@{alias} against base v{lineage_chain(version)[0].version}:\n"
            f"{gate_table(results)}\n"
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


def history(name: str, alias: str) -> list[dict[str, Any]]:
    """Every promotion and rollback of `alias`, oldest first."""
    from mlflow.exceptions import MlflowException

    try:
        model = registry_client().get_registered_model(name)
    except MlflowException:
        raise SlimlineError(f"no registered model {name}: run the pipeline first.") from None
    return json.loads(model.tags.get(HISTORY + alias, "[]"))


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
    client.set_registered_model_tag(name, HISTORY + alias,
                                    json.dumps([*events, event.__dict__]))
    if event.version is None:
        client.delete_registered_model_alias(name, alias)
        return
    client.set_registered_model_alias(name, alias, event.version)
    note = f"{event.action} by {event.by} at {event.at}" + (
        f" (forced: {event.reason})" if event.forced else
        f": {event.reason}" if event.reason else "") + (
        f"; replaced v{event.replaced}" if event.replaced else "")
    client.set_model_version_tag(name, event.version, f"{TAG}{alias}", note)


def promote(version: VersionInfo, alias: str, gates: dict[str, float], *, force: bool = False,
            reason: str | None = None) -> tuple[Event, list[GateResult]]:
    """Point `alias` at `version` if every gate passes (or `force` with a `reason`)."""
    if alias in MANAGED:
        raise SlimlineError(f"@{alias} is moved by the register stage; promote to another "
                            "alias (e.g. production, staging).")
    if force and not (reason or "").strip():
        raise SlimlineError("--force needs --reason TEXT: the override is recorded.")
    if not gates and not force:
        raise SlimlineError("no gates configured (registry.gates in conf/registry/): promote "
                            "needs at least one, or --force --reason.")
    base = lineage_chain(version)[0]
    results = check_gates(version, base, gates)
    failing = [r.metric for r in results if not r.passed]
    if failing and not force:
        raise GateFailure(version, alias, results)
    events = history(version.name, alias)
    event = Event("promote", alias, version.version, _current(version.name, alias),
                  getpass.getuser(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  reason, bool(force and failing), failing or None)
    _record(version.name, alias, event, events)
    return event, results


def rollback(name: str, alias: str = "production", *, reason: str | None = None) -> Event:
    """Point `alias` back at the version it had before the last promotion still in force."""
    events = history(name, alias)
    stack = _stack(events)
    current = _current(name, alias)
    if len(stack) < 2:
        raise SlimlineError(f"{name}@{alias} has no earlier promoted version to roll back to "
                            f"(history: {len(events)} event(s)).")
    restored = stack[-2]
    get_version(name, restored)  # still exists?
    event = Event("rollback", alias, restored, current, getpass.getuser(),
                  time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), reason)
    _record(name, alias, event, events)
    return event
