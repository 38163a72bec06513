#!/usr/bin/env bash
# deploy/crds/ is the source of the CRDs; the Helm chart ships copies in its crds/ folder (Helm 3
# installs that folder before the templates). Run this after editing a CRD.
#   deploy/sync-crds.sh           copy deploy/crds/*.yaml into deploy/helm/updraft/crds/
#   deploy/sync-crds.sh --check   exit 1 when the copies differ (tests/manifests/check.sh runs it)
set -euo pipefail
cd "$(dirname "$0")"
src=crds
dst=helm/updraft/crds
if [[ "${1:-}" == "--check" ]]; then
  if diff -r "$src" "$dst" >/dev/null; then
    echo "sync-crds: the chart's CRDs match deploy/crds"
    exit 0
  fi
  diff -r "$src" "$dst" | head -20 >&2 || true
  echo "sync-crds: deploy/helm/updraft/crds differs from deploy/crds: run deploy/sync-crds.sh" >&2
  exit 1
fi
mkdir -p "$dst"
rm -f "$dst"/*.yaml
cp "$src"/*.yaml "$dst"/
echo "sync-crds: copied $(ls "$src"/*.yaml | wc -l) CRDs into $dst"
