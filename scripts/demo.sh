#!/usr/bin/env bash
# make demo: the main job end to end on embedded defaults, no server to start.
# Compiles the sample plans, generates and loads a directory, generates about a million CDRs,
# rates them and prints the summary.
set -euo pipefail
CDRATE=${1:-build-release/cdrate}
OUT=${DEMO_OUT:-demo-out}
SUBS=${DEMO_SUBSCRIBERS:-100000}
CDRS=${DEMO_CDRS:-1000000}
rm -rf "$OUT"
mkdir -p "$OUT"
echo "== 1. compile the sample tariff plans (rating-rules/plans) into $OUT/store"
"$CDRATE" plans compile rating-rules/plans --store "$OUT/store"
"$CDRATE" plans list --store "$OUT/store"
echo "== 2. generate a directory of $SUBS subscribers and $CDRS CDRs"
"$CDRATE" gen --out "$OUT/gen" --subscribers "$SUBS" --cdrs "$CDRS"
echo "== 3. load the directory"
"$CDRATE" directory load "$OUT/gen/directory.dir" --store "$OUT/store"
echo "== 4. rate"
"$CDRATE" rate --store "$OUT/store" --in "$OUT/gen/cdrs.csv" --out "$OUT/rated.csv" --threads 2
echo "== rated records: $OUT/rated.csv ($(($(wc -l < "$OUT/rated.csv") - 1)) lines); first three:"
head -4 "$OUT/rated.csv"
