#!/usr/bin/env bash
# A single-node Kafka (KRaft, broker and controller in one process) on loopback, for side-by-side comparisons.
# Its jars come from Maven Central only, through `mvn dependency:copy-dependencies` on pom.xml beside this script.
#
#   kafka.sh start [--fsync] [--port 9092] [--dir DIR]   start it (the controller listens on port+1); --fsync sets
#                                                        flush.messages=1: an fsync per write, like a Postgres commit
#   kafka.sh stop [--clean] [--dir DIR]                  stop the process of DIR's pid file (only that one);
#                                                        --clean deletes its data directory and the files start wrote
#   kafka.sh status [--dir DIR]
#   kafka.sh tool CLASS [ARGS...]                        run a Kafka tool class on the same jars, e.g.
#                                                        org.apache.kafka.tools.ProducerPerformance
# DIR defaults to load-tests/kafka/target/run. Every wait is bounded.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")"
LIBS="$HERE/target/libs"
START_TIMEOUT_S=90
STOP_TIMEOUT_S=60

die() { echo "kafka.sh: $*" >&2; exit 1; }

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  exit 2
}

# Fetches the jars once (Maven's local repository caches them across runs).
ensure_libs() {
  if [[ ! -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" || ! -f "$LIBS/kafka-tools-$KAFKA_VERSION.jar" ]]; then
    echo "kafka.sh: fetching Kafka $KAFKA_VERSION jars into $LIBS" >&2
    rm -rf "$LIBS"
    mvn -B -ntp -q -f "$HERE/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$LIBS" >&2 || die "could not fetch the Kafka jars"
  fi
}

# A random cluster id: 16 random bytes, base64url without padding (what StorageTool random-uuid prints). Like Kafka's
# Uuid.randomUuid, never one that starts with '-': kafka-storage would read it as an option (1 start in 64 failed).
random_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [ "${id#-}" = "$id" ] && break
  done
  echo "$id"
}

port_answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The pid in DIR's pid file if that process is alive and is the Kafka started with DIR's config, else nothing.
running_pid() {
  local dir="$1" pid
  [[ -f "$dir/kafka.pid" ]] || return 0
  pid="$(cat "$dir/kafka.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir/server.properties"; then
    echo "$pid"
  fi
}

write_config() {
  local dir="$1" port="$2" fsync="$3" controller_port=$(($2 + 1))
  cat >"$dir/server.properties" <<EOF
# Written by load-tests/kafka/kafka.sh ($( [[ $fsync == 1 ]] && echo "fsync mode" || echo "default mode" )).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=8
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
  if [[ $fsync == 1 ]]; then
    # The broker-wide default of the topic setting flush.messages: fsync the log after every write.
    echo "log.flush.interval.messages=1" >>"$dir/server.properties"
  fi
}

cmd_start() {
  local fsync=0 port=9092 dir="$HERE/target/run"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --fsync) fsync=1; shift ;;
      --port) port="${2:?--port needs a value}"; shift 2 ;;
      --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65535)) || die "bad port: $port"
  if [[ -d "$dir" ]]; then
    dir="$(cd "$dir" && pwd)"
    [[ -z "$(running_pid "$dir")" ]] || die "already running (pid $(cat "$dir/kafka.pid")); stop it first"
  fi
  port_answers "$port" && die "port $port is in use"
  port_answers $((port + 1)) && die "port $((port + 1)) (the controller's) is in use"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  ensure_libs

  # A fresh log each start: the mode is a property of the whole run, and old data would skew the figures.
  rm -rf "$dir/data"
  write_config "$dir" "$port" "$fsync"
  local cluster_id java_opts
  cluster_id="$(random_cluster_id)"
  java_opts=(-Xms1g -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$HERE/log4j2.properties" -cp "$LIBS/*")
  java "${java_opts[@]}" -Drunnel.kafka.log.level=WARN kafka.tools.StorageTool format \
    --config "$dir/server.properties" --cluster-id "$cluster_id" --ignore-formatted >"$dir/format.out" 2>&1 \
    || { cat "$dir/format.out" >&2; die "formatting the storage failed"; }

  # setsid: the broker outlives this shell and a Ctrl-C in it.
  setsid java "${java_opts[@]}" kafka.Kafka "$dir/server.properties" >"$dir/kafka.out" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$dir/kafka.pid"

  local deadline=$((SECONDS + START_TIMEOUT_S))
  until port_answers "$port" && grep -q "Kafka Server started" "$dir/kafka.out"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$dir/kafka.out" >&2
      rm -f "$dir/kafka.pid"
      die "Kafka exited during start (log: $dir/kafka.out)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$dir/kafka.out" >&2
      die "Kafka did not answer on 127.0.0.1:$port within ${START_TIMEOUT_S}s (pid $pid still running; kafka.sh stop --dir $dir)"
    fi
    sleep 0.5
  done
  echo "Kafka $KAFKA_VERSION started: pid $pid, bootstrap 127.0.0.1:$port, $( [[ $fsync == 1 ]] && echo "fsync mode (flush.messages=1)" || echo "default mode" ), cluster id $cluster_id, dir $dir"
}

cmd_stop() {
  local clean=0 dir="$HERE/target/run"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --clean) clean=1; shift ;;
      --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ -d "$dir" ]] || die "no such directory: $dir"
  dir="$(cd "$dir" && pwd)"
  local pid
  pid="$(running_pid "$dir")"
  if [[ -n "$pid" ]]; then
    kill -TERM "$pid"
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS >= deadline)); then
        echo "kafka.sh: pid $pid did not stop within ${STOP_TIMEOUT_S}s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.5
    done
    echo "Kafka stopped (pid $pid)"
  else
    echo "Kafka is not running from $dir"
  fi
  rm -f "$dir/kafka.pid"
  if [[ $clean == 1 ]]; then
    rm -rf "$dir/data"
    rm -f "$dir/server.properties" "$dir/kafka.out" "$dir/format.out"
    rmdir "$dir" 2>/dev/null || true
    echo "deleted the data in $dir"
  fi
}

cmd_status() {
  local dir="$HERE/target/run" pid
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ -d "$dir" ]] || { echo "not running"; exit 1; }
  dir="$(cd "$dir" && pwd)"
  pid="$(running_pid "$dir")"
  if [[ -n "$pid" ]]; then echo "running: pid $pid ($dir)"; else echo "not running"; exit 1; fi
}

cmd_tool() {
  [[ $# -ge 1 ]] || usage
  ensure_libs
  local cls="$1"; shift
  exec java -Xmx1g -Drunnel.kafka.log.level=WARN "-Dlog4j2.configurationFile=$HERE/log4j2.properties" \
    -cp "$LIBS/*" "$cls" "$@"
}

[[ $# -ge 1 ]] || usage
command="$1"; shift
case "$command" in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  tool) cmd_tool "$@" ;;
  *) usage ;;
esac
