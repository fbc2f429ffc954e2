#!/usr/bin/env bash
# make valgrind: what `make test` runs (tests/unit, tests/test_c_api, and the replay of the
# fuzz corpus and regressions) under valgrind memcheck, built with
# -DMULLE_DLMALLOC_VALGRIND=1 so that every mspace is a memcheck memory pool, into
# $BUILD/valgrind/. Any memcheck error or definite leak fails the run (exit 99).
# The random test is scaled down (MULLE_TEST_SCALE, default 5): memcheck is ~30x slower.
# Forked children (the default-handler tests) run under memcheck too but stay silent, so
# their stderr is what the library printed; the fuzz replay runs every input in one
# process (--no-fork) so that memcheck sees them all. Knobs: BUILD, MULLE_TEST_SCALE, JOBS,
# VALGRIND_OPTS (extra options, e.g. --track-origins=yes), FUZZ_REPLAY=0 (skip the replay).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
out=${BUILD:-build}/valgrind
command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind)"; exit 1; }
[ -f /usr/include/valgrind/memcheck.h ] || { echo "valgrind: memcheck.h missing"; exit 1; }

export MULLE_TEST_SCALE=${MULLE_TEST_SCALE:-5}
vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --child-silent-after-fork=yes ${VALGRIND_OPTS:-}"

targets=("$out/tests/unit" "$out/tests/test_c_api")
fuzz=0
if [ "${FUZZ_REPLAY:-1}" != 0 ] && [ -f fuzz/fuzz_mspace.cpp ]; then
   fuzz=1
   targets+=("$out/fuzz/fuzz_replay")
fi
make --no-print-directory -j"${JOBS:-$(nproc)}" "${targets[@]}" \
   BUILD="$out" OPT="-O1 -g" \
   EXTRA_CXXFLAGS="-DMULLE_DLMALLOC_VALGRIND=1" EXTRA_CFLAGS="-DMULLE_DLMALLOC_VALGRIND=1"
$vg "$out/tests/test_c_api"
$vg "$out/tests/unit"
done_what="unit and c_api"
if [ $fuzz = 1 ]; then
   $vg "$out/fuzz/fuzz_replay" --no-fork fuzz/corpus fuzz/regressions
   done_what="unit, c_api and fuzz replay"
fi
echo "valgrind: $done_what passed, no memcheck errors ($((SECONDS - start)) s)"
