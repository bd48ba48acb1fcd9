#!/usr/bin/env bash
# Runs every unit-test binary given and prints one closing total.
set -u
passed=0; failed=0; bad=()
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out" | grep -v '^ok  ' || true
	line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n1)
	p=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/'); f=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
	[ -n "$p" ] || { p=0; f=1; }
	[ $rc -ne 0 ] && [ "$f" = 0 ] && f=1
	passed=$((passed + p)); failed=$((failed + f))
	[ "$f" != 0 ] && bad+=("$t")
done
[ ${#bad[@]} -gt 0 ] && echo "failing unit binaries: ${bad[*]}"
echo "unit: $passed passed, $failed failed"
[ "$failed" = 0 ]
