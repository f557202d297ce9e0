#!/bin/sh
# Peak memory of one large C-STORE (issue 13, "Resource limits"): a
# multi-frame dataset of MB megabytes made from the 140-slice CT series
# (`pacscore bench multiframe`), sent with storescu to a fresh `pacscore
# serve`, background encoding awaited (POST /wait-idle). Prints the server's
# idle VmRSS, its VmHWM (peak) once everything is done, and peak - idle as a
# multiple of the dataset. Too slow for CI (the 600 MB file takes ~12 s to
# write and ~1-2 min to store and encode); tests/integration/memory_bound_test.cpp
# checks a small one.
#
#   bench/long/multiframe_rss.sh [PACSCORE_BINARY] [MB] [CORPUS_DIR] [extra serve flags...]
# (GEN=another pacscore binary writes the dataset, for measuring a build without `bench multiframe`)
set -eu
bin=${1:-build/bin/pacscore}
mb=${2:-600}
corpus=${3:-/work/shared/corpus}
if [ $# -ge 3 ]; then shift 3; else shift $#; fi
work=$(mktemp -d "${TMPDIR:-/tmp}/pacs_mfrss.XXXXXX")
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
"${GEN:-$bin}" bench multiframe --series "$corpus/dcm_qa_ct/philips_ct_140_slices" --megabytes "$mb" --out "$work/mf.dcm"
size=$(stat -c %s "$work/mf.dcm")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --data "$work/data" --port "$port" "$@" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$work/data/admin.sock" ] && break; sleep 0.1; done
sleep 1
idle=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
start=$(date +%s.%N)
TCP_NODELAY=1 storescu -aec PACSCORE 127.0.0.1 "$port" "$work/mf.dcm"
stored=$(date +%s.%N)
curl -s --unix-socket "$work/data/admin.sock" -X POST -H 'Content-Type: application/json' \
  "http://localhost/wait-idle" -d '{"timeout_ms": 900000}' >/dev/null
done_at=$(date +%s.%N)
peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "dataset_bytes=$size idle_rss_kb=$idle peak_hwm_kb=$peak" \
  "peak_minus_idle_over_dataset=$(echo "($peak - $idle) * 1024 / $size" | bc -l | cut -c1-5)" \
  "store_s=$(echo "$stored - $start" | bc | cut -c1-6) until_idle_s=$(echo "$done_at - $start" | bc | cut -c1-6)"
