#!/usr/bin/env bash
# The README's second command: runs the whole test suite.
#   1. installs what is missing (Debian packages, pinned npm packages)
#   2. builds release (-Werror) and ASan+UBSan builds
#   3. C unit tests, both builds
#   4. integration and fault tests (pytest, real clients, real broker
#      processes) against the sanitizer build
#   5. each libFuzzer target for FUZZ_SECONDS (default 30)
# Ends with one line "test: N passed, N failed".
#
# Env: SKIP_SAN=1 runs integration tests against the release build instead;
#      FUZZ_SECONDS=0 skips fuzzing; PYTEST_ARGS passes options to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh --test || { echo "test: 0 passed, 1 failed"; exit 1; }

passed=0; failed=0
# A runner's closing line: optional "unit: ", then "N word" counts joined by
# ", ", optionally pytest's " in 12.34s (0:00:12)".
SUMMARY_RE='^(unit: )?[0-9]+ [a-z]+(, [0-9]+ [a-z]+)*( in [0-9.]+s( \([0-9:]+\))?)?$'
step() { # name, command...
	local name=$1; shift
	echo "=== $name"
	local t0=$SECONDS out rc
	out=$(mktemp)
	"$@" 2>&1 | tee "$out"; rc=${PIPESTATUS[0]}
	# Count from the runner's own closing line only ("unit: N passed, N
	# failed", pytest's "N failed, N passed, N skipped in 12.3s"): client
	# log lines such as librdkafka's "127.0.0.1:39997 failed: Connection
	# refused" must not be read as counts.
	local p f summary
	summary=$(grep -E "$SUMMARY_RE" "$out" | tail -n1 || true)
	p=$(grep -Eo '[0-9]+ passed' <<<"$summary" | grep -Eo '[0-9]+' || true)
	f=$(grep -Eo '[0-9]+ (failed|errors?)' <<<"$summary" | awk '{s+=$1} END {print s+0}')
	[ -n "$p" ] || p=$([ $rc -eq 0 ] && echo 1 || echo 0)
	[ $rc -ne 0 ] && [ "${f:-0}" -eq 0 ] && f=1
	passed=$((passed + p)); failed=$((failed + ${f:-0}))
	echo "=== $name: rc=$rc in $((SECONDS - t0))s"
	rm -f "$out"
}

nproc=$(nproc)
step "build (release)" make -s -j"$nproc" all
step "build (asan+ubsan)" make -s -j"$nproc" SAN=1 all
step "unit (release)" make -s unit
step "unit (asan+ubsan)" make -s SAN=1 unit

if [ "${SKIP_SAN:-0}" = 1 ]; then
	export RUNNEL_BIN=$root/build/runnel
else
	export RUNNEL_BIN=$root/build-san/runnel RUNNEL_SAN=1
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
export RNL_BIN=$root/build/rnl
step "integration + fault" /usr/bin/python3 -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-} tests/integration tests/fault

if [ "${FUZZ_SECONDS:-30}" != 0 ] && [ -x scripts/build-fuzz.sh ]; then
	step "fuzz build" scripts/build-fuzz.sh
	step "fuzz run" scripts/run-fuzz.sh "${FUZZ_SECONDS:-30}"
fi

echo "test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
