#!/usr/bin/env bash
# run.sh - run the test programs and print the closing "N passed, N failed"
#
#   tests/run.sh unit          unit tests (no server needed)
#   tests/run.sh integration   integration tests (infrastructure running)
#   tests/run.sh all           both
#   tests/run.sh valgrind      unit tests under valgrind (leaks are errors)
#
# Each test program prints its own "N passed, N failed" line; this script
# sums them. A program that crashes or prints no such line counts as one
# failure, and so does a test source without its program (not built), a
# script that is not executable, or a directory where no test ran, so a
# broken or missing test can never pass silently. A program still running
# after TEST_TIMEOUT seconds (1200) is stopped and counts as one failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
mode=${1:-all}
# A program still running after this many seconds hangs: it is stopped
# and counted as a failure, rather than hold the run until the CI job's
# own limit with no result (the longest takes a few minutes).
TEST_TIMEOUT=${TEST_TIMEOUT:-1200}

# Connection settings of the project's own infrastructure (tools/infra).
if [ -x tools/infra/infra.sh ]; then
	eval "$(tools/infra/infra.sh env)"
fi
export CLAIMS_BIN="$BUILD/bin"

passed=0
failed=0
failed_programs=()

run_program() {
	local prog=$1 out line p f rc
	shift
	echo "== ${prog#"$BUILD"/tests/}"
	out=$(mktemp)
	timeout -k 30 "$TEST_TIMEOUT" "$@" "$prog" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	rm -f "$out"
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "   (still running after ${TEST_TIMEOUT} s, stopped: counted as one failure)"
		line=""
	fi
	if [ -z "$line" ]; then
		[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] ||
			echo "   (exit $rc and no result line: counted as one failure)"
		failed=$((failed + 1))
		failed_programs+=("$prog")
		return
	fi
	p=${line%% passed*}
	f=${line#*passed, }
	f=${f%% failed*}
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
		[ "$f" -gt 0 ] || failed=$((failed + 1))
		failed_programs+=("$prog")
	fi
}

# A test that cannot run is a failure, named: a source without its
# program (not built), a script that is not executable. A directory where
# no program ran fails too, so that a missing build directory can never
# print "0 passed, 0 failed" and pass.
missing() {
	echo "== $1"
	echo "   ($2: counted as one failure)"
	failed=$((failed + 1))
	failed_programs+=("$1")
}

run_dir() {
	local dir=$1 src prog script ran=0
	shift
	for src in tests/"$dir"/test_*.c; do
		[ -e "$src" ] || continue
		prog=$BUILD/tests/$dir/$(basename "$src" .c)
		if [ ! -x "$prog" ]; then
			missing "$prog" "no program for $src; build it with make"
			continue
		fi
		run_program "$prog" "$@"
		ran=$((ran + 1))
	done
	if [ $# -eq 0 ]; then # shell tests do not run under valgrind
		for script in tests/"$dir"/test_*.sh; do
			[ -e "$script" ] || continue
			if [ ! -x "$script" ]; then
				missing "$script" "not executable"
				continue
			fi
			run_program "$script"
			ran=$((ran + 1))
		done
	fi
	if [ "$ran" -eq 0 ]; then
		missing "tests/$dir" "no test program ran (BUILD=$BUILD)"
	fi
}

case "$mode" in
unit) run_dir unit ;;
integration) run_dir integration ;;
all)
	run_dir unit
	run_dir integration
	;;
valgrind)
	run_dir unit valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite
	;;
*)
	echo "usage: $0 unit|integration|all|valgrind" >&2
	exit 2
	;;
esac

echo
if [ ${#failed_programs[@]} -gt 0 ]; then
	echo "failing programs: ${failed_programs[*]}"
fi
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
