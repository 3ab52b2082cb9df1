#!/usr/bin/env bash
# The portal's API and security tests (issue 13 "Tests"; docs/portal-access.md): builds the test
# world (tests/portal/fixture.sh), starts `cdrate serve` on a free port, runs tests/portal/*.py
# against it (the access matrix, brute force, bad requests and 10,000 random ones), stops the
# server with SIGTERM (exit 0) and fails on any sanitizer report in its stderr.
# Usage: portal_test.sh CDRATE SRC
source "$(dirname "$0")/lib.bash"

PY=$(command -v python3) || { bad "no python3"; cli_done portal; exit 1; }
FX="$T/fx"
if ! bash "$SRC/tests/portal/fixture.sh" "$CDRATE" "$SRC" "$FX" >"$T/fixture.log" 2>&1; then
  bad "tests/portal/fixture.sh failed"; tail -20 "$T/fixture.log"; cli_done portal; exit 1
fi
ok
set -a
# shellcheck disable=SC1091
source "$FX/env"
set +a

# the server: its port from the first line of its stdout ("listening on 127.0.0.1:PORT")
AUDIT_MAIN="$T/audit-main.log"
mkfifo "$T/serve.out"
"$CDRATE" serve --listen 127.0.0.1:0 --store "$STORE" --bills "$BILLS" --ledger "$LEDGER" \
  --audit "$AUDIT_MAIN" >"$T/serve.out" 2>"$T/serve.err" </dev/null &
SPID=$!
exec 3<"$T/serve.out"
PORT=
if read -r -t 120 line <&3 && [[ "$line" =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
  PORT=${BASH_REMATCH[1]}
  ok
else
  bad "cdrate serve did not say where it listens: '${line:-}'"; cat "$T/serve.err"
  kill "$SPID" 2>/dev/null; cli_done portal; exit 1
fi
# keep reading its stdout so that it never blocks on a full pipe
cat <&3 >"$T/serve.stdout" &
CATPID=$!

export CDRATE SRC PORTAL_PORT="$PORT" PORTAL_AUDIT="$AUDIT_MAIN" PORTAL_STDERR="$T/serve.err" \
  PORTAL_PID="$SPID" WORK="$T"
export PYTHONDONTWRITEBYTECODE=1
for t in access_matrix brute_force bad_requests; do
  "$PY" "$SRC/tests/portal/$t.py" >"$T/$t.log" 2>&1
  rc=$?
  cat "$T/$t.log"
  # every check of the script counts here too
  read -r p f < <(sed -n "s/^$t: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p" "$T/$t.log" | tail -1)
  pass=$((pass + ${p:-0}))
  fail=$((fail + ${f:-0}))
  if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then bad "$t.py ended with exit $rc"; fi
done

kill -TERM "$SPID"
wait "$SPID"
src=$?
[ "$src" -eq 0 ] && ok || bad "cdrate serve stopped by SIGTERM: exit $src, want 0"
wait "$CATPID" 2>/dev/null
exec 3<&-
if grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T/serve.err"; then
  bad "the server's stderr has a sanitizer report"
else ok; fi
# no password in the server's stderr
if grep -qF -- "$PASSWORD" "$T/serve.err"; then bad "the password is in the server's stderr"; else ok; fi
cli_done portal
