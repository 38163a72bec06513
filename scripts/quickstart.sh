#!/usr/bin/env bash
# The main job: KEDA's classic Kafka example, run locally. Installs what is missing, builds, then
#  1. starts a Kafka-protocol broker (librdkafka's mock cluster, tools/kafka/kafka_mock.cc) whose
#     producer sends two bursts of messages to topic "orders" (10 partitions);
#  2. `updraft run`: a ProcessPool of consumers is scaled from 0 up to 10 by consumer-group lag
#     (kafka trigger, lagThreshold 5) and back to 0 after the cooldown, with the live status on
#     screen; at the end it writes a chart of lag and replicas (build/quickstart/kafka-run.svg);
#  3. `updraft simulate`: the same ScaledObject against a lag trace, drawn as a chart.
# Finishes by itself in under three minutes once built.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"${JOBS:-$(nproc)}" --target updraft updraft-kafka-mock updraft-kafka-consumer
out=build/quickstart
mkdir -p "$out"
dir=$(pwd)/examples/kafka
bin=$(pwd)/build/tools

# The broker prints "bootstrap=host:port,..." as its first line.
coproc MOCK { exec "$bin/updraft-kafka-mock" --brokers 3 --topic orders:10 --bursts 5:200,75:400 \
  2>"$out/kafka-mock.log"; }
mock_pid=$MOCK_PID
trap 'kill $mock_pid 2>/dev/null || true' EXIT
read -r -t 30 line <&"${MOCK[0]}" || { echo "quickstart: the mock broker did not start" >&2; exit 1; }
bootstrap=${line#bootstrap=}
echo "== Kafka-protocol broker (librdkafka mock cluster) at $bootstrap; bursts at 5 s and 75 s"
sed -e "s|@BOOTSTRAP@|$bootstrap|g" -e "s|@BIN@|$bin|g" "$dir/updraft.yaml.in" > "$out/kafka.yaml"

echo "== updraft run: consumers follow the lag (about 150 s; Ctrl-C stops early)"
build/app/updraft run "$out/kafka.yaml" --hpa-sync 5 --duration "${QUICKSTART_SECONDS:-150}" \
  --plot "$out/kafka-run.svg"
kill $mock_pid 2>/dev/null || true

echo
echo "== updraft simulate: the same ScaledObject against examples/kafka/trace.csv"
build/app/updraft simulate "$dir/scaledobject.yaml" --trace "$dir/trace.csv" --hpa-sync 5 \
  --plot "$out/kafka-simulation.svg" > "$out/kafka-simulation.csv"
echo "charts: $out/kafka-run.svg (the run) and $out/kafka-simulation.svg (the simulation)"
