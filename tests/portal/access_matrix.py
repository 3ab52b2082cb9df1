"""access_matrix.py - every role against every resource kind of the API (docs/portal-access.md).

The table below is the access matrix of docs/portal.md written out for the test world of
tests/portal/fixture.sh; `access_matrix.py --markdown` prints it as docs/portal-access.md holds it,
and the test checks that the document says the same. Then: URLs changed by hand, expired sessions,
CSRF, API keys outside their scope and revoked, disabled users.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portal_lib import ENV, Checks, Client, Server, audit_lines, cdrate, sanitizer_clean, wait_until  # noqa: E402

# ---- the world (tests/data/portal/portal.dir) ---------------------------------------------------
ACME, BETA = 7, 8
LINES = {  # the lines asked about, by what they are to zhang.wei (member of Acme)
    "own": "8613800000101",     # zhang.wei's line (Acme)
    "same-ent": "8613800000102",  # pat.smith's line (Acme)
    "other-ent": "8613800000201",  # wang.fang's line (Beta)
    "individual": "8613900000201",  # Chen Jing, of no enterprise
}
LINE_ENT = {"8613800000101": ACME, "8613800000102": ACME, "8613800000201": BETA,
            "8613900000201": None}
CYCLE = "2026-11"

LINE_KINDS = ["balance", "usage", "bill-to-date", "owner", "invoices", "statement"]
ENT_KINDS = ["overview", "members", "invoices", "warnings", "statement", "requests", "submit",
             "approve"]

# ---- the matrix: what each duty of a manager covers (access.c duty_kinds) ----------------------
DUTY = {
    "account": {"line": set(LINE_KINDS), "ent": set(ENT_KINDS)},
    "billing": {"line": {"balance", "bill-to-date", "statement", "invoices"},
                "ent": {"overview", "statement", "invoices", "warnings", "requests"}},
    "service": {"line": {"balance", "usage", "owner"},
                "ent": {"overview", "members", "warnings", "requests", "submit", "approve"}},
    "technical": {"line": {"usage", "owner"}, "ent": {"overview", "members", "warnings"}},
}
ALL_KINDS = {"line": set(LINE_KINDS), "ent": set(ENT_KINDS)}

# Every identity: its role's kinds (what it may ever see: beyond them 403), and its scope (the
# lines and enterprises it may see those kinds of: beyond it 404), per enterprise the kinds there
# (a manager's duties: a kind of its role that its duty there does not cover is 403).
ROLES = {
    "anonymous": None,  # 401 everywhere
    "gone.user": None,  # a disabled member (8613800000103) who tried to log in: 401 everywhere
    "zhang.wei": {"role": "member", "kinds": {"line": set(LINE_KINDS), "ent": set()},
                  "lines": {"8613800000101"}, "ents": {}},
    "wang.fang": {"role": "member", "kinds": {"line": set(LINE_KINDS), "ent": set()},
                  "lines": {"8613800000201"}, "ents": {}},
    "acme.admin": {"role": "enterprise-admin",
                   "kinds": {"line": set(LINE_KINDS), "ent": set(ENT_KINDS) - {"approve"}},
                   "ents": {ACME: {"line": set(LINE_KINDS), "ent": set(ENT_KINDS) - {"approve"}}}},
    "beta.admin": {"role": "enterprise-admin",
                   "kinds": {"line": set(LINE_KINDS), "ent": set(ENT_KINDS) - {"approve"}},
                   "ents": {BETA: {"line": set(LINE_KINDS), "ent": set(ENT_KINDS) - {"approve"}}}},
    "am.li": {"role": "manager", "kinds": ALL_KINDS, "ents": {ACME: DUTY["account"]}},
    "am.sun": {"role": "manager", "kinds": ALL_KINDS, "ents": {BETA: DUTY["account"]}},
    "bm.wang": {"role": "manager", "kinds": ALL_KINDS,
                "ents": {ACME: DUTY["billing"], BETA: DUTY["billing"]}},
    "sm.zhao": {"role": "manager", "kinds": ALL_KINDS, "ents": {ACME: DUTY["service"]}},
    "tm.chen": {"role": "manager", "kinds": ALL_KINDS, "ents": {ACME: DUTY["technical"]}},
    "op.admin": {"role": "operator", "kinds": ALL_KINDS, "all": True},
    "ivr-key": {"role": "api key (ivr)", "kinds": {"line": {"balance", "usage", "bill-to-date"},
                                                   "ent": set()}, "all": True},
}


def expected(who, side, kind, obj):
    """The status the matrix gives who asking for kind ('line' or 'ent' side) of obj."""
    spec = ROLES[who]
    ok = 201 if kind == "submit" else 200
    if spec is None:
        return 401
    if kind not in spec["kinds"][side]:
        return 403
    if spec.get("all"):
        return ok
    if side == "line":
        if spec["role"] == "member":
            return ok if obj in spec["lines"] else 404
        ent = LINE_ENT[obj]
    else:
        ent = obj
    there = spec["ents"].get(ent)
    if there is None:
        return 404
    return ok if kind in there[side] else 403


def matrix():
    rows = []
    for who in ROLES:
        for what, m in LINES.items():
            for k in LINE_KINDS:
                rows.append((who, "line", k, m, what))
        for e in (ACME, BETA):
            for k in ENT_KINDS:
                rows.append((who, "ent", k, e, "Acme (7)" if e == ACME else "Beta (8)"))
    return rows


def markdown():
    """The matrix as docs/portal-access.md shows it: one table per side."""
    cols = [(w, m) for w, m in LINES.items()]
    out = []
    out.append("### Lines\n")
    out.append("Columns: the line asked about (`own` is zhang.wei's 8613800000101, `same-ent` "
               "8613800000102 of Acme, `other-ent` 8613800000201 of Beta, `individual` "
               "8613900000201 of no enterprise); each cell lists the statuses of balance, usage, "
               "bill-to-date, owner, invoices, statement in that order.\n")
    out.append("| identity | " + " | ".join(w for w, _ in cols) + " |")
    out.append("|---|" + "---|" * len(cols))
    for who in ROLES:
        cells = [" ".join(str(expected(who, "line", k, m)) for k in LINE_KINDS) for _, m in cols]
        out.append("| %s | %s |" % (who, " | ".join(cells)))
    out.append("\n### Enterprises\n")
    out.append("Each cell: the statuses of " + ", ".join(ENT_KINDS) + " in that order.\n")
    out.append("| identity | Acme (7) | Beta (8) |")
    out.append("|---|---|---|")
    for who in ROLES:
        cells = [" ".join(str(expected(who, "ent", k, e)) for k in ENT_KINDS) for e in (ACME, BETA)]
        out.append("| %s | %s |" % (who, " | ".join(cells)))
    return "\n".join(out) + "\n"


def line_path(kind, msisdn):
    if kind == "statement":
        return "/api/v1/lines/%s/statements/%s" % (msisdn, CYCLE)
    return "/api/v1/lines/%s/%s" % (msisdn, kind)


def ent_path(kind, e):
    return {"overview": "/api/v1/enterprises/%d" % e,
            "statement": "/api/v1/enterprises/%d/statements/%s" % (e, CYCLE),
            "submit": "/api/v1/enterprises/%d/requests" % e}.get(
        kind, "/api/v1/enterprises/%d/%s" % (e, kind))


def request_body(e):
    return {"kind": "raise_cap", "msisdn": "8613800000101" if e == ACME else "8613800000201",
            "cap": "100.00", "note": "access matrix"}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--markdown":
        sys.stdout.write(markdown())
        return
    t = Checks("access_matrix")
    port = int(ENV["PORTAL_PORT"])
    pw = ENV["PASSWORD"]

    # the document says what the test checks
    doc = os.path.join(ENV["SRC"], "docs", "portal-access.md")
    try:
        with open(doc, encoding="utf-8") as f:
            text = f.read()
        t.check(markdown() in text, "docs/portal-access.md holds the matrix this test checks",
                "run tests/portal/access_matrix.py --markdown and paste it")
    except OSError as e:
        t.check(False, "docs/portal-access.md readable", str(e))

    clients = {}
    for who in ROLES:
        c = Client(port)
        if who == "ivr-key":
            c.key = ENV["IVR_KEY"]
        elif who == "gone.user":
            r = c.login(who, pw)
            t.check(r.is_json_error(401) and not c.cookie, "login gone.user (disabled): 401, "
                    "no cookie", repr(r))
        elif who != "anonymous":
            r = c.login(who, pw)
            t.check(r.status == 200 and c.cookie and c.csrf, "login %s: 200 with a cookie and a "
                    "CSRF token" % who, repr(r))
        clients[who] = c

    # requests to decide on: one pending per enterprise for the refusals; a fresh one for each
    # approval the matrix allows (an approved request cannot be approved again: 409)
    op = clients["op.admin"]

    def submit(e):
        r = op.post(ent_path("submit", e), request_body(e))
        j = r.json() or {}
        if not t.check(r.status == 201 and isinstance(j.get("id"), int) and j.get("state") ==
                       "submitted", "operator submits a request to enterprise %d: 201 submitted"
                       % e, repr(r)):
            return 999999
        return j["id"]

    pending = {ACME: submit(ACME), BETA: submit(BETA)}

    n = 0
    for who, side, kind, obj, what in matrix():
        c = clients[who]
        want = expected(who, side, kind, obj)
        if side == "line":
            path, r = line_path(kind, obj), None
            r = c.get(path)
        elif kind == "submit":
            path = ent_path(kind, obj)
            r = c.post(path, request_body(obj))
        elif kind == "approve":
            rid = submit(obj) if want == 200 else pending[obj]
            path = "/api/v1/requests/%d/approve" % rid
            r = c.post(path)
        else:
            path = ent_path(kind, obj)
            r = c.get(path)
        good = r.status == want
        if want >= 400:
            reason = {401: "unauthorized", 403: "forbidden", 404: "not_found"}[want]
            good = good and r.is_json_error(want) and r.reason() == reason
        elif kind == "approve":
            good = good and (r.json() or {}).get("state") == "approved"
        else:
            good = good and r.json() is not None
        t.check(good, "matrix %s %s %s of %s (%s): %d" % (who, side, kind, what, path, want),
                "got %r" % r)
        n += 1
    t.check(n >= 80, "matrix: %d pairs (at least 80)" % n)

    # ---- URLs changed by hand -------------------------------------------------------------------
    zw = clients["zhang.wei"]
    other_same = zw.get("/api/v1/lines/8613800000102/balance")
    other_ent = zw.get("/api/v1/lines/8613800000201/balance")
    nonexist = zw.get("/api/v1/lines/8613899999999/balance")
    t.check(other_same.status == 404 and other_ent.status == 404 and nonexist.status == 404,
            "member changes the msisdn (same enterprise, other enterprise): 404 as for no line")
    t.check(other_same.body == other_ent.body == nonexist.body,
            "member: another line's 404 says no more than a line that does not exist")
    t.check(zw.get("/api/v1/lines/8613800000102/statements/2026-11?format=csv").status == 404,
            "member changes the msisdn of a statement download: 404")
    aa = clients["acme.admin"]
    r8, r99 = aa.get("/api/v1/enterprises/8"), aa.get("/api/v1/enterprises/99")
    t.check(r8.status == 404 and r99.status == 404 and r8.body == r99.body,
            "enterprise admin changes the enterprise id: 404 as for no enterprise")
    t.check(aa.get("/api/v1/enterprises/8/statements/2026-11").status == 404,
            "enterprise admin: the other enterprise's statement: 404")
    t.check(aa.get("/api/v1/lines/8613900000201/owner").status == 404,
            "enterprise admin: a line of no enterprise: 404")
    r = aa.get("/api/v1/enterprises")
    ids = [e.get("id") for e in (r.json() or {}).get("enterprises", [])]
    t.check(r.status == 200 and ids == [ACME], "enterprise admin lists only its enterprise",
            repr(r))
    r = clients["bm.wang"].get("/api/v1/enterprises")
    ids = sorted(e.get("id") for e in (r.json() or {}).get("enterprises", []))
    t.check(r.status == 200 and ids == [ACME, BETA], "billing manager of two lists both", repr(r))
    # refused statement views are in the audit log
    audit = [a for a in audit_lines(ENV["PORTAL_AUDIT"]) if a]
    refused = [a for a in audit if a.get("action") == "statement.view" and
               a.get("outcome") == "refused" and a.get("who") == "zhang.wei"]
    t.check(len(refused) >= 1, "a member's refused statement view is audited (refused)")

    # ---- CSRF -------------------------------------------------------------------------------
    for label, hdr in (("missing", None), ("wrong", "x" * 43), ("other session's",
                                                                 clients["beta.admin"].csrf)):
        r = aa.post("/api/v1/enterprises/7/requests", request_body(ACME), csrf=False,
                    headers={"X-CSRF-Token": hdr} if hdr else None)
        t.check(r.is_json_error(403) and r.reason() == "csrf",
                "POST requests with a %s CSRF token: 403 csrf" % label, repr(r))
    r = aa.post("/api/v1/requests/%d/approve" % pending[ACME], csrf=False)
    t.check(r.is_json_error(403) and r.reason() == "csrf", "approve without a CSRF token: 403 csrf",
            repr(r))
    r = zw.post("/api/v1/logout", csrf=False)
    t.check(r.is_json_error(403) and r.reason() == "csrf", "logout without a CSRF token: 403 csrf",
            repr(r))
    t.check(zw.get("/api/v1/me").status == 200, "the session lives on after the refused logout")
    csrf_audit = [a for a in audit_lines(ENV["PORTAL_AUDIT"]) if a and a.get("action") == "csrf"]
    t.check(len(csrf_audit) >= 5 and all(a.get("outcome") == "refused" for a in csrf_audit),
            "CSRF refusals are audited", "%d lines" % len(csrf_audit))

    # ---- API keys -----------------------------------------------------------------------------
    ivr = clients["ivr-key"]
    for path in ("/api/v1/lines/8613800000101/owner", "/api/v1/lines/8613800000101/invoices",
                 "/api/v1/lines/8613800000101/statements/2026-11", "/api/v1/enterprises",
                 "/api/v1/enterprises/7", "/api/v1/enterprises/7/statements/2026-11"):
        r = ivr.get(path)
        t.check(r.is_json_error(403), "IVR key outside its scope %s: 403" % path, repr(r))
    r = ivr.post("/api/v1/enterprises/7/requests", request_body(ACME))
    t.check(r.is_json_error(403), "IVR key submits a request: 403", repr(r))
    xk = Client(port)
    r = xk.get("/api/v1/lines/8613800000201/balance", headers={"X-API-Key": ENV["IVR_KEY"]})
    t.check(r.status == 200, "IVR key in X-API-Key: balance of any line 200", repr(r))
    for label, h in (("unknown key", {"Authorization": "Bearer cdk_ivr-main_" + "A" * 43}),
                     ("other scheme", {"Authorization": "Basic aXZyOnh4"}),
                     ("garbage X-API-Key", {"X-API-Key": "nonsense"})):
        r = xk.get("/api/v1/lines/8613800000101/balance", headers=h)
        t.check(r.is_json_error(401), "%s: 401" % label, repr(r))
    rc, out, err = cdrate("users", "key-add", "matrix-temp", "--scope", "ivr", "--store",
                          ENV["STORE"])
    key = out.strip()
    t.check(rc == 0 and key.startswith("cdk_"), "a second IVR key added", err)
    kc = Client(port)
    kc.key = key
    t.check(kc.get("/api/v1/lines/8613800000101/usage").status == 200, "the new key works: 200")
    rc, out, err = cdrate("users", "key-revoke", "matrix-temp", "--store", ENV["STORE"])
    t.check(rc == 0, "key revoked", err)
    r = kc.get("/api/v1/lines/8613800000101/usage")
    t.check(r.is_json_error(401), "a revoked API key: 401", repr(r))
    t.check(key not in open(ENV["PORTAL_AUDIT"], encoding="utf-8").read(),
            "no API key in the audit log")

    # ---- disabled users -----------------------------------------------------------------------
    gone = Client(port)
    r = gone.login("gone.user", pw)
    wrong = Client(port).login("zhang.wei", "not-the-password")
    t.check(r.is_json_error(401) and not gone.cookie, "a disabled user's login: 401, no cookie",
            repr(r))
    t.check(r.body == wrong.body, "a disabled user's 401 says what a wrong password says")
    pat = Client(port)
    t.check(pat.login("pat.smith", pw).status == 200 and
            pat.get("/api/v1/lines/8613800000102/balance").status == 200,
            "pat.smith logged in: own balance 200")
    rc, out, err = cdrate("users", "disable", "pat.smith", "--store", ENV["STORE"])
    t.check(rc == 0, "cdrate users disable pat.smith while the session lives", err)
    r = pat.get("/api/v1/lines/8613800000102/balance")
    t.check(r.is_json_error(401), "the disabled user's next request: 401", repr(r))
    t.check(pat.get("/api/v1/me").status == 401, "and /me: 401")
    rc, out, err = cdrate("users", "enable", "pat.smith", "--store", ENV["STORE"])
    t.check(rc == 0, "pat.smith enabled again", err)
    t.check(pat.get("/api/v1/me").status == 401, "the old session stays ended after enable")

    # ---- expired sessions: servers of their own on the same store --------------------------------
    work = ENV["WORK"]
    for opt in ("--session-ttl", "--session-idle"):
        s = Server(["--store", ENV["STORE"], "--bills", ENV["BILLS"], "--ledger", ENV["LEDGER"],
                    "--audit", os.path.join(work, "audit%s.log" % opt), opt, "2"],
                   os.path.join(work, "serve%s.err" % opt))
        if not t.check(s.port, "a server with %s 2 starts" % opt):
            s.stop()
            continue
        c = Client(s.port)
        r = c.login("wang.fang", pw)
        t.check(r.status == 200 and c.cookie, "%s 2: login 200" % opt, repr(r))
        # the session exists: the main server (default lifetimes) takes the same cookie
        m = Client(port)
        m.cookie = c.cookie
        t.check(m.get("/api/v1/me").status == 200, "%s 2: the session is in the store" % opt)
        tok = c.cookie

        def ended():
            c.cookie = tok
            return c.get("/api/v1/me")

        last = wait_until(lambda: ended().status == 401 and c.cookie is None, 60)
        t.check(last, "%s 2: the session is refused (401, the cookie cleared) once it ended" % opt)
        c.cookie = tok
        r = c.get("/api/v1/lines/8613800000201/balance")
        t.check(r.is_json_error(401), "%s 2: its balance now 401" % opt, repr(r))
        t.check(m.get("/api/v1/me").status == 401,
                "%s 2: the ended session is gone from the store (the other server: 401)" % opt)
        rc = s.stop()
        t.check(rc == 0, "%s server stopped by SIGTERM: exit 0" % opt, "exit %r" % rc)
        t.check(sanitizer_clean(s.stderr_text()), "%s server: no sanitizer report" % opt)

    for c in clients.values():
        c.close()
    t.done()


if __name__ == "__main__":
    main()
