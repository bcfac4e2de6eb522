#!/usr/bin/env python3
"""Writes repr.txt: "<float64 bits as hex> <repr(x)>" per line, for
rarityfile's TestFormatFloatGolden. Deterministic."""
import random
import struct

rng = random.Random(11)
xs = [0.0, -0.0, 1.0, -1.0, 0.1, 1e16, 1e15, 9999999999999998.0, 1e-4, 1e-5, 0.00012345,
      123456789012345678.0, 1.5, 2.5e-300, 5e-324, 1.7976931348623157e308, 0.9999999999999996,
      4.190278394524215, 0.5814075005616861, 1e22, 1e21, 12345.678, 100.0, 1e-7, 3.0e16,
      float("inf"), float("-inf")]
for _ in range(3000):
    xs.append(struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0])
for _ in range(3000):
    xs.append(rng.uniform(-1, 1) * 10.0 ** rng.randint(-8, 20))
for _ in range(500):
    xs.append(float(rng.randint(0, 10**rng.randint(1, 18))))
with open("repr.txt", "w", newline="\n") as f:
    for x in xs:
        if x != x:
            continue
        f.write("%016x %s\n" % (struct.unpack("<Q", struct.pack("<d", x))[0], repr(x)))
