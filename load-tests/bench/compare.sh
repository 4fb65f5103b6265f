#!/usr/bin/env bash
# Two builds of the node side by side, for a change's before and after in one run: starts a node from each jar
# (each with its own embedded Postgres, on loopback) and runs one workload against both, alternating (A B A B) for
# ROUNDS rounds (default 3); the load tool prints each round and the ratios of B to A.
#
#   git stash; mvn -q -DskipTests package; cp server/target/runnel.jar /tmp/before.jar; git stash pop
#   mvn -q -DskipTests package
#   load-tests/bench/compare.sh /tmp/before.jar server/target/runnel.jar --size 1024 --partitions 8 --producers 4 \
#     --consumers 0 --batch 100 --max-in-flight 16
#
# Run it in both orders: whichever build runs second in a pair measured about 10% slower in W2 (session 6), because
# the first node's Postgres is still writing back what it just stored.
# A_ARGS and B_ARGS add node arguments to one side (e.g. B_ARGS="-c auth.yaml" for auth on against off, with
# --api-key in the load flags: a node without keys ignores it).
# DURATION (default 20s) and WARMUP (default 15s) set each run's length. Both nodes stay up for the whole run; the
# idle one costs little. The script stops what it started, by pid, and deletes both data directories.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { echo "usage: $0 BEFORE.jar AFTER.jar LOAD-FLAGS..." >&2; exit 2; }
A_JAR=$1 B_JAR=$2
shift 2
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-15s}
ROUNDS=${ROUNDS:-3}
OUT=load-tests/target/compare/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  done
  rm -rf "$OUT/a" "$OUT/b"
}
trap cleanup EXIT

# shellcheck disable=SC2086  # the extra arguments are words
# Each node on loopback with AMQP ports of its own (both on AMQP's default port, the second could not start).
RUNNEL_AMQP_HOST=127.0.0.1 java -jar "$A_JAR" --data-dir "$OUT/a" --http-port 18781 --http-host 127.0.0.1 \
  --amqp-port 18771 ${A_ARGS:-} > "$OUT/a.log" 2>&1 &
PIDS+=($!)
# shellcheck disable=SC2086
RUNNEL_AMQP_HOST=127.0.0.1 java -jar "$B_JAR" --data-dir "$OUT/b" --http-port 18782 --http-host 127.0.0.1 \
  --amqp-port 18772 ${B_ARGS:-} > "$OUT/b.log" 2>&1 &
PIDS+=($!)
for port in 18781 18782; do
  for _ in $(seq 1 120); do curl -sf http://127.0.0.1:$port/health/ready >/dev/null 2>&1 && break; sleep 1; done
  curl -sf http://127.0.0.1:$port/health/ready >/dev/null
done
CI=true java -Xmx8g -jar load-tests/target/runnel-load.jar run --target http://127.0.0.1:18781 \
  --target http://127.0.0.1:18782 --rounds "$ROUNDS" --topic compare --duration "$DURATION" --warmup "$WARMUP" \
  --result "$OUT/result.json" "$@" | tee "$OUT/result.md"
echo "A = $A_JAR, B = $B_JAR; results in $OUT"
