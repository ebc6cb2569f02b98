#!/usr/bin/env bash
# System packages the test suite needs beyond Python: headless Chromium, which renders the HTML
# statements for the screenshot test (tests/test_statement.py). Idempotent: installs only what
# is missing, and only as root (elsewhere it says what to install and leaves the machine alone;
# the screenshot test then skips with the reason).
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x "${CHROMIUM}" ]]; then
    echo "install_system_deps: ${CHROMIUM} present, nothing to do"
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    echo "install_system_deps: ${CHROMIUM} missing and not running as root;" \
        "install it with: sudo apt-get install -y --no-install-recommends chromium" >&2
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_system_deps: ${CHROMIUM} missing and apt-get not available;" \
        "install Chromium with the system's package manager" >&2
    exit 0
fi

echo "install_system_deps: ${CHROMIUM} missing: apt-get update"
apt-get update
echo "install_system_deps: apt-get install -y --no-install-recommends chromium"
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
echo "install_system_deps: installed $("${CHROMIUM}" --version 2>/dev/null || echo chromium)"
