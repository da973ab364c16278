#!/usr/bin/env bash
# Make sure tests/test_browser.py has what it needs: a headless Chromium (Debian's chromium +
# chromium-driver, installed with apt-get when running as root) and the Playwright Python package
# in the given Python environment (default: .venv/bin/python).
#
# Idempotent: does nothing when both are there.  Never fails: if something cannot be installed
# (not root, no apt-get, no network), it says so and exits 0; the browser test then skips and
# prints the reason.  Never runs `playwright install` (that downloads browsers from a CDN):
# the test drives the system Chromium.
#
# Usage: tools/install_browser.sh [PYTHON]
set -u
PY="${1:-.venv/bin/python}"
say() { echo "install_browser: $*"; }

find_browser() {
    for b in chromium chromium-browser google-chrome google-chrome-stable; do
        if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
    done
    return 1
}

if browser="$(find_browser)"; then
    say "browser found: $browser"
elif [ "$(id -u)" != "0" ]; then
    say "no Chromium found and not root, so it cannot be installed here (as root: apt-get install chromium chromium-driver); the browser test will be skipped"
elif ! command -v apt-get >/dev/null 2>&1; then
    say "no Chromium found and no apt-get on this system; the browser test will be skipped"
else
    export DEBIAN_FRONTEND=noninteractive
    log="$(mktemp -t install_browser.XXXXXX.log)"
    say "installing chromium and chromium-driver with apt-get (log: $log)"
    if ! timeout 900 apt-get install -y chromium chromium-driver >"$log" 2>&1; then
        say "apt-get install failed; refreshing the package lists (apt-get update) and trying again"
        timeout 300 apt-get update >>"$log" 2>&1 && timeout 900 apt-get install -y chromium chromium-driver >>"$log" 2>&1
    fi
    if browser="$(find_browser)"; then
        say "browser installed: $browser"
    else
        say "could not install Chromium (see $log: $(tail -n 1 "$log" 2>/dev/null)); the browser test will be skipped"
    fi
fi

if [ ! -x "$PY" ] && ! command -v "$PY" >/dev/null 2>&1; then
    say "no Python at $PY; skipping the Playwright check"
elif "$PY" -c "import playwright.sync_api" >/dev/null 2>&1; then
    say "playwright found in $PY"
else
    say "installing the playwright Python package into $PY"
    if ! timeout 600 "$PY" -m pip install --disable-pip-version-check --progress-bar off -q playwright; then
        say "could not install playwright; the browser test will be skipped"
    fi
fi
exit 0
