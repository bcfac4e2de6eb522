#!/usr/bin/env python3
"""Writes normalize.jsonl: [input, input.lower().strip()] pairs from the
reference CPython (3.11), for rarity's TestNormalizeGolden. Deterministic."""
import json
import random

rng = random.Random(7)
space = [c for c in map(chr, range(0x110000)) if c.isspace()]
tricky = list("AaZzΣσςİıiIΑαΩΆ") + [
    "\u0307", "\u0301", "\u0345", "'", ".", ":", "\u00ad", "\u180e", "\u200b", "\ufeff",
    "\u200d", "\u02b0", "\u2019", "\u13a0", "\uab70", "\u1c90", "\u1e9e", "\u2126", "\u212a",
    "\u212b", "\u1f88", "\u0149", "\U00010400", "\U0001e900", "\U0001f600", "1", "-", "_",
    "\u0130", "\u03a3", "\u2160", "\u24b6", "\u00df", "\u0391\u0301", "\u0300",
]
pool = space + tricky
cases = ["ΣΑΣ", "σας", "İ", "i\u0307", "\x1fstar", "\u00a0star\u00a0", "Σ", "ΑΣ", "ΑΣ'", "ΑΣ\u0301Α",
         "Α'Σ", "Α\u0345Σ", "\u180eX\u180e", "\u200bX\u200b", "\ufeffX\ufeff", "\x1c\x1d\x1e\x1fX\x85",
         "\u3000X\u2029", "A\u03a3 B", "A\u03a3.", "1\u03a3", "\u2160\u03a3", "\u03a3\u03a3\u03a3"]
for _ in range(3000):
    n = rng.randint(0, 8)
    cases.append("".join(rng.choice(pool) for _ in range(n)))
for _ in range(1000):
    n = rng.randint(1, 4)
    cases.append("".join(chr(rng.choice([rng.randrange(0x80, 0x3000), rng.randrange(0x10000, 0x1FFFF)]))
                         for _ in range(n)) + "\u03a3")
with open("normalize.jsonl", "w", encoding="ascii", newline="\n") as f:
    for s in cases:
        if any(0xD800 <= ord(c) < 0xE000 for c in s):
            continue
        f.write(json.dumps([s, s.lower().strip()], ensure_ascii=True) + "\n")
