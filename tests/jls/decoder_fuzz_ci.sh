#!/usr/bin/env bash
# CI's short run of the decoder differential fuzzer (fuzz/jls): builds
# jls_decoder_fuzzer with clang (-fsanitize=fuzzer,address,undefined) in its
# own build folder and runs it for SECONDS over a copy of the committed seeds.
# Any finding (crash, sanitizer report, a difference from CharLS, a slow
# input) fails the test; the input is kept in BUILD_DIR/artifacts/.
# Debian's CharLS 2.4.1 is built with assertions on and aborts on a few
# crafted inputs (about 1 in 100,000 here, docs/jpegls-decoder.md): the
# fuzzer runs forked (-fork=1) so that such an abort does not end it, and
# every input that crashed is replayed alone afterwards; only those whose
# report is a failed assertion inside CharLS are not findings of ours.
# Usage: decoder_fuzz_ci.sh SOURCE_DIR BUILD_DIR SECONDS
set -euo pipefail
src=$1
out=$2
seconds=$3
command -v clang++ >/dev/null || { echo "clang++ is not installed (deps/debian-test-packages.txt)"; exit 1; }
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$src/fuzz/jls" -B "$out" -G Ninja -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" >/dev/null
ninja -C "$out" jls_decoder_fuzzer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$src"/fuzz/jls/decoder_seeds/* "$work/"
rm -rf "$out/artifacts"
mkdir -p "$out/artifacts"
cd "$work"
status=0
"$out/jls_decoder_fuzzer" -fork=1 -ignore_crashes=1 -ignore_timeouts=0 -ignore_ooms=0 \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$out/artifacts/" "$work" \
  >"$out/fuzz.log" 2>&1 || status=$?
tail -n 5 "$out/fuzz.log"
findings=0
charls_aborts=0
for artifact in "$out"/artifacts/*; do
  [ -e "$artifact" ] || continue
  report=$(timeout 120 "$out/jls_decoder_fuzzer" -timeout=10 "$artifact" 2>&1 || true)
  if grep -q "Assertion .* failed" <<<"$report" && grep -q -i "charls" <<<"$report" &&
     ! grep -q -E "FINDING|ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer)|runtime error" <<<"$report"; then
    charls_aborts=$((charls_aborts + 1))
    continue
  fi
  findings=$((findings + 1))
  echo "FINDING: $artifact"
  echo "$report" | tail -n 30
done
echo "jls_decoder_fuzzer: ${seconds} s, exit status $status, $findings finding(s), $charls_aborts CharLS assertion abort(s)"
if [ "$findings" -ne 0 ]; then exit 1; fi
if [ "$status" -ne 0 ] && [ "$charls_aborts" -eq 0 ]; then
  tail -n 40 "$out/fuzz.log"
  exit 1
fi
