#!/usr/bin/env bash
# Runs every Fuzz* target in the module for a short time each (default 10s). Seeds that found
# bugs are kept in each package's testdata/fuzz and run as plain tests by `go test` too.
set -euo pipefail
t=${1:-10s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for dir in $(go list -f '{{.Dir}}' ./...); do
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		echo "fuzz $f in ${dir#$PWD/} for $t"
		for try in 1 2; do
			if go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$dir" 2>&1 | tee "$log"; then
				break
			fi
			# The go command sometimes reports its own time limit as "context deadline
			# exceeded" with no failing input; that is not a finding, so try once more.
			# A real finding always says where its failing input was written.
			if [ "$try" = 1 ] && grep -q "context deadline exceeded" "$log" && ! grep -q "Failing input written" "$log"; then
				echo "fuzz $f: the go command's own deadline error without a failing input; running again"
				continue
			fi
			exit 1
		done
	done
done
