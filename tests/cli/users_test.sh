#!/usr/bin/env bash
# cdrate users (docs/users.md): the portal's users and API keys in the store. Every verb, its
# --help, its refusals with their exact messages and exit codes (nothing changed after any of
# them), passwords only from a file or standard input and never shown back, never in `users list`
# nor in the store's bytes; an API key shown once and kept as its hash only; private files.
# Usage: users_test.sh CDRATE SRC
source "$(dirname "$0")/lib.bash"

S="$T/s"   # a store with the demo directory
N="$T/n"   # a store with plans, no directory
NOSTORE="$T/no-such-store"
"$CDRATE" directory load "$SRC/billing/samples/demo.dir" --store "$S" --allow-missing-plans \
  --quiet || bad "directory load"
"$CDRATE" plans compile "$SRC/rating-rules/plans" --store "$N" --quiet || bad "plans compile"
M=$(grep -o 'msisdn=[0-9]*' "$SRC/billing/samples/demo.dir" | head -1 | cut -d= -f2)
PW='correct horse battery staple'
printf '%s\n' "$PW" > "$T/pw"
printf 'second-pass-phrase\r\n' > "$T/pw2"

users_json() { "$CDRATE" users list --store "$S" --json 2>/dev/null; }
unchanged() { # unchanged DESCRIPTION: the users and keys are what they were at the last snapshot
  if [ "$(users_json)" = "$(cat "$T/snap")" ] &&
     [ "$("$CDRATE" users key-list --store "$S" --json 2>/dev/null)" = "$(cat "$T/ksnap")" ]; then
    ok
  else bad "$1 changed the users or keys"; fi
}
snapshot() {
  users_json > "$T/snap"
  "$CDRATE" users key-list --store "$S" --json > "$T/ksnap" 2>/dev/null
}
no_pw() { # no_pw DESCRIPTION: the password is on neither output of the last command
  if grep -qF -- "$PW" "$T/out" "$T/err"; then bad "$1 shows the password"; else ok; fi
}

# --help on the command and on every verb
expect_rc 0 "users --help" "$CDRATE" users --help
expect_out "usage: cdrate users add LOGIN" "users --help synopsis"
for v in add passwd disable enable list key-add key-revoke key-list; do
  expect_rc 0 "users $v --help" "$CDRATE" users $v --help
  expect_out "usage: cdrate users $v" "users $v --help"
  expect_out "exit codes" "users $v --help exit codes"
done
expect_rc 2 "users: no verb" "$CDRATE" users
expect_err "missing verb (add, passwd, disable, enable, list, key-add, key-revoke or key-list)" "no verb"
expect_rc 2 "users: unknown verb" "$CDRATE" users frobnicate --store "$S"
expect_err "unknown verb 'frobnicate'" "unknown verb"

# an empty store lists nothing
expect_rc 0 "list: none yet" "$CDRATE" users list --store "$S"
expect_err "cdrate users: no user in $S" "list: none yet"
expect_rc 0 "list --json: none yet" "$CDRATE" users list --store "$S" --json
[ "$(cat "$T/out")" = '{"users":[]}' ] && ok || bad "list --json of no users: $(cat "$T/out")"

# add: one of each role
expect_rc 0 "add member" "$CDRATE" users add ann --store "$S" --role member --msisdn "$M" --password-file "$T/pw"
expect_err "cdrate users: user ann added (member)" "add member message"
no_pw "add member"
expect_rc 0 "add enterprise-admin --json" "$CDRATE" users add ent.admin@op --store "$S" \
  --role enterprise-admin --enterprise 1 --password-file "$T/pw" --json
[ "$(cat "$T/out")" = '{"login":"ent.admin@op","role":"enterprise-admin","msisdn":null,"enterprise":1}' ] \
  && ok || bad "add --json: $(cat "$T/out")"
printf '%s\n' "$PW" | "$CDRATE" users add am.zhang --store "$S" --role manager >"$T/out" 2>"$T/err" \
  && ok || bad "add manager from stdin: $(cat "$T/err")"
no_pw "add manager"
expect_rc 0 "add operator (CRLF file)" "$CDRATE" users add root --store "$S" --role operator --password-file "$T/pw2"
# a store with no directory takes managers and operators
expect_rc 0 "add manager, no directory" "$CDRATE" users add am.chen --store "$N" --role manager --password-file "$T/pw"

# list: every field, never a hash or a password
expect_rc 0 "list" "$CDRATE" users list --store "$S"
expect_out "LOGIN" "list header"
grep -qE "^ann +member +msisdn $M +enabled +0 +- +[0-9]{4}-" "$T/out" && ok || bad "list ann: $(cat "$T/out")"
grep -qE "^ent.admin@op +enterprise-admin +enterprise 1 +enabled" "$T/out" && ok || bad "list ent.admin"
grep -qE "^am.zhang +manager +- +enabled" "$T/out" && ok || bad "list am.zhang"
[ "$(grep -c . "$T/out")" -eq 5 ] && ok || bad "list: 4 users and a header"
no_pw "list"
grep -qF 'argon2' "$T/out" && bad "list shows a hash" || ok
expect_rc 0 "list --json" "$CDRATE" users list --store "$S" --json
python3 - "$T/out" "$M" <<'PY' && ok || bad "list --json"
import json, sys
d = json.load(open(sys.argv[1]))
u = {x["login"]: x for x in d["users"]}
assert [x["login"] for x in d["users"]] == ["am.zhang", "ann", "ent.admin@op", "root"], u
a = u["ann"]
assert set(a) == {"login", "role", "msisdn", "enterprise", "disabled", "locked", "locked_until",
                  "failed", "generation", "created", "changed"}, a
assert a["role"] == "member" and a["msisdn"] == sys.argv[2] and a["enterprise"] is None, a
assert a["disabled"] is False and a["locked"] is False and a["locked_until"] is None, a
assert a["failed"] == 0 and a["generation"] == 1 and a["created"].endswith("Z"), a
e = u["ent.admin@op"]
assert e["role"] == "enterprise-admin" and e["enterprise"] == 1 and e["msisdn"] is None, e
assert u["am.zhang"]["role"] == "manager" and u["root"]["role"] == "operator"
PY
grep -qF 'argon2' "$T/out" && bad "list --json shows a hash" || ok

# add refused: exact messages and codes, nothing changed
snapshot
expect_rc 4 "add: exists" "$CDRATE" users add ann --store "$S" --role operator --password-file "$T/pw"
expect_err "cdrate users add: user ann already exists; nothing changed" "add exists"
expect_rc 2 "add: unknown role" "$CDRATE" users add bob --store "$S" --role admin --password-file "$T/pw"
expect_err "cdrate users add: --role: unknown value 'admin'" "unknown role"
expect_rc 2 "add: no role" "$CDRATE" users add bob --store "$S" --password-file "$T/pw"
expect_err "cdrate users add: --role is required" "no role"
expect_rc 2 "add: bad login" "$CDRATE" users add "bob smith" --store "$S" --role operator --password-file "$T/pw"
expect_err "cdrate users add: 'bob smith' is not a valid login: 1 to 31 letters, digits, '.', '_', '-' or '@'" "bad login"
expect_rc 2 "add: login too long" "$CDRATE" users add abcdefghijklmnopqrstuvwxyz012345 --store "$S" --role operator --password-file "$T/pw"
expect_err "is not a valid login" "login too long"
expect_rc 2 "add: no login" "$CDRATE" users add --store "$S" --role operator --password-file "$T/pw"
expect_err "cdrate users add: missing LOGIN" "no login"
expect_rc 2 "add: two logins" "$CDRATE" users add a b --store "$S" --role operator --password-file "$T/pw"
expect_err "cdrate users add: unexpected argument 'b'" "two logins"
expect_rc 2 "add: no store" "$CDRATE" users add bob --role operator --password-file "$T/pw"
expect_err "cdrate users add: --store is required" "no --store"
expect_rc 2 "add: member without msisdn" "$CDRATE" users add bob --store "$S" --role member --password-file "$T/pw"
expect_err "cdrate users add: a member needs --msisdn" "member without msisdn"
expect_rc 2 "add: member with enterprise" "$CDRATE" users add bob --store "$S" --role member --msisdn "$M" --enterprise 1 --password-file "$T/pw"
expect_err "cdrate users add: --enterprise is for an enterprise-admin, not a member" "member with enterprise"
expect_rc 2 "add: msisdn not digits" "$CDRATE" users add bob --store "$S" --role member --msisdn 86abc --password-file "$T/pw"
expect_err "cdrate users add: --msisdn must be 1 to 23 digits, not '86abc'" "msisdn not digits"
expect_rc 2 "add: admin without enterprise" "$CDRATE" users add bob --store "$S" --role enterprise-admin --password-file "$T/pw"
expect_err "cdrate users add: an enterprise-admin needs --enterprise" "admin without enterprise"
expect_rc 2 "add: admin with msisdn" "$CDRATE" users add bob --store "$S" --role enterprise-admin --enterprise 1 --msisdn "$M" --password-file "$T/pw"
expect_err "cdrate users add: --msisdn is for a member, not an enterprise-admin" "admin with msisdn"
expect_rc 2 "add: enterprise 0" "$CDRATE" users add bob --store "$S" --role enterprise-admin --enterprise 0 --password-file "$T/pw"
expect_err "cdrate users add: --enterprise must be a whole number from 1 to 9223372036854775807, not '0'" "enterprise 0"
expect_rc 2 "add: manager with msisdn" "$CDRATE" users add bob --store "$S" --role manager --msisdn "$M" --password-file "$T/pw"
expect_err "cdrate users add: a manager has neither --msisdn nor --enterprise" "manager with msisdn"
expect_rc 2 "add: operator with enterprise" "$CDRATE" users add bob --store "$S" --role operator --enterprise 1 --password-file "$T/pw"
expect_err "cdrate users add: a operator has neither --msisdn nor --enterprise" "operator with enterprise"
expect_rc 6 "add: unknown msisdn" "$CDRATE" users add bob --store "$S" --role member --msisdn 8619999999999 --password-file "$T/pw"
expect_err "cdrate users add: msisdn 8619999999999 is not in the directory" "unknown msisdn"
expect_rc 6 "add: unknown enterprise" "$CDRATE" users add bob --store "$S" --role enterprise-admin --enterprise 999 --password-file "$T/pw"
expect_err "cdrate users add: enterprise 999 is not in the directory" "unknown enterprise"
expect_rc 6 "add: unknown enterprise --json" "$CDRATE" users add bob --store "$S" --role enterprise-admin --enterprise 999 --password-file "$T/pw" --json
expect_err '{"error":{"code":"CDR_NOTFOUND","message":"enterprise 999 is not in the directory"}}' "unknown enterprise --json"
expect_rc 4 "add: member, no directory" "$CDRATE" users add bob --store "$N" --role member --msisdn "$M" --password-file "$T/pw"
expect_err "cdrate users add: no directory in the store $N: a member's msisdn cannot be checked (cdrate directory load first); nothing changed" "member without directory"
expect_rc 4 "add: admin, no directory" "$CDRATE" users add bob --store "$N" --role enterprise-admin --enterprise 1 --password-file "$T/pw"
expect_err "no directory in the store $N: a enterprise-admin's enterprise cannot be checked" "admin without directory"
expect_rc 4 "add: no store" "$CDRATE" users add bob --store "$NOSTORE" --role operator --password-file "$T/pw"
expect_err "cdrate users add: no cdrate store at $NOSTORE" "no store"
[ ! -e "$NOSTORE" ] && ok || bad "users add created $NOSTORE"
# passwords: never on the command line, checked, never shown back
expect_rc 2 "add: --password=" "$CDRATE" users add bob --store "$S" --role operator "--password=$PW"
expect_err "cdrate users: a password is never given on the command line: use --password-file F or standard input" "--password="
no_pw "--password="
expect_rc 2 "add: --password X" "$CDRATE" users add bob --store "$S" --role operator --password "$PW"
no_pw "--password X"
printf 'short\n' > "$T/short"
expect_rc 4 "add: short password" "$CDRATE" users add bob --store "$S" --role operator --password-file "$T/short"
expect_err "cdrate users add: the password is too short: 5 bytes, at least 10" "short password"
head -c 300 /dev/zero | tr '\0' 'p' > "$T/long"
expect_rc 4 "add: long password" "$CDRATE" users add bob --store "$S" --role operator --password-file "$T/long"
expect_err "cdrate users add: the password is too long: 300 bytes, at most 256" "long password"
printf 'caf\xe9 au lait noir\n' > "$T/latin1"
expect_rc 4 "add: not UTF-8" "$CDRATE" users add bob --store "$S" --role operator --password-file "$T/latin1"
expect_err "cdrate users add: the password is not valid UTF-8" "not UTF-8"
printf 'abcdefghij\0klmnop\n' > "$T/nul"
expect_rc 4 "add: NUL in password" "$CDRATE" users add bob --store "$S" --role operator --password-file "$T/nul"
expect_err "cdrate users add: the password contains a NUL byte" "NUL"
printf '\nsecond line password\n' > "$T/empty1"
expect_rc 4 "add: empty first line" "$CDRATE" users add bob --store "$S" --role operator --password-file "$T/empty1"
expect_err "cdrate users add: no password: the first line of $T/empty1 is empty" "empty first line"
expect_rc 4 "add: empty stdin" "$CDRATE" users add bob --store "$S" --role operator
expect_err "cdrate users add: no password: the first line of standard input is empty" "empty stdin"
expect_rc 1 "add: missing password file" "$CDRATE" users add bob --store "$S" --role operator --password-file "$T/missing"
expect_err "cdrate users add: $T/missing: cannot open the password file: No such file or directory" "missing file"
unchanged "refused adds"

# passwd, disable, enable
expect_rc 0 "passwd" "$CDRATE" users passwd ann --store "$S" --password-file "$T/pw2"
expect_err "cdrate users: the password of ann is changed; its sessions end" "passwd message"
users_json | python3 -c 'import json,sys; u={x["login"]:x for x in json.load(sys.stdin)["users"]}; assert u["ann"]["generation"]==2 and u["root"]["generation"]==1' \
  && ok || bad "passwd bumps the generation"
printf '%s\n' "$PW" | "$CDRATE" users passwd ann --store "$S" >"$T/out" 2>"$T/err" && ok || bad "passwd from stdin"
snapshot
expect_rc 6 "passwd: unknown" "$CDRATE" users passwd bob --store "$S" --password-file "$T/pw"
expect_err "cdrate users passwd: no user bob" "passwd unknown"
expect_rc 4 "passwd: short" "$CDRATE" users passwd ann --store "$S" --password-file "$T/short"
expect_err "cdrate users passwd: the password is too short: 5 bytes, at least 10" "passwd short"
expect_rc 2 "passwd: bad login" "$CDRATE" users passwd "a/b" --store "$S" --password-file "$T/pw"
expect_err "cdrate users passwd: 'a/b' is not a valid login" "passwd bad login"
expect_rc 2 "passwd: --password" "$CDRATE" users passwd ann --store "$S" --password "$PW"
no_pw "passwd --password"
expect_rc 4 "passwd: no store" "$CDRATE" users passwd ann --store "$NOSTORE" --password-file "$T/pw"
expect_err "no cdrate store at $NOSTORE" "passwd no store"
unchanged "refused passwd"

expect_rc 0 "disable" "$CDRATE" users disable ann --store "$S"
expect_err "cdrate users: ann is disabled" "disable message"
expect_rc 0 "list: disabled" "$CDRATE" users list --store "$S"
grep -qE "^ann +member +msisdn $M +disabled" "$T/out" && ok || bad "list shows ann disabled"
expect_rc 0 "enable --json" "$CDRATE" users enable ann --store "$S" --json
[ "$(cat "$T/out")" = '{"login":"ann","disabled":false}' ] && ok || bad "enable --json: $(cat "$T/out")"
users_json | python3 -c 'import json,sys; u={x["login"]:x for x in json.load(sys.stdin)["users"]}; assert u["ann"]["disabled"] is False and u["ann"]["generation"]==5, u["ann"]' \
  && ok || bad "disable and enable bump the generation"
snapshot
expect_rc 6 "disable: unknown" "$CDRATE" users disable bob --store "$S"
expect_err "cdrate users disable: no user bob" "disable unknown"
expect_rc 6 "enable: unknown --json" "$CDRATE" users enable bob --store "$S" --json
expect_err '{"error":{"code":"CDR_NOTFOUND","message":"no user bob"}}' "enable unknown --json"
expect_rc 2 "disable: no login" "$CDRATE" users disable --store "$S"
expect_err "cdrate users disable: missing LOGIN" "disable no login"
expect_rc 4 "enable: no store" "$CDRATE" users enable ann --store "$NOSTORE"
unchanged "refused disable and enable"

# API keys
expect_rc 0 "key-list: none" "$CDRATE" users key-list --store "$S"
expect_err "cdrate users: no API key in $S" "key-list none"
expect_rc 0 "key-add" "$CDRATE" users key-add ivr-1 --scope ivr --store "$S"
[ "$(grep -c . "$T/out")" -eq 1 ] && grep -qE '^cdk_ivr-1_[A-Za-z0-9_-]{43}$' "$T/out" && ok \
  || bad "key-add prints the key on a line of its own: $(cat "$T/out")"
expect_err "cdrate users: key ivr-1 added (scope ivr); it is shown only this once" "key-add message"
KEY=$(cat "$T/out")
expect_rc 0 "key-add --json" "$CDRATE" users key-add hotline --scope ivr --store "$S" --json
python3 -c 'import json,sys,re; d=json.load(open(sys.argv[1])); assert set(d)=={"name","scope","key"} and d["name"]=="hotline" and d["scope"]=="ivr" and re.fullmatch(r"cdk_hotline_[A-Za-z0-9_-]{43}", d["key"]), d' "$T/out" \
  && ok || bad "key-add --json: $(cat "$T/out")"
KEY2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' "$T/out")
[ "$KEY" != "$KEY2" ] && ok || bad "two keys are the same"
expect_rc 0 "key-list" "$CDRATE" users key-list --store "$S"
grep -qE '^hotline +ivr +active +[0-9]{4}-' "$T/out" && grep -qE '^ivr-1 +ivr +active' "$T/out" && ok \
  || bad "key-list: $(cat "$T/out")"
grep -qF "${KEY#cdk_ivr-1_}" "$T/out" && bad "key-list shows the key" || ok
snapshot
expect_rc 4 "key-add: exists" "$CDRATE" users key-add ivr-1 --scope ivr --store "$S"
expect_err "cdrate users key-add: key ivr-1 already exists; nothing changed" "key exists"
[ ! -s "$T/out" ] && ok || bad "a refused key-add printed a key"
expect_rc 2 "key-add: bad name" "$CDRATE" users key-add ivr_2 --scope ivr --store "$S"
expect_err "cdrate users key-add: 'ivr_2' is not a valid key name: 1 to 31 letters, digits, '.' or '-'" "key bad name"
expect_rc 2 "key-add: no scope" "$CDRATE" users key-add ivr-2 --store "$S"
expect_err "cdrate users key-add: --scope is required" "key no scope"
expect_rc 2 "key-add: unknown scope" "$CDRATE" users key-add ivr-2 --scope admin --store "$S"
expect_err "cdrate users key-add: --scope: unknown value 'admin'" "key unknown scope"
expect_rc 4 "key-add: no store" "$CDRATE" users key-add ivr-2 --scope ivr --store "$NOSTORE"
expect_err "no cdrate store at $NOSTORE" "key-add no store"
expect_rc 6 "key-revoke: unknown" "$CDRATE" users key-revoke nope --store "$S"
expect_err "cdrate users key-revoke: no key nope" "key-revoke unknown"
expect_rc 2 "key-revoke: bad name" "$CDRATE" users key-revoke "a b" --store "$S"
expect_err "is not a valid key name" "key-revoke bad name"
unchanged "refused key-add and key-revoke"
expect_rc 0 "key-revoke" "$CDRATE" users key-revoke ivr-1 --store "$S"
expect_err "cdrate users: key ivr-1 is revoked" "key-revoke message"
expect_rc 0 "key-list --json" "$CDRATE" users key-list --store "$S" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); k={x["name"]:x for x in d["keys"]}; assert set(k["ivr-1"])=={"name","scope","revoked","created"}; assert k["ivr-1"]["revoked"] is True and k["hotline"]["revoked"] is False and k["hotline"]["scope"]=="ivr", d' "$T/out" \
  && ok || bad "key-list --json: $(cat "$T/out")"
expect_rc 4 "key-add: revoked name not reused" "$CDRATE" users key-add ivr-1 --scope ivr --store "$S"
expect_err "key ivr-1 already exists" "revoked name"

# nothing secret in the store's bytes; the files are private
for s in "$PW" "second-pass-phrase" "${KEY#cdk_ivr-1_}" "${KEY2#cdk_hotline_}"; do
  [ "$(grep -c -aF -- "$s" "$S/data.mdb")" -eq 0 ] && ok || bad "the store holds a secret in clear"
done
grep -qaF '$argon2id$' "$S/data.mdb" && ok || bad "the store holds no Argon2id hash"
for f in "$S/data.mdb" "$S/lock.mdb" "$N/data.mdb"; do
  [ "$(stat -c %a "$f")" = 600 ] && ok || bad "$f is $(stat -c %a "$f"), want 600"
done
[ "$(stat -c %a "$S")" = 700 ] && ok || bad "$S is $(stat -c %a "$S"), want 700"
# the listing verbs need a store too
expect_rc 4 "list: no store" "$CDRATE" users list --store "$NOSTORE"
expect_err "cdrate users list: no cdrate store at $NOSTORE" "list no store"
expect_rc 4 "key-list: no store --json" "$CDRATE" users key-list --store "$NOSTORE" --json
expect_err '"code":"CDR_NOTFOUND"' "key-list no store --json"
[ ! -e "$NOSTORE" ] && ok || bad "a users command created $NOSTORE"

cli_done users
