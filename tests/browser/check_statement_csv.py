#!/usr/bin/python3
"""Check a statement's CSV folder with Python's csv module (docs/statements.md "CSV").

Usage: /usr/bin/python3 check_statement_csv.py DIR LANG KIND [NAMES.json]

LANG is en or zh-CN, KIND member or enterprise. Checks that the folder holds exactly the files of
a statement of that kind (summary, classes, services, bundles, overflow; members for an
enterprise; itemised when present), that each starts with the UTF-8 BOM and ends its rows with
CRLF, that its header row is the one below for LANG (the columns are pinned here, independently
of the C code), that every row has the header's number of fields, and that each string of the
JSON list NAMES.json comes back, exactly, as a field of some file. Exit 0 or 1 with the reasons.
"""
import csv
import json
import os
import sys

HEADERS = {
    "summary.csv": {
        "en": ["Key", "Item", "Value"],
        "zh-CN": ["代码", "项目", "值"],
    },
    "classes.csv": {
        "en": ["Class code", "Charge class", "Records", "In package records", "Overflow records",
               "Rated", "In package charge", "Overflow charge", "Enterprise pays", "Member pays",
               "Enterprise tax", "Member tax"],
        "zh-CN": ["类别代码", "费用类别", "记录数", "套餐内记录数", "超出套餐记录数", "计费金额",
                  "套餐内费用", "超出套餐费用", "企业支付", "个人支付", "企业税额", "个人税额"],
    },
    "services.csv": {
        "en": ["Service code", "Service", "Unit", "Records", "Units", "In bundle",
               "Overflow units", "Free units", "Overflow records", "Charge", "Overflow charge"],
        "zh-CN": ["业务代码", "业务", "单位", "记录数", "用量", "套餐内用量", "超出套餐用量",
                  "免费用量", "超出套餐记录数", "费用", "超出套餐费用"],
    },
    "bundles.csv": {
        "en": ["Number", "Product", "Bundle", "Service code", "Pool", "Used", "Included",
               "Used %"],
        "zh-CN": ["号码", "产品", "套餐包", "业务代码", "共享", "已用", "套餐内含", "使用率 %"],
    },
    "overflow.csv": {
        "en": ["Rank", "Kind", "Key", "Name", "Overflow records", "Overflow units",
               "Overflow charge", "Charge", "Plan hint", "Cheaper plan", "Saving"],
        "zh-CN": ["排名", "类型", "代码", "姓名", "超出套餐记录数", "超出套餐用量",
                  "超出套餐费用", "费用", "套餐建议", "推荐套餐", "可节省"],
    },
    "members.csv": {
        "en": ["Subscriber id", "Number", "Name", "Plan", "Status", "Account", "Account name",
               "Product", "Monthly fee", "Usage", "Other charges", "Overflow charge",
               "Enterprise pays", "Member pays", "Enterprise tax", "Member tax", "Plan hint",
               "Cheaper plan", "Saving"],
        "zh-CN": ["用户编号", "号码", "姓名", "套餐", "号码状态", "账户", "账户名称", "产品",
                  "月租费", "通信费", "其他费用", "超出套餐费用", "企业支付", "个人支付",
                  "企业税额", "个人税额", "套餐建议", "推荐套餐", "可节省"],
    },
    "itemised.csv": {
        "en": ["Number", "Local time", "Service code", "Direction", "Other party", "Duration (s)",
               "Volume (bytes)", "Units", "Zone", "Band", "Charge", "State", "Class code",
               "Flags"],
        "zh-CN": ["号码", "时间", "业务代码", "呼叫类型", "对方号码", "时长（秒）", "流量（字节）",
                  "用量", "区域", "时段", "费用", "计费状态", "类别代码", "标记"],
    },
}


def main(argv):
    if len(argv) not in (4, 5) or argv[2] not in ("en", "zh-CN") or \
            argv[3] not in ("member", "enterprise"):
        print(__doc__, file=sys.stderr)
        return 2
    folder, lang, kind = argv[1:4]
    names = []
    if len(argv) == 5:
        with open(argv[4], encoding="utf-8") as f:
            names = json.load(f)
    problems = []
    want = {"summary.csv", "classes.csv", "services.csv", "bundles.csv", "overflow.csv"}
    if kind == "enterprise":
        want.add("members.csv")
    present = set(os.listdir(folder))
    optional = {"itemised.csv"}
    if not want <= present:
        problems.append(f"missing {sorted(want - present)}")
    if present - want - optional:
        problems.append(f"unexpected files {sorted(present - want - optional)}")
    all_fields = set()
    for name in sorted(present & (want | optional)):
        path = os.path.join(folder, name)
        with open(path, "rb") as f:
            raw = f.read()
        if not raw.startswith(b"\xef\xbb\xbf"):
            problems.append(f"{name}: no UTF-8 BOM")
        if not raw.endswith(b"\r\n"):
            problems.append(f"{name}: the last row does not end with CRLF")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            problems.append(f"{name}: not UTF-8: {e}")
            continue
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f, strict=True))
        if not rows:
            problems.append(f"{name}: empty")
            continue
        header = HEADERS[name][lang]
        if rows[0] != header:
            problems.append(f"{name}: header {rows[0]} != {header}")
        for i, row in enumerate(rows[1:], start=2):
            if len(row) != len(header):
                problems.append(f"{name}: row {i} has {len(row)} fields, the header {len(header)}")
            all_fields.update(row)
    for n in names:
        if n not in all_fields:
            problems.append(f"the name {n!r} does not come back as a field")
    for p in problems:
        print(f"check_statement_csv: FAIL: {folder}: {p}", file=sys.stderr)
    if not problems:
        print(f"check_statement_csv: ok: {folder} ({lang}, {kind}, {len(names)} names)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
