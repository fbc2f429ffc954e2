#!/usr/bin/env bash
# Proves the ASan and Valgrind annotations: every deliberate bug in bugs.c is reported by
# the checker (an expected failure is a passing case) and the bug-free build runs clean.
# Usage: run.sh asan|valgrind
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${BUILD:-$root/build}/checkers/$1
mkdir -p "$out"
pass=0 fail=0

# expect NAME clean COMMAND...     the run exits 0 and the log shows no report
# expect NAME 'PATTERN' COMMAND...  the run fails and its log matches PATTERN (the bug's name)
expect() {
   local name=$1 want=$2; shift 2
   "$@" > "$out/$name.log" 2>&1
   local rc=$? ok=0
   if [ "$want" = clean ]; then
      [ $rc -eq 0 ] && ! grep -qE "ERROR: AddressSanitizer|ERROR SUMMARY: [1-9]|lost in loss record|mulle_dlmalloc: " "$out/$name.log" && ok=1
   else
      [ $rc -ne 0 ] && grep -qE "$want" "$out/$name.log" && ok=1
   fi
   if [ $ok = 1 ]; then
      pass=$((pass + 1)); printf '  %-22s %s\n' "$name" "${want/clean/runs clean}: ok"
   else
      fail=$((fail + 1)); printf '  %-22s expected %s, exit %d:\n' "$name" "$want" $rc; sed 's/^/    | /' "$out/$name.log" | head -20
   fi
}

case $1 in
asan)
   flags="-g -O1 -fsanitize=address -fno-omit-frame-pointer -I$root"
   clang++ -std=c++11 $flags -c "$root/tests/checkers/impl.cpp" -o "$out/impl.o" || exit 1
   for bug in 0 1 2 3; do
      clang -std=c99 $flags -DBUG=$bug -c "$root/tests/checkers/bugs.c" -o "$out/bugs$bug.o" || exit 1
      clang++ -fsanitize=address "$out/bugs$bug.o" "$out/impl.o" -o "$out/bugs$bug" || exit 1
   done
   export ASAN_OPTIONS=detect_leaks=0
   expect "no bug"             clean                     "$out/bugs0"
   expect "use after free"     "use-after-poison"        "$out/bugs1"
   expect "overflow by one"    "use-after-poison"        "$out/bugs2"
   expect "double free"        "mulle_dlmalloc: double free at 0x" "$out/bugs3"
   ;;
valgrind)
   flags="-g -O1 -I$root -DMULLE_DLMALLOC_VALGRIND=1"
   g++ -std=c++11 $flags -c "$root/tests/checkers/impl.cpp" -o "$out/impl.o" || exit 1
   for bug in 0 1 2 3 4 5; do
      gcc -std=c99 $flags -DBUG=$bug -c "$root/tests/checkers/bugs.c" -o "$out/bugs$bug.o" || exit 1
      g++ "$out/bugs$bug.o" "$out/impl.o" -o "$out/bugs$bug" || exit 1
   done
   vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,possible"
   expect "no bug"             clean                                $vg "$out/bugs0"
   expect "use after free"     "Invalid read of size 1"             $vg "$out/bugs1"
   expect "overflow by one"    "Invalid write of size 1"            $vg "$out/bugs2"
   expect "double free"        "mulle_dlmalloc: double free at 0x"  $vg "$out/bugs3"
   expect "uninitialised read" "depends on uninitialised value"     $vg "$out/bugs4"
   expect "leak"               "lost in loss record"                $vg "$out/bugs5"
   ;;
*) echo "usage: run.sh asan|valgrind"; exit 2;;
esac
echo "checkers ($1): $pass passed, $fail failed"
[ $fail -eq 0 ]
