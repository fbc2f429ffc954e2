#!/usr/bin/env python3
"""Lists the allocator's symbols in a linked firmware, largest last: symbols.py DIR"""
import subprocess
import sys

d = sys.argv[1]
mine = set(open(f"{d}/impl_symbols.txt").read().split())
rows = []
for line in open(f"{d}/symbols.txt"):
    f = line.split()
    if len(f) == 4 and f[3] in mine:
        rows.append((int(f[1], 16), f[2], f[3]))
for size, kind, name in sorted(rows):
    pretty = subprocess.run(["c++filt", name], capture_output=True, text=True).stdout.strip()
    print(f"{size:6d} {kind} {pretty.split('(')[0]}")
