#!/bin/bash
# A throwaway single-node Ceph cluster on loopback for tests and benchmarks:
# one monitor, one memstore OSD, one manager, no cephx, pools of size 1.
# Everything (configuration, data, logs, sockets, pids) lives under DIR.
#
#   tests/ceph/ceph_cluster.sh start DIR [POOL...]   starts it (about 10 s), creates the pools
#   tests/ceph/ceph_cluster.sh stop DIR              stops it and removes DIR
#   tests/ceph/ceph_cluster.sh pid DIR osd|mon|mgr   prints a daemon's pid (for SIGSTOP tests)
#
# DIR/ceph.conf is the client configuration (`rados -c DIR/ceph.conf ...`,
# `pacscore serve --frames rados:POOL --ceph-conf DIR/ceph.conf`). The monitor
# port is free at start (CEPH_MON_PORT overrides). Every wait is bounded: a
# cluster that is not up in CEPH_START_TIMEOUT seconds (default 60) is
# stopped and the script fails with the daemons' last log lines.
set -u
cmd=${1:-}
dir=${2:-}
if [[ -z "$cmd" || -z "$dir" ]]; then
  echo "usage: $0 start|stop|pid DIR [POOL...|osd|mon|mgr]" >&2
  exit 2
fi
shift 2

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stop_cluster() {
  local d=$1
  for name in mgr osd mon; do
    local f="$d/$name.pid"
    [[ -f "$f" ]] || continue
    local p
    p=$(cat "$f")
    # A stopped (SIGSTOP) daemon must be continued to see its SIGTERM. The
    # data is throwaway: a daemon still running after 2 s is killed.
    kill -CONT "$p" 2>/dev/null
    kill -TERM "$p" 2>/dev/null
  done
  for name in mgr osd mon; do
    local f="$d/$name.pid"
    [[ -f "$f" ]] || continue
    local p
    p=$(cat "$f")
    for _ in $(seq 1 20); do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null
    rm -f "$f"
  done
}

case "$cmd" in
  start)
    for tool in ceph-mon ceph-osd ceph-mgr ceph monmaptool; do
      command -v "$tool" >/dev/null || {
        echo "ceph_cluster: $tool not found (apt-get install ceph-mon ceph-osd ceph-mgr ceph-common)" >&2
        exit 3
      }
    done
    [[ -e "$dir/ceph.conf" ]] && stop_cluster "$dir"
    rm -rf "$dir"
    mkdir -p "$dir/mon" "$dir/osd" "$dir/mgr" "$dir/run" || exit 1
    dir=$(cd "$dir" && pwd)
    port=${CEPH_MON_PORT:-$(free_port)}
    fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
    cat >"$dir/ceph.conf" <<CONF
[global]
fsid = $fsid
mon_host = 127.0.0.1:$port
public_network = 127.0.0.0/8
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
osd_objectstore = memstore
memstore_device_bytes = ${CEPH_MEMSTORE_BYTES:-2147483648}
osd_crush_chooseleaf_type = 0
ms_bind_ipv4 = true
ms_bind_ipv6 = false
run_dir = $dir/run
admin_socket = $dir/run/\$cluster-\$name.asok
log_file = $dir/\$name.log
mon_data = $dir/mon/\$cluster-\$id
osd_data = $dir/osd/\$cluster-\$id
mgr_data = $dir/mgr/\$cluster-\$id
# Clients (and the tests' pacscore) fail instead of waiting forever.
client_mount_timeout = 10
rados_mon_op_timeout = 10
rados_osd_op_timeout = 10
CONF
    conf="$dir/ceph.conf"
    log() { echo "ceph_cluster: $*" >&2; }
    fail() {
      log "$*"
      for f in "$dir"/*.log; do
        [[ -f "$f" ]] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
      done
      stop_cluster "$dir"
      exit 1
    }
    timeout_s=${CEPH_START_TIMEOUT:-60}
    deadline=$((SECONDS + timeout_s))
    monmaptool --create --add a "127.0.0.1:$port" --fsid "$fsid" "$dir/monmap" >/dev/null 2>&1 ||
      fail "monmaptool failed"
    ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" >"$dir/mkfs-mon.out" 2>&1 || fail "ceph-mon --mkfs failed"
    ceph-mon -c "$conf" -i a --pid-file "$dir/mon.pid" 2>>"$dir/daemons.err" || fail "ceph-mon did not start"
    # Every ceph command below is bounded by --connect-timeout and timeout(1).
    c() { timeout 20 ceph -c "$conf" --connect-timeout 10 "$@"; }
    until c osd create >"$dir/osd-id" 2>/dev/null; do
      ((SECONDS < deadline)) || fail "the monitor on 127.0.0.1:$port did not answer in ${timeout_s}s"
      sleep 0.3
    done
    mkdir -p "$dir/osd/ceph-0"
    ceph-osd -c "$conf" -i 0 --mkfs >"$dir/mkfs-osd.out" 2>&1 || fail "ceph-osd --mkfs failed"
    ceph-osd -c "$conf" -i 0 --pid-file "$dir/osd.pid" 2>>"$dir/daemons.err" || fail "ceph-osd did not start"
    mkdir -p "$dir/mgr/ceph-x"
    ceph-mgr -c "$conf" -i x --pid-file "$dir/mgr.pid" 2>>"$dir/daemons.err" || fail "ceph-mgr did not start"
    until c osd stat 2>/dev/null | grep -q "1 up"; do
      ((SECONDS < deadline)) || fail "the OSD was not up in ${timeout_s}s"
      sleep 0.3
    done
    for pool in "$@"; do
      c osd pool create "$pool" 8 >/dev/null 2>&1 || fail "creating pool $pool failed"
      c osd pool set "$pool" size 1 --yes-i-really-mean-it >/dev/null 2>&1 || true
    done
    # The pools are usable once a write goes through.
    for pool in "$@"; do
      until echo ok | timeout 20 rados -c "$conf" -p "$pool" put ceph-cluster-probe - 2>/dev/null; do
        ((SECONDS < deadline)) || fail "pool $pool did not take a write in ${timeout_s}s"
        sleep 0.3
      done
      timeout 20 rados -c "$conf" -p "$pool" rm ceph-cluster-probe 2>/dev/null
    done
    echo "$conf"
    ;;
  stop)
    [[ -d "$dir" ]] || exit 0
    stop_cluster "$dir"
    rm -rf "$dir"
    ;;
  pid)
    cat "$dir/${1:-osd}.pid"
    ;;
  *)
    echo "usage: $0 start|stop|pid DIR ..." >&2
    exit 2
    ;;
esac
