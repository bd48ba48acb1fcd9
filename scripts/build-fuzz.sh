#!/usr/bin/env bash
# Builds every libFuzzer target fuzz/fuzz_<name>.c into build-fuzz/fuzz_<name>.
#
# A target's first line names the source folders it links, as unit tests do:
#   // fuzz-deps: src/util src/record [gen]
# (`gen` = the code generated from src/protocol/defs by src/protocol/gen.py).
# Each folder's sources are compiled with clang under the fuzzing sanitizers
# into an archive, so a target pulls in only the objects it references. A
# source that does not compile (another module mid-way) is reported and left
# out; a target whose folders or generator are missing is skipped; a target
# that fails to link is reported and the script exits non-zero at the end.
#
# Usage: scripts/build-fuzz.sh [fuzz/fuzz_name.c ...]   (default: all)
set -u
cd "$(dirname "$0")/.."

CC=${FUZZ_CC:-clang}
PY=${PY:-/usr/bin/python3}
OUT=build-fuzz
CFLAGS="-std=c17 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 -Wall -Wextra -Wno-unused-parameter -pthread -Isrc -I$OUT/gen"
LIBS="-lz -lzstd -llz4 -lsnappy"

command -v "$CC" >/dev/null || { echo "build-fuzz: $CC not found" >&2; exit 1; }
mkdir -p "$OUT/obj" "$OUT/lib"

deps_of() { sed -n '1s|^// fuzz-deps:||p' "$1"; }

# Generates the protocol code once; returns 1 if the generator is missing.
gen_ready=""
ensure_gen() {
	[ -n "$gen_ready" ] && return "$gen_ready"
	gen_ready=1
	if [ ! -f src/protocol/gen.py ]; then
		echo "build-fuzz: src/protocol/gen.py missing" >&2
		return 1
	fi
	mkdir -p "$OUT/gen"
	"$PY" src/protocol/gen.py --out "$OUT/gen" src/protocol/defs/*.def || return 1
	"$CC" $CFLAGS -c -o "$OUT/obj/proto_gen.o" "$OUT/gen/proto_gen.c" || return 1
	ar rcs "$OUT/lib/libgen.a" "$OUT/obj/proto_gen.o" || return 1
	gen_ready=0
}

# Compiles one folder into build-fuzz/lib/lib<folder>.a (once per run).
declare -A lib_done=()
build_lib() {
	local dir=$1 name=${1//\//_} objs=() src obj
	[ -n "${lib_done[$dir]:-}" ] && return "${lib_done[$dir]}"
	lib_done[$dir]=1
	[ -d "$dir" ] || { echo "build-fuzz: no folder $dir" >&2; return 1; }
	for src in "$dir"/*.c; do
		[ -e "$src" ] || continue
		[ "$src" = src/main.c ] && continue
		obj="$OUT/obj/${src%.c}.o"
		mkdir -p "$(dirname "$obj")"
		if [ ! "$obj" -nt "$src" ] || [ -n "$(find src -name '*.h' -newer "$obj" -print -quit)" ]; then
			"$CC" $CFLAGS -c -o "$obj" "$src" || { echo "build-fuzz: skipping $src (does not compile)" >&2; rm -f "$obj"; continue; }
		fi
		objs+=("$obj")
	done
	rm -f "$OUT/lib/lib$name.a"
	[ ${#objs[@]} -gt 0 ] && ar rcs "$OUT/lib/lib$name.a" "${objs[@]}"
	lib_done[$dir]=0
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz/fuzz_*.c)
failed=0
for t in "${targets[@]}"; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .c)
	libs=() ok=1
	for d in $(deps_of "$t"); do
		if [ "$d" = gen ]; then
			ensure_gen && libs+=("$OUT/lib/libgen.a") || ok=0
		else
			build_lib "$d" && { a="$OUT/lib/lib${d//\//_}.a"; [ -f "$a" ] && libs+=("$a"); } || ok=0
		fi
	done
	if [ $ok = 0 ]; then
		echo "build-fuzz: skipping $name (dependencies missing)" >&2
		continue
	fi
	# Archives twice: folders may reference each other in either order.
	if "$CC" $CFLAGS -o "$OUT/$name" "$t" "${libs[@]}" "${libs[@]}" $LIBS; then
		echo "build-fuzz: built $OUT/$name"
	else
		echo "build-fuzz: $name failed to link" >&2
		failed=1
	fi
done
exit $failed
