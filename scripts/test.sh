#!/usr/bin/env bash
# The test command: set up (or check) the checkout, then run pytest in .venv.
#   bash scripts/test.sh                         # default selection from pyproject.toml: everything but `slow`
#   bash scripts/test.sh -m slow                 # the long checks
#   bash scripts/test.sh tests/test_config.py -x # any pytest arguments
# pytest's exit status 5 ("no tests collected") is reported as a failure, never passed off as success.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "[test] FAILED: pytest collected no tests (exit status 5) for: pytest $*" >&2
    echo "[test] check the paths and the -m / -k selection (pyproject.toml's addopts deselect 'slow')" >&2
fi
exit "$status"
