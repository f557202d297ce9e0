#!/usr/bin/env bash
# CI's short run of the decoder differential fuzzer (fuzz/jls): builds
# jls_decoder_fuzzer with clang (-fsanitize=fuzzer,address,undefined) in its
# own build folder and runs it for SECONDS over a copy of the committed seeds.
# Any finding (crash, sanitizer report, a difference from CharLS, a slow
# input) fails the test; the input is kept in BUILD_DIR/artifacts/ and its
# whole report is printed.
# Debian's CharLS 2.4.1 is built with assertions on and aborts on a few
# crafted inputs (about 1 in 100,000 here, docs/jpegls-decoder.md). So the
# fuzzer runs in one process at a time, each restarted on the grown corpus
# after a crash until the time is spent, and each crash is judged on the
# report the fuzzing process itself wrote (fuzz-N.log): only a failed
# assertion inside CharLS with no sanitizer report and no FINDING is not a
# finding of ours. (The report of the crashing process is what counts: a
# replay of the input alone may not crash again, and libFuzzer's -fork mode,
# used before, keeps only one line of each child's report.)
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
mkdir "$work/corpus"
cp "$src"/fuzz/jls/decoder_seeds/* "$work/corpus/"
rm -rf "$out/artifacts" "$out"/fuzz-*.log
mkdir -p "$out/artifacts"
cd "$work"
findings=0
charls_aborts=0
runs=0
deadline=$((SECONDS + seconds))
# At most 20 restarts: more CharLS aborts than that in 30 s would mean
# something else is wrong, and is reported as a finding below.
while ((SECONDS < deadline)) && ((runs < 20)); do
  log="$out/fuzz-$runs.log"
  runs=$((runs + 1))
  status=0
  "$out/jls_decoder_fuzzer" -max_total_time=$((deadline - SECONDS)) -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$out/artifacts/" "$work/corpus" >"$log" 2>&1 || status=$?
  if [ "$status" -eq 0 ]; then
    tail -n 3 "$log"
    continue
  fi
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  if grep -q "Assertion .* failed" "$log" && grep -q -i "charls" "$log" &&
     ! grep -q -E "FINDING|ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|libFuzzer: (timeout|out-of-memory))|runtime error" "$log"; then
    charls_aborts=$((charls_aborts + 1))
    echo "CharLS assertion abort (not ours): ${artifact:-no input written}"
    grep -m 1 "Assertion .* failed" "$log"
    continue
  fi
  findings=$((findings + 1))
  echo "FINDING (exit status $status): ${artifact:-no input written}"
  grep -n -E "ERROR|FINDING|runtime error|Assertion|SUMMARY" "$log" | head -n 20
  # The report, from its first line to the end, bounded.
  sed -n '/ERROR\|FINDING\|runtime error\|Assertion/,$p' "$log" | head -n 80
  if [ -n "$artifact" ] && [ -e "$artifact" ]; then
    if timeout 120 "$out/jls_decoder_fuzzer" -timeout=10 "$artifact" >"$out/replay-$runs.log" 2>&1; then
      echo "(the input alone did not crash again: the crash depends on what the process ran before it)"
    else
      echo "(the input alone crashes again: $out/replay-$runs.log)"
    fi
  fi
  break
done
if ((runs >= 20)) && ((findings == 0)) && ((SECONDS < deadline)); then
  echo "FINDING: the fuzzer stopped 20 times in ${seconds} s"
  findings=1
fi
echo "jls_decoder_fuzzer: ${seconds} s, $runs run(s), $findings finding(s), $charls_aborts CharLS assertion abort(s)," \
  "corpus $(find "$work/corpus" -type f | wc -l) inputs"
if [ "$findings" -ne 0 ]; then exit 1; fi
