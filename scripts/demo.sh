#!/usr/bin/env bash
# The main job: set up the checkout, pre-train a tiny BERT on the built-in Wikipedia sample, and open the
# dashboard on it.
#   bash scripts/demo.sh                 # DEMO_STEPS=1500 by default (a few minutes on a 2-core CPU)
#   DEMO_STEPS=300 bash scripts/demo.sh  # shorter
#   DEMO_NO_DASHBOARD=1 bash scripts/demo.sh   # train only
# Re-running continues runs/demo (--resume) instead of starting over; Ctrl-C during training saves a
# checkpoint, and the next run of this script resumes it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BERTLAB=.venv/bin/bertlab
RUN=runs/demo
STEPS="${DEMO_STEPS:-1500}"
PORT="${DEMO_PORT:-8501}"

step() { printf '\n[demo] == %s ==\n' "$*"; }

show_parameters() {
    step "parameter counts: BERT-base vs ALBERT-base (factorised embeddings + one shared layer)"
    "$BERTLAB" params --preset albert-base
}

train_tiny_model() {
    step "pre-train a tiny BERT (L2/H128, recipe fast-cpu) on wiki-en for $STEPS steps: MLM + NSP, dynamic masking"
    if [ -f "$RUN/checkpoints/latest.json" ]; then
        if grep -q '"status": "finished"' "$RUN/status.json" 2>/dev/null \
            && grep -q "\"total_steps\": $STEPS" "$RUN/status.json"; then
            echo "[demo] $RUN is already trained ($STEPS steps); delete it to train again"
            return
        fi
        "$BERTLAB" pretrain --out "$RUN" --resume --steps "$STEPS"
    else
        "$BERTLAB" pretrain --preset tiny --recipe fast-cpu --corpus wiki-en --objective mlm+nsp --steps "$STEPS" \
            --eval-every 250 --out "$RUN"
    fi
}

open_dashboard() {
    if [ "${DEMO_NO_DASHBOARD:-0}" = 1 ]; then
        echo "[demo] DEMO_NO_DASHBOARD=1: explore later with: $BERTLAB dashboard --runs runs"
        return
    fi
    step "dashboard: http://127.0.0.1:$PORT  (curves, attention maps, parameters, fill-mask; Ctrl-C stops it)"
    exec "$BERTLAB" dashboard --runs runs --port "$PORT"
}

bash scripts/setup.sh
show_parameters
train_tiny_model
open_dashboard
