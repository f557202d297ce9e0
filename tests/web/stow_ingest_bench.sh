#!/usr/bin/env bash
# STOW-RS ingest against our own C-STORE ingest, same files, same machine,
# same run (issue 12's goal: STOW at least as fast). Each round stores the
# series into a fresh data folder twice: once with one STOW-RS request
# (curl, the whole series as one multipart/related body) and once with one
# storescu association (TCP_NODELAY=1); the order alternates between rounds.
# MB/s = bytes of the files / wall time from the first byte sent to the
# last response (both durable: ingest commits before it answers).
#
#   tests/web/stow_ingest_bench.sh build/bin/pacscore /work/shared/corpus/dcm_qa_ct/philips_ct_140_slices [ROUNDS]
set -euo pipefail
pacscore=$(realpath "$1")
series=$2
rounds=${3:-3}
work=$(mktemp -d /tmp/webstow-bench-XXXXXX)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
mapfile -t files < <(find "$series" -name '*.dcm' | sort)
bytes=$(cat "${files[@]}" | wc -c)
boundary=pacscore-bench-boundary
{
  for f in "${files[@]}"; do
    printf -- '--%s\r\nContent-Type: application/dicom\r\n\r\n' "$boundary"
    cat "$f"
    printf '\r\n'
  done
  printf -- '--%s--\r\n' "$boundary"
} >"$work/body"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() {
  dicom_port=$(port)
  web_port=$(port)
  rm -rf "$work/data"
  "$pacscore" serve --data "$work/data" --port "$dicom_port" --web-port "$web_port" >"$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$web_port/dicom-web/studies" && return 0
    sleep 0.1
  done
  cat "$work/serve.log"
  exit 1
}
stop() { kill "$server"; wait "$server" || true; server=; }
now() { date +%s.%N; }
mbps() { python3 -c "print(f'{$bytes / ($2 - $1) / 1e6:.1f}')"; }
stow() {
  start
  local t0 t1 code
  t0=$(now)
  code=$(curl -s -o "$work/response" -w '%{http_code}' --data-binary @"$work/body" \
    -H "Content-Type: multipart/related; type=\"application/dicom\"; boundary=$boundary" \
    -H 'Accept: application/dicom+json' "http://127.0.0.1:$web_port/dicom-web/studies")
  t1=$(now)
  stop
  [ "$code" = 200 ] || { echo "STOW-RS answered $code: $(head -c 500 "$work/response")"; exit 1; }
  echo "stow $(mbps "$t0" "$t1") MB/s ($(python3 -c "print(f'{$t1 - $t0:.2f}')") s)"
}
cstore() {
  start
  local t0 t1
  t0=$(now)
  TCP_NODELAY=1 storescu -aec PACSCORE 127.0.0.1 "$dicom_port" "${files[@]}" >"$work/storescu.log" 2>&1 ||
    { cat "$work/storescu.log"; exit 1; }
  t1=$(now)
  stop
  echo "cstore $(mbps "$t0" "$t1") MB/s ($(python3 -c "print(f'{$t1 - $t0:.2f}')") s)"
}
echo "${#files[@]} files, $bytes bytes; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
  if ((round % 2)); then stow; cstore; else cstore; stow; fi
done
