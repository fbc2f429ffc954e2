#!/usr/bin/env bash
# Firmware that runs, not only links: embedded/boards/test_firmware.c (a randomised test of
# the allocator over a static buffer) built without an OS for three emulated boards and run
# there, at -Os and at -O2; each prints its figures through semihosting and exits with its
# verdict. On the ARM boards also the malloc-family build (malloc_impl.cpp,
# test_malloc_family.cpp): newlib's printf and strdup and C++ new on the default mspace. Needs gcc-arm-none-eabi, gcc-riscv64-unknown-elf, qemu-system-arm and
# qemu-system-misc (make boards installs what is missing).
#   Cortex-M3  on lm3s6965evb  (qemu-system-arm)
#   Cortex-M4F on mps2-an386   (qemu-system-arm, hard float ABI)
#   rv32imac   on virt         (qemu-system-riscv32, machine mode, no firmware)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${BUILD:-$root/build}/boards
mkdir -p "$out"
failures=0

# build NAME PREFIX "ARCH FLAGS" START.c LINKER.ld OPT
build() {
   local name=$1 prefix=$2 arch=$3 start=$4 ld=$5 opt=$6
   local flags="$arch $opt -DNDEBUG -ffreestanding -fno-exceptions -ffunction-sections -fdata-sections -I$root -I$root/embedded/boards"
   local warn="-Wall -Wextra -Wconversion -Wshadow -Werror"
   local o="$out/$name$opt"
   "${prefix}g++" $flags -fno-rtti $warn -c "$root/embedded/firmware_impl.cpp" -o "$o-impl.o" &&
   "${prefix}gcc" $flags -std=c99 $warn -c "$root/embedded/boards/test_firmware.c" -o "$o-test.o" &&
   "${prefix}gcc" $flags -std=c99 $warn -c "$root/embedded/boards/$start" -o "$o-start.o" &&
   "${prefix}gcc" $flags -std=c99 -c "$root/embedded/libc_min.c" -o "$o-libc.o" &&
   "${prefix}gcc" $arch -nostdlib -Wl,--gc-sections -Wl,--no-warn-rwx-segments -T "$root/embedded/boards/$ld" \
      "$o-start.o" "$o-test.o" "$o-impl.o" "$o-libc.o" -lgcc -o "$o.elf"
}

# run NAME OPT QEMU MACHINE
run() {
   local name=$1 opt=$2 qemu=$3 machine=$4
   local log="$out/$name$opt.log"
   timeout 120 "$qemu" -M "$machine" -nographic -monitor none -serial none -bios none \
      -semihosting-config enable=on,target=native -kernel "$out/$name$opt.elf" > "$log" 2>&1
   local status=$?
   if [ $status -eq 0 ] && grep -q "^firmware\( malloc\)\?: PASS" "$log"; then
      echo "boards: $name $opt on $machine: $(grep -m1 '^firmware\( malloc\)\?: [0-9]' "$log" | sed 's/^firmware\( malloc\)\?: //')"
   else
      echo "boards: $name $opt on $machine FAILED (exit $status)"
      cat "$log"
      failures=$((failures + 1))
   fi
}

# build_malloc NAME "ARCH FLAGS" OPT: the malloc-family firmware (newlib's printf, strdup and
# C++ new on the default mspace; newlib's semihosting calls print)
build_malloc() {
   local name=$1 arch=$2 opt=$3
   local flags="$arch $opt -DNDEBUG -DMULLE_DLMALLOC_NO_OS=1 -fno-exceptions -fno-rtti -std=gnu++17 -ffunction-sections -fdata-sections -I$root -I$root/embedded/boards"
   local warn="-Wall -Wextra -Wconversion -Wshadow -Werror"
   local o="$out/$name$opt"
   arm-none-eabi-g++ $flags $warn -c "$root/embedded/boards/malloc_impl.cpp" -o "$o-impl.o" &&
   arm-none-eabi-g++ $flags $warn --specs=nano.specs -c "$root/embedded/boards/test_malloc_family.cpp" -o "$o-test.o" &&
   arm-none-eabi-gcc $arch $opt -std=c99 -ffreestanding -I$root/embedded/boards $warn -c "$root/embedded/boards/cortex_m.c" -o "$o-start.o" &&
   arm-none-eabi-g++ $arch -nostartfiles --specs=nano.specs --specs=rdimon.specs -Wl,--gc-sections \
      -T "$root/embedded/boards/cortex_m.ld" "$o-start.o" "$o-test.o" "$o-impl.o" -o "$o.elf" || return 1
   # newlib's own allocator must not be in the image: its state is __malloc_av_
   if arm-none-eabi-nm "$o.elf" | grep -q "__malloc_av_"; then
      echo "boards: $name $opt links newlib's malloc"
      return 1
   fi
}

for opt in -Os -O2; do
   build cortex-m3 arm-none-eabi- "-mcpu=cortex-m3 -mthumb" cortex_m.c cortex_m.ld $opt || exit 1
   run cortex-m3 $opt qemu-system-arm lm3s6965evb
   build cortex-m4f arm-none-eabi- "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16" cortex_m.c cortex_m.ld $opt || exit 1
   run cortex-m4f $opt qemu-system-arm mps2-an386
   build rv32imac riscv64-unknown-elf- "-march=rv32imac_zicsr -mabi=ilp32 -mcmodel=medany" riscv.c riscv.ld $opt || exit 1
   run rv32imac $opt qemu-system-riscv32 virt
   build_malloc malloc-m3 "-mcpu=cortex-m3 -mthumb" $opt || exit 1
   run malloc-m3 $opt qemu-system-arm lm3s6965evb
   build_malloc malloc-m4f "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16" $opt || exit 1
   run malloc-m4f $opt qemu-system-arm mps2-an386
done
[ $failures -eq 0 ] || { echo "boards: $failures run(s) failed"; exit 1; }
echo "boards: the firmware tests passed on 3 emulated boards, at -Os and -O2"
