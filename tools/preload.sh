#!/bin/bash
# The header as the process's malloc (MULLE_DLMALLOC_MALLOC=1), built as a shared library
# and given to real programs from Debian with LD_PRELOAD: each must print what it prints
# with glibc's malloc, and every process that exits through exit() checks the heap
# (MULLE_DLMALLOC_CHECK_AT_EXIT, into a log of its own) and must find nothing wrong.
#   a compiler: g++ compiling one of this project's test files (cc1plus, as: children too)
#   python3: a standard-library test module (test.test_json)
#   sqlite3: a generated database of 20000 rows, queried
#   git log: this repository's history, with the files each commit changed
# Before them, tests/preload/malloc_family.cpp holds each call to what glibc does, and
# tests/preload/atfork_allocates.cpp makes the heap where pthread_atfork allocates.
# Needs g++, python3 with its test suite (libpython3.11-testsuite), sqlite3 and git:
# the Makefile's preload target installs what is missing.
set -u
BUILD=${BUILD:-build}/preload
mkdir -p "$BUILD"
LIB="$BUILD/libmulle_malloc.so"
g++ -O2 -g -std=c++17 -shared -fPIC -pthread -Wall -Wextra -Werror -I. \
   -DMULLE_DLMALLOC_IMPLEMENTATION -DMULLE_DLMALLOC_MALLOC=1 -x c++ mulle_dlmalloc.hpp -o "$LIB" || exit 1

failures=0

# first what glibc and the C standard promise, call by call, in a program linked with it
g++ -O2 -g -std=c++17 -pthread -Wall -Wextra -Werror -I. tests/preload/malloc_family.cpp -o "$BUILD/malloc_family" || exit 1
"$BUILD/malloc_family" || failures=$((failures + 1))
# a pthread_atfork that allocates (some C libraries' does): the default heap registers
# its fork handlers once it is published; before that, the first malloc waited for itself
g++ -O2 -g -std=c++17 -pthread -Wall -Wextra -Werror -I. tests/preload/atfork_allocates.cpp -o "$BUILD/atfork_allocates" || exit 1
timeout 60 "$BUILD/atfork_allocates" || { echo "preload: atfork_allocates FAILED (exit $?; 124: it hung)"; failures=$((failures + 1)); }
# run NAME COMMAND...: the output (stdout, and the exit status) with glibc's malloc and
# with ours must be the same; NAME.checks holds the exit checks of its processes.
run() {
   local name=$1
   shift
   "$@" > "$BUILD/$name.glibc" 2> "$BUILD/$name.glibc.err"
   local want=$?
   rm -f "$BUILD/$name.checks"
   LD_PRELOAD="$PWD/$LIB" MULLE_DLMALLOC_CHECK_AT_EXIT="$PWD/$BUILD/$name.checks" "$@" > "$BUILD/$name.mulle" 2> "$BUILD/$name.mulle.err"
   local got=$?
   local checks bad
   checks=$(grep -c "mulle_dlmalloc: heap check at exit: " "$BUILD/$name.checks" 2>/dev/null)
   bad=$(grep "mulle_dlmalloc: heap check at exit: " "$BUILD/$name.checks" 2>/dev/null | grep -vc ": 0 problems")
   if [ "$want" != "$got" ] || ! cmp -s "$BUILD/$name.glibc" "$BUILD/$name.mulle" || [ "$checks" = 0 ] || [ "$bad" != 0 ]; then
      echo "preload: $name FAILED (exit $want with glibc, $got with mulle_dlmalloc; $checks heap checks, $bad with problems)"
      diff "$BUILD/$name.glibc" "$BUILD/$name.mulle" | head -20
      tail -5 "$BUILD/$name.mulle.err"
      failures=$((failures + 1))
   else
      echo "preload: $name: same output ($(wc -c < "$BUILD/$name.mulle") bytes, exit $got), $checks heap checks at exit, all clean"
   fi
}

# the object file a compiler writes is its output here
compile() {
   g++ -O2 -std=c++17 -frandom-seed=1 -I. -c tests/test_malloc.cpp -o "$1" && cksum < "$1"
}
run g++ compile "$BUILD/test_malloc.o"

# the python3 whose test suite is there (Debian's, from libpython3.11-testsuite, or one of
# the PATH's own); each test's name and verdict are the output
PY=python3
$PY -c 'import test.test_json' 2>/dev/null || PY=/usr/bin/python3
pytest() {
   "$PY" -m unittest -v test.test_json 2>&1 | sed -E 's/^Ran ([0-9]+) tests? in .*/Ran \1 tests/'
   return "${PIPESTATUS[0]}"
}
run python3 pytest

sqlite() {
   rm -f "$1"
   sqlite3 "$1" <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, value REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO t SELECT i, printf('row %d %s', i, hex(randomblob(8 + i % 40))), i * 0.5 FROM n;
CREATE INDEX t_value ON t(value);
SELECT count(*), sum(length(name)) > 0, sum(value) FROM t;
SELECT id, value FROM t WHERE value BETWEEN 100 AND 110 ORDER BY value;
SELECT id % 7 AS k, count(*), avg(value) FROM t GROUP BY k ORDER BY k;
DELETE FROM t WHERE id % 3 = 0;
VACUUM;
SELECT count(*), min(id), max(id) FROM t;
SQL
}
run sqlite3 sqlite "$BUILD/test.db"

run git git log --stat --format='%H %s' -n 300

if [ $failures -ne 0 ]; then
   echo "preload: $failures failure(s)"
   exit 1
fi
echo "preload: 4 programs ran with every allocation on one mspace, output as with glibc"
