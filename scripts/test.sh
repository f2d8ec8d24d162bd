#!/usr/bin/env bash
# The test command (CI runs exactly this through .ci/run). Installs what it needs first.
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
ruff check .
exec pytest "$@"
