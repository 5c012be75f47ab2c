# Sourced by deploy/dev.sh and bench/run.sh: the Debian packages byocd builds with, and a helper
# that installs the missing ones (one apt-get update, only when something is missing).
# shellcheck shell=bash

BUILD_PACKAGES=(ca-certificates gcc libc6-dev pkg-config meson ninja-build python3
  libmicrohttpd-dev libcurl4-openssl-dev libcjson-dev libjwt-dev libsqlite3-dev libssl-dev)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# install_missing PKG...: NEED_NODE=1 also installs nodejs and npm when node is missing.
install_missing() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
  if ! command -v node >/dev/null 2>&1 && [ "${NEED_NODE:-0}" = 1 ]; then
    missing+=(nodejs npm)
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${missing[@]}"
  fi
}
