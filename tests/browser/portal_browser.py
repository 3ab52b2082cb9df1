#!/usr/bin/python3
"""The portal's pages in a real browser (docs/portal-pages.md "Tests").

Usage: /usr/bin/python3 portal_browser.py BASE_URL ART_DIR PASSWORD AUDIT_LOG CYCLE

Drives headless Chromium (Debian's chromium and chromedriver, through python3-selenium) against a
running `cdrate serve` on the world of tests/portal/fixture.sh. For each role (member zhang.wei,
enterprise admin acme.admin, the managers am.li bm.wang sm.zhao tm.chen, operator op.admin): logs
in through the form, opens the overview and checks what the role must and must not see, opens a
statement it may see and checks its totals against the CSV it downloads (Chromium's download
folder, polled with a deadline), or checks that statements are refused to it; logs out and checks
that the session is gone (its old cookie no longer opens the overview). The enterprise admin
submits a request (add the free line 8613900000202 to product 71), the account manager am.li
approves it, the admin sees it approved. The member's overview and statement in zh-CN too. At the
end, the audit log has an allowed statement.view line per statement opened and a
statement.download line per file downloaded. Saves a PNG of every page visited in ART_DIR
(portal-ROLE-PAGE.png). Exit 0 when everything holds, 1 with the reasons otherwise; a missing
browser or driver is a failure, not a skip.
"""
import base64
import csv
import io
import json
import os
import shutil
import sys
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DEADLINE = 30  # seconds to wait for a download or a page's element (a deadline, not a delay)

problems = []
viewed = []  # (login, audit target) of each statement opened
downloaded = []


def fail(msg):
    print(f"portal_browser: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        problems.append(msg)
        print(f"portal_browser: FAIL: {msg}", file=sys.stderr)
    return cond


def browser(profile, downloads):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:  # python3-selenium is installed by scripts/setup.sh
        fail(f"selenium is not importable ({e}): run with /usr/bin/python3 after scripts/setup.sh")
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not os.access(exe, os.X_OK):
            fail(f"{exe} is missing: scripts/setup.sh installs chromium and chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--user-data-dir={profile}", "--window-size=1280,1024", "--lang=en-US"):
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {
        "download.default_directory": downloads,
        "download.prompt_for_download": False,
        "download.directory_upgrade": True,
        "safebrowsing.enabled": False,
    })
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
    return d


class Portal:
    def __init__(self, driver, base, art, downloads):
        from selenium.webdriver.common.by import By
        self.d, self.base, self.art, self.dl, self.By = driver, base.rstrip("/"), art, downloads, By
        self.role = ""

    # ---- helpers ----
    def get(self, path):
        self.d.get(self.base + path)

    def shot(self, page):
        """A PNG of the whole page: ART/portal-ROLE-PAGE.png."""
        m = self.d.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = m.get("cssContentSize") or m.get("contentSize")
        h = max(600, min(int(size["height"]) + 20, 16000))
        png = self.d.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": 1280, "height": h, "scale": 1}})
        name = os.path.join(self.art, f"portal-{self.role}-{page}.png")
        with open(name, "wb") as f:
            f.write(base64.b64decode(png["data"]))

    def all(self, css):
        return self.d.find_elements(self.By.CSS_SELECTOR, css)

    def one(self, css):
        els = self.all(css)
        check(len(els) == 1, f"{self.role}: {self.d.current_url}: {len(els)} of {css!r}, want 1")
        return els[0] if els else None

    def none(self, css, why):
        check(not self.all(css), f"{self.role}: {self.d.current_url}: {css!r} shown ({why})")

    def click(self, el):
        """Click what submits a form or follows a link, and wait (with a deadline) until the
        browser has left the page it was on."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        def gone(_):  # stale: Chromium answers with one error or another
            try:
                el.is_enabled()
                return False
            except WebDriverException:
                return True
        el.click()
        WebDriverWait(self.d, DEADLINE).until(gone)

    def title(self):
        return self.d.title

    def expect_status(self, path, status, page):
        """An error page (its <title> is the status) for path."""
        self.get(path)
        self.shot(page)
        check(self.title() == str(status),
              f"{self.role}: {path}: title {self.title()!r}, want the {status} page")

    def api(self, path):
        self.get(path)
        pre = self.all("pre")
        text = pre[0].text if pre else self.d.find_element(self.By.TAG_NAME, "body").text
        return json.loads(text)

    # ---- log in and out ----
    def login(self, login, password, lang="en"):
        self.role = login if lang == "en" else f"{login}-{lang}"
        self.get(f"/login?lang={lang}")
        self.shot("login")
        self.one("#login").send_keys(login)
        self.one("#password").send_keys(password)
        self.click(self.one("#submit"))
        check(self.d.current_url.rstrip("/") == self.base,
              f"{login}: after logging in at {self.d.current_url}, want the overview")
        user = self.all("#user")
        check(user and login in user[0].text, f"{login}: the header does not name the user")

    def logout(self):
        cookie = self.d.get_cookie("cdrate_session")
        check(cookie is not None, f"{self.role}: no session cookie while logged in")
        self.get("/")  # from whatever page: the header's button
        self.click(self.one("#logout"))
        check(self.d.current_url.endswith("/login"),
              f"{self.role}: logging out leads to {self.d.current_url}, want /login")
        self.get("/")
        check(self.d.current_url.endswith("/login"),
              f"{self.role}: after logout the overview is {self.d.current_url}, want /login")
        if cookie:  # the old session's cookie, put back, opens nothing: the session is gone
            self.d.add_cookie({"name": "cdrate_session", "value": cookie["value"], "path": "/"})
            self.get("/")
            check(self.d.current_url.endswith("/login"),
                  f"{self.role}: the ended session's cookie still opens {self.d.current_url}")
            self.d.delete_cookie("cdrate_session")
        self.shot("logged-out")

    # ---- statements ----
    def wait_file(self, name):
        path = os.path.join(self.dl, name)
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            if os.path.exists(path) and not os.path.exists(path + ".crdownload"):
                with open(path, "rb") as f:
                    data = f.read()
                if data:
                    return data
            time.sleep(0.05)  # polling for the file, bounded by the deadline
        check(False, f"{self.role}: {name} not downloaded within {DEADLINE} s "
                     f"(the folder holds {sorted(os.listdir(self.dl))})")
        return None

    def statement(self, key, target, filename, lang="en"):
        """Open statement row `key` from /statements, check its totals against the CSV summary
        downloaded from the same row."""
        login = self.role.split("-")[0] if lang != "en" else self.role
        self.get("/statements")
        self.shot("statements")
        view = self.one(f"#view-{key}")
        if view is None:
            return
        self.click(view)
        viewed.append((login, target))
        self.shot(f"statement-{key}")
        lang_attr = self.d.find_element(self.By.TAG_NAME, "html").get_attribute("lang")
        check(lang_attr == lang, f"{self.role}: statement {key} in {lang_attr!r}, want {lang!r}")
        totals = {e.get_attribute("data-total"): e.text.strip() for e in self.all("[data-total]")}
        check(totals, f"{self.role}: statement {key} shows no [data-total]")
        # the CSV summary, downloaded from the statements page
        for f in os.listdir(self.dl):
            os.unlink(os.path.join(self.dl, f))
        self.get("/statements")
        link = self.one(f"#dl-csv-{key}-summary")
        if link is None:
            return
        link.click()
        data = self.wait_file(filename)
        downloaded.append((login, target))
        if data is None:
            return
        check(data.startswith(b"\xef\xbb\xbf"), f"{self.role}: {filename} has no UTF-8 BOM")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        check(rows and rows[0] == (["Key", "Item", "Value"] if lang == "en" else ["代码", "项目", "值"]),
              f"{self.role}: {filename} starts {rows[:1]}")
        values = {r[0]: r[2] for r in rows[1:] if len(r) == 3}
        for k, v in totals.items():
            check(values.get(k) == v,
                  f"{self.role}: statement {key}: total {k} shown {v!r}, the CSV says "
                  f"{values.get(k)!r}")
        return totals


def member(p, password):
    p.login("zhang.wei", password)
    p.shot("overview")
    for css in ("#balance", "#credit-limit", "#unbilled", "#available", "#alerts", "#bill",
                "#open-invoices", "#nav-line", "#nav-statements"):
        p.one(css)
    for css in ("#enterprises", ".enterprise", "#nav-members", "#nav-requests"):
        p.none(css, "a member sees its own line only")
    shown = {k: p.one(f"#{k}").get_attribute("data-amount")
             for k in ("credit-limit", "unbilled", "available")}
    bal = p.api("/api/v1/lines/8613800000101/balance")
    check(shown["credit-limit"] == bal.get("credit_limit"),
          f"zhang.wei: credit limit {shown['credit-limit']} != API {bal.get('credit_limit')}")
    check(shown["available"] == bal.get("available_credit"),
          f"zhang.wei: available {shown['available']} != API {bal.get('available_credit')}")
    check(shown["unbilled"] == bal.get("unbilled", {}).get(bal.get("currency")),
          f"zhang.wei: unbilled {shown['unbilled']} != API {bal.get('unbilled')}")
    p.get("/lines/8613800000101")
    p.shot("line")
    for css in ("#balance", "#usage", "#bundles", "#bill", "#owner"):
        p.one(css)
    check(p.all("#bundles tr.bundle"), "zhang.wei: the line page shows no bundle")
    p.get("/lines/8613800000101/invoices")
    p.shot("invoices")
    p.one("#invoices tr.invoice[data-invoice='INV-202611-1001']")
    p.expect_status("/lines/8613800000102", 404, "other-line")
    p.expect_status("/enterprises/7", 403, "enterprise")
    p.expect_status("/statements/line/8613800000102/2026-11", 404, "other-statement")
    t = p.statement("line-8613800000101-2026-11", "line/8613800000101/statement/2026-11",
                    "statement-8613800000101-2026-11-summary.csv")
    check(t and t.get("member_share") == "12.21",
          f"zhang.wei: member_share {t and t.get('member_share')!r}, want '12.21' (by hand)")
    p.logout()
    # in zh-CN: the overview and the statement
    p.login("zhang.wei", password, lang="zh-CN")
    p.shot("overview")
    check(p.d.find_element(p.By.TAG_NAME, "html").get_attribute("lang") == "zh-CN",
          "zhang.wei: the overview is not in zh-CN")
    check(p.one("h1").text == "概览", "zhang.wei: the zh-CN overview's title is not 概览")
    check(p.one("#balance h2").text == "余额", "zhang.wei: the zh-CN balance box is not 余额")
    p.statement("line-8613800000101-2026-11", "line/8613800000101/statement/2026-11",
                "statement-8613800000101-2026-11-summary.csv", lang="zh-CN")
    p.get("/?lang=en")  # back to English for the next roles (the cookie remembers it)
    p.logout()


def enterprise_box(p, eid, money, invoices):
    box = f"#enterprise-{eid}"
    p.one(f"{box} .members")
    p.one(f"{box} .warned")
    p.one(f"{box} .suspended")
    if money:
        check(p.all(f"{box} tr.bill"), f"{p.role}: no bill to date in {box}")
    elif money is not None:  # None: may be shown, but the enterprise has no charges yet
        p.none(f"{box} tr.bill", "its duty does not cover money")
    if invoices:
        p.one(f"{box} .open-invoices")
    else:
        p.none(f"{box} .open-invoices", "its duty does not cover invoices")


def admin_submit(p, password):
    p.login("acme.admin", password)
    p.shot("overview")
    enterprise_box(p, 7, True, True)
    check(p.one("#enterprise-7 .members").get_attribute("data-count") == "3",
          "acme.admin: Acme has 3 members")
    p.none("#enterprise-8", "Beta is another enterprise")
    for css in ("#nav-members", "#nav-invoices", "#nav-warnings", "#nav-requests",
                "#nav-statements"):
        p.one(css)
    p.click(p.one("#nav-members"))
    p.shot("members")
    check(len(p.all("#members tr.member")) == 3, "acme.admin: the members page lists 3 members")
    p.one("#members tr.member[data-msisdn='8613800000101'] td.bundles [data-pool='1']")
    p.get("/enterprises/7/invoices")
    p.shot("invoices")
    p.one("#invoices tr.invoice[data-invoice='INV-202611-100']")
    p.get("/enterprises/7/warnings")
    p.shot("warnings")
    p.one("#warned-lines")
    p.one("#arrears")
    p.expect_status("/enterprises/8", 404, "beta")
    p.expect_status("/enterprises/8/members", 404, "beta-members")
    t = p.statement("enterprise-7-2026-11", "enterprise/7/statement/2026-11",
                    "statement-enterprise-7-2026-11-summary.csv")
    check(t and t.get("enterprise_share") == "164.40",
          f"acme.admin: enterprise_share {t and t.get('enterprise_share')!r}, want '164.40'")
    # a request: add the free line to product 71
    p.get("/enterprises/7/requests")
    p.shot("requests")
    from selenium.webdriver.support.ui import Select
    Select(p.one("#rq-kind")).select_by_value("add_member")
    p.one("#rq-msisdn").send_keys("8613900000202")
    Select(p.one("#rq-product")).select_by_value("71")
    p.one("#rq-note").send_keys("新员工 Zhou, \"free agent\" <joins>")
    p.click(p.one("#rq-submit"))
    p.shot("request-submitted")
    note = p.one("#submitted")
    rid = note.get_attribute("data-id") if note else None
    row = p.one(f"#request-{rid}") if rid else None
    check(row is not None and row.get_attribute("data-state") == "submitted",
          f"acme.admin: request {rid} is not shown submitted")
    if row is not None:
        check("<joins>" in row.text, "acme.admin: the note is not shown as text")
    p.none("form.decide", "an enterprise admin does not decide on requests")
    p.logout()
    return rid


def manager_approve(p, password, rid):
    p.login("am.li", password)
    p.shot("overview")
    enterprise_box(p, 7, True, True)
    p.one("#enterprise-7 [data-duty='account']")
    p.none("#enterprise-8", "am.li is not Beta's manager")
    p.get("/enterprises/7/requests")
    p.shot("requests")
    btn = p.one(f"#approve-{rid}")
    if btn is not None:
        p.click(btn)
        p.shot("request-approved")
        row = p.one(f"#request-{rid}")
        check(row is not None and row.get_attribute("data-state") == "approved",
              f"am.li: request {rid} is not approved after the click")
        p.none(f"#approve-{rid}", "a decided request has no buttons")
    p.statement("line-8613800000102-2026-11", "line/8613800000102/statement/2026-11",
                "statement-8613800000102-2026-11-summary.csv")
    p.logout()


def admin_sees_approved(p, password, rid):
    p.login("acme.admin", password)
    p.get("/enterprises/7/requests")
    p.shot("requests-after")
    row = p.one(f"#request-{rid}")
    check(row is not None and row.get_attribute("data-state") == "approved",
          f"acme.admin: request {rid} is not shown approved")
    p.logout()


def billing_manager(p, password):
    p.login("bm.wang", password)
    p.shot("overview")
    enterprise_box(p, 7, True, True)
    enterprise_box(p, 8, None, True)
    p.none(".link-members", "the billing duty does not cover members")
    p.none("#nav-members", "the billing duty does not cover members")
    p.expect_status("/enterprises/7/members", 403, "members")
    p.get("/enterprises/8/invoices")
    p.shot("invoices-beta")
    p.one("#balances")
    p.statement("line-8613800000201-2026-11", "line/8613800000201/statement/2026-11",
                "statement-8613800000201-2026-11-summary.csv")
    p.logout()


def no_money_manager(p, password, login, requests):
    p.login(login, password)
    p.shot("overview")
    enterprise_box(p, 7, False, False)
    p.none("#nav-statements", "its duty covers no statement")
    p.none("#nav-invoices", "its duty covers no invoice")
    p.one("#nav-members")
    if requests:
        p.one("#nav-requests")
    else:
        p.none("#nav-requests", "its duty covers no request")
    p.get("/enterprises/7/members")
    p.shot("members")
    check(len(p.all("#members tr.member")) == 3, f"{login}: the members page lists 3 members")
    p.get("/statements")
    p.shot("statements")
    p.one("#no-statements")
    p.expect_status("/enterprises/7/invoices", 403, "invoices")
    p.expect_status("/statements/enterprise/7/2026-11", 403, "statement")
    if not requests:
        p.expect_status("/enterprises/7/requests", 403, "requests")
    p.logout()


def operator(p, password):
    p.login("op.admin", password)
    p.shot("overview")
    p.one("#enterprises tr.enterprise-row[data-id='7']")
    p.one("#enterprises tr.enterprise-row[data-id='8']")
    p.get("/enterprises/8")
    p.shot("beta")
    enterprise_box(p, 8, None, True)
    p.get("/lines/8613900000201")
    p.shot("line-individual")
    p.one("#owner")
    p.get("/statements")
    p.one("#open-msisdn").send_keys("8613900000201")
    p.click(p.one("#open-form button"))
    viewed.append(("op.admin", "line/8613900000201/statement/2026-11"))
    p.shot("statement-individual")
    check(p.all("[data-total]"), "op.admin: the individual's statement shows no totals")
    p.statement("enterprise-7-2026-11", "enterprise/7/statement/2026-11",
                "statement-enterprise-7-2026-11-summary.csv")
    p.logout()


def check_audit(path):
    lines = []
    with open(path, encoding="utf-8") as f:
        for ln in f:
            lines.append(json.loads(ln))
    for action, seen in (("statement.view", viewed), ("statement.download", downloaded)):
        for who, target in seen:
            n = sum(1 for a in lines if a.get("action") == action and a.get("who") == who
                    and a.get("target") == target and a.get("outcome") == "allowed")
            want = seen.count((who, target))
            check(n >= want, f"audit: {n} allowed {action} of {target} by {who}, want {want}")
    refused = [a for a in lines if a.get("action") == "statement.view"
               and a.get("outcome") == "refused"]
    check(any(a.get("who") == "zhang.wei" for a in refused),
          "audit: zhang.wei's refused statement is not logged")


def main(argv):
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    base, art, password, audit, cycle = argv[1:6]
    if cycle != "2026-11":
        fail(f"the fixture's cycle is {cycle}, this script knows 2026-11")
    os.makedirs(art, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="cdr-chromium-")
    downloads = tempfile.mkdtemp(prefix="cdr-downloads-")
    driver = None
    try:
        driver = browser(profile, downloads)
        p = Portal(driver, base, art, downloads)
        member(p, password)
        rid = admin_submit(p, password)
        if check(rid, "acme.admin: no request id after submitting"):
            manager_approve(p, password, rid)
            admin_sees_approved(p, password, rid)
        billing_manager(p, password)
        no_money_manager(p, password, "sm.zhao", True)
        no_money_manager(p, password, "tm.chen", False)
        operator(p, password)
        check_audit(audit)
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(downloads, ignore_errors=True)
    if problems:
        print(f"portal_browser: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"portal_browser: ok: 7 roles, {len(viewed)} statements opened, "
          f"{len(downloaded)} downloaded; screenshots in {art}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
