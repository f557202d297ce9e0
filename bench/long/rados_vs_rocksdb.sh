#!/bin/bash
# Issue 15's benchmark: ingest and retrieval of one series with the frames in
# RocksDB and in a RADOS pool, interleaved in one run on one throwaway
# development cluster, then `rados bench` write and seq on the same cluster
# as the limit of that cluster for our object size. Each pacscore run gets a
# fresh data folder and a fresh pool (a pool that already holds the frames
# would turn the ingest into reference-taking only).
#
#   [CHUNK_BYTES=N] bench/long/rados_vs_rocksdb.sh [BUILD_DIR] [CORPUS_SERIES] [RUNS] [OUT_DIR]
#
# Prints the bench tables; OUT_DIR keeps each run's JSON and rados bench's output.
set -eu
build=${1:-build}
series=${2:-/work/shared/corpus/dcm_qa_ct/philips_ct_140_slices}
runs=${3:-3}
out=${4:-rados-vs-rocksdb}
here=$(cd "$(dirname "$0")/../.." && pwd)
pacscore="$build/bin/pacscore"
mkdir -p "$out"
cluster=$(mktemp -d /tmp/pacs-bench-ceph.XXXXXX)
pools=()
for i in $(seq 1 $((2 * runs))); do pools+=("bench$i"); done
# rados bench writes for 30 s (~3-5 GB here): a memstore OSD of 8 GB holds it.
export CEPH_MEMSTORE_BYTES=${CEPH_MEMSTORE_BYTES:-8589934592}
trap '"$here/tests/ceph/ceph_cluster.sh" stop "$cluster" >/dev/null 2>&1 || true' EXIT
"$here/tests/ceph/ceph_cluster.sh" start "$cluster" "${pools[@]}" benchraw
conf="$cluster/ceph.conf"
p=0
for run in $(seq 1 "$runs"); do
  # Alternate which back end goes first, so drift hits both alike.
  if (( run % 2 )); then order="rocksdb rados"; else order="rados rocksdb"; fi
  for backend in $order; do
    args=()
    if [[ $backend == rados ]]; then
      p=$((p + 1))
      args=(--serve-arg=--frames=rados:${pools[$((p - 1))]} --serve-arg=--ceph-conf=$conf)
    fi
    echo "== run $run: $backend ingest (4 associations)"
    "$pacscore" bench ingest --corpus "$series" --associations 4 "${args[@]}" \
      --json "$out/ingest-$backend-$run.json" 2>&1 | grep -E "^pass|stored/received"
    if [[ $backend == rados ]]; then
      p=$((p + 1))
      args=(--serve-arg=--frames=rados:${pools[$((p - 1))]} --serve-arg=--ceph-conf=$conf)
    fi
    echo "== run $run: $backend retrieve (C-GET, each instance in the syntax it was sent in: uncompressed for the CT series)"
    "$pacscore" bench retrieve --corpus "$series" --associations 1 --repeat 3 "${args[@]}" \
      --json "$out/retrieve-$backend-$run.json" 2>&1 | tail -n 12
  done
done
# rados bench's object size: the series' mean stored chunk (the CT series
# at rest in JPEG-LS: 28.0 MB in 140 chunks, about 200 KB); CHUNK_BYTES overrides.
size=${CHUNK_BYTES:-200000}
echo "== rados bench 30 write -b $size -t 4, then seq"
rados -c "$conf" bench -p benchraw 30 write -b "$size" -t 4 --no-cleanup | tee "$out/rados-write.txt" | tail -n 12
rados -c "$conf" bench -p benchraw 30 seq -t 4 | tee "$out/rados-seq.txt" | tail -n 10
