#!/usr/bin/env bash
# The portal tests' world: tests/portal/fixture.sh CDRATE SRC OUT
#
# Builds in OUT: store/ (the sample plans, tests/data/portal/portal.dir, the live state of
# November 2026 rated by `cdrate rate`, users and an IVR key), ledger/ (the same CDRs streamed by
# `cdrate pipeline`), bills/2026-11 (the bill run), and OUT/env, a shell file with every name the
# tests use:
#   STORE LEDGER BILLS AUDIT PASSWORD IVR_KEY and one LOGIN per role below.
# Users (all with password $PASSWORD, except where said):
#   op.admin    operator             acme.admin  enterprise-admin of 7 (Acme)
#   beta.admin  enterprise-admin 8   zhang.wei   member 8613800000101 (Acme)
#   pat.smith   member ...102 (Acme) wang.fang   member 8613800000201 (Beta)
#   am.li am.sun bm.wang sm.zhao tm.chen  managers (the directory names their duties)
#   gone.user   member ...103, disabled
set -euo pipefail
CDRATE="$1"
SRC="$2"
OUT="$3"
D="$SRC/tests/data/portal"
SD="$SRC/tests/data/statements"
rm -rf "$OUT"
mkdir -p "$OUT/spool" "$OUT/rate"
cp "$SD/cdrs.csv" "$OUT/spool/"
"$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$OUT/store" --quiet
"$CDRATE" directory load "$D/portal.dir" --store "$OUT/store" --quiet
"$CDRATE" pipeline --store "$OUT/store" --ledger "$OUT/ledger" --input csv:"$OUT/spool" --settle 0 \
    --partitions 2 --quiet >/dev/null
"$CDRATE" bill --cycle 2026-11 --ledger "$OUT/ledger" --store "$OUT/store" --out "$OUT/bills" \
    --adjustments "$SD/adjustments.csv" --quiet >/dev/null
# the live state (balances, usage, warnings) of the same CDRs, the embedded way
"$CDRATE" rate --store "$OUT/store" --in "$SD/cdrs.csv" --out "$OUT/rate/rated.wire" >/dev/null 2>&1
PASSWORD='portal-test-password-1'
printf '%s\n' "$PASSWORD" >"$OUT/password"
add() { "$CDRATE" users add "$1" --store "$OUT/store" --password-file "$OUT/password" "${@:2}" >/dev/null; }
add op.admin --role operator
add acme.admin --role enterprise-admin --enterprise 7
add beta.admin --role enterprise-admin --enterprise 8
add zhang.wei --role member --msisdn 8613800000101
add pat.smith --role member --msisdn 8613800000102
add wang.fang --role member --msisdn 8613800000201
for m in am.li am.sun bm.wang sm.zhao tm.chen; do add $m --role manager; done
add gone.user --role member --msisdn 8613800000103
"$CDRATE" users disable gone.user --store "$OUT/store" >/dev/null
IVR_KEY="$("$CDRATE" users key-add ivr-main --scope ivr --store "$OUT/store")"
cat >"$OUT/env" <<EOF
STORE='$OUT/store'
LEDGER='$OUT/ledger'
BILLS='$OUT/bills'
AUDIT='$OUT/store/audit.log'
PASSWORD='$PASSWORD'
IVR_KEY='$IVR_KEY'
CYCLE=2026-11
EOF
