#!/usr/bin/env bash
# wine_run.sh WINE PROGRAM [ARGS...]: runs a Windows program under wine (make test-windows).
# A program whose run wine itself broke off (its client lost the connection to the
# wineserver, which had just begun to shut down after the previous program) is run again,
# up to three times in all; any other failure is the program's, and stands. The output
# of the run that counts passes through.
wine=$1; shift
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
for attempt in 1 2 3; do
   "$wine" "$@" > "$out" 2> "$err"
   rc=$?
   if [ $rc -ne 0 ] && [ $attempt -lt 3 ] && grep -q '^wine client error' "$err"; then
      echo "wine_run: wine lost its server (attempt $attempt): $(head -1 "$err")" >&2
      sleep 3
      continue
   fi
   break
done
cat "$out"
cat "$err" >&2
exit $rc
