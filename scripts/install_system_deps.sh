#!/usr/bin/env bash
# System packages the test suite needs beyond Python: headless Chromium, which renders the HTML
# statements for the screenshot test (tests/test_statement.py), and a Java runtime (OpenJDK 17)
# for the Spark target (tests/test_spark.py; pyspark runs Spark in a local JVM). Idempotent:
# installs only what is missing, and only as root (elsewhere it says what to install and leaves
# the machine alone; the screenshot test then skips with the reason, the Spark test fails).
set -euo pipefail

CHROMIUM=/usr/bin/chromium
missing=()

if [[ -x "${CHROMIUM}" ]]; then
    echo "install_system_deps: ${CHROMIUM} present"
else
    missing+=(chromium)
fi

if command -v java >/dev/null 2>&1; then
    echo "install_system_deps: java present"
else
    missing+=(openjdk-17-jre-headless)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install_system_deps: nothing to do"
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    echo "install_system_deps: ${missing[*]} missing and not running as root;" \
        "install with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_system_deps: ${missing[*]} missing and apt-get not available;" \
        "install them with the system's package manager" >&2
    exit 0
fi

echo "install_system_deps: ${missing[*]} missing: apt-get update"
apt-get update
echo "install_system_deps: apt-get install -y --no-install-recommends ${missing[*]}"
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
if [[ -x "${CHROMIUM}" ]]; then
    echo "install_system_deps: $("${CHROMIUM}" --version 2>/dev/null || echo chromium)"
fi
java -version 2>&1 | head -1
