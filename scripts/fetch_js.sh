#!/usr/bin/env bash
# Fetch the JavaScript that the offline bertviz views inline (bertlab/analysis/bertviz_offline.py):
# d3 5.7.0 and jQuery 2.2.4, with `npm pack` from the npm registry, into bertlab.paths.js_dir()
# (default <checkout>/.cache/js/, gitignored; $BERTLAB_JS_DIR or $BERTLAB_CACHE move it).
# Third-party JavaScript is fetched at install time and never committed.
#
# scripts/setup.sh runs this; conda users run it themselves (`bash scripts/fetch_js.sh`; environment.yml
# brings nodejs, hence npm). Skips when both files are present with the expected sha256. Without npm it
# only warns: the views then show a message saying how to fix it instead of drawing.
#   PYTHON=...   any Python 3 (only the standard library is used) to read bertlab/paths.py; default python3
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
D3_VERSION="5.7.0"
JQUERY_VERSION="2.2.4"
# sha256 of the files inside the npm tarballs (a published version never changes on the registry).
D3_SHA256="bdad5585ef9a965ff25458738309b006058c55f2c78d794d25fbecae35014609"
JQUERY_SHA256="05b85d96f41fff14d8f608dad03ab71e2c1017c2da0914d7c59291bad7a54f8e"

say() { printf '[setup] %s\n' "$*"; }
warn() { printf '[setup] WARNING: %s\n' "$*" >&2; }

# paths.py is run as a file, not imported as bertlab.paths: no need for bertlab's dependencies here.
JS_DIR="$("${PYTHON:-python3}" -c 'import runpy, sys; print(runpy.run_path(sys.argv[1])["js_dir"]())' bertlab/paths.py)"

js_ok() {  # js_ok FILE SHA256
    [ -s "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

fetch() {  # fetch TMPDIR; every step checked explicitly, since `set -e` is off inside `if fetch ...`
    local tmp="$1" f
    (cd "$tmp" && npm pack --silent "d3@$D3_VERSION" "jquery@$JQUERY_VERSION" >/dev/null) || return 1
    tar -xzf "$tmp/d3-$D3_VERSION.tgz" -C "$tmp" package/dist/d3.min.js || return 1
    tar -xzf "$tmp/jquery-$JQUERY_VERSION.tgz" -C "$tmp" package/dist/jquery.min.js || return 1
    js_ok "$tmp/package/dist/d3.min.js" "$D3_SHA256" || { warn "d3.min.js from npm: unexpected sha256"; return 1; }
    js_ok "$tmp/package/dist/jquery.min.js" "$JQUERY_SHA256" || { warn "jquery.min.js from npm: unexpected sha256"; return 1; }
    mkdir -p "$JS_DIR" || return 1
    for f in d3.min.js jquery.min.js; do  # copy, then rename: a reader never sees half a file
        cp "$tmp/package/dist/$f" "$JS_DIR/.$f.tmp" && mv -f "$JS_DIR/.$f.tmp" "$JS_DIR/$f" || return 1
    done
}

if js_ok "$JS_DIR/d3.min.js" "$D3_SHA256" && js_ok "$JS_DIR/jquery.min.js" "$JQUERY_SHA256"; then
    say "d3 and jQuery present in $JS_DIR"
elif command -v npm >/dev/null; then
    say "fetching d3@$D3_VERSION and jquery@$JQUERY_VERSION from the npm registry"
    TMP_JS="$(mktemp -d)"
    if fetch "$TMP_JS"; then
        say "d3 and jQuery saved in $JS_DIR"
    else
        warn "could not fetch d3 and jQuery (npm pack d3@$D3_VERSION jquery@$JQUERY_VERSION);" \
             "bertviz views will show a message instead of drawing"
    fi
    rm -rf "$TMP_JS"
else
    warn "npm not found, so d3 and jQuery cannot be fetched into $JS_DIR: bertviz views will show a" \
         "message instead of drawing. Install npm (Debian: apt-get install npm) and re-run scripts/setup.sh."
fi
