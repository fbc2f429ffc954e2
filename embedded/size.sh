#!/usr/bin/env bash
# Links the firmware for one target and prints the allocator's code and data, in bytes:
# the sum of the symbols the implementation TU contributes to the linked image
# (-Os -DNDEBUG: a release build; default checks; --gc-sections). Usage: size.sh NAME PREFIX "CFLAGS" FULL_API
set -euo pipefail
name=$1 prefix=$2 flags=$3 full=$4
root=$(cd "$(dirname "$0")/.." && pwd)
out=${BUILD:-$root/build}/embedded/$name-$full
mkdir -p "$out"
common="-Os -DNDEBUG -ffreestanding -fno-exceptions -ffunction-sections -fdata-sections -I$root"
warn="-Wall -Wextra -Wconversion -Wshadow -Werror"
"${prefix}g++" $flags $common -fno-rtti $warn -c "$root/embedded/firmware_impl.cpp" -o "$out/impl.o"
"${prefix}gcc" $flags $common -std=c99 $warn -DFULL_API=$full -c "$root/embedded/firmware.c" -o "$out/firmware.o"
"${prefix}gcc" $flags $common -std=c99 -c "$root/embedded/libc_min.c" -o "$out/libc_min.o"

# 1. the allocator needs nothing from the toolchain but memcpy, memmove and memset
"${prefix}ld" -r "$out/impl.o" "$out/firmware.o" -o "$out/partial.o" ${LDEMU:-}
extra=$("${prefix}nm" -u "$out/partial.o" | awk '{print $2}' | grep -v -x -E 'memcpy|memmove|memset' || true)
if [ -n "$extra" ]; then
  echo "$name: undefined symbols besides memcpy/memmove/memset: $extra" >&2
  exit 1
fi
# 2. it links with -nostdlib
"${prefix}gcc" $flags -nostdlib -Wl,--gc-sections -Wl,-e,firmware_entry \
  "$out/firmware.o" "$out/impl.o" "$out/libc_min.o" -o "$out/firmware.elf"
# 3. the implementation TU's share of the image
"${prefix}nm" -S --size-sort "$out/firmware.elf" > "$out/symbols.txt"
"${prefix}nm" -S "$out/impl.o" | awk 'NF == 4 {print $4}' | sort -u > "$out/impl_symbols.txt"
python3 - "$out/symbols.txt" "$out/impl_symbols.txt" <<'PY'
import sys
mine = set(open(sys.argv[2]).read().split())
text = data = 0
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 4 and f[3] in mine:
        if f[2] in "tTwW":
            text += int(f[1], 16)
        else:
            data += int(f[1], 16)
print(text, data)
PY
