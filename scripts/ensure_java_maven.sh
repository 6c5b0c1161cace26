#!/usr/bin/env bash
# Make sure Java 17+ and Maven are installed for the local Apache Kafka (devservices/).
#
# scripts/services.py runs the broker from its jars with `java` and resolves those jars
# with `mvn` (first time only, into .cache/kafka/). Nothing is needed when
# LAPORFLOW_KAFKA_BOOTSTRAP names an existing broker; Maven is not needed when KAFKA_HOME
# points at an unpacked Kafka release.
#
# Installs Debian's packages with apt-get when a tool is missing and we run as root:
# a headless JRE (openjdk-17 or newer, whichever the archive has) and `maven`.
# Prints the versions; exits non-zero when something is still missing.
set -euo pipefail

if [[ -n "${LAPORFLOW_KAFKA_BOOTSTRAP:-}" ]]; then
    exit 0  # externally managed broker: no local Kafka is started
fi

java_major() {
    # Major version of the java on PATH / JAVA_HOME; empty when there is none.
    local java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
    command -v "$java" >/dev/null 2>&1 || return 0
    "$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\)\.\{0,1\}\([0-9]*\).*/\1 \2/p' |
        head -n 1 | awk '{ print ($1 == 1 ? $2 : $1) }'
}

packages=()
major="$(java_major)"
if [[ -z "$major" || "$major" -lt 17 ]]; then
    packages+=(JRE)
fi
if [[ -z "${KAFKA_HOME:-}" ]] && ! command -v mvn >/dev/null 2>&1; then
    packages+=(maven)
fi

if [[ ${#packages[@]} -gt 0 ]]; then
    need="Java 17+ (have: ${major:-none}) and/or Maven"
    if [[ "$(id -u)" != "0" ]]; then
        echo "$need missing and this is not root: install Debian's openjdk-17-jre-headless" \
            "and maven packages (sudo apt-get install --no-install-recommends" \
            "openjdk-17-jre-headless maven)" >&2
        exit 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$need missing and there is no apt-get: install them by hand (or set" \
            "KAFKA_HOME / LAPORFLOW_KAFKA_BOOTSTRAP)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    log="$(mktemp -t ensure-java-maven.XXXXXX.log)"
    echo "installing Debian's ${packages[*]} packages (for the local Kafka) ..." >&2
    apt-get update -qq >>"$log" 2>&1 || { tail -n 20 "$log" >&2; echo "apt-get update failed" >&2; exit 1; }
    install=()
    for pkg in "${packages[@]}"; do
        if [[ "$pkg" == JRE ]]; then
            # The first of these the archive offers (Kafka 4.1 runs on 17+; trixie has no 17).
            pkg=""
            for candidate in openjdk-17-jre-headless openjdk-21-jre-headless; do
                if apt-cache show "$candidate" >/dev/null 2>&1; then
                    pkg="$candidate"
                    break
                fi
            done
            if [[ -z "$pkg" ]]; then
                echo "no openjdk-17/21-jre-headless package in this apt archive" >&2
                exit 1
            fi
        fi
        install+=("$pkg")
    done
    if ! apt-get install -y -qq --no-install-recommends "${install[@]}" >>"$log" 2>&1; then
        tail -n 20 "$log" >&2
        echo "apt-get install ${install[*]} failed (log: $log)" >&2
        exit 1
    fi
    rm -f "$log"
fi

major="$(java_major)"
if [[ -z "$major" || "$major" -lt 17 ]]; then
    echo "Java 17+ is still missing (have: ${major:-none}); set JAVA_HOME to a Java 17+" >&2
    exit 1
fi
mvn_path="$(command -v mvn || true)"
echo "java $major (${JAVA_HOME:-$(command -v java)}); mvn: ${mvn_path:-not needed (KAFKA_HOME=${KAFKA_HOME:-})}"
