#!/usr/bin/env bash
# Issue 12: an enterprise of 10,000 members with about 5,000,000 itemised lines exports in at most
# 256 MiB (the export's own peak RSS, measured by `cdrate bench statement` on the child process
# that runs `cdrate statement export`), and `cdrate statement verify` passes on the export; a
# damaged byte in it is found and named. Memory is a bound, not a timing: no speed is asserted
# here (the speed is the benchmark's figure, docs/benchmarks.md). Optimised build only (CMake):
# under the sanitizers the same code runs in the smaller statement tests.
# Usage: statement_export_test.sh CDRATE SRC
source "$(dirname "$0")/../cli/lib.bash"

expect_rc 0 "bench statement: 10000 members, 5000000 CDRs, kept" "$CDRATE" bench statement \
  --members 10000 --lines 5000000 --workdir "$T/w" --keep --json
cp "$T/out" "$T/bench.json"
python3 - "$T/bench.json" <<'PY' && ok || bad "the export: $(cat "$T/bench.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["bench"] == "statement" and r["members"] == 10000, r
assert r["lines"] >= 4900000, ("itemised lines", r["lines"])
assert r["rss_bytes"] <= 256 * 1024 * 1024, ("peak RSS of the export", r["rss_bytes"])
PY
D="$T/w/statements/2026-11"
[ -f "$D/manifest.csv" ] && ok || bad "no manifest in $D"
expect_rc 0 "verify the export" "$CDRATE" statement verify "$D"
expect_err "verified, 0 differences" "verify says so"
# one damaged byte in the middle of the enterprise's itemised file is found and named
python3 - "$D/enterprises/1.itemised.csv.zst" <<'PY'
import os, sys
p = sys.argv[1]; n = os.path.getsize(p)
with open(p, "r+b") as f:
    f.seek(n // 2); b = f.read(1); f.seek(n // 2); f.write(bytes([b[0] ^ 0x01]))
PY
expect_rc 1 "verify a damaged export" "$CDRATE" statement verify "$D"
expect_out "enterprises/1.itemised.csv.zst: SHA-256" "the damaged file is named"
cli_done statement_export
