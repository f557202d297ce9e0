#!/bin/sh
# The long settle run of issue 11 (too long for CI; tests/integration/settle_test.cpp
# runs the same check on two copies): 14 copies of the 140-slice CT series with
# distinct pixels (1.04 GB) pushed into a fresh pacscore over 2 associations;
# then stored/received every 10 s after the last acknowledgement, no compact,
# until it is <= 0.45 (exit 0) or 10 minutes have passed (exit 3).
#
#   bench/long/settle_1gb.sh [BUILD_DIR] [CORPUS_DIR] [OUT_JSON]
set -eu
build=${1:-build}
corpus=${2:-/work/shared/corpus}
out=${3:-settle-1gb.json}
exec "$build/bin/pacscore" bench settle --corpus "$corpus/dcm_qa_ct/philips_ct_140_slices" \
  --copies 14 --associations 2 --bound 0.45 --timeout 600 --interval 10 --json "$out"
