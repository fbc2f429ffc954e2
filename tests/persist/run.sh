#!/usr/bin/env bash
# Persistent heaps across processes (make test-persist): a heap written to a file by one
# process is reopened by fresh processes, each mapping it at another address; truncated,
# damaged, foreign and other-build files are refused. TOOL is built with relative links,
# ABSOLUTE_TOOL with the default absolute ones.
set -eu
TOOL=$1
ABSOLUTE_TOOL=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
heap=$dir/heap.bin
A=0x200000000000 B=0x300000000000 C=0x380000000000
[ "$(getconf LONG_BIT)" = 64 ] || { A=0x50000000; B=0x60000000; C=0x70000000; }

"$TOOL" create "$heap" $A | tee "$dir/out"
root=$(sed -n 's/.*root block at offset \([0-9]*\).*/\1/p' "$dir/out")
word=$(( $(getconf LONG_BIT) / 8 ))
"$TOOL" reopen "$heap" $B | tee "$dir/out"
grep -q "the hinted address" "$dir/out" || { echo "the kernel ignored the hint: not a move"; exit 1; }
"$TOOL" reopen "$heap" $C
"$TOOL" reopen "$heap" 0

# the absolute build must not take a heap whose links are relative
"$ABSOLUTE_TOOL" refuse "$heap" 4194304 "mspace layout mismatch"

cp "$heap" "$dir/short.bin" && truncate -s 1048576 "$dir/short.bin"
"$TOOL" refuse "$dir/short.bin" 1048576 "mspace region truncated"

cp "$heap" "$dir/bad.bin"   # the head of the root block overwritten
printf '\377\377\377\377' | dd of="$dir/bad.bin" bs=1 seek=$((root - word)) conv=notrunc status=none
"$TOOL" refuse "$dir/bad.bin" 4194304 "heap corruption"

head -c 4194304 /dev/urandom > "$dir/foreign.bin"
"$TOOL" refuse "$dir/foreign.bin" 4194304 "not an mspace"
head -c 4194304 /dev/zero > "$dir/zero.bin"
"$TOOL" refuse "$dir/zero.bin" 4194304 "not an mspace"
echo "persist: 1 creating and 3 reopening processes, 5 refusals: ok"
