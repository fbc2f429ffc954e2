#!/usr/bin/env bash
# make sanitize: what `make test` runs (tests/unit, tests/test_c_api, and the replay of the
# fuzz corpus and regressions) built with clang under AddressSanitizer +
# UndefinedBehaviorSanitizer, every report fatal, into $BUILD/sanitize/.
# Under ASan the library poisons what no block owns and mspace_usable_size reports the size
# asked for; the suites know (MULLE_TEST_ASAN in tests/test_helpers.h).
# Knobs: BUILD (default build), MULLE_TEST_SCALE (divides the random test, default 1),
# JOBS (parallel compiles, default the CPU count), FUZZ_REPLAY=0 (skip the replay).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
out=${BUILD:-build}/sanitize
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

# leaks are errors too; a UBSan report ends the run with a stack
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export MULLE_TEST_SCALE=${MULLE_TEST_SCALE:-1}

targets=("$out/tests/unit" "$out/tests/test_c_api")
fuzz=0
if [ "${FUZZ_REPLAY:-1}" != 0 ] && [ -f fuzz/fuzz_mspace.cpp ]; then
   fuzz=1
   targets+=("$out/fuzz/fuzz_replay")
fi
make --no-print-directory -j"${JOBS:-$(nproc)}" "${targets[@]}" \
   BUILD="$out" CC="clang $san" CXX="clang++ $san" CLINK="clang++ $san" OPT="-O1 -g"
"$out/tests/test_c_api"
"$out/tests/unit"
done_what="unit and c_api"
if [ $fuzz = 1 ]; then
   "$out/fuzz/fuzz_replay" fuzz/corpus fuzz/regressions
   done_what="unit, c_api and fuzz replay"
fi
echo "sanitize: $done_what passed ($((SECONDS - start)) s)"
