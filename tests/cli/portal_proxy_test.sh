#!/usr/bin/env bash
# cdrate serve --trusted-proxy (docs/portal.md, "Deployment"): the client's address in the audit log
# comes from X-Forwarded-For only when the peer is the trusted proxy, and only when it is an IP
# address; otherwise it is the peer's. A failed login is the audited request.
source "$(dirname "$0")/lib.bash"
expect_rc 0 "a store" "$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$T/s" --quiet
start() { # start NAME [OPTION...]: a server on a free port; its port in $PORT
  local name=$1; shift
  "$CDRATE" serve --store "$T/s" --listen 127.0.0.1:0 --audit "$T/$name.log" "$@" \
      >"$T/$name.out" 2>"$T/$name.err" &
  PID=$!
  for _ in $(seq 300); do # a deadline of 30 s for the listening line
    grep -q '^listening on ' "$T/$name.out" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  PORT=$(sed -n 's/^listening on 127.0.0.1://p' "$T/$name.out")
  [ -n "$PORT" ] && ok || bad "$name: the server did not listen"
}
login() { # login XFF: a failed login with that X-Forwarded-For
  python3 - "$PORT" "$1" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
c.request("POST", "/api/v1/login", '{"login":"nobody","password":"wrong password 1"}',
          {"Content-Type": "application/json", "X-Forwarded-For": sys.argv[2]})
assert c.getresponse().status == 401
PY
}
froms() { python3 -c 'import json,sys; print(" ".join(json.loads(l)["from"] for l in open(sys.argv[1])))' "$1"; }
stop() {
  kill -TERM "$PID"
  wait "$PID" && ok || bad "the server did not exit 0 on SIGTERM"
}

start proxied --trusted-proxy 127.0.0.1
login "198.51.100.7, 203.0.113.9"
login "not-an-address"
stop
got=$(froms "$T/proxied.log")
[ "$got" = "203.0.113.9 127.0.0.1" ] && ok || bad "behind the trusted proxy: from is '$got'"

start direct
login "203.0.113.9"
stop
got=$(froms "$T/direct.log")
[ "$got" = "127.0.0.1" ] && ok || bad "no trusted proxy: from is '$got'"
grep -q "AddressSanitizer\|runtime error" "$T"/*.err && bad "sanitizer report" || ok
cli_done portal_proxy
