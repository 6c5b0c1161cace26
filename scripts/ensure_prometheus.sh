#!/usr/bin/env bash
# Make sure `promtool` (and the Prometheus server binary) are installed.
#
# Installs Debian's `prometheus` package with apt-get when `promtool` is missing and we
# run as root. The package's service is never started: a temporary policy-rc.d forbids
# service starts during the install (there is no systemd here anyway), and any
# prometheus process that still appeared during the install is stopped by its pid.
# Prints the promtool version; exits non-zero when promtool is still missing.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
    promtool --version 2>&1 | head -n 1
    exit 0
fi

if [[ "$(id -u)" != "0" ]]; then
    echo "promtool is missing and this is not root: install Debian's 'prometheus' package" \
        "(sudo apt-get install --no-install-recommends prometheus) or put promtool on PATH" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "promtool is missing and there is no apt-get: install Prometheus (promtool) by hand" >&2
    exit 1
fi

prometheus_pids() {
    # pids of running prometheus server processes (none is fine).
    pgrep -x prometheus 2>/dev/null | sort || true
}

before="$(prometheus_pids)"

# Forbid service starts by maintainer scripts for the duration of the install
# (invoke-rc.d honours policy-rc.d exit code 101), unless a policy already exists.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
fi
cleanup() {
    if [[ "$made_policy" == "1" ]]; then
        rm -f "$policy"
    fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp -t ensure-prometheus.XXXXXX.log)"
echo "installing Debian's prometheus package (for promtool) ..." >&2
apt-get update -qq >>"$log" 2>&1 || { tail -n 20 "$log" >&2; echo "apt-get update failed" >&2; exit 1; }
# A postinst that fails only because it cannot start the service is fine, as long as
# the binaries are installed; check for them below instead of trusting the exit code.
if ! apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    prometheus >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "apt-get install reported an error; checking the binaries anyway (log: $log)" >&2
else
    rm -f "$log"
fi

# Stop any prometheus server the install started: pids that were not there before and
# run the package's service configuration (/etc/prometheus), not someone's own server.
after="$(prometheus_pids)"
new_pids=""
for pid in $(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after")); do
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    if [[ "$cmdline" != *--config.file* || "$cmdline" == *--config.file=/etc/prometheus/* ]]; then
        new_pids="$new_pids $pid"
    fi
done
for pid in $new_pids; do
    echo "stopping prometheus pid $pid started by the package install" >&2
    kill "$pid" 2>/dev/null || true
done
for pid in $new_pids; do
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || continue 2
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
done

promtool_bin="$(command -v promtool || true)"
if [[ -z "$promtool_bin" && -x /usr/bin/promtool ]]; then
    promtool_bin=/usr/bin/promtool
fi
if [[ -z "$promtool_bin" ]]; then
    echo "promtool is still missing after installing the prometheus package" >&2
    exit 1
fi
"$promtool_bin" --version 2>&1 | head -n 1
