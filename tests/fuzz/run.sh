#!/usr/bin/env bash
# tests/fuzz/run.sh - the fuzzing campaign behind `make fuzz` (docs/testing.md, "Fuzzing").
#
#   tests/fuzz/run.sh SECS [NAME...]   build the libFuzzer harnesses (clang, build-fuzz/) and run
#                                      each (or the NAMEd ones) for SECS seconds
#   tests/fuzz/run.sh merge [NAME...]  add to tests/fuzz/corpus/NAME/ the inputs of the scratch
#                                      corpus build-fuzz/corpus/NAME/ that reach new coverage
#
# Run from the source tree. BUILD=DIR overrides build-fuzz. Per harness:
#   - new inputs go to the scratch corpus build-fuzz/corpus/NAME/ (kept between runs, never the
#     git corpus), seeded from tests/fuzz/corpus/NAME/ and tests/fuzz/crashes/NAME/;
#   - a crash, leak, sanitizer report or broken property is saved as build-fuzz/crashes/NAME/crash-*
#     (or leak-*, timeout-*, oom-*);
#   - the log is build-fuzz/logs/NAME.log.
# One line per harness is printed (and kept in build-fuzz/logs/summary.txt): executions per
# second, the scratch corpus (inputs and bytes, libFuzzer's "corp:"), the coverage (libFuzzer's
# "cov:", edges) and features ("ft:"). Exit status 1 when any harness found a failure.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build-fuzz}
mode=run
if [ "${1:-}" = merge ]; then
  mode=merge
  shift
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  secs=$1
  shift
else
  echo "usage: tests/fuzz/run.sh SECS [NAME...] | tests/fuzz/run.sh merge [NAME...]" >&2
  exit 2
fi

command -v clang >/dev/null || { echo "fuzz: clang is not installed (scripts/setup.sh)" >&2; exit 1; }

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do
    n=${f##*/fuzz_}
    names+=("${n%.c}")
  done
fi
for n in "${names[@]}"; do
  [ -f "tests/fuzz/fuzz_$n.c" ] || { echo "fuzz: no harness tests/fuzz/fuzz_$n.c" >&2; exit 2; }
done

echo "fuzz: building the harnesses in $BUILD (clang, -fsanitize=fuzzer,address,undefined)" >&2
mkdir -p "$BUILD/logs"
CC=clang cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCDR_FUZZ=ON \
  >"$BUILD/logs/configure.log" 2>&1 || { cat "$BUILD/logs/configure.log" >&2; exit 1; }
targets=()
for n in "${names[@]}"; do targets+=("fuzz_$n"); done
cmake --build "$BUILD" --target "${targets[@]}" >"$BUILD/logs/build.log" 2>&1 ||
  { tail -40 "$BUILD/logs/build.log" >&2; exit 1; }

if [ $mode = merge ]; then
  for n in "${names[@]}"; do
    scratch=$BUILD/corpus/$n
    [ -d "$scratch" ] || { echo "$n: no scratch corpus $scratch (run make fuzz first)"; continue; }
    before=$(ls tests/fuzz/corpus/$n | wc -l)
    "$BUILD/fuzz_$n" -merge=1 "tests/fuzz/corpus/$n" "$scratch" >"$BUILD/logs/$n.merge.log" 2>&1 ||
      { echo "$n: merge failed, see $BUILD/logs/$n.merge.log"; continue; }
    after=$(ls tests/fuzz/corpus/$n | wc -l)
    echo "$n: $((after - before)) inputs added to tests/fuzz/corpus/$n ($(du -sh --apparent-size tests/fuzz/corpus/$n | cut -f1))"
  done
  exit 0
fi

summary=$BUILD/logs/summary.txt
: >"$summary"
failed=0
printf '%-12s %10s %22s %8s %8s  %s\n' harness exec/s corpus cov ft result | tee -a "$summary"
for n in "${names[@]}"; do
  scratch=$BUILD/corpus/$n
  crashes=$BUILD/crashes/$n
  mkdir -p "$scratch" "$crashes"
  seeds=("tests/fuzz/corpus/$n")
  [ -d "tests/fuzz/crashes/$n" ] && seeds+=("tests/fuzz/crashes/$n")
  log=$BUILD/logs/$n.log
  # -timeout: an input that takes 10 s is a hang; -rss_limit_mb: the machine has little memory.
  "$BUILD/fuzz_$n" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "$scratch" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  last=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  [ -n "$eps" ] || eps=$(sed -n 's/.* exec\/s: \([0-9]*\).*/\1/p' <<<"$last")
  if [ $rc -eq 0 ]; then
    result=ok
  else
    failed=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -1)
    result="FAILED (exit $rc): ${artifact:-see $log}"
  fi
  printf '%-12s %10s %22s %8s %8s  %s\n' "$n" "${eps:-?}" "${corp:-?}" "${cov:-?}" "${ft:-?}" \
    "$result" | tee -a "$summary"
done
echo "logs: $BUILD/logs/ (summary.txt, NAME.log); new inputs: $BUILD/corpus/NAME/;" \
  "merge them with: tests/fuzz/run.sh merge [NAME...]"
exit $failed
