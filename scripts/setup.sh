#!/usr/bin/env bash
# Installs what Updraft needs to build and test on Debian 12. Skips apt when all is present.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git ca-certificates tzdata python3 clang-format
  libluajit2-5.1-dev libyaml-cpp-dev libcurl4-openssl-dev nlohmann-json3-dev libspdlog-dev
  libfmt-dev catch2 librdkafka-dev libcpp-httplib-dev libcli11-dev libhowardhinnant-date-dev
  libtinyxml2-dev prometheus rabbitmq-server
  prometheus-cpp-dev libssl-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
fi
