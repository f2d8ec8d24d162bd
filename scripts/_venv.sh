# Sourced by setup.sh and test.sh: create .venv and install slimline with pinned versions.
# Idempotent: a stamp records what was installed, so a second call costs nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
STAMP="$VENV/.slimline-installed"
# torch is pinned as the CPU build; a machine with an NVIDIA GPU gets the same version as
# the CUDA build (PyTorch's CUDA index, or SLIMLINE_TORCH_INDEX). SLIMLINE_TORCH=cpu|cuda
# overrides the detection.
TORCH_KIND="${SLIMLINE_TORCH:-cpu}"
if [ -z "${SLIMLINE_TORCH:-}" ] && command -v nvidia-smi >/dev/null 2>&1 \
    && nvidia-smi -L >/dev/null 2>&1; then
  TORCH_KIND=cuda
fi
WANT="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)-$TORCH_KIND"

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo ">> installing slimline into $VENV (pinned by constraints.txt)"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade "pip>=24"
  # torch first, as the CPU build (torch==X+cpu): a CPU machine must not pull the CUDA
  # wheels (several GB). Where pip already finds that build (a local wheel in find-links),
  # use it; otherwise add PyTorch's CPU index for torch alone.
  TORCH="$(grep -E '^torch==' "$ROOT/constraints.txt")"
  CONSTRAINTS="$ROOT/constraints.txt"
  if [ "$TORCH_KIND" = cuda ]; then
    echo ">> NVIDIA GPU found: installing ${TORCH%+cpu} as the CUDA build"
    TORCH="${TORCH%+cpu}+${SLIMLINE_CUDA:-cu128}"
    CONSTRAINTS="$VENV/constraints-cuda.txt"
    sed -E "s/^torch==.*/$TORCH/" "$ROOT/constraints.txt" > "$CONSTRAINTS"
    "$VENV/bin/pip" install --quiet "$TORCH" --extra-index-url \
      "${SLIMLINE_TORCH_INDEX:-https://download.pytorch.org/whl/${SLIMLINE_CUDA:-cu128}}"
  else
    "$VENV/bin/pip" install --quiet "$TORCH" 2>/dev/null \
      || "$VENV/bin/pip" install --quiet "$TORCH" \
           --extra-index-url "${SLIMLINE_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
  fi
  "$VENV/bin/pip" install --quiet -c "$CONSTRAINTS" -e "$ROOT[dev]"
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
