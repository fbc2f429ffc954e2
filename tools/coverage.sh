#!/usr/bin/env bash
# make coverage: line coverage of the implementation part of mulle_dlmalloc.hpp (the lines
# after `#if defined(MULLE_DLMALLOC_IMPLEMENTATION) && !defined(...INCLUDED)`) by what
# `make test` runs: tests/unit, tests/test_c_api, the suites without the small-object tier
# (make test-notier) and, where fuzz/ exists, the replay of the fuzz corpus and regressions. Clang's source-based coverage (llvm-profdata and llvm-cov,
# Debian package llvm), built into $BUILD/coverage/. Lines preprocessed out (Windows,
# NO_OS, checks level 2, ...) do not count.
# Prints every line no test reaches as src/PART:LINE (also in $BUILD/coverage/unreached.txt),
# writes an HTML report to $BUILD/coverage/html/, and fails below COVERAGE_MIN percent
# (default 95). Forked children (the default-handler tests) write their profiles before they
# end (MULLE_TEST_COVERAGE in tests/test_errors.cpp). Knobs: BUILD, COVERAGE_MIN, JOBS,
# FUZZ_REPLAY=0 (measure the suites alone).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
out=${BUILD:-build}/coverage
min=${COVERAGE_MIN:-95}

tool() {   # the unversioned LLVM tool, or a versioned one
   local t
   for t in "$1" "$1"-{19,18,17,16,15,14,13}; do
      command -v "$t" >/dev/null && { echo "$t"; return; }
   done
   echo "coverage: $1 not found (apt-get install llvm)" >&2; exit 1
}
profdata=$(tool llvm-profdata)
cov=$(tool llvm-cov)

targets=("$out/tests/unit" "$out/tests/test_c_api")
fuzz=0
if [ "${FUZZ_REPLAY:-1}" != 0 ] && [ -f fuzz/fuzz_mspace.cpp ]; then
   fuzz=1
   targets+=("$out/fuzz/fuzz_replay")
fi
flags="-fprofile-instr-generate -fcoverage-mapping -DMULLE_TEST_COVERAGE=1"
make --no-print-directory -j"${JOBS:-$(nproc)}" "${targets[@]}" \
   BUILD="$out" CC="clang $flags" CXX="clang++ $flags" OPT="-O0 -g"
make --no-print-directory -j"${JOBS:-$(nproc)}" "$out/notier/tests/unit" \
   BUILD="$out/notier" CC="clang $flags" CXX="clang++ $flags" OPT="-O0 -g -DMULLE_DLMALLOC_TIER=0"
# llvm-cov reads the header as it is on disk: it must be the one the tests were built from
header_sum=$(cksum < mulle_dlmalloc.hpp)
[ "$out/tests/impl.o" -nt mulle_dlmalloc.hpp ] ||
   { echo "coverage: mulle_dlmalloc.hpp is newer than the build; run again"; exit 1; }

rm -rf "$out/profiles" "$out/html"
mkdir -p "$out/profiles"
export LLVM_PROFILE_FILE="$PWD/$out/profiles/suite-%p.profraw"
"$out/tests/test_c_api" > "$out/test_c_api.log" 2>&1 || { cat "$out/test_c_api.log"; exit 1; }
"$out/tests/unit" > "$out/unit.log" 2>&1 || { tail -40 "$out/unit.log"; exit 1; }
MULLE_TEST_SCALE=${MULLE_TEST_SCALE:-10} "$out/notier/tests/unit" > "$out/notier.log" 2>&1 || { tail -40 "$out/notier.log"; exit 1; }
objects=("$out/tests/unit" -object "$out/tests/test_c_api" -object "$out/notier/tests/unit")
if [ $fuzz = 1 ]; then
   # one process per input and no fork, so that each writes its profile
   export LLVM_PROFILE_FILE="$PWD/$out/profiles/fuzz-%p.profraw"
   for f in fuzz/corpus/* fuzz/regressions/*; do
      case $(basename "$f") in README*) continue;; esac
      "$out/fuzz/fuzz_replay" --no-fork "$f" >> "$out/fuzz_replay.log" 2>&1 ||
         { echo "coverage: the fuzz replay of $f failed"; tail -5 "$out/fuzz_replay.log"; exit 1; }
   done
   objects+=(-object "$out/fuzz/fuzz_replay")
fi

"$profdata" merge -sparse "$out"/profiles/suite-*.profraw -o "$out/suites.profdata"
"$profdata" merge -sparse "$out"/profiles/*.profraw -o "$out/all.profdata"
"$cov" show -show-instantiations=false -instr-profile="$out/suites.profdata" \
   "$out/tests/unit" -object "$out/tests/test_c_api" -object "$out/notier/tests/unit" mulle_dlmalloc.hpp \
   > "$out/suites.txt" 2> "$out/llvm-cov.log"
"$cov" show -show-instantiations=false -instr-profile="$out/all.profdata" "${objects[@]}" \
   mulle_dlmalloc.hpp > "$out/all.txt" 2>> "$out/llvm-cov.log"
"$cov" show -format=html -output-dir="$out/html" -instr-profile="$out/all.profdata" \
   "${objects[@]}" mulle_dlmalloc.hpp 2>> "$out/llvm-cov.log"

# The lines of the implementation part: executable ones have a count; each header line maps
# back to its part through the `// ---- src/PART ----` banners single_include_gen.py writes.
summarize() {   # summarize LISTING [UNREACHED-FILE]: prints the unreached lines, then the figure
   python3 - "$@" <<'PY'
import re, sys
listing = sys.argv[1]
unreached_file = sys.argv[2] if len(sys.argv) > 2 else None
marker = "#if defined(MULLE_DLMALLOC_IMPLEMENTATION) && !defined(MULLE_DLMALLOC_IMPLEMENTATION_INCLUDED)"
row = re.compile(r"^\s*(\d+)\|\s*([0-9.]+[kMGTPE]?)?\|(.*)$")
banner = re.compile(r"^// ---- (\S+) -+$")
part, part_start, impl = None, 0, False
total, missed = 0, []
for line in open(listing, encoding="utf-8", errors="replace"):
    m = row.match(line.rstrip("\n"))
    if not m:
        continue
    n, count, text = int(m.group(1)), m.group(2), m.group(3)
    b = banner.match(text)
    if b:
        part, part_start = b.group(1), n
        continue
    if not impl:
        impl = text.strip() == marker
        continue
    if count is None:
        continue
    total += 1
    if count == "0":
        missed.append(f"{part}:{n - part_start}: {text.strip()}")
if total == 0:
    sys.exit("coverage: no implementation lines found in " + listing)
hit = total - len(missed)
if unreached_file:
    with open(unreached_file, "w") as f:
        f.write("".join(m + "\n" for m in missed))
    for m in missed:
        print("  unreached " + m)
print(f"implementation lines {100.0 * hit / total:.1f}% ({hit} of {total})")
PY
}

summary=$(summarize "$out/all.txt" "$out/unreached.txt")
echo "$summary" | grep '^  unreached' || true
[ "$(cksum < mulle_dlmalloc.hpp)" = "$header_sum" ] ||
   { echo "coverage: mulle_dlmalloc.hpp changed during the run; run again"; exit 1; }
if [ $fuzz = 1 ]; then
   echo "coverage: by the suites alone, $(summarize "$out/suites.txt" | tail -1)"
fi
figure=$(echo "$summary" | tail -1)
pct=$(echo "$figure" | sed -E 's/.* ([0-9.]+)% .*/\1/')
echo "coverage: unreached lines in $out/unreached.txt, report in $out/html/index.html ($((SECONDS - start)) s)"
if ! python3 -c "import sys; sys.exit(0 if float('$pct') >= float('$min') else 1)"; then
   echo "coverage: $figure, below the ${min}% required"
   exit 1
fi
echo "coverage: $figure"
