#!/usr/bin/env bash
# Installs what building and testing Flotilla needs, and nothing that is already there.
# Checks first (dpkg -s, python3 -c "import ..."), so a second run makes no network call at all:
# `apt-get update` runs only when a Debian package is missing. Safe to run as root (CI, dev boxes)
# or as a user with sudo.
set -euo pipefail

# Debian 12 packages. The C libraries are for issues 3-8 (raft cluster, LZ4 snapshots, TLS/SNI); installing
# them now keeps every later build on the same machine set-up. libuv1-dev must be named explicitly: raft/uv.h
# includes <uv.h> but libraft-dev does not depend on it (docs/TOOLCHAIN.md §1).
APT_PACKAGES=(libraft-dev libuv1-dev liblz4-dev libssl-dev pkgconf mosquitto mosquitto-clients)
# PyPI distribution name → module name to probe (found on the import path = installed).
# awscli and boto3: the control-plane tests drive the API with the real AWS clients (test_07).
PIP_PACKAGES=("paho-mqtt:paho.mqtt.client" "pytest:pytest" "awsiotsdk:awsiot" "awscli:awscli" "boto3:boto3")

PYTHON="${PYTHON:-python3}"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "install-deps: need root or sudo to run: $*" >&2
        return 1
    fi
}

missing_apt=()
for pkg in "${APT_PACKAGES[@]}"; do
    # dpkg -s succeeds for removed-but-configured packages too, so check the status line.
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
        missing_apt+=("$pkg")
    fi
done
# pip itself: only ask apt for python3-pip when the interpreter in use has no pip module.
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    missing_apt+=(python3-pip)
fi

if [ "${#missing_apt[@]}" -gt 0 ]; then
    echo "install-deps: installing Debian packages: ${missing_apt[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_apt[@]}"
fi

missing_pip=()
for entry in "${PIP_PACKAGES[@]}"; do
    dist="${entry%%:*}"
    module="${entry#*:}"
    if ! "$PYTHON" -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('${module}') else 1)" >/dev/null 2>&1; then
        missing_pip+=("$dist")
    fi
done

if [ "${#missing_pip[@]}" -gt 0 ]; then
    echo "install-deps: installing Python packages: ${missing_pip[*]}"
    pip_install=("$PYTHON" -m pip install --quiet)
    # A root pip into the system interpreter needs no sudo; a user install otherwise.
    if [ "$(id -u)" -ne 0 ] && [ -z "${VIRTUAL_ENV:-}" ]; then
        pip_install+=(--user)
    fi
    if ! "${pip_install[@]}" "${missing_pip[@]}"; then
        # Debian's own python3 is "externally managed" (PEP 668); pyenv/venv interpreters are not.
        echo "install-deps: retrying pip with --break-system-packages" >&2
        "${pip_install[@]}" --break-system-packages "${missing_pip[@]}"
    fi
fi

# paho-mqtt 1.x has a different callback API; the integration tests are written for 2.x.
if ! "$PYTHON" -c 'import sys, paho.mqtt; sys.exit(0 if int(paho.mqtt.__version__.split(".")[0]) >= 2 else 1)'; then
    echo "install-deps: upgrading paho-mqtt to 2.x"
    "$PYTHON" -m pip install --quiet --upgrade 'paho-mqtt>=2,<3' || \
        "$PYTHON" -m pip install --quiet --upgrade --break-system-packages 'paho-mqtt>=2,<3'
fi

echo "install-deps: all dependencies present"
