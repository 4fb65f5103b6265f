#!/usr/bin/env bash
# The standard workloads of docs/benchmarks.md (W1-W4 and the produce-only targets), each run against a Runnel node
# (HTTP, embedded Postgres), Kafka in default mode and Kafka with flush.messages=1, in turn, on this machine.
#
#   mvn -B -ntp -q -DskipTests package && load-tests/bench/workloads.sh [NAME ...]
#
# NAME: produce-batch produce-window produce-single w3-single w3-batch w2 w1-5000 w1-70 w4-fanout w4-catchup (default: all, in that
# order).
# SYSTEMS (default "runnel kafka kafka-fsync") picks what runs, e.g. SYSTEMS=runnel before and after a change;
# "amqp" adds the same node over AMQP 1.0 (its runs use a topic of their own, "<workload>-amqp", since the node is the
# HTTP target's too).
# DURATION (default 20s) and WARMUP (default 15s: each run is a new client JVM, and 5 s left W1 measuring the JIT)
# set each run's length. Results (JSON and Markdown per workload) go to load-tests/target/bench/<time>/. Everything
# listens on loopback; the script stops what it started, by pid.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-15s}
OUT=load-tests/target/bench/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
RUNNEL_PORT=18480
RUNNEL=http://127.0.0.1:$RUNNEL_PORT
RUNNEL_AMQP_PORT=18472
AMQP=
KAFKA=kafka://127.0.0.1:19492
KAFKA_FSYNC=kafka://127.0.0.1:19592
LOAD=(java -Xmx8g -jar load-tests/target/runnel-load.jar run)  # the verifier keeps every record: Kafka at 100 B is 50 M
RUNNEL_PID=

cleanup() {
  if [ -n "$RUNNEL_PID" ] && kill -0 "$RUNNEL_PID" 2>/dev/null; then
    kill "$RUNNEL_PID"
    for _ in $(seq 1 60); do kill -0 "$RUNNEL_PID" 2>/dev/null || break; sleep 1; done
  fi
  load-tests/kafka/kafka.sh stop --clean --dir "$OUT/kafka" >/dev/null 2>&1 || true
  load-tests/kafka/kafka.sh stop --clean --dir "$OUT/kafka-fsync" >/dev/null 2>&1 || true
  rm -rf "$OUT/runnel"  # gigabytes of log: never left behind
}
trap cleanup EXIT

RUNNEL_AMQP_HOST=127.0.0.1 java -jar server/target/runnel.jar --data-dir "$OUT/runnel" --http-port $RUNNEL_PORT \
  --http-host 127.0.0.1 --amqp-port $RUNNEL_AMQP_PORT \
  > "$OUT/runnel.log" 2>&1 &
RUNNEL_PID=$!
SYSTEMS=${SYSTEMS:-runnel kafka kafka-fsync}
ALL=
for s in $SYSTEMS; do
  case $s in
    runnel) ALL="$ALL $RUNNEL" ;;
    amqp) AMQP=amqp://127.0.0.1:$RUNNEL_AMQP_PORT ;;
    kafka) ALL="$ALL $KAFKA"
      load-tests/kafka/kafka.sh start --port 19492 --dir "$OUT/kafka" > "$OUT/kafka-start.log" ;;
    kafka-fsync) ALL="$ALL $KAFKA_FSYNC"
      load-tests/kafka/kafka.sh start --fsync --port 19592 --dir "$OUT/kafka-fsync" > "$OUT/kafka-fsync-start.log" ;;
    *) echo "unknown system $s (runnel, amqp, kafka, kafka-fsync)" >&2; exit 2 ;;
  esac
done
for _ in $(seq 1 120); do curl -sf $RUNNEL/health/ready >/dev/null 2>&1 && break; sleep 1; done
curl -sf $RUNNEL/health/ready >/dev/null

# run NAME TARGETS FLAGS...: one workload against the given targets, in turn (and over AMQP when SYSTEMS has amqp).
run() {
  local name=$1 targets=$2
  shift 2
  if [ -n "$AMQP" ] && [ "$targets" = "$ALL" ]; then
    run_one "$name-amqp" "$AMQP" --admin-url "$RUNNEL" "$@"
  fi
  [ -z "${targets// /}" ] || run_one "$name" "$targets" "$@"
}
run_one() {
  local name=$1 targets=$2
  shift 2
  local args=()
  for t in $targets; do args+=(--target "$t"); done
  echo "== $name: ${args[*]} $*"
  # A failed run (exit 1: records lost or reordered) is reported, and the next workload still runs.
  CI=true "${LOAD[@]}" "${args[@]}" --topic "$name" --duration "$DURATION" --warmup "$WARMUP" \
    --result "$OUT/$name.json" "$@" | tee "$OUT/$name.md" || echo "== $name FAILED (exit ${PIPESTATUS[0]})"
}
# The node's Postgres writes its first gigabytes ~20% slower (WAL files zero-filled until checkpoints recycle them),
# which made whichever system ran first on it look slower: a fresh node is warmed first with 30 s of batched produce
# to a topic that is then deleted (WARM_NODE=0 skips it).
if [ "${WARM_NODE:-1}" != 0 ] && [ -n "$AMQP$ALL" ] && [[ "$SYSTEMS" == *runnel* || "$SYSTEMS" == *amqp* ]]; then
  DURATION=30s WARMUP=0s run_one warm-node "$RUNNEL" --size 1024 --partitions 8 --producers 4 --consumers 0 \
    --batch 100 --max-in-flight 10 > /dev/null
  curl -sf -X DELETE "$RUNNEL/topics/warm-node" > /dev/null || true
fi
SELECTED="$*"
[ -n "$SELECTED" ] || SELECTED="produce-batch produce-window produce-single w3-single w3-batch w2 w1-5000 w1-70 w4-fanout w4-catchup"

for w in $SELECTED; do
  case $w in
    # Produce only, 1 KB keyed records: 100-record batches, and single records, 64 requests outstanding.
    produce-batch) run $w "$ALL" --size 1024 --partitions 8 --producers 4 --consumers 0 --batch 100 --max-in-flight 16 ;;
    # 1 KB keyed records with 1,000 unsent-or-unacknowledged per producer: 10 sends of 100 (AMQP: messages
    # through a window of 1,000 unsettled).
    produce-window) run $w "$ALL" --size 1024 --partitions 8 --producers 4 --consumers 0 --batch 100 --max-in-flight 10 \
      --amqp-window 1000 ;;
    produce-single) run $w "$ALL" --size 1024 --partitions 8 --producers 4 --consumers 0 --batch 1 --max-in-flight 16 ;;
    # W3: per-message overhead, 100 B records, single against batched (produce only).
    w3-single) run $w "$ALL" --size 100 --partitions 8 --producers 4 --consumers 0 --batch 1 --max-in-flight 16 ;;
    w3-batch) run $w "$ALL" --size 100 --partitions 8 --producers 4 --consumers 0 --batch 100 --max-in-flight 16 ;;
    # W2: maximum sustainable throughput, produce plus consume, 1 KB, 8 partitions, 4 producers, 4 consumers.
    w2) run $w "$ALL" --size 1024 --partitions 8 --producers 4 --consumers 4 --batch 100 --max-in-flight 4 ;;
    # W1: latency at a fixed 5,000 records/s, 1 KB, 16 partitions.
    w1-5000) run $w "$ALL" --size 1024 --partitions 16 --producers 4 --consumers 4 --rate 5000 ;;
    # W1 at 70% of each system's own W2 produce rate (run w2 first), in W2's batches of 100.
    w1-70)
      for t in $ALL; do
        rate=$(jq -r --arg t "$t" '[.targets[] | select(.target == $t) | .throughput.produce] | first' "$OUT/w2.json")
        rate=$(awk -v r="$rate" 'BEGIN { v = int(r * 0.7); print (v < 100 ? 100 : v) }')
        run "$w-$(echo "$t" | tr -c 'a-z0-9' '-')" "$t" --size 1024 --partitions 16 --producers 4 --consumers 4 \
          --batch 100 --rate "$rate"
      done ;;
    # W4: fan-out to 3 groups of 2 consumers.
    w4-fanout) run $w "$ALL" --size 1024 --partitions 8 --producers 4 --consumers 2 --groups 3 --batch 100 --max-in-flight 4 ;;
    # W4 catch-up: a 1 GB backlog (1,050,000 records of 1 KB, sent at up to 100,000/s), then one group of 4
    # consumers joins from the earliest offset; its consume rate is the backlog over the time to read all of it.
    w4-catchup) DURATION=10500ms WARMUP=0s run $w "$ALL" --size 1024 --partitions 8 --producers 4 --consumers 4 \
      --batch 100 --rate 100000 --max-in-flight 16 --catch-up --drain-timeout 30s ;;
    *) echo "unknown workload $w" >&2; exit 2 ;;
  esac
done
echo "results in $OUT"
