#!/usr/bin/env bash
# Set up a bertlab checkout on a fresh Debian machine (Python 3.10+, no GPU needed), or bring one up to
# date. Safe to re-run: each step is skipped when its result is already there (a re-run takes seconds).
#
#   1. .venv/ in the checkout (python3 -m venv), then pip: torch==2.13.0 first (so nothing pulls another
#      build), requirements-lock.txt, and bertlab itself (editable, --no-deps). Skipped while the stamp
#      .venv/.bertlab-install.sha256 matches the sha256 of requirements-lock.txt + pyproject.toml.
#   2. scripts/fetch_js.sh: d3 5.7.0 and jQuery 2.2.4 from the npm registry into bertlab.paths.js_dir()
#      (default .cache/js/), for the offline bertviz views. Third-party JavaScript is never committed.
#   3. Debian's chromium at /usr/bin/chromium (root with apt-get only; best-effort), for browser tests
#      and kaleido's static plots.
#   4. bubblewrap (root with apt-get only; best-effort): `bertlab homework grade` then runs each hand-in with
#      the machine read-only (BERTLAB_NO_BWRAP=1 skips it).
#
# Environment:
#   PYTHON=python3.11           interpreter that creates .venv (default: python3)
#   BERTLAB_FORCE_INSTALL=1     redo the pip steps even when the stamp matches
#   BERTLAB_TORCH_INDEX=URL     extra pip index for torch, e.g. https://download.pytorch.org/whl/cpu on a
#                               machine whose pip would otherwise pick the (multi-GB) CUDA build
#   BERTLAB_NO_CHROMIUM=1       do not install chromium
#   BERTLAB_JS_DIR / BERTLAB_CACHE   where the JavaScript goes (see bertlab/paths.py)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.bertlab-install.sha256"
TORCH_VERSION="2.13.0"

say() { printf '[setup] %s\n' "$*"; }
warn() { printf '[setup] WARNING: %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
START=$SECONDS

# --- 1. virtual environment and Python packages -------------------------------------------------------
make_venv() {
    local base="${PYTHON:-python3}"
    command -v "$base" >/dev/null || die "$base not found; install Python 3.10+ (Debian: apt-get install python3 python3-venv)"
    "$base" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "$base is Python $("$base" -c 'import platform; print(platform.python_version())'); bertlab needs 3.10+"
    if ! "$base" -m venv "$@" "$VENV"; then
        if is_root && command -v apt-get >/dev/null; then
            say "python3 -m venv failed; installing Debian's python3-venv"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
            "$base" -m venv "$@" "$VENV"
        else
            die "python3 -m venv failed; on Debian install python3-venv (as root: apt-get install python3-venv)"
        fi
    fi
}

if [ ! -x "$PY" ]; then
    say "creating .venv with ${PYTHON:-python3}"
    make_venv
elif ! "$PY" -c 'import sys' 2>/dev/null; then
    warn ".venv/bin/python does not run (was its interpreter moved?); recreating .venv"
    make_venv --clear
    rm -f "$STAMP"
fi

WANT="$(cat requirements-lock.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "${BERTLAB_FORCE_INSTALL:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
    say "python packages up to date (stamp matches requirements-lock.txt + pyproject.toml)"
else
    rm -f "$STAMP"
    say "upgrading pip"
    "$PY" -m pip install -q --upgrade pip
    say "installing torch==$TORCH_VERSION"
    TORCH_ARGS=()
    if [ -n "${BERTLAB_TORCH_INDEX:-}" ]; then TORCH_ARGS=(--extra-index-url "$BERTLAB_TORCH_INDEX"); fi
    "$PY" -m pip install -q ${TORCH_ARGS[@]+"${TORCH_ARGS[@]}"} "torch==$TORCH_VERSION"
    say "installing requirements-lock.txt (a couple of minutes on a fresh .venv)"
    "$PY" -m pip install -q -r requirements-lock.txt
    say "installing bertlab (editable)"
    # The build backend's warnings fill a screen; show them only when the install fails.
    LOG="$(mktemp)"
    "$PY" -m pip install -q --no-deps -e . >"$LOG" 2>&1 || { cat "$LOG" >&2; rm -f "$LOG"; die "pip install -e . failed"; }
    rm -f "$LOG"
    echo "$WANT" > "$STAMP"
    say "python packages installed"
fi

# --- 2. JavaScript for offline bertviz ------------------------------------------------------------------
PYTHON="$PY" bash scripts/fetch_js.sh

# --- 3. Debian chromium (browser tests, kaleido) ---------------------------------------------------------
if [ -x /usr/bin/chromium ]; then
    say "chromium present at /usr/bin/chromium"
elif [ "${BERTLAB_NO_CHROMIUM:-0}" = 1 ]; then
    say "BERTLAB_NO_CHROMIUM=1: not installing chromium; browser tests will be skipped"
elif is_root && command -v apt-get >/dev/null; then
    say "installing Debian's chromium (about a minute)"
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
        say "chromium installed at /usr/bin/chromium"
    else
        warn "apt-get install chromium failed; browser tests will be skipped"
    fi
else
    warn "/usr/bin/chromium not found and not root with apt-get: browser tests will be skipped" \
         "(as root: apt-get install chromium)"
fi

# --- 3b. a Chinese font, so that headless chromium draws Chinese text (dashboard screenshots, lessons) -------
if [ -x /usr/bin/chromium ] && command -v fc-list >/dev/null && [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
    if is_root && command -v apt-get >/dev/null && [ "${BERTLAB_NO_CHROMIUM:-0}" != 1 ]; then
        if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1; then
            say "fonts-wqy-microhei installed (Chinese text in browser screenshots)"
        else
            warn "apt-get install fonts-wqy-microhei failed: Chinese text shows as boxes in browser screenshots"
        fi
    else
        warn "no Chinese font: Chinese text shows as boxes in browser screenshots (as root: apt-get install fonts-wqy-microhei)"
    fi
fi

# --- 4. bubblewrap: bertlab homework grade runs each hand-in with the machine read-only ------------------
if command -v bwrap >/dev/null; then
    say "bubblewrap present: homework grading jails each notebook"
elif is_root && command -v apt-get >/dev/null && [ "${BERTLAB_NO_BWRAP:-0}" != 1 ]; then
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1; then
        say "bubblewrap installed (homework grading jails each notebook)"
    else
        warn "apt-get install bubblewrap failed; homework grading will run notebooks with limits only"
    fi
else
    warn "bwrap not found: homework grading runs notebooks with limits only (as root: apt-get install bubblewrap)"
fi

say "done in $((SECONDS - START)) s"
