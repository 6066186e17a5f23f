#!/usr/bin/python3
"""Cold read latencies of one file (for scripts/bench-stream.sh).

usage:
  randread.py ttfb FILE ORIGINAL
      time from open() to the first byte returned by read(); prints
        ttfb_s=<seconds>
  randread.py rand FILE ORIGINAL [SEED [COUNT [SIZE]]]
      COUNT (64) reads of SIZE (16384) bytes with os.pread at offsets drawn
      from random.Random(SEED) (SEED 1), one after another, so every client
      sees the same offsets in the same order; prints
        p50_ms=<median> p99_ms=<nearest-rank 99th percentile> max_ms=<max>

Every byte read is compared with ORIGINAL (outside the timed part); a
mismatch or short read exits with status 2.
"""
import math
import os
import random
import sys
import time


def check(got, orig_fd, off, size):
    want = os.pread(orig_fd, size, off)
    if got != want:
        print("randread: %d bytes at offset %d differ from the original (got %d bytes)"
              % (size, off, len(got)), file=sys.stderr)
        sys.exit(2)


def ttfb(path, orig):
    o = os.open(orig, os.O_RDONLY)
    t0 = time.monotonic()
    fd = os.open(path, os.O_RDONLY)
    b = os.read(fd, 1)
    t1 = time.monotonic()
    os.close(fd)
    check(b, o, 0, 1)
    print("ttfb_s=%.6f" % (t1 - t0))


def rand(path, orig, seed=1, count=64, size=16384):
    o = os.open(orig, os.O_RDONLY)
    total = os.fstat(o).st_size
    rng = random.Random(seed)
    offsets = [rng.randrange(0, total - size) for _ in range(count)]
    fd = os.open(path, os.O_RDONLY)
    lat = []
    for off in offsets:
        t0 = time.monotonic()
        b = os.pread(fd, size, off)
        lat.append(time.monotonic() - t0)
        check(b, o, off, size)
    os.close(fd)
    lat.sort()

    def pct(p):  # nearest rank
        return lat[max(0, math.ceil(p / 100 * len(lat)) - 1)] * 1000

    print("p50_ms=%.3f p99_ms=%.3f max_ms=%.3f" % (pct(50), pct(99), lat[-1] * 1000))


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "ttfb":
        ttfb(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 4 and sys.argv[1] == "rand":
        rand(sys.argv[2], sys.argv[3], *[int(a) for a in sys.argv[4:7]])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
