#!/usr/bin/env bash
# Create .venv and install productqa; quick and quiet when nothing changed since the last run.
#   bash scripts/setup.sh          runtime dependencies (make demo)
#   bash scripts/setup.sh --test   plus the test extras (make test)
# On a machine without CUDA: torch stays at the CPU build 2.13.0 (constraints-cpu.txt) and the
# torchvision wheel that breaks `import transformers` is removed. With CUDA: the machine's torch is
# kept (the venv sees system packages, as on Colab) and the GPU extras are added.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
extras=""
[ "${1:-}" = "--test" ] && extras="requirements-test.txt"

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then kind=cuda; else kind=cpu; fi
inputs="requirements.txt requirements-$kind.txt pyproject.toml $extras"
[ "$kind" = cpu ] && inputs="$inputs constraints-cpu.txt"
want="$kind $(cat $inputs | sha256sum | cut -c1-16)"
stamp="$VENV/.productqa-setup"
if [ -f "$stamp" ] && grep -qxF "$want" "$stamp"; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  if [ "$kind" = cuda ] && "$PYTHON" -c "import torch" 2>/dev/null; then
    echo "setup: creating $VENV on top of the machine's CUDA torch"
    "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    echo "setup: creating $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
fi
py="$VENV/bin/python"
pip_install() { "$py" -m pip install --disable-pip-version-check --progress-bar off "$@"; }

echo "setup: installing the $kind stack (the first time takes ~10 min: llama-cpp-python builds from source)"
if [ "$kind" = cpu ]; then
  pip_install -c constraints-cpu.txt -r requirements.txt -r requirements-cpu.txt ${extras:+-r $extras}
  # The PyPI torchvision wheel does not load against the CPU torch and breaks transformers' Trainer.
  "$py" -m pip uninstall -y -q torchvision 2>/dev/null || true
else
  torch_pin=$("$py" -c "import torch; print('torch==' + torch.__version__.split('+')[0])" 2>/dev/null || true)
  pip_install ${torch_pin:+"$torch_pin"} -r requirements.txt -r requirements-cuda.txt ${extras:+-r $extras}
fi
pip_install --no-deps --no-build-isolation -e . -q
echo "$want" >> "$stamp"
echo "setup: done ($kind)"
