#!/usr/bin/env bash
# The test command (CI runs exactly this through .ci/run). Installs what it needs first.
# Two pytest-xdist workers (SLIMLINE_TEST_WORKERS; -n 0 in the arguments runs in-process); each
# test module is one unit of work, so a module's shared fixtures are built once.
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
ruff check .
exec pytest -n "${SLIMLINE_TEST_WORKERS:-2}" --dist loadscope --no-loadscope-reorder "$@"
