#!/usr/bin/env bash
# Make sure a headless Chromium is installed for the admin page's browser test.
#
# Installs Debian's `chromium` package with apt-get when /usr/bin/chromium is missing and
# we run as root. Playwright for Python drives this system browser
# (executable_path=/usr/bin/chromium); `playwright install` is never used, because it
# downloads browsers from outside the Debian archive.
# Prints the Chromium version; exits non-zero when it is still missing.
set -euo pipefail

CHROMIUM="${LAPORFLOW_CHROMIUM:-/usr/bin/chromium}"

if [[ -x "$CHROMIUM" ]]; then
    "$CHROMIUM" --headless --no-sandbox --version 2>/dev/null | head -n 1 || echo "$CHROMIUM"
    exit 0
fi

if [[ "$(id -u)" != "0" ]]; then
    echo "$CHROMIUM is missing and this is not root: install Debian's 'chromium' package" \
        "(sudo apt-get install --no-install-recommends chromium)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$CHROMIUM is missing and there is no apt-get: install Chromium by hand and set" \
        "LAPORFLOW_CHROMIUM to its path" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp -t ensure-chromium.XXXXXX.log)"
echo "installing Debian's chromium package (for the admin page's browser test) ..." >&2
apt-get update -qq >>"$log" 2>&1 || { tail -n 20 "$log" >&2; echo "apt-get update failed" >&2; exit 1; }
if ! apt-get install -y -qq --no-install-recommends chromium >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "apt-get install chromium failed (log: $log)" >&2
    exit 1
fi
rm -f "$log"

if [[ ! -x "$CHROMIUM" ]]; then
    echo "$CHROMIUM is still missing after installing the chromium package" >&2
    exit 1
fi
"$CHROMIUM" --headless --no-sandbox --version 2>/dev/null | head -n 1 || echo "$CHROMIUM"
