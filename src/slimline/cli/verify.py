"""`slimline verify`: check workspace, DVC cache and registry records against each other."""

from __future__ import annotations

import argparse

from slimline.cli._registry import REF_HELP, add_model_option, open_registry

HELP = "check artifacts, DVC cache entries and registered versions against their digests"
EXAMPLES = """examples:
  slimline verify                      # the workspace's artifacts (dvc.lock) and their cache
  slimline verify @candidate           # one registered version's files and cache entry
  slimline verify --all --repair && dvc push

Every file is compared with the sha256 its stage recorded (slimline.json) and every DVC cache
entry with its md5 name; files unchanged since their last check (size, mtime, inode) are not
read again. --repair removes damaged cache entries (and the workspace file when it is the
same hard-linked inode), so `dvc pull` refetches them or `dvc repro` rebuilds them. Run it
before `dvc push` so a damaged file never reaches the remote. Exit status 1 when something
is damaged (and not repaired)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help=HELP, description=HELP, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ref", metavar="MODEL_REF", nargs="?", default=None,
                   help=f"check this version only: {REF_HELP}")
    p.add_argument("--all", action="store_true",
                   help="the workspace and every version of the registered model")
    p.add_argument("--repair", action="store_true", help="remove damaged DVC cache entries")
    add_model_option(p)
    p.set_defaults(func=run)


def _version_target(version, root):
    from pathlib import Path

    from slimline.integrity.verify import Target
    from slimline.lineage.tags import DVC_MD5, LOCATION

    location = version.tags.get(LOCATION)
    directory = (Path(location) if Path(location).is_absolute() else root / location) \
        if location else None
    return Target(version.ref, directory, version.tags.get(DVC_MD5) or None,
                  version.digest)


def run(args: argparse.Namespace) -> None:
    import sys

    from slimline.errors import SlimlineError
    from slimline.integrity.verify import verify, workspace_targets

    if args.ref and args.all:
        raise SlimlineError("give a MODEL_REF or --all, not both.")
    ctx = open_registry(args.model)
    targets = [] if args.ref else workspace_targets(ctx.root)
    if args.ref or args.all:
        from slimline.registry import resolve
        from slimline.registry.refs import get_version, registry_client

        if args.ref:
            versions = [resolve(args.ref, default_name=ctx.model_name, root=ctx.root)]
        else:
            found = registry_client().search_model_versions(f"name = '{ctx.model_name}'")
            versions = [get_version(ctx.model_name, mv.version) for mv in found]
        targets += [_version_target(v, ctx.root) for v in versions]
    report = verify(ctx.root, targets, repair=args.repair)
    for finding in report.findings:
        print(finding.line())
    left = [f for f in report.damaged if not f.repaired]
    print(f"checked {len(report.checked)} artifact(s), read {report.hashed} file(s) in full: "
          + ("damaged, see above; fix with `slimline verify --repair` then `dvc pull` or "
             "`dvc repro`" if left else "repaired: now `dvc pull` or `dvc repro`"
             if report.damaged else "all intact"))
    if left:
        sys.exit(1)
