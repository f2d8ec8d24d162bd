#!/usr/bin/env bash
# One command on a fresh machine: install into .venv, then run the pipeline (`dvc repro`)
# on the embedded default. Offline apart from the package registries.
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
[ -d .git ] || git init -q
dvc repro "$@"
dvc metrics show
