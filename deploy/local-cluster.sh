#!/usr/bin/env bash
# Three eidbroker nodes behind HAProxy on loopback, as the README's three-node deployment shows:
#
#   deploy/local-cluster.sh start    # prints the public URLs
#   deploy/local-cluster.sh nodes 2  # only nodes 1-2 in rotation (the others in maintenance)
#   deploy/local-cluster.sh stop
#
# Each node runs every component on its own loopback address (127.0.2.1-3) with the demo's ports;
# HAProxy (deploy/haproxy.cfg) serves those ports on 127.0.0.1, so the public URLs of
# config/default.toml (http://localhost:8080 …) are HAProxy's. The nodes share Redis
# (127.0.0.1:6379, key prefix eid-cluster:), a PostgreSQL database (eidbroker_cluster on
# 127.0.0.1:5432, trust auth, user postgres; created fresh by `start`), one key directory and the
# pairwise and pseudonym secrets, and believe X-Forwarded-For only from HAProxy's source address
# 127.0.0.2. The demo's keys and secrets come from one start of the single-node demo in the shared
# data directory; a real deployment makes them with `eidbroker keygen` and `head -c 32 /dev/urandom`.
# Needs: haproxy, redis-server running, PostgreSQL running, a built eidbroker (EIDBROKER=path).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${EIDBROKER:-target/release/eidbroker}
[ -x "$BIN" ] || BIN=target/debug/eidbroker
RUN=${CLUSTER_DIR:-target/local-cluster}
DATA=$RUN/data
DB=eidbroker_cluster
PG=postgres://postgres@127.0.0.1:5432
export LB_ADDR=127.0.0.1 LB_SOURCE=127.0.0.2 NODE1=127.0.2.1 NODE2=127.0.2.2 NODE3=127.0.2.3
export LB_SOCKET=$(realpath -m "$RUN")/haproxy.sock
export BROKER_PORT=8080 IDP_PORT=8081 DELEGATION_PORT=8082 GATEWAY_PORT=8083 DEMO_RP_PORT=8090

# Waits until http://$1:$BROKER_PORT/readyz and the authenticator's answer 200.
wait_ready() {
  for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "http://$1:$BROKER_PORT/readyz" 2>/dev/null &&
      curl -fsS -o /dev/null "http://$1:$IDP_PORT/readyz" 2>/dev/null && return 0
    sleep 0.5
  done
  echo "no answer from $1 (see $RUN/*.log)" >&2
  return 1
}

# Starts `eidbroker serve` on address $1 with the log $2; extra environment in "${@:3}".
serve() {
  local addr=$1 log=$2
  shift 2
  env "$@" EIDBROKER_DATA_DIR="$DATA" \
    EIDBROKER_BROKER__LISTEN="$addr:$BROKER_PORT" EIDBROKER_IDP__LISTEN="$addr:$IDP_PORT" \
    EIDBROKER_DELEGATION__LISTEN="$addr:$DELEGATION_PORT" \
    EIDBROKER_EIDAS_GATEWAY__LISTEN="$addr:$GATEWAY_PORT" \
    EIDBROKER_DEMO_RP__LISTEN="$addr:$DEMO_RP_PORT" \
    "$BIN" --config "$RUN/eidbroker.toml" serve >"$log" 2>&1 &
  echo $!
}

start() {
  mkdir -p "$RUN"
  # The demo configuration, with HAProxy as the only trusted proxy of the broker, the idp and the
  # eIDAS gateway.
  sed -e 's/^\[broker\]$/[broker]\ntrusted_proxies = ["127.0.0.2"]/' \
      -e 's/^\[idp\]$/[idp]\ntrusted_proxies = ["127.0.0.2"]/' \
      -e 's/^\[eidas_gateway\]$/[eidas_gateway]\ntrusted_proxies = ["127.0.0.2"]/' config/default.toml >"$RUN/eidbroker.toml"
  if [ ! -f "$DATA/broker/pairwise.secret" ]; then
    echo "making the demo keys and secrets in $DATA"
    pid=$(serve "$NODE1" "$RUN/seed.log")
    wait_ready "$NODE1"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  fi
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  local shared=(EIDBROKER_STORE__EPHEMERAL=redis://127.0.0.1:6379
    EIDBROKER_STORE__REDIS_KEY_PREFIX=eid-cluster:
    EIDBROKER_STORE__DURABLE="$PG/$DB"
    EIDBROKER_BROKER__PAIRWISE_SECRET_FILE="$DATA/broker/pairwise.secret"
    EIDBROKER_EIDAS_GATEWAY__PROXY__PSEUDONYM_SECRET_FILE="$DATA/eidas-gateway/pseudonym.secret")
  env "${shared[@]}" EIDBROKER_DATA_DIR="$DATA" "$BIN" --config "$RUN/eidbroker.toml" migrate >"$RUN/migrate.log" 2>&1
  # The first node loads the demo data into the fresh database before the others start.
  for n in 1 2 3; do
    addr_var=NODE$n
    serve "${!addr_var}" "$RUN/node$n.log" "${shared[@]}" >"$RUN/node$n.pid"
    [ "$n" = 1 ] && wait_ready "$NODE1"
  done
  wait_ready "$NODE2"
  wait_ready "$NODE3"
  haproxy -D -p "$RUN/haproxy.pid" -f deploy/haproxy.cfg
  wait_ready localhost
  cat <<URLS
three nodes behind HAProxy:
  broker         http://localhost:$BROKER_PORT
  authenticator  http://localhost:$IDP_PORT
  delegation     http://localhost:$DELEGATION_PORT
  eIDAS gateway  http://localhost:$GATEWAY_PORT
  demo service   http://localhost:$DEMO_RP_PORT
logs in $RUN; stop with $0 stop
URLS
}

# Puts nodes 1..$1 in rotation and the others in maintenance, through HAProxy's runtime API (how an
# operator takes a node out before a planned restart, and how the capacity figures compare 1, 2
# and 3 nodes).
nodes() {
  local want=${1:-3}
  [[ "$want" =~ ^[1-3]$ ]] || { echo "nodes: 1, 2 or 3" >&2; exit 2; }
  for n in 1 2 3; do
    local state=ready
    ((n > want)) && state=maint
    for backend in broker idp delegation eidas-gateway demo-rp; do
      python3 - "$LB_SOCKET" "set server $backend/n$n state $state" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
answer = s.makefile().read().strip()
if answer:
    sys.exit(f"{sys.argv[2]}: {answer}")
PY
    done
  done
  echo "nodes 1-$want in rotation"
}

stop() {
  for f in "$RUN"/node?.pid "$RUN"/haproxy.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
}

case "${1:-}" in
  start) start ;;
  nodes) nodes "${2:-3}" ;;
  stop) stop ;;
  *) echo "usage: $0 start|nodes 1-3|stop" >&2; exit 2 ;;
esac
