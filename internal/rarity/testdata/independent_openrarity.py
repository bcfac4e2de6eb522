#!/usr/bin/env python3
"""Independent plain-Python OpenRarity 0.7.5 scorer (written from the
algorithm description in shared/research/rarity.md §2.11, not from the
library), used to produce regression vectors for collections without
reference outputs:

    python3 independent_openrarity.py IN.jsonl > OUT.csv

Output: token_id,score,rank,unique_attribute_count,trait_count sorted by
token id, score as repr(float). Handles string attributes only."""
import json
import math
import sys

META = "meta_trait:trait_count"


def norm(s):
    return s.lower().strip()


def main(path):
    toks = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                attrs = {}
                for k, v in d["attributes"].items():
                    attrs[norm(k)] = norm(v)
                toks.append((int(d["token_id"]), attrs))
    toks.sort(key=lambda t: t[0])
    for _, a in toks:
        k = sum(1 for v in a.values() if v not in ("none", ""))
        if META in a:
            k -= 1
        a[META] = str(k)
    n = len(toks)
    counts = {}
    for _, a in toks:
        for name, v in a.items():
            counts.setdefault(name, {}).setdefault(v, 0)
            counts[name][v] += 1
    missing = {name: n - sum(c.values()) for name, c in counts.items()}
    h = 0.0
    for name in sorted(counts):
        buckets = list(counts[name].values()) + ([missing[name]] if missing[name] > 0 else [])
        for c in buckets:
            p = c / n
            h += -p * math.log2(p)
    div = h if h != 0 else 1.0
    rows = []
    for i, (tid, a) in enumerate(toks):
        ic = 0.0
        for name in sorted(counts):
            c = counts[name][a[name]] if name in a else missing[name]
            ic += -math.log2(c / n)
        u = sum(1 for name, v in a.items() if counts[name][v] == 1)
        score = ic / div + 0.0
        rows.append([tid, score, 0, u, int(a[META]), i])
    order = sorted(rows, key=lambda r: (-r[3], -r[1], r[5]))
    for i, r in enumerate(order):
        r[2] = order[i - 1][2] if i > 0 and math.isclose(r[1], order[i - 1][1]) else i + 1
    w = sys.stdout.write
    w("token_id,score,rank,unique_attribute_count,trait_count\n")
    for r in rows:
        w("%d,%r,%d,%d,%d\n" % (r[0], r[1], r[2], r[3], r[4]))


if __name__ == "__main__":
    main(sys.argv[1])
