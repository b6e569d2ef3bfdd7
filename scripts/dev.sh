#!/usr/bin/env bash
# Set up genstudio in ./.venv (created when missing, refreshed when pyproject.toml changes), then
#   bash scripts/dev.sh studio [args]   open the studio on a built-in dataset (mnist5k)
#   bash scripts/dev.sh test [args]     run the whole test suite (slow learning tests included)
#   bash scripts/dev.sh bench           run the benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."

pick_python() {
  for p in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$p" ] || continue
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  echo "genstudio needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  return 1
}

setup() {
  if [ ! -x .venv/bin/python ]; then
    py="$(pick_python)"
    echo "creating .venv with $py" >&2
    "$py" -m venv .venv
  fi
  stamp=.venv/.genstudio-setup
  want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing genstudio and its dependencies into .venv (first time: torch is a few GB)" >&2
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[dev]"
    echo "$want" > "$stamp"
  fi
}

cmd="${1:-studio}"
shift || true
setup
case "$cmd" in
  studio) exec .venv/bin/genstudio --dataset mnist5k "$@" ;;
  test)   exec .venv/bin/python -m pytest -q "$@" ;;
  bench)  exec .venv/bin/python benchmarks/run_all.py "$@" ;;
  *) echo "usage: bash scripts/dev.sh studio|test|bench [args]" >&2; exit 2 ;;
esac
