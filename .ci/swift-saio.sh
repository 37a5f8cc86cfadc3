#!/usr/bin/env bash
# A real one-node OpenStack Swift on 127.0.0.1 for the integration tests, from Debian's packages (bookworm: 2.30.1).
# Idempotent: installs the packages when missing, starts Swift unless this script's Swift already answers, and says
# where it is. Plain directories as disks, one process per server, everything under $SAIO; the access log, which
# Swift sends as syslog over UDP, is written line by line to $SAIO/log/proxy-access.log by a small collector.
#
#   .ci/swift-saio.sh start|stop|status|env     (env: SAIO, PROXY_PORT, LOG_UDP_PORT, MEMCACHE_PORT)
#
# `env` prints SWIFT_SAIO_* variables for `eval`; the integration test reads the same defaults.
set -euo pipefail
SAIO=${SAIO:-/tmp/tally-saio}
PROXY_PORT=${PROXY_PORT:-18080}
OBJ_PORT=${OBJ_PORT:-16010}; CONT_PORT=${CONT_PORT:-16011}; ACCT_PORT=${ACCT_PORT:-16012}
LOG_UDP_PORT=${LOG_UDP_PORT:-15514}
# Not memcached's own 11211, where a system memcached may already listen.
MEMCACHE_PORT=${MEMCACHE_PORT:-11311}
RUN_USER=${RUN_USER:-$(id -un)}
ETC=$SAIO/etc; DEV=$SAIO/srv/node; RUN=$SAIO/run; LOG=$SAIO/log
ACCESS_LOG=$LOG/proxy-access.log
# Debian's python3, which the swift packages use: a python3 first on PATH (pyenv, a venv) may lack nothing we need,
# but the collector should not depend on it.
PYTHON=/usr/bin/python3
PACKAGES=(swift swift-proxy swift-account swift-container swift-object python3-swiftclient memcached curl)

install_packages() {
  local missing=()
  command -v swift-proxy-server >/dev/null || missing+=(swift-proxy)
  command -v swift-account-server >/dev/null || missing+=(swift-account)
  command -v swift-container-server >/dev/null || missing+=(swift-container)
  command -v swift-object-server >/dev/null || missing+=(swift-object)
  command -v swift-ring-builder >/dev/null || missing+=(swift)
  command -v swift >/dev/null || missing+=(python3-swiftclient)
  command -v memcached >/dev/null || missing+=(memcached)
  command -v curl >/dev/null || missing+=(curl)
  [ -f /etc/swift/swift.conf ] || missing+=(swift)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${PACKAGES[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
  # Another job may hold the package lock: wait for it rather than fail.
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  # The package's own services are not ours: ours run from $SAIO on ports of their own.
  [ -f /etc/swift/swift.conf ] || { echo "the swift package left no /etc/swift/swift.conf"; exit 1; }
}

write_confs() {
  mkdir -p "$ETC" "$DEV/d1" "$RUN" "$LOG" "$SAIO/cache"
  local common="devices = $DEV
mount_check = false
bind_ip = 127.0.0.1
workers = 0
user = $RUN_USER
swift_dir = $ETC
disable_fallocate = true
log_udp_host = 127.0.0.1
log_udp_port = $LOG_UDP_PORT
recon_cache_path = $SAIO/cache"
  for s in account:$ACCT_PORT container:$CONT_PORT object:$OBJ_PORT; do
    local name=${s%%:*} port=${s##*:}
    cat > "$ETC/$name-server.conf" <<CONF
[DEFAULT]
$common
bind_port = $port
log_name = $name-server

[pipeline:main]
pipeline = $name-server

[app:$name-server]
use = egg:swift#$name

[$name-updater]
[$name-auditor]
[$name-replicator]
CONF
  done
  cp /etc/swift/swift.conf "$ETC/swift.conf"
  cat > "$ETC/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PROXY_PORT
workers = 0
user = $RUN_USER
swift_dir = $ETC
log_name = proxy-server
log_udp_host = 127.0.0.1
log_udp_port = $LOG_UDP_PORT

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats tempauth copy dlo slo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:tempauth]
use = egg:swift#tempauth
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MEMCACHE_PORT

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
access_log_udp_host = 127.0.0.1
access_log_udp_port = $LOG_UDP_PORT
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:dlo]
use = egg:swift#dlo
[filter:slo]
use = egg:swift#slo
CONF
}

build_rings() {
  (
    cd "$ETC"
    for s in account:$ACCT_PORT container:$CONT_PORT object:$OBJ_PORT; do
      local name=${s%%:*} port=${s##*:}
      rm -f "$name.builder" "$name.ring.gz"
      swift-ring-builder "$name.builder" create 8 1 1 >/dev/null
      swift-ring-builder "$name.builder" add "r1z1-127.0.0.1:$port/d1" 1 >/dev/null
      swift-ring-builder "$name.builder" rebalance >/dev/null || true
    done
  )
}

# Swift's syslog datagrams, one line each, appended and flushed as they come: the file the importer reads.
start_collector() {
  "$PYTHON" - "$LOG_UDP_PORT" "$ACCESS_LOG" > "$LOG/collector.log" 2>&1 <<'PY' &
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", int(sys.argv[1])))
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        data = sock.recv(65536).rstrip(b"\x00\r\n")
        out.write(data.replace(b"\n", b" ") + b"\n")
PY
  echo $! > "$RUN/collector.pid"
}

alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

healthy() { curl -fsS "http://127.0.0.1:$PROXY_PORT/healthcheck" >/dev/null 2>&1; }

start() {
  install_packages
  if healthy; then
    if alive proxy && alive collector && alive memcached; then
      echo "swift already up on 127.0.0.1:$PROXY_PORT"; print_env; return 0
    fi
    if ! alive proxy; then
      echo "port $PROXY_PORT already serves something that this script did not start; stop it first"; exit 1
    fi
    # Ours, with a helper gone (the access log collector, memcached): start it all again.
    echo "restarting the swift on 127.0.0.1:$PROXY_PORT: some of its processes have stopped"
  fi
  stop quietly
  write_confs; build_rings
  : > "$ACCESS_LOG"
  start_collector
  memcached -l 127.0.0.1 -p "$MEMCACHE_PORT" -U 0 -u "$RUN_USER" -m 16 > "$LOG/memcached.log" 2>&1 &
  echo $! > "$RUN/memcached.pid"
  for s in account container object proxy; do
    "swift-$s-server" "$ETC/$s-server.conf" -v > "$LOG/$s.log" 2>&1 &
    echo $! > "$RUN/$s.pid"
  done
  # About 15 s on an idle machine; a busy one can take several times that.
  for _ in $(seq 1 600); do
    if healthy; then echo "swift up on 127.0.0.1:$PROXY_PORT"; print_env; return 0; fi
    sleep 0.2
  done
  echo "swift did not come up within 2 minutes; see $LOG"; tail -n 20 "$LOG"/*.log; exit 1
}

stop() {
  local pids=() f
  for f in "$RUN"/*.pid; do
    [ -f "$f" ] || continue
    pids+=("$(cat "$f")"); rm -f "$f"
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 50); do
    local left=0 p
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
    [ $left = 0 ] && return 0
    sleep 0.2
  done
  kill -9 "${pids[@]}" 2>/dev/null || true   # only the processes this script recorded
}

status() {
  local f p
  for f in "$RUN"/*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f"); echo "$(basename "$f" .pid) $p $(kill -0 "$p" 2>/dev/null && echo alive || echo dead)"
  done
}

print_env() {
  echo "SWIFT_SAIO_URL=http://127.0.0.1:$PROXY_PORT"
  echo "SWIFT_SAIO_DIR=$SAIO"
  echo "SWIFT_SAIO_ACCESS_LOG=$ACCESS_LOG"
  # X-Account-Bytes-Used lags until the container updater has run: `swift-container-updater $ETC/container-server.conf once`.
  echo "SWIFT_SAIO_CONTAINER_CONF=$ETC/container-server.conf"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) print_env ;;
  install) install_packages ;;
  *) echo "usage: $0 start|stop|status|env|install"; exit 2 ;;
esac
