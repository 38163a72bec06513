#!/usr/bin/env bash
# A second example (no Kafka): installs what is missing, builds updraft, then
#  1. `updraft run`: a local queue gets two bursts of work; a ProcessPool of workers is scaled
#     from 0 up by queue depth (metrics-api trigger) and back to 0 after the cooldown;
#  2. `updraft simulate`: the same ScaledObject replayed against a trace, drawn as a chart.
# Finishes by itself in about two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
JOBS=${JOBS:-$(nproc)} cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"${JOBS:-$(nproc)}" --target updraft
out=build/quickstart-queue
mkdir -p "$out"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(pwd)/examples/local-queue
sed -e "s|@PORT@|$port|g" -e "s|@DIR@|$dir|g" "$dir/updraft.yaml.in" > "$out/updraft.yaml"

python3 "$dir/queue.py" "$port" &
queue_pid=$!
trap 'kill $queue_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do  # wait until the queue answers
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/metrics', timeout=1)" \
    2>/dev/null && break
  sleep 0.1
done
echo "== updraft run: workers follow the queue (about 100 s; Ctrl-C stops early)"
build/app/updraft run "$out/updraft.yaml" --hpa-sync 5 --duration "${QUICKSTART_SECONDS:-100}"
kill $queue_pid 2>/dev/null || true

echo
echo "== updraft simulate: the same ScaledObject against examples/local-queue/trace.csv"
build/app/updraft simulate "$dir/scaledobject.yaml" --trace "$dir/trace.csv" --hpa-sync 5 \
  --until 180 --plot "$out/simulation.svg" > "$out/simulation.csv"
echo "simulation: $(($(wc -l < "$out/simulation.csv") - 1)) rows in $out/simulation.csv, chart in $out/simulation.svg"
