#!/usr/bin/env bash
# make bench: install the peers when missing, build one binary per allocator, run them.
# Environment knobs (BENCH_REPS, BENCH_QUICK, BENCH_CALLGRIND, ...): see bench/run.py.
set -eu
cd "$(dirname "$0")"

# Debian packages: the peers, the chart, the instruction counts, and the toolchain.
need=""
for pkg in libmimalloc-dev libjemalloc-dev libboost-dev gnuplot-nox valgrind; do
   dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
command -v g++ >/dev/null     || need="$need g++"
command -v make >/dev/null    || need="$need make"
command -v python3 >/dev/null || need="$need python3"
if [ -n "$need" ]; then
   if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "bench: installing$need" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -qq $need >/dev/null 2>&1 ||
         { apt-get update -qq && apt-get install -y -qq $need >/dev/null; } || exit 1
   else
      echo "bench: missing:$need -- run  sudo apt-get install$need" >&2
      # the chart and the callgrind counts are optional; the libraries are not
      for pkg in $need; do
         case $pkg in gnuplot-nox|valgrind) ;; *) exit 1 ;; esac
      done
   fi
fi

make -s -j2 all
exec python3 run.py "$@"
