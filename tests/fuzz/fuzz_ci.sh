#!/usr/bin/env bash
# CI's short runs of the libFuzzer targets in fuzz/ (docs/fuzzing.md).
#
#   fuzz_ci.sh build SOURCE_DIR BUILD_DIR CORPUS_DIR
#     configures BUILD_DIR with clang, the whole tree instrumented
#     (-fsanitize=fuzzer-no-link,address,undefined), and builds every target.
#   fuzz_ci.sh run SOURCE_DIR BUILD_DIR TARGET SECONDS
#     replays fuzz/TARGET/regressions/* (inputs that once failed: each must
#     now pass), then fuzzes TARGET for SECONDS from its committed seeds
#     (fuzz/TARGET/seeds) plus those it derives itself
#     (PACS_FUZZ_WRITE_SEEDS). Any finding (crash, sanitizer report, uncaught
#     exception, a throwing allocation above 256 MiB, RSS above 2 GiB, an input
#     slower than 20 s) fails unless it is inside a third-party codec (below);
#     the input is kept in BUILD_DIR/artifacts/ and its report printed.
set -euo pipefail
action=$1
src=$2
out=$3
case "$action" in
build)
  corpus=$4
  command -v clang++ >/dev/null || { echo "clang++ is not installed (deps/debian-test-packages.txt)"; exit 1; }
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  cmake -S "$src" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang "${launcher[@]}" \
    -DPACS_BUILD_FUZZERS=ON -DPACS_BUILD_TESTS=OFF -DPACS_BUILD_BENCH=OFF -DPACS_CORPUS_DIR="$corpus" \
    "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
    >/dev/null
  ninja -C "$out" pacs_fuzzers
  ;;
run)
  target=$4
  seconds=$5
  binary="$out/bin/$target"
  [ -x "$binary" ] || { echo "$binary is missing: run fuzz_ci.sh build first"; exit 1; }
  name=${target%_fuzzer}
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/corpus" "$out/artifacts"
  rm -f "$out/artifacts/$target-"*
  regressions="$src/fuzz/$name/regressions"
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    echo "$target: replaying $(ls "$regressions" | wc -l) regression input(s)"
    if ! ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=256 "$binary" -timeout=20 \
      -rss_limit_mb=2048 -malloc_limit_mb=4200 "$regressions"/* >"$work/replay.log" 2>&1; then
      tail -n 40 "$work/replay.log"
      echo "$target: a regression input fails again"
      exit 1
    fi
  fi
  [ -d "$src/fuzz/$name/seeds" ] && cp "$src/fuzz/$name/seeds/"* "$work/corpus/"
  # Targets that derive no seeds ignore the variable and, with -runs=0, do nothing.
  PACS_FUZZ_WRITE_SEEDS="$work/corpus" "$binary" -runs=0 >/dev/null 2>&1 || true
  echo "$target: $(ls "$work/corpus" | wc -l) seed(s)"
  # Forked (-fork=1), so that a crash, a hang or an out-of-memory inside a
  # third-party library does not end the run: OpenJPH 0.9.0 as Debian builds
  # it keeps its assert()s and aborts, or loops, on some crafted HTJ2K
  # codestreams (docs/fuzzing.md). Every input that failed is replayed alone
  # afterwards; it is not a finding of ours only when the innermost frame
  # below the signal, assertion and allocator machinery is in OpenJPH,
  # OpenJPEG or CharLS and no sanitizer reported on our code.
  # DCMTK allocates an element's declared length (up to 4 GiB) before its
  # bytes arrive, with new(nothrow): allocations above 256 MiB return null
  # (allocator_may_return_null), as they fail in production, so that DCMTK
  # reports a parse error; a throwing one that large is still a finding.
  export ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=256
  status=0
  (cd "$work" && "$binary" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=4200 \
    -close_fd_mask=3 -artifact_prefix="$out/artifacts/$target-" "$work/corpus") \
    >"$work/fuzz.log" 2>&1 || status=$?
  grep -E "^#[0-9]+: cov" "$work/fuzz.log" | tail -n 1 || true
  findings=0
  third_party=0
  for artifact in "$out/artifacts/$target-"*; do
    [ -e "$artifact" ] || continue
    report=$(timeout 120 "$binary" -timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=4200 "$artifact" 2>&1 || true)
    machinery='fuzzer::|__sanitizer|__asan|__interceptor_|libc\.so|operator new| in (__pthread_kill_implementation|__pthread_kill_internal|raise|abort|__assert_fail_base|__assert_fail|malloc|calloc|realloc) '
    third_party_lib='/lib/x86_64-linux-gnu/lib(openjph|openjp2|charls)'
    innermost=$(grep -E '^ +#[0-9]+ ' <<<"$report" | grep -v -E "$machinery" | head -n 1 || true)
    # A deadly signal (SIGFPE, SIGSEGV, ...) is reported by ASan as
    # "ERROR: AddressSanitizer: FPE on unknown address"; inside a
    # third-party codec it is that library's crash, like its failed
    # assert()s. So is a write or read past a heap buffer when both the
    # access (below ASan's memset/memcpy interceptors) and the buffer's
    # allocation are in that library: OpenJPH's precinct::parse zeroes
    # ~1.4 GB past its own 1 MiB block on a crafted HTJ2K codestream
    # (docs/fuzzing.md). Every other sanitizer report is ours to look at.
    allocated_in=$(sed -n '/allocated by thread/,$p' <<<"$report" | grep -E '^ +#[0-9]+ ' |
      grep -v -E "$machinery" | head -n 1 || true)
    library_overflow='^$'
    if grep -q -E "$third_party_lib" <<<"$allocated_in"; then
      library_overflow='ERROR: AddressSanitizer: heap-buffer-overflow on address'
    fi
    sanitizer_reports=$(grep -E "FINDING|ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer)|runtime error" <<<"$report" |
      grep -v -E "ERROR: AddressSanitizer: (FPE|SEGV|BUS|ILL|ABRT) on unknown address" |
      grep -v -E "$library_overflow" || true)
    if grep -q -E "$third_party_lib" <<<"$innermost" && [ -z "$sanitizer_reports" ]; then
      third_party=$((third_party + 1))
      echo "third-party: ${artifact##*/}: $(grep -o -E 'Assertion .* failed|ERROR: libFuzzer: [a-z-]+|ERROR: AddressSanitizer: [a-z-]+' <<<"$report" | head -n 1) in ${innermost#* in }"
      continue
    fi
    findings=$((findings + 1))
    echo "FINDING: $artifact"
    tail -n 40 <<<"$report"
  done
  echo "$target: ${seconds} s, exit status $status, $findings finding(s), $third_party in third-party code"
  if [ "$findings" -ne 0 ]; then exit 1; fi
  if [ "$status" -ne 0 ] && [ "$third_party" -eq 0 ]; then
    tail -n 40 "$work/fuzz.log"
    exit 1
  fi
  ;;
*)
  echo "usage: fuzz_ci.sh build SOURCE_DIR BUILD_DIR CORPUS_DIR | run SOURCE_DIR BUILD_DIR TARGET SECONDS"
  exit 2
  ;;
esac
