# mulle_dlmalloc — `make` lists the targets.

CC       ?= cc
CXX      ?= g++
.DEFAULT_GOAL := help
BUILD    := build
OPT      ?= -O2 -g
WARN     := -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror
CXXSTD   ?= -std=c++17
CXXFLAGS_ALL = $(OPT) $(CXXSTD) $(WARN) -I. $(EXTRA_CXXFLAGS)
CFLAGS_C99   = $(OPT) -std=c99 -pedantic -Wall -Wextra -Werror -I. $(EXTRA_CFLAGS)
# Links the C tests and C examples with the implementation TU: a C linker, which proves
# that the implementation needs no C++ runtime. (The sanitizer build links with clang++:
# UBSan's checks of calls through function pointers need C++ type information.)
CLINK       ?= $(CC)
DOCTEST_HDR := /usr/include/doctest/doctest.h

HEADER    := mulle_dlmalloc.hpp
PARTS     := $(wildcard src/*)
TEST_SRCS := $(wildcard tests/test_*.cpp)
TEST_OBJS := $(patsubst tests/%.cpp,$(BUILD)/tests/%.o,$(TEST_SRCS))
EX_C      := $(wildcard examples/*.c)
EX_CXX    := $(filter-out examples/mulle_dlmalloc_impl.cpp,$(wildcard examples/*.cpp))
EX_BINS   := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EX_C)) \
             $(patsubst examples/%.cpp,$(BUILD)/examples/%,$(EX_CXX))

# Everything CI's extra checks use, from Debian's packages (g++-multilib is left out: it
# conflicts with the ARM cross compiler, see test-m32).
CI_PACKAGES := doctest-dev clang libclang-rt-14-dev llvm cmake pkg-config valgrind cppcheck clang-tidy \
               lib32stdc++-12-dev libc6-dev-i386 lib32gcc-12-dev g++-arm-linux-gnueabihf qemu-user \
               gcc-arm-none-eabi gcc-riscv64-unknown-elf sqlite3 git libpython3.11-testsuite \
               g++-mingw-w64-x86-64 wine64 qemu-system-arm qemu-system-misc
ci-deps:
	@missing=$$(for p in $(CI_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing" $$missing; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	else echo "all CI packages present"; fi

.PHONY: boards test-windows preload help c-runtime test test-notier test-persist test-crash test-crash-long test-relative unit examples single_include check-single-include clean doctest header-matrix ci-deps test-m32 test-arm firmware size bench lint fuzz fuzz-checks2 fuzz-replay test-clang test-noexcept test-shared sanitize valgrind coverage test-checks2

help:
	@echo "make test                  build and run every test suite (installs doctest-dev and clang if missing)"
	@echo "make examples              build and run every example, compare with its .expected output"
	@echo "make single_include        regenerate mulle_dlmalloc.hpp from src/"
	@echo "make check-single-include  fail if mulle_dlmalloc.hpp differs from what src/ makes"
	@echo "make header-matrix         compile the header as C99 and C++11/14/17/20 with gcc and clang"
	@echo "make bench                 run the allocator benchmark against its peers, dlmalloc 2.8.6 among them and the threaded family (installs them; ~4 min)"
	@echo "make size                  allocator code size for Cortex-M0+, Cortex-M4F, rv32imac, x86-64"
	@echo "make test-m32 / test-arm   the suites as 32-bit x86 code and as ARM code under qemu"
	@echo "make test-shared           MSPACE_LOCKED under load: threads (also under TSan) and processes"
	@echo "make preload               the header as the process's malloc: g++, python3, sqlite3, git under LD_PRELOAD"
	@echo "make test-windows          the suites, the C test and the examples built by mingw-w64, run under wine"
	@echo "make boards                a firmware test of the allocator on emulated Cortex-M3, Cortex-M4F and rv32 boards"
	@echo "make test-checks2          the suites at MULLE_DLMALLOC_CHECKS=2"
	@echo "make test-notier           the suites without the small-object tier (in make test)"
	@echo "make test-relative         the suites with relative links (MULLE_DLMALLOC_RELATIVE=1)"
	@echo "make test-persist          a heap file reopened by fresh processes at other addresses (in make test)"
	@echo "make test-crash            2000 kill -9 of a process working on a heap file, each attach rebuilds it (in make test)"
	@echo "make test-crash-long       the same with 100,000 kills"
	@echo "make test-clang            the suites built by clang, C++20"
	@echo "make test-noexcept         the C++ face without exceptions and RTTI (gcc and clang)"
	@echo "make fuzz [FUZZ_SECONDS=60] run the libFuzzer target (clang); fuzz-checks2 at checks level 2"
	@echo "make fuzz-replay           replay the seed corpus and every regression input (part of make test)"
	@echo "make sanitize              the suites and fuzz replay under ASan + UBSan (clang; ~1 min)"
	@echo "make valgrind              the suites and fuzz replay under valgrind memcheck (~1.5 min)"
	@echo "make coverage              implementation line coverage by make test (llvm-cov); fails below 95%"
	@echo "make lint                  cppcheck and clang-tidy on the implementation"
	@echo "make ci-deps               install every toolchain CI's extra checks use (Debian packages)"
	@echo "make clean                 remove $(BUILD)/"

single_include: $(HEADER)

$(HEADER): single_include_gen.py $(PARTS)
	python3 single_include_gen.py

check-single-include:
	python3 single_include_gen.py --check

# The tests need doctest (Debian's doctest-dev) and clang beside gcc; install what is
# missing when root, else print the command.
doctest:
	@missing=""; \
	[ -f $(DOCTEST_HDR) ] || missing="$$missing doctest-dev"; \
	command -v clang >/dev/null || missing="$$missing clang"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	      { apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; } || exit 1; \
	  else \
	    echo "missing:$$missing -- run  sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

$(BUILD)/tests/%.o: tests/%.cpp $(HEADER) tests/*.h | doctest
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -c $< -o $@

$(BUILD)/tests/main.o: tests/main.cpp | doctest
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -c $< -o $@

$(BUILD)/tests/impl.o: tests/impl.cpp $(HEADER)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -c $< -o $@

$(BUILD)/tests/unit: $(BUILD)/tests/main.o $(BUILD)/tests/impl.o $(TEST_OBJS)
	$(CXX) $(OPT) $^ -o $@ -pthread

# The C face: a C99 file, compiled as C, linked with the one C++ implementation TU.
$(BUILD)/tests/test_c_api: tests/test_c_api.c $(HEADER) $(BUILD)/tests/impl.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_C99) -c tests/test_c_api.c -o $(BUILD)/tests/test_c_api.o
	$(CLINK) $(OPT) $(BUILD)/tests/test_c_api.o $(BUILD)/tests/impl.o -o $@

test: doctest check-single-include header-matrix c-runtime unit test-notier test-persist test-crash fuzz-replay
	python3 tests/readme_check.py

# The implementation TU, built with the compiler's default flags (-O0 and -O2; by default,
# with Valgrind support, at checks level 2, with relative links), needs nothing from the
# C++ runtime: every symbol it leaves undefined is one of the C library symbols the README
# lists, so a C program links it with a C linker (the C tests and C examples are linked
# by $$(CC)).
C_RUNTIME_CONFIGS := default MULLE_DLMALLOC_VALGRIND=1 MULLE_DLMALLOC_CHECKS=2 MULLE_DLMALLOC_RELATIVE=1
c-runtime: $(HEADER)
	@mkdir -p $(BUILD)/c-runtime
	@for cfg in $(C_RUNTIME_CONFIGS); do for opt in -O0 -O2; do \
	  def=$$( [ $$cfg = default ] || echo -D$$cfg ); obj=$(BUILD)/c-runtime/impl-$$cfg$$opt; \
	  $(CXX) $$opt $$def -c -x c++ -DMULLE_DLMALLOC_IMPLEMENTATION $(HEADER) -o $$obj.o || exit 1; \
	  nm -u $$obj.o > $$obj.txt || exit 1; \
	  python3 tests/c_runtime_check.py README.md $$obj.txt || exit 1; \
	done; done

# Persistent heaps across processes: fresh processes reopen a heap file at other addresses
# (relative links), and the refusals. The C tool links with a relative and an absolute build.
$(BUILD)/persist/impl_%.o: tests/impl.cpp $(HEADER)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -DMULLE_DLMALLOC_RELATIVE=$(if $(filter relative,$*),1,0) -c $< -o $@
$(BUILD)/persist/persist_tool_%: tests/persist/persist_tool.c $(BUILD)/persist/impl_%.o
	$(CC) $(CFLAGS_C99) -c $< -o $@.o
	$(CLINK) $(OPT) $@.o $(BUILD)/persist/impl_$*.o -o $@
.SECONDARY: $(BUILD)/persist/impl_relative.o $(BUILD)/persist/impl_absolute.o
test-persist: $(BUILD)/persist/persist_tool_relative $(BUILD)/persist/persist_tool_absolute
	bash tests/persist/run.sh $^

# Heaps that survive kill -9 (tests/crash): a child working on a heap in a file is killed
# at random moments, and every attach after must rebuild a sound heap with every committed
# block (CRASH_KILLS kills, absolute links; a quarter of them again with relative links);
# then three processes share a locked heap and one of them is killed at a time, a quarter
# as often: none of the others may hang. test-crash-long runs 100,000 and 10,000. First,
# step_crash stops 30 operations after each of their instructions, and takeover_gap stops
# a locked heap's mallocs, frees and reallocs of chunks and slots after each of their
# instructions and runs calls before the takeover's recovery (x86-64 Linux; once more with
# relative links).
CRASH_KILLS ?= 2000
$(BUILD)/crash/kill_campaign_%: tests/crash/kill_campaign.cpp $(HEADER)
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 $(OPT) $(WARN) -DMULLE_DLMALLOC_RELATIVE=$(if $(filter relative,$*),1,0) -I. $< -o $@
$(BUILD)/crash/step_crash $(BUILD)/crash/takeover_gap: $(BUILD)/crash/%: tests/crash/%.cpp $(HEADER)
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 $(OPT) $(WARN) -I. $< -o $@
$(BUILD)/crash/takeover_gap_relative: tests/crash/takeover_gap.cpp $(HEADER)
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 $(OPT) $(WARN) -DMULLE_DLMALLOC_RELATIVE=1 -I. $< -o $@
test-crash: $(BUILD)/crash/kill_campaign_absolute $(BUILD)/crash/kill_campaign_relative $(BUILD)/crash/step_crash $(BUILD)/crash/takeover_gap $(BUILD)/crash/takeover_gap_relative
	$(BUILD)/crash/step_crash
	$(BUILD)/crash/takeover_gap
	$(BUILD)/crash/takeover_gap_relative 1
	$(BUILD)/crash/kill_campaign_absolute $(CRASH_KILLS) 1
	$(BUILD)/crash/kill_campaign_relative $$(( $(CRASH_KILLS) / 4 )) 2
	$(BUILD)/crash/kill_campaign_absolute locked $$(( $(CRASH_KILLS) / 4 )) 3
test-crash-long: $(BUILD)/crash/kill_campaign_absolute
	$(BUILD)/crash/kill_campaign_absolute 100000 3
	$(BUILD)/crash/kill_campaign_absolute locked 10000 4

# The suites with relative links (MULLE_DLMALLOC_RELATIVE=1): every test, and the
# persistent ones at another address.
test-relative:
	$(MAKE) unit BUILD=$(BUILD)/relative OPT="$(OPT) -DMULLE_DLMALLOC_RELATIVE=1"

# The suites without the small-object tier (MULLE_DLMALLOC_TIER=0): every request a chunk,
# as in firmware builds, so the tests of chunk layouts, bins and tags run at checks level 1
# too (the default build skips those that need small chunks).
# (it also purges by itself eagerly: free chunks of 64 KiB after 64 frees, so that the
# random test runs against purges all the time)
test-notier:
	$(MAKE) unit BUILD=$(BUILD)/notier OPT="$(OPT) -DMULLE_DLMALLOC_TIER=0 -DMULLE_DLMALLOC_PURGE_MIN=65536 -DMULLE_DLMALLOC_PURGE_DELAY=64" MULLE_TEST_SCALE=$(or $(MULLE_TEST_SCALE),10)

# The suites at checks level 2 (canaries, poison, a whole-heap check on every call: slow,
# so the random test is scaled down). Level 0 is compiled by header-matrix; the suites,
# which commit misuse on purpose, need level 1 or 2.
test-checks2:
	$(MAKE) unit BUILD=$(BUILD)/checks2 OPT="$(OPT) -DMULLE_DLMALLOC_CHECKS=2" MULLE_TEST_SCALE=$(or $(MULLE_TEST_SCALE),100)

# The C++ face: the suites built by clang (C++20), and a program built without exceptions
# and RTTI by both compilers, whose failed allocations must abort through the handler.
test-clang:
	$(MAKE) unit BUILD=$(BUILD)/clang CC=clang CXX=clang++ CXXSTD=-std=c++20
test-noexcept: $(HEADER)
	@mkdir -p $(BUILD)/noexcept
	@for cxx in g++ clang++; do \
	  $$cxx -std=c++17 -fno-exceptions -fno-rtti $(WARN) -I. tests/noexcept/noexcept.cpp -o $(BUILD)/noexcept/$$cxx || exit 1; \
	  echo "$$cxx -fno-exceptions -fno-rtti:"; $(BUILD)/noexcept/$$cxx || exit 1; \
	done

# Builds and runs the suites with the current CC/CXX; RUN prefixes the binaries (qemu).
unit: $(BUILD)/tests/unit $(BUILD)/tests/test_c_api | doctest
	$(RUN) $(BUILD)/tests/test_c_api
	$(RUN) $(BUILD)/tests/unit

# ---- 32-bit, cross and freestanding (CI; `make ci-deps` installs the toolchains) ----
# Debian's g++-multilib conflicts with its ARM cross compiler, so -m32 uses the 32-bit
# libraries directly and borrows the architecture-independent asm/ headers.
M32 := -m32 -idirafter /usr/include/x86_64-linux-gnu
# A kernel without 32-bit support (no IA32 emulation) runs the binaries under qemu-i386.
test-m32:
	@mkdir -p $(BUILD)/m32
	@printf 'int main(void) { return 0; }\n' > $(BUILD)/m32/probe.c
	@gcc $(M32) $(BUILD)/m32/probe.c -o $(BUILD)/m32/probe
	@if $(BUILD)/m32/probe 2>/dev/null; then run=""; else echo "this kernel runs no 32-bit x86 code: qemu-i386"; run="qemu-i386 -L /"; fi; \
	$(MAKE) unit BUILD=$(BUILD)/m32 CC="gcc $(M32)" CXX="g++ $(M32)" RUN="$$run" MULLE_TEST_SCALE=$(or $(MULLE_TEST_SCALE),1)
test-arm:
	$(MAKE) unit BUILD=$(BUILD)/arm CC=arm-linux-gnueabihf-gcc CXX=arm-linux-gnueabihf-g++ \
	  RUN="qemu-arm -L /usr/arm-linux-gnueabihf" MULLE_TEST_SCALE=$(or $(MULLE_TEST_SCALE),10)

# Firmware over a static buffer, linked with -nostdlib, for three bare-metal targets;
# fails if it needs more than memcpy/memmove/memset, or if the Cortex-M4 allocator text
# is over its budget (3 KiB minimal, 6 KiB whole API). `make size` prints the table.
FW_M0  := m0plus arm-none-eabi- "-mcpu=cortex-m0plus -mthumb"
FW_M4  := m4f arm-none-eabi- "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
FW_RV  := rv32imac riscv64-unknown-elf- "-march=rv32imac -mabi=ilp32"
M4_MIN_TEXT  := 3072
M4_FULL_TEXT := 6144
firmware size: $(HEADER)
	@printf '%-12s %18s %18s\n' target "minimal text/data" "full API text/data"
	@for t in m0plus m4f rv32imac; do \
	  case $$t in \
	    m0plus) set -- $(FW_M0); emu="";; \
	    m4f) set -- $(FW_M4); emu="";; \
	    rv32imac) set -- $(FW_RV); emu="-m elf32lriscv";; \
	  esac; \
	  min=$$(LDEMU="$$emu" BUILD=$(BUILD) bash embedded/size.sh "$$1" "$$2" "$$3" 0) || exit 1; \
	  full=$$(LDEMU="$$emu" BUILD=$(BUILD) bash embedded/size.sh "$$1" "$$2" "$$3" 1) || exit 1; \
	  printf '%-12s %18s %18s\n' $$t "$$(echo $$min | tr ' ' /)" "$$(echo $$full | tr ' ' /)"; \
	  if [ $$t = m4f ] && { [ $${min%% *} -gt $(M4_MIN_TEXT) ] || [ $${full%% *} -gt $(M4_FULL_TEXT) ]; }; then \
	    echo "Cortex-M4 over budget: minimal text at most $(M4_MIN_TEXT), whole API at most $(M4_FULL_TEXT)" >&2; exit 1; \
	  fi; \
	done
	@min=$$(BUILD=$(BUILD) bash embedded/size.sh x86-64 "" "" 0); full=$$(BUILD=$(BUILD) bash embedded/size.sh x86-64 "" "" 1); \
	  printf '%-12s %18s %18s\n' x86-64 "$$(echo $$min | tr ' ' /)" "$$(echo $$full | tr ' ' /)"

# The declarations must be valid C99, the whole header valid C++11..20, warning-free.
header-matrix: $(HEADER) | doctest
	@mkdir -p $(BUILD)
	@for cc in gcc clang; do \
	  echo "  $$cc -std=c99 (declarations)"; \
	  $$cc -std=c99 -pedantic $(WARN) -fsyntax-only -x c $(HEADER) || exit 1; \
	done
	@for cxx in g++ clang++; do for std in 11 14 17 20; do \
	  echo "  $$cxx -std=c++$$std (declarations and implementation)"; \
	  $$cxx -std=c++$$std $(WARN) -Wsign-conversion -fsyntax-only -x c++ -DMULLE_DLMALLOC_IMPLEMENTATION $(HEADER) || exit 1; \
	done; done
	@for cxx in g++ clang++; do for checks in 0 2; do for extra in "" "-fno-exceptions -fno-rtti" "-DMULLE_DLMALLOC_NO_OS=1" "-DMULLE_DLMALLOC_VALGRIND=1" "-DMULLE_DLMALLOC_RELATIVE=1"; do \
	  echo "  $$cxx -std=c++17 MULLE_DLMALLOC_CHECKS=$$checks $$extra"; \
	  $$cxx -std=c++17 $(WARN) -Wsign-conversion $$extra -DMULLE_DLMALLOC_CHECKS=$$checks -fsyntax-only -x c++ -DMULLE_DLMALLOC_IMPLEMENTATION $(HEADER) || exit 1; \
	done; done; done
	@for align in 32 256 4096; do \
	  echo "  g++ -std=c++17 MULLE_DLMALLOC_ALIGNMENT=$$align"; \
	  g++ -std=c++17 $(WARN) -Wsign-conversion -DMULLE_DLMALLOC_ALIGNMENT=$$align -fsyntax-only -x c++ -DMULLE_DLMALLOC_IMPLEMENTATION $(HEADER) || exit 1; \
	done
	@printf '#define MULLE_DLMALLOC_IMPLEMENTATION\n#include "mulle_dlmalloc.hpp"\n' > $(BUILD)/c_impl_error.c
	@if gcc -std=c99 -I. -fsyntax-only $(BUILD)/c_impl_error.c 2>/dev/null; then \
	  echo "a C TU defining MULLE_DLMALLOC_IMPLEMENTATION must fail"; exit 1; fi
	@if g++ -std=c++17 -DMULLE_DLMALLOC_CHECKS=2 -DMULLE_DLMALLOC_TIER=1 -fsyntax-only -x c++ \
	    -DMULLE_DLMALLOC_IMPLEMENTATION $(HEADER) 2>$(BUILD)/tier_checks2.err || \
	  ! grep -q "MULLE_DLMALLOC_TIER=1 needs MULLE_DLMALLOC_CHECKS 0 or 1" $(BUILD)/tier_checks2.err; then \
	  echo "the tier at checks level 2 must fail to build, naming why"; exit 1; fi

$(BUILD)/examples/mulle_dlmalloc_impl.o: examples/mulle_dlmalloc_impl.cpp $(HEADER)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -c $< -o $@

$(BUILD)/examples/%: examples/%.c $(HEADER) $(BUILD)/examples/mulle_dlmalloc_impl.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_C99) -c $< -o $@.o
	$(CLINK) $(OPT) $@.o $(BUILD)/examples/mulle_dlmalloc_impl.o -o $@

$(BUILD)/examples/%: examples/%.cpp $(HEADER)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) $< -o $@

# Each example runs; where examples/NAME.expected exists its stdout must match it exactly.
# persistent runs twice over one heap file: the second run reopens the first one's heap.
# heap_picture draws its heap: the picture must be the one the README shows.
examples: $(EX_BINS)
	@for bin in $(EX_BINS); do \
	  name=$$(basename $$bin); \
	  echo "== $$name"; \
	  if [ $$name = persistent ]; then \
	    rm -f $$bin.heap; { $$bin $$bin.heap && $$bin $$bin.heap; } > $$bin.out || { echo "$$name exited with $$?"; exit 1; }; \
	  elif [ $$name = heap_picture ]; then \
	    $$bin $$bin.svg > $$bin.out || { echo "$$name exited with $$?"; exit 1; }; \
	    cmp -s examples/heap_picture.svg $$bin.svg || { echo "$$name: $$bin.svg differs from examples/heap_picture.svg"; exit 1; }; \
	    echo "   picture matches examples/heap_picture.svg"; \
	  else $$bin > $$bin.out || { echo "$$name exited with $$?"; exit 1; }; fi; \
	  if [ -f examples/$$name.expected ]; then \
	    diff -u examples/$$name.expected $$bin.out || { echo "$$name: output differs from examples/$$name.expected"; exit 1; }; \
	    echo "   output matches examples/$$name.expected"; \
	  else cat $$bin.out; fi; \
	done

# MSPACE_LOCKED under load: threads of one process, processes sharing a mapping; and the
# threads again under ThreadSanitizer.
# Firmware that runs: a randomised test of the allocator, built without an OS for
# Cortex-M3, Cortex-M4F and rv32imac and run on emulated boards (embedded/boards/run.sh).
boards: $(HEADER)
	@for p in qemu-system-arm qemu-system-riscv32 arm-none-eabi-gcc riscv64-unknown-elf-gcc; do \
	  command -v $$p >/dev/null || { $(MAKE) ci-deps; break; }; done
	BUILD=$(abspath $(BUILD)) bash embedded/boards/run.sh

# Windows: the suites, the C test, the examples and the CMake consumer (its toolchain file:
# tests/cmake/mingw-w64.cmake), cross-compiled by mingw-w64 (linked statically) and run under wine, so that the VirtualAlloc layer (reserve, commit, decommit,
# MEM_RESET) and the lock run as they do on Windows. Left out: what needs POSIX mappings (the
# persistence suite's files and fork, fork_shared, persistent) and Linux's resident-set
# checks (tests/test_trim.cpp's, compiled for Linux only). Windows writes "\r\n": the
# outputs are compared without "\r".
WIN_CXX      := x86_64-w64-mingw32-g++-posix
WIN_CC       := x86_64-w64-mingw32-gcc-posix
WINE         ?= $(firstword $(wildcard /usr/bin/wine64 /usr/lib/wine/wine64) wine64)
WIN          := $(BUILD)/windows
WIN_TESTS    := $(filter-out tests/test_persist.cpp,$(TEST_SRCS))
WIN_EXAMPLES := $(filter-out examples/fork_shared.c examples/persistent.cpp,$(EX_C) $(EX_CXX))
WIN_RUN       = WINEPREFIX=$(abspath $(WIN))/prefix WINEDEBUG=-all tools/wine_run.sh $(WINE)
test-windows: $(HEADER)
	@command -v $(WIN_CXX) >/dev/null && [ -x "$$(command -v $(WINE) || echo $(WINE))" ] || $(MAKE) ci-deps
	@mkdir -p $(WIN)/include $(WIN)/tests $(WIN)/examples
	@ln -sfn /usr/include/doctest $(WIN)/include/doctest
	$(WIN_CXX) $(CXXFLAGS_ALL) -I$(WIN)/include -static tests/main.cpp tests/impl.cpp $(WIN_TESTS) -o $(WIN)/tests/unit.exe
	$(WIN_CXX) $(CXXFLAGS_ALL) -c tests/impl.cpp -o $(WIN)/tests/impl.o
	$(WIN_CC) $(CFLAGS_C99) -c tests/test_c_api.c -o $(WIN)/tests/test_c_api.o
	$(WIN_CC) $(OPT) -static $(WIN)/tests/test_c_api.o $(WIN)/tests/impl.o -o $(WIN)/tests/test_c_api.exe
	$(WIN_RUN) $(WIN)/tests/unit.exe
	$(WIN_RUN) $(WIN)/tests/test_c_api.exe
	@for src in $(WIN_EXAMPLES); do \
	  name=$$(basename $${src%.*}); bin=$(WIN)/examples/$$name.exe; \
	  case $$src in \
	    *.c) $(WIN_CC) $(CFLAGS_C99) -c $$src -o $$bin.o && $(WIN_CC) $(OPT) -static $$bin.o $(WIN)/tests/impl.o -o $$bin ;; \
	    *) $(WIN_CXX) $(CXXFLAGS_ALL) -static $$src -o $$bin ;; \
	  esac || exit 1; \
	  if [ $$name = heap_picture ]; then $(WIN_RUN) $$bin $$bin.svg > $$bin.out || exit 1; \
	    tr -d '\r' < $$bin.svg | cmp -s examples/heap_picture.svg - || { echo "windows: $$name: the picture differs"; exit 1; }; \
	  else $(WIN_RUN) $$bin > $$bin.out || { echo "windows: $$name exited with $$?"; exit 1; }; fi; \
	  if [ -f examples/$$name.expected ]; then \
	    tr -d '\r' < $$bin.out | diff -u examples/$$name.expected - || { echo "windows: $$name: output differs"; exit 1; }; \
	  fi; echo "windows: example $$name: output as on Linux"; \
	done
	cmake -S tests/cmake/add_subdirectory -B $(WIN)/cmake -DCMAKE_TOOLCHAIN_FILE=$(abspath tests/cmake/mingw-w64.cmake) >/dev/null
	cmake --build $(WIN)/cmake >/dev/null
	$(WIN_RUN) $(WIN)/cmake/consumer.exe
	@echo "windows: the suites, the C test, $(words $(WIN_EXAMPLES)) examples and the CMake consumer ran under wine"

# The header as the process's malloc (MULLE_DLMALLOC_MALLOC=1), a shared library given to
# real programs with LD_PRELOAD: their output must be glibc's, their heaps sound at exit.
preload: $(HEADER)
	@for p in sqlite3 git; do command -v $$p >/dev/null || { $(MAKE) ci-deps; break; }; done
	@python3 -c 'import test.test_json' 2>/dev/null || /usr/bin/python3 -c 'import test.test_json' 2>/dev/null || $(MAKE) ci-deps
	BUILD=$(BUILD) bash tools/preload.sh

test-shared: $(HEADER)
	@mkdir -p $(BUILD)/shared
	$(CXX) $(OPT) -std=c++17 $(WARN) -I. tests/shared/shared_heap.cpp -o $(BUILD)/shared/shared_heap -pthread
	$(BUILD)/shared/shared_heap
	$(CXX) $(OPT) -std=c++17 $(WARN) -DMULLE_DLMALLOC_BIAS_AFTER=8 -I. tests/shared/shared_heap.cpp -o $(BUILD)/shared/shared_heap_bias8 -pthread
	$(BUILD)/shared/shared_heap_bias8
	$(CXX) -fsyntax-only -std=c++17 $(WARN) -DMULLE_DLMALLOC_CHECKS=2 -I. tests/shared/shared_heap.cpp
	$(CXX) -fsyntax-only -std=c++17 $(WARN) -DMULLE_DLMALLOC_TIER=0 -I. tests/shared/shared_heap.cpp
	clang++ -O1 -g -std=c++17 -fsanitize=thread -DSHARED_NO_FORK -I. tests/shared/shared_heap.cpp -o $(BUILD)/shared/shared_tsan -pthread
	TSAN_OPTIONS=halt_on_error=1 $(BUILD)/shared/shared_tsan 4
	clang++ -O1 -g -std=c++17 -fsanitize=thread -DMULLE_DLMALLOC_CHECKS=2 -I. tests/shared/create_race.cpp -o $(BUILD)/shared/create_race_tsan -pthread
	TSAN_OPTIONS=halt_on_error=1 $(BUILD)/shared/create_race_tsan
	clang++ -O1 -g -std=c++17 -fsanitize=thread -DFUZZ_REPLAY_MAIN -I. fuzz/fuzz_mspace.cpp -o $(BUILD)/shared/fuzz_replay_tsan -pthread
	TSAN_OPTIONS=halt_on_error=1 $(BUILD)/shared/fuzz_replay_tsan fuzz/corpus fuzz/regressions

# ---- fuzzing (clang's libFuzzer); the replay of corpus and regressions needs only $(CXX) ----
FUZZ_SECONDS ?= 60
FUZZ_CXX     ?= clang++
# (the purge by itself made eager, so that the small heaps of the fuzzer purge often)
FUZZ_FLAGS   := -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I. \
                -DMULLE_DLMALLOC_PURGE_MIN=8192 -DMULLE_DLMALLOC_PURGE_DELAY=4 -pthread

$(BUILD)/fuzz/fuzz_mspace: fuzz/fuzz_mspace.cpp $(HEADER)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) $< -o $@

$(BUILD)/fuzz/fuzz_mspace_checks2: fuzz/fuzz_mspace.cpp $(HEADER)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -DMULLE_DLMALLOC_CHECKS=2 $< -o $@

$(BUILD)/fuzz/fuzz_replay: fuzz/fuzz_mspace.cpp $(HEADER)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -DFUZZ_REPLAY_MAIN $< -o $@ -pthread

# New inputs go to $(BUILD)/fuzz/corpus (not committed); the committed seeds and
# regressions are read only. A crash lands in $(BUILD)/fuzz/artifacts/ and fails make.
fuzz: $(BUILD)/fuzz/fuzz_mspace
	@mkdir -p $(BUILD)/fuzz/corpus $(BUILD)/fuzz/artifacts
	$< -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	  -artifact_prefix=$(BUILD)/fuzz/artifacts/ $(BUILD)/fuzz/corpus fuzz/corpus fuzz/regressions

fuzz-checks2: $(BUILD)/fuzz/fuzz_mspace_checks2
	@mkdir -p $(BUILD)/fuzz/corpus-checks2 $(BUILD)/fuzz/artifacts
	$< -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	  -artifact_prefix=$(BUILD)/fuzz/artifacts/checks2- $(BUILD)/fuzz/corpus-checks2 fuzz/corpus fuzz/regressions

fuzz-replay: $(BUILD)/fuzz/fuzz_replay
	python3 fuzz/make_corpus.py --check
	$(RUN) $(BUILD)/fuzz/fuzz_replay fuzz/corpus fuzz/regressions

# The suites and the fuzz replay under ASan + UBSan, under memcheck (the library built
# with MULLE_DLMALLOC_VALGRIND=1), and the implementation's line coverage (llvm-cov).
sanitize:
	BUILD=$(BUILD) bash tools/sanitize.sh
valgrind:
	BUILD=$(BUILD) bash tools/valgrind.sh
coverage:
	BUILD=$(BUILD) bash tools/coverage.sh

# cppcheck and clang-tidy on the implementation, at checks levels 1 and 2, warning-free.
# One suppression: incorrectStringBooleanError flags the house style of assertion messages,
# MULLE_DLMALLOC_ASSERT(condition && "what must hold"), whose literal is true on purpose.
TIDY_CHECKS := -*,bugprone-*,clang-analyzer-*,performance-*,portability-*,-bugprone-easily-swappable-parameters
lint: $(HEADER)
	@for checks in 1 2; do \
	  echo "  cppcheck, MULLE_DLMALLOC_CHECKS=$$checks"; \
	  cppcheck --enable=warning,style,performance,portability --std=c++11 --language=c++ -I. \
	    -DMULLE_DLMALLOC_CHECKS=$$checks --quiet --inline-suppr --suppress=incorrectStringBooleanError \
	    --error-exitcode=1 tests/impl.cpp || exit 1; \
	  echo "  clang-tidy, MULLE_DLMALLOC_CHECKS=$$checks"; \
	  out=$$(clang-tidy tests/impl.cpp -header-filter='mulle_dlmalloc' -checks='$(TIDY_CHECKS)' \
	    -- -std=c++17 -I. -DMULLE_DLMALLOC_CHECKS=$$checks 2>&1); \
	  if echo "$$out" | grep -q "warning:"; then echo "$$out" | grep -A3 "warning:"; exit 1; fi; \
	done; echo "lint: cppcheck and clang-tidy clean"

bench:
	bash bench/run.sh

clean:
	rm -rf $(BUILD) bench/build
