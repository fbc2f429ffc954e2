#!/usr/bin/env python3
"""Fails unless every symbol that the implementation object leaves undefined (nm -u output
given as the second argument) is one of the C library symbols that the README's sentence
"The implementation needs no C++ runtime library, only the C library (...)" lists, and
every symbol listed there is still needed (so the list stays exact)."""
import re
import sys

readme = open(sys.argv[1], encoding="utf-8").read()
sentence = re.search(r"The implementation needs no C\+\+ runtime library, only the C library \((.*?)\)",
                     readme, re.S)
if not sentence:
    sys.exit("README.md: the sentence that lists the C library symbols is missing")
listed = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", sentence.group(1)))

linker = {"_GLOBAL_OFFSET_TABLE_"}   # provided by the linker, not a library
needed = set()
for line in open(sys.argv[2], encoding="utf-8"):
    fields = line.split()
    if fields and fields[-1] not in linker:
        needed.add(fields[-1])

unlisted = sorted(needed - listed)
unused   = sorted(listed - needed)
if unlisted:
    sys.exit("the implementation needs symbols the README does not list: " + ", ".join(unlisted) +
             (" (C++ runtime: a C linker fails)" if any(s.startswith(("_Z", "__gxx", "_Unwind", "__cxa")) for s in unlisted) else ""))
if unused:
    sys.exit("README.md lists C library symbols the implementation no longer needs: " + ", ".join(unused))
print("c-runtime: the implementation needs only " + ", ".join(sorted(needed)) + " (" + sys.argv[2] + ")")
