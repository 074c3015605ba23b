#!/usr/bin/env bash
# Runs every Fuzz* target in the module for a short time each (default 10s).
set -euo pipefail
t=${1:-10s}
for dir in $(go list -f '{{.Dir}}' ./...); do
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		echo "fuzz $f in ${dir#$PWD/} for $t"
		go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$dir"
	done
done
