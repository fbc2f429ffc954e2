#!/usr/bin/env python3
"""Fails if a code block that README.md marks as a copy of a file differs from that file.

A copy is marked <!-- begin PATH --> ```lang ... ``` <!-- end PATH -->."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
readme = (root / "README.md").read_text(encoding="utf-8")
blocks = re.findall(r"<!-- begin (\S+) -->\n```[\w+]*\n(.*?)```\n<!-- end \1 -->", readme, re.S)
bad = [path for path, text in blocks if (root / path).read_text(encoding="utf-8") != text]
for path in bad:
    print(f"README.md: the copy of {path} differs from the file; make them the same")
print(f"readme: {len(blocks) - len(bad)} passed, {len(bad)} failed")
sys.exit(1 if bad or not blocks else 0)
