#!/usr/bin/env bash
# Runs every built fuzz target (build-fuzz/fuzz_*) for SECONDS each, one
# after the other, starting from its seed corpus fuzz/corpus/<target>/.
# New inputs go to build-fuzz/corpus/<target>/ so the checked-in seeds stay
# as they are; crash inputs go to build-fuzz/artifacts/. Exits non-zero if
# any target crashed, leaked, hit a sanitizer report or an abort().
#
# Usage: scripts/run-fuzz.sh SECONDS [target ...]
#   SECONDS=0 only replays the corpora (a quick regression run for CI).
set -u
cd "$(dirname "$0")/.."

secs=${1:?usage: scripts/run-fuzz.sh SECONDS [target ...]}
shift
case $secs in (*[!0-9]*|'') echo "run-fuzz: SECONDS must be a number" >&2; exit 2;; esac

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for b in build-fuzz/fuzz_*; do [ -x "$b" ] && targets+=("$(basename "$b")"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "run-fuzz: nothing built; run scripts/build-fuzz.sh" >&2; exit 1; }

mkdir -p build-fuzz/artifacts
failed=()
for t in "${targets[@]}"; do
	bin=build-fuzz/$t seeds=fuzz/corpus/$t work=build-fuzz/corpus/$t
	[ -x "$bin" ] || { echo "run-fuzz: $bin not built" >&2; failed+=("$t"); continue; }
	mkdir -p "$seeds" "$work"
	log=build-fuzz/$t.log
	if [ "$secs" = 0 ]; then
		args=(-runs=0 "$work" "$seeds")
	else
		args=(-max_total_time="$secs" -print_final_stats=1 "$work" "$seeds")
	fi
	echo "run-fuzz: $t (${secs}s)"
	if "$bin" -artifact_prefix="build-fuzz/artifacts/$t-" -timeout=10 -rss_limit_mb=1024 \
		"${args[@]}" >"$log" 2>&1; then
		grep -E '^(stat::number_of_executed_units|#[0-9]+ +DONE)' "$log" | tail -n 2
	else
		echo "run-fuzz: $t FAILED; log $log" >&2
		grep -E 'ERROR|SUMMARY|Test unit written|runtime error' "$log" | head -n 20 >&2
		failed+=("$t")
	fi
done
[ ${#failed[@]} -eq 0 ] || { echo "run-fuzz: failed: ${failed[*]}" >&2; exit 1; }
echo "run-fuzz: ${#targets[@]} target(s) clean"
