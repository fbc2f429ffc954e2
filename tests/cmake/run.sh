#!/usr/bin/env bash
# Builds and runs the two CMake consumers: find_package after an install to a temporary
# prefix, add_subdirectory of the source tree, FetchContent of a tarball of it; then a
# pkg-config build.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake -S "$root" -B "$work/lib" -DCMAKE_INSTALL_PREFIX="$work/prefix" >/dev/null
cmake --install "$work/lib" >/dev/null

cmake -S "$root/tests/cmake/find_package" -B "$work/fp" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/fp" >/dev/null
"$work/fp/consumer"

cmake -S "$root/tests/cmake/add_subdirectory" -B "$work/as" >/dev/null
cmake --build "$work/as" >/dev/null
"$work/as/consumer"

tar -C "$root" -czf "$work/src.tar.gz" --exclude=./build --exclude=./.git .
cmake -S "$root/tests/cmake/fetch_content" -B "$work/fc" -DMULLE_DLMALLOC_URL="$work/src.tar.gz" >/dev/null
cmake --build "$work/fc" >/dev/null
"$work/fc/consumer"

PKG_CONFIG_PATH="$work/prefix/share/pkgconfig" pkg-config --cflags mulle_dlmalloc >/dev/null
${CXX:-g++} -std=c++11 $(PKG_CONFIG_PATH="$work/prefix/share/pkgconfig" pkg-config --cflags mulle_dlmalloc) \
  "$root/tests/cmake/consumer.cpp" -o "$work/pc"
"$work/pc"
echo "cmake consumers: find_package, add_subdirectory, FetchContent and pkg-config built and ran"
