#!/bin/sh
# Installs the Debian 12 packages llmops needs to build and test, and only those that are
# missing (idempotent: a machine that has them all runs no apt-get at all).
set -eu
pkgs="gcc make cmake ninja-build pkg-config libjansson-dev libpcre2-dev libutf8proc-dev libsqlite3-dev libpq-dev postgresql libmicrohttpd-dev libcurl4-openssl-dev libopenblas-dev openmpi-bin libopenmpi-dev"
# Optional extras named by the caller, e.g. `scripts/deps.sh clang` for the fuzz build.
pkgs="$pkgs $*"
missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0
echo "scripts/deps.sh: installing:$missing" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "scripts/deps.sh: need root (or sudo) to install:$missing" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
