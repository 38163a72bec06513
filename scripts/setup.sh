#!/usr/bin/env bash
# Installs what Updraft needs to build and test on Debian 12. Skips apt when all is present.
set -euo pipefail
# UPDRAFT_SETUP_BUILD_ONLY=1 installs only what building the binary needs (the Dockerfile's build
# stage); otherwise the test tools and test peers come too.
packages=(
  build-essential cmake pkg-config git ca-certificates tzdata
  libluajit2-5.1-dev libyaml-cpp-dev libcurl4-openssl-dev nlohmann-json3-dev libspdlog-dev
  libfmt-dev librdkafka-dev libcpp-httplib-dev libcli11-dev libhowardhinnant-date-dev
  libtinyxml2-dev prometheus-cpp-dev libssl-dev
)
if [[ "${UPDRAFT_SETUP_BUILD_ONLY:-0}" != "1" ]]; then
  packages+=(python3 clang-format catch2 prometheus rabbitmq-server)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# tests/manifests (the manifest schema checks) runs on node and npm. Any install will do, e.g.
# NodeSource's nodejs, which bundles npm and conflicts with Debian's npm package.
if [[ "${UPDRAFT_SETUP_BUILD_ONLY:-0}" != "1" ]] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
fi
