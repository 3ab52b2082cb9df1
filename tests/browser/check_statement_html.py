#!/usr/bin/python3
"""Check rendered statement HTML pages in a real browser (docs/statements.md "HTML").

Usage: /usr/bin/python3 check_statement_html.py HTML JSON PNG [HTML JSON PNG ...]

For each page: opens file://HTML in headless Chromium (Debian's chromium and chromedriver, through
python3-selenium), and checks that the browser logged no SEVERE console entry, that the page's
language is the JSON's, that svg#chart-services and svg#chart-bundles each hold at least one
rect.bar and every one of them has a non-zero width and height, and that the [data-total] elements
are exactly the keys of the JSON's "totals" with the same amounts. Saves a PNG screenshot of the
whole page to PNG. Exit 0 when every page passes, 1 (with the reasons) otherwise; a missing
browser or driver is a failure, not a skip.
"""
import json
import os
import shutil
import sys
import tempfile

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def fail(msg):
    print(f"check_statement_html: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def browser(profile):
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
              "--allow-file-access-from-files", f"--user-data-dir={profile}",
              "--window-size=1280,1024", "--lang=en-US"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def check_page(driver, html, js, png):
    from selenium.webdriver.common.by import By
    problems = []
    with open(js, encoding="utf-8") as f:
        model = json.load(f)
    driver.get("file://" + os.path.abspath(html))
    severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    for e in severe:
        problems.append(f"console: {e.get('message')}")
    lang = driver.find_element(By.TAG_NAME, "html").get_attribute("lang")
    if lang != model.get("lang"):
        problems.append(f"<html lang={lang!r}>, the JSON says {model.get('lang')!r}")
    if driver.execute_script("return document.characterSet") != "UTF-8":
        problems.append("the page is not read as UTF-8")
    if driver.find_elements(By.TAG_NAME, "script"):
        problems.append("the page has a <script>")
    for chart in ("chart-services", "chart-bundles"):
        svgs = driver.find_elements(By.CSS_SELECTOR, f"svg#{chart}")
        if len(svgs) != 1:
            problems.append(f"{len(svgs)} svg#{chart}, want 1")
            continue
        bars = svgs[0].find_elements(By.CSS_SELECTOR, "rect.bar")
        if not bars:
            problems.append(f"svg#{chart} has no rect.bar")
        for i, bar in enumerate(bars):
            size = bar.size
            if not size or size.get("width", 0) <= 0 or size.get("height", 0) <= 0:
                problems.append(f"svg#{chart} rect.bar #{i + 1} is {size}")
    totals = model.get("totals", {})
    shown = {}
    for el in driver.find_elements(By.CSS_SELECTOR, "[data-total]"):
        key = el.get_attribute("data-total")
        if key in shown:
            problems.append(f"data-total={key!r} appears twice")
        shown[key] = el.text.strip()
    if set(shown) != set(totals):
        problems.append(f"data-total keys {sorted(shown)} != JSON totals {sorted(totals)}")
    for key, value in shown.items():
        if key in totals and totals[key] != value:
            problems.append(f"total {key}: page {value!r}, JSON {totals[key]!r}")
    # a screenshot of the whole page
    for _ in range(2):  # the height once more after the resize has laid the page out again
        height = driver.execute_script(
            "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
        driver.set_window_size(1280, min(max(int(height) + 160, 600), 16000))
    os.makedirs(os.path.dirname(os.path.abspath(png)), exist_ok=True)
    if not driver.save_screenshot(png):
        problems.append(f"cannot save the screenshot {png}")
    driver.set_window_size(1280, 1024)
    return problems


def main(argv):
    if len(argv) < 4 or (len(argv) - 1) % 3:
        print(__doc__, file=sys.stderr)
        return 2
    profile = tempfile.mkdtemp(prefix="cdr-chromium-")
    failed = 0
    driver = None
    try:
        driver = browser(profile)
        for i in range(1, len(argv), 3):
            html, js, png = argv[i:i + 3]
            problems = check_page(driver, html, js, png)
            for p in problems:
                print(f"check_statement_html: FAIL: {html}: {p}", file=sys.stderr)
            if problems:
                failed += 1
            else:
                print(f"check_statement_html: ok: {html} (screenshot {png})")
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
