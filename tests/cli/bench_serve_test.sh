#!/usr/bin/env bash
# cdrate bench serve (docs/benchmarks.md): the benchmark runs its real path end to end, on the
# store's live state and on Redis's (CDR_REDIS_ADDR, from scripts/with-services), and prints its one
# JSON object with every field; every answer of the server under wrk's load was a 2xx (the bench
# itself fails otherwise). No speed is asserted here: speed is the benchmark's figure, not a test's.
source "$(dirname "$0")/lib.bash"
check_json() { # check_json BACKEND
  python3 - "$T/out" "$1" <<'PY' && ok || bad "bench serve $1: the JSON object"
import json, sys
o = json.loads(open(sys.argv[1]).read())
for k in ("req_per_sec", "p50_ms", "p99_ms", "static_req_per_sec", "ratio", "requests"):
    assert k in o, k
assert o["bench"] == "serve" and o["backend"] == sys.argv[2], o
assert o["requests"] > 0 and o["req_per_sec"] > 0 and o["static_req_per_sec"] > 0, o
assert 0 <= o["p50_ms"] <= o["p99_ms"], o
PY
}
expect_rc 0 "bench serve on the store" "$CDRATE" bench serve --subscribers 2000 --cdrs 20000 \
    --seconds 1 --connections 10 --json --quiet
check_json embedded
if [ -n "${CDR_REDIS_ADDR:-}" ]; then
    expect_rc 0 "bench serve on Redis" "$CDRATE" bench serve --redis "$CDR_REDIS_ADDR" \
        --subscribers 2000 --cdrs 20000 --seconds 1 --connections 10 --json --quiet
    check_json redis
else
    bad "CDR_REDIS_ADDR is not set: run under scripts/with-services (make test does)"
fi
expect_rc 2 "bench serve with a bad --connections" "$CDRATE" bench serve --connections 0
cli_done bench_serve
