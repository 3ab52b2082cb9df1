#!/bin/bash
# The portal's pages (issue 13) in a real browser and over plain HTTP: builds the world of
# tests/portal/fixture.sh, starts `cdrate serve --listen 127.0.0.1:0` on it, then
#   1. tests/browser/portal_browser.py: every role logs in through the form, sees what it must and
#      nothing it must not, opens and downloads a statement (totals checked against the CSV), a
#      request is submitted, approved and seen approved, zh-CN too, every page's screenshot in
#      BUILD/artefacts/portal/, the audit log holds every statement opened;
#   2. bad input with curl: forged and missing CSRF tokens, malformed statement addresses (path
#      traversal), formats, sections, a GET where a form posts: the exact status and message, and
#      nothing stored (the requests are the same before and after);
#   3. the server's stderr holds no sanitizer report.
# Run: tests/cli/portal_browser_test.sh build-release/cdrate .        (ctest: portal_browser)
# Needs /usr/bin/python3 with Debian's python3-selenium, chromium and chromium-driver
# (scripts/setup.sh), and curl.
source "$(dirname "$0")/lib.bash"
ART="$(cd "$(dirname "$CDRATE")" && pwd)/artefacts/portal"
BPY=/usr/bin/python3 # Debian's python3 with python3-selenium
W="$T/world"
if ! bash "$SRC/tests/portal/fixture.sh" "$CDRATE" "$SRC" "$W" >"$T/fixture.log" 2>&1; then
    bad "the fixture"
    cat "$T/fixture.log"
    cli_done portal_browser
    exit
fi
# shellcheck disable=SC1091
. "$W/env"
"$CDRATE" serve --store "$STORE" --bills "$BILLS" --ledger "$LEDGER" --listen 127.0.0.1:0 \
    >"$T/serve.out" 2>"$T/serve.err" &
SP=$!
stop() { [ -n "${SP:-}" ] && kill "$SP" 2>/dev/null && wait "$SP" 2>/dev/null; SP=; }
trap 'stop; rm -rf "$T"' EXIT
BASE=
for _ in $(seq 600); do # until it listens (a deadline of about a minute), or it died
    BASE=$(sed -n 's/^listening on \(.*\)$/http:\/\/\1/p' "$T/serve.out")
    [ -n "$BASE" ] && break
    kill -0 "$SP" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$BASE" ]; then
    bad "cdrate serve does not listen"
    cat "$T/serve.err"
    cli_done portal_browser
    exit
fi

# ---- 1. the browser ------------------------------------------------------------------------------
rm -rf "$ART"
mkdir -p "$ART"
if "$BPY" "$SRC/tests/browser/portal_browser.py" "$BASE" "$ART" "$PASSWORD" "$AUDIT" "$CYCLE" \
    >"$T/py.out" 2>"$T/py.err"; then ok; else
    bad "the pages in the browser"
    cat "$T/py.out" "$T/py.err"
fi
for png in portal-zhang.wei-overview portal-zhang.wei-zh-CN-overview \
    portal-zhang.wei-zh-CN-statement-line-8613800000101-2026-11 portal-acme.admin-requests \
    portal-am.li-request-approved portal-bm.wang-overview portal-sm.zhao-overview \
    portal-tm.chen-members portal-op.admin-beta; do
    [ -s "$ART/$png.png" ] && ok || bad "no screenshot $png.png in $ART"
done

# ---- 2. bad input over HTTP ----------------------------------------------------------------------
C="$T/cookies"
H=(-H 'Accept: text/html')
req() { # req WANT_STATUS DESCRIPTION CURL_ARGS...   (body in $T/body)
    local want=$1 what=$2
    shift 2
    local got
    got=$(curl -s -o "$T/body" -w '%{http_code}' -b "$C" -c "$C" "${H[@]}" "$@")
    if [ "$got" = "$want" ]; then ok; else
        bad "$what: HTTP $got, want $want"
        head -c 600 "$T/body"
        echo
    fi
}
body_has() { grep -qF -- "$1" "$T/body" && ok || bad "$2: the answer lacks '$1'"; }
# log in as the enterprise admin (JSON API: the session cookie and its CSRF token)
curl -s -c "$C" -H 'Content-Type: application/json' \
    -d "{\"login\":\"acme.admin\",\"password\":\"$PASSWORD\"}" "$BASE/api/v1/login" >"$T/me.json"
CSRF=$(sed -n 's/.*"csrf":"\([^"]*\)".*/\1/p' "$T/me.json")
[ -n "$CSRF" ] && ok || bad "no CSRF token from the login: $(cat "$T/me.json")"
curl -s -b "$C" "$BASE/api/v1/enterprises/7/requests" >"$T/requests.before"
F=(--data-urlencode kind=add_member --data-urlencode msisdn=8613900000202 --data-urlencode product=71)
req 403 "a request without a CSRF token" "${F[@]}" "$BASE/enterprises/7/requests"
req 403 "a request with a forged CSRF token" "${F[@]}" --data-urlencode csrf=forged "$BASE/enterprises/7/requests"
req 403 "an approval without a CSRF token" -X POST "$BASE/requests/1/approve"
req 400 "a request of an unknown kind" --data-urlencode "csrf=$CSRF" --data-urlencode kind=steal \
    --data-urlencode msisdn=8613900000202 "$BASE/enterprises/7/requests"
body_has "kind must be add_member, remove_member, change_plan or raise_cap" "unknown kind"
req 400 "a request of a malformed number" --data-urlencode "csrf=$CSRF" --data-urlencode kind=add_member \
    --data-urlencode "msisdn=86139'0" --data-urlencode product=71 "$BASE/enterprises/7/requests"
body_has "msisdn must be 1 to 15 digits" "malformed number"
req 404 "a request for a line of another enterprise" --data-urlencode "csrf=$CSRF" \
    --data-urlencode kind=remove_member --data-urlencode msisdn=8613800000201 "$BASE/enterprises/7/requests"
req 404 "a request to another enterprise" --data-urlencode "csrf=$CSRF" "${F[@]}" "$BASE/enterprises/8/requests"
req 405 "a GET of an approval" "$BASE/requests/1/approve"
req 405 "a POST to the overview" --data-urlencode "csrf=$CSRF" "$BASE/"
curl -s -b "$C" "$BASE/api/v1/enterprises/7/requests" >"$T/requests.after"
cmp -s "$T/requests.before" "$T/requests.after" && ok || bad "a refused request changed the requests"
S="$BASE/statements"
for u in "line/..%2F..%2F..%2Fetc%2Fpasswd/2026-11" "line/../../etc/passwd" "line/8613800000101/2026-13" \
    "line/8613800000101/..%2F2026-11" "line/8613800000101abc/2026-11" "enterprise/007/2026-11" \
    "enterprise/7/2026-11/extra" "invoice/7/2026-11" "line/8613800000101/2026-11?format=xml" \
    "line/8613800000101/2026-11?format=csv&section=..%2F..%2Fetc%2Fpasswd" \
    "line/8613800000101/2026-11?format=csv&section=summary.csv" \
    "line/8613800000101/2026-11?format=html&section=summary" \
    "line/8613800000101/2026-11?download=..%2Fx"; do
    req 400 "statement address $u" --path-as-is "$S/$u"
done
req 404 "a line statement of an unknown line" "$S/line/8613800000999/2026-11"
req 404 "a statement of another enterprise" "$S/enterprise/8/2026-11"
req 200 "the enterprise's CSV" -D "$T/headers" "$S/enterprise/7/2026-11?format=csv&section=members&download=1"
grep -qi '^Content-Disposition: attachment; filename="statement-enterprise-7-2026-11-members.csv"' \
    "$T/headers" && ok || bad "the CSV's download name: $(grep -i disposition "$T/headers")"
req 200 "the member's statement as JSON" -D "$T/headers" "$S/line/8613800000101/2026-11?format=json&download=1"
grep -qi '^Content-Disposition: attachment; filename="statement-8613800000101-2026-11.json"' \
    "$T/headers" && ok || bad "the JSON's download name: $(grep -i disposition "$T/headers")"
stop

# ---- 3. the server's own report ------------------------------------------------------------------
if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$T/serve.err"; then
    bad "a sanitizer report from cdrate serve"
    cat "$T/serve.err"
else ok; fi
cli_done portal_browser
