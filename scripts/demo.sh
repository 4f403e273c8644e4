#!/usr/bin/env bash
# The main job: set up the checkout, then show bertlab working end to end.
#   bash scripts/demo.sh
# PLACEHOLDER: for now the demo only prints ALBERT-base's parameter count. The planned steps are in demo()
# below, each as its own function, so filling one in touches nothing else.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BERTLAB=.venv/bin/bertlab

step() { printf '\n[demo] == %s ==\n' "$*"; }

has_command() {  # has_command NAME: the `bertlab NAME` sub-command exists in this checkout
    "$BERTLAB" "$1" --help >/dev/null 2>&1
}

show_parameters() {
    step "parameter counts (ALBERT-base: factorised embeddings + one shared layer)"
    if has_command params; then
        "$BERTLAB" params --preset albert-base
    else
        echo "[demo] 'bertlab params' is not built yet; skipping"
    fi
}

train_tiny_model() {
    step "train a tiny model"
    # TODO(lead): e.g. "$BERTLAB" pretrain --preset tiny --corpus wiki-sample --minutes 2 --run runs/demo
    echo "[demo] not written yet"
}

open_dashboard() {
    step "open the dashboard on the run"
    # TODO(lead): e.g. "$BERTLAB" dashboard runs/demo  (streamlit on 127.0.0.1; print the URL)
    echo "[demo] not written yet"
}

demo() {
    show_parameters
    train_tiny_model
    open_dashboard
}

bash scripts/setup.sh
demo
