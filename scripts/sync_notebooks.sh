#!/usr/bin/env bash
# Regenerate notebooks/NN_*.ipynb from their jupytext twins notebooks/NN_*.py (the files we edit and review).
#   bash scripts/sync_notebooks.sh            # all lessons
#   bash scripts/sync_notebooks.sh 01         # lessons whose file name starts with 01
# The .ipynb get the python3 kernel (no kernel-selection dialog in JupyterLab) and no outputs; they are what
# courses open. tests/test_notebooks.py fails when a .ipynb is out of date with its .py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
JUPYTEXT="${JUPYTEXT:-.venv/bin/jupytext}"
[ -x "$JUPYTEXT" ] || JUPYTEXT=jupytext
shopt -s nullglob
files=()
for py in notebooks/[0-9][0-9]_*.py; do
    case "$py" in notebooks/"${1:-}"*) files+=("$py") ;; esac
done
[ ${#files[@]} -gt 0 ] || { echo "no lesson file notebooks/${1:-}*.py (lessons are named like 01_masked_lm.py)" >&2; exit 1; }
for py in "${files[@]}"; do
    "$JUPYTEXT" --quiet --to ipynb --set-kernel python3 "$py"
    echo "${py%.py}.ipynb"
done
