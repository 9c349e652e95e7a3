#!/usr/bin/env bash
# run.sh - build every libFuzzer target of tests/fuzz and run it briefly
#
#   tests/fuzz/run.sh            every tests/fuzz/fuzz_*.c
#   tests/fuzz/run.sh fuzz_rules only the targets named
#   FUZZ_SECONDS=300 tests/fuzz/run.sh
#
# Each target is built with clang -fsanitize=fuzzer,address,undefined
# into build-fuzz/ and run for FUZZ_SECONDS (default 30) from the
# repository root, on its seed corpus tests/fuzz/corpus_<name without
# fuzz_>/ when there is one. New inputs go to build-fuzz/corpus_<name>/,
# never into the repository; a crash leaves its input in build-fuzz/.
#
# Targets named fuzz_rules* link only the rules library and jansson (the
# engine is pure); any other target links the rules and common libraries
# and the generated protobuf code (run `make` first so build/gen exists)
# with the project's libraries.
#
# Exit 0 when every target ran without a crash, 1 otherwise, 2 when a
# target does not build.
set -uo pipefail
cd "$(dirname "$0")/../.."

CLANG=${CLANG:-clang}
SECONDS_EACH=${FUZZ_SECONDS:-30}
OUT=build-fuzz
FLAGS=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
	-Iservices -Ibuild/gen -Ibuild/gen/proto)
LIBS=(-lrdkafka -lzmq -lprotobuf-c -lpq -lhiredis -ljansson -lsodium -lmicrohttpd -lpthread -lm)

build() {
	local name=$1 src=tests/fuzz/$1.c
	local -a sources
	if [[ $name == fuzz_rules* ]]; then
		sources=("$src" services/rules/*.c)
		"$CLANG" "${FLAGS[@]}" -o "$OUT/$name" "${sources[@]}" -ljansson
	else
		shopt -s nullglob
		sources=("$src" services/rules/*.c services/common/*.c build/gen/proto/*.pb-c.c)
		shopt -u nullglob
		"$CLANG" "${FLAGS[@]}" $(pkg-config --cflags libpq 2>/dev/null) \
			-o "$OUT/$name" "${sources[@]}" "${LIBS[@]}"
	fi
}

run() {
	local name=$1 corpus=tests/fuzz/corpus_${1#fuzz_}
	local work=$OUT/corpus_${1#fuzz_}
	local -a dirs=("$work")
	mkdir -p "$work"
	[ -d "$corpus" ] && dirs+=("$corpus")
	echo "== $name: ${SECONDS_EACH}s on ${dirs[*]}"
	"$OUT/$name" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$OUT/$name-" "${dirs[@]}"
}

mkdir -p "$OUT"
if [ $# -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for f in tests/fuzz/fuzz_*.c; do
		[ -e "$f" ] || continue
		targets+=("$(basename "$f" .c)")
	done
fi

status=0
for t in "${targets[@]}"; do
	if ! build "$t"; then
		echo "fuzz: $t does not build" >&2
		exit 2
	fi
	if ! run "$t"; then
		echo "fuzz: $t crashed (input in $OUT/)" >&2
		status=1
	fi
done
exit $status
