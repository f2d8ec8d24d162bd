# Sourced by setup.sh and test.sh: create .venv and install slimline with pinned versions.
# Idempotent: a stamp records what was installed, so a second call costs nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
STAMP="$VENV/.slimline-installed"
WANT="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)"

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo ">> installing slimline into $VENV (pinned by constraints.txt)"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade "pip>=24"
  # torch first, as the CPU build (torch==X+cpu): a CPU machine must not pull the CUDA
  # wheels (several GB). Where pip already finds that build (a local wheel in find-links),
  # use it; otherwise add PyTorch's CPU index for torch alone.
  TORCH="$(grep -E '^torch==' "$ROOT/constraints.txt")"
  "$VENV/bin/pip" install --quiet "$TORCH" 2>/dev/null \
    || "$VENV/bin/pip" install --quiet "$TORCH" \
         --extra-index-url "${SLIMLINE_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
  "$VENV/bin/pip" install --quiet -c "$ROOT/constraints.txt" -e "$ROOT[dev]"
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
