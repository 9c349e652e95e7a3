#!/usr/bin/env bash
# test_daemon_settings.sh - every daemon's command line and settings
#
# Each case stops before the daemon connects to anything. A bad
# setting (wrong kind, out of bounds, a log level that is not one) ends
# the start with exit status 2 and an error naming the variable, never a
# daemon running on a default nobody chose; --help lists every setting,
# the shared ones included.
source "$(dirname "$0")/../lib.sh"

# refused DAEMON VAR=VALUE: exit 2, the variable named on stderr
refused() {
	local daemon=$1 setting=$2 out rc
	out=$(env "$setting" "$BIN/$daemon" 2>&1 </dev/null)
	rc=$?
	if [ "$rc" -eq 2 ] && grep -q "${setting%%=*}" <<<"$out"; then
		pass "$daemon refuses $setting"
	else
		fail "$daemon refuses $setting" "exit $rc: $out"
	fi
}

for daemon in intake reimburse tpgate notify; do
	help=$("$BIN/$daemon" --help)
	check "$daemon --help exits 0" test $? -eq 0
	for var in CLAIMS_PG_DSN CLAIMS_METRICS_ADDR CLAIMS_LOG_LEVEL CLAIMS_MAX_STEP_ERRORS \
		CLAIMS_LIVE_STALL_SECONDS; do
		check "$daemon --help lists $var" grep -q "^  $var " <<<"$help"
	done
	check "$daemon --version" grep -q "^$daemon [0-9]" <<<"$("$BIN/$daemon" --version)"
	"$BIN/$daemon" --frobnicate >/dev/null 2>&1
	check_eq "$daemon: unknown option is a usage error" "$?" 2
	refused "$daemon" CLAIMS_LOG_LEVEL=verbose
	refused "$daemon" CLAIMS_LOG_LEVEL=INFO
	refused "$daemon" CLAIMS_MAX_STEP_ERRORS=0
	refused "$daemon" CLAIMS_MAX_STEP_ERRORS=3x
	refused "$daemon" CLAIMS_LIVE_STALL_SECONDS=1
	refused "$daemon" CLAIMS_METRICS_ADDR=localhost:9101
	refused "$daemon" CLAIMS_METRICS_ADDR=:9101
	refused "$daemon" CLAIMS_METRICS_ADDR=127.0.0.1:
	refused "$daemon" CLAIMS_METRICS_ADDR=127.0.0.1:0
	refused "$daemon" CLAIMS_MAX_STEP_ERRORS=+30
done
# Every bad setting is named at once, the shared ones and the daemon's.
out=$(env CLAIMS_MAX_STEP_ERRORS=0 CLAIMS_INTAKE_BATCH=10x "$BIN/intake" 2>&1 </dev/null)
check_eq "two bad settings: exit 2" "$?" 2
check "two bad settings: ... both named" \
	bash -c "grep -q CLAIMS_MAX_STEP_ERRORS <<<'$out' && grep -q CLAIMS_INTAKE_BATCH <<<'$out'"
# The front door's secret key, missing or not Z85: refused at start, named,
# before any server is reached (the database here is a dead port).
for secret in "" "short" "$(printf '~%.0s' $(seq 1 40))"; do
	out=$(CLAIMS_TP_SERVER_SECRET=$secret CLAIMS_PG_DSN=postgresql://nobody@127.0.0.1:9/none \
		"$BIN/tpgate" 2>&1 </dev/null)
	status=$?
	check "tpgate: secret key '${secret:0:5}' (${#secret} characters) refused, exit 1, named" \
		bash -c "[ $status -eq 1 ] && grep -q CLAIMS_TP_SERVER_SECRET <<<'${out//\'/}' &&
			! grep -qi postgres <<<'${out//\'/}'"
done
refused intake CLAIMS_INTAKE_BATCH=0
refused intake CLAIMS_INTAKE_BATCH=many
refused reimburse CLAIMS_REIMBURSE_BATCH=100000
refused notify CLAIMS_NOTIFY_BATCH=0
refused notify CLAIMS_NOTIFY_MAX_AGE_HOURS=-1
out=$(env CLAIMS_REDIS_URL=http://127.0.0.1:56379 "$BIN/notify" 2>&1 </dev/null)
check "notify: a Redis URL it cannot read stops its start (exit 1), named" \
	bash -c "[ $? -eq 1 ] && grep -q 'redis url: expected redis://' <<<'${out//\'/}'"

# claimctl: every command's --help, and -h, is an answer (stdout, exit
# 0), a command without what it needs a usage error (exit 2).
for cmd in submit claim dlq payments contract tp outbox migrate seed simulate formula check notifications; do
	for flag in --help -h; do
		out=$("$BIN/claimctl" "$cmd" "$flag" 2>/dev/null)
		check "claimctl $cmd $flag exits 0 with the usage on stdout" \
			bash -c "[ $? -eq 0 ] && grep -qi usage <<<'${out//\'/}'"
	done
done
# and after a subcommand too.
for sub in "tp keygen" "contract terminate" "payments list" "payments settle" "outbox refused" \
	"dlq list" "claim release"; do
	for flag in --help -h; do
		# shellcheck disable=SC2086 # the command and its subcommand, two words
		out=$("$BIN/claimctl" $sub "$flag" 2>/dev/null)
		check "claimctl $sub $flag exits 0 with the usage on stdout" \
			bash -c "[ $? -eq 0 ] && grep -qi usage <<<'${out//\'/}'"
	done
done
for cmd in payments contract tp outbox dlq; do
	"$BIN/claimctl" "$cmd" >/dev/null 2>&1
	check_eq "claimctl $cmd without a subcommand: usage error" "$?" 2
done
# A usage error is said on stderr (the usage, or a line naming the
# mistake and --help): stdout, which scripts read, stays empty.
for args in "submit" "claim" "dlq" "migrate --bogus" "seed --bogus" "claim redecide" \
	"payments" "contract" "tp" "outbox" "check --bogus" "simulate --bogus" "formula"; do
	# shellcheck disable=SC2086 # the words of $args are the arguments
	"$BIN/claimctl" $args >"$TEST_LOGS/usage.out" 2>"$TEST_LOGS/usage.err"
	status=$?
	check "claimctl $args: exit 2, usage on stderr, nothing on stdout" \
		bash -c "[ $status -eq 2 ] && [ ! -s '$TEST_LOGS/usage.out' ] && grep -Eq 'Usage|--help' '$TEST_LOGS/usage.err'"
done
# submit: a file cut short, a second file or an unknown option send nothing.
printf '[{"source":"s","external_id":"1","membership_number":"1","lines":[]},{"source":' >"$TEST_LOGS/cut.json"
"$BIN/claimctl" submit "$TEST_LOGS/cut.json" 2>/dev/null
check_eq "claimctl submit: a file cut short is refused" "$?" 2
"$BIN/claimctl" submit "$TEST_LOGS/cut.json" "$TEST_LOGS/cut.json" >/dev/null 2>&1
check_eq "claimctl submit: two files, a usage error" "$?" 2
"$BIN/claimctl" submit "$TEST_LOGS/cut.json" --synch >/dev/null 2>&1
check_eq "claimctl submit: an unknown option, a usage error" "$?" 2
# Nothing is sent in the cases below: a broker nobody answers at would
# make a send fail (exit 1) after its wait, not at once with exit 2.
good='{"source":"s","external_id":"1","membership_number":"1","lines":[]}'
echo "$good" >"$TEST_LOGS/one.json"
out=$(CLAIMS_KAFKA_BROKERS=127.0.0.1:1 "$BIN/claimctl" submit --endpoint tcp://127.0.0.1:9 \
	"$TEST_LOGS/one.json" 2>&1)
check_eq "claimctl submit: --endpoint without --sync, a usage error (not Kafka)" "$?" 2
check "claimctl submit: ... saying so" grep -q -- "--endpoint goes with --sync" <<<"$out"
: >"$TEST_LOGS/empty.json"
echo '[]' >"$TEST_LOGS/none.json"
for f in empty none; do
	out=$(CLAIMS_KAFKA_BROKERS=127.0.0.1:1 "$BIN/claimctl" submit "$TEST_LOGS/$f.json" 2>&1)
	check_eq "claimctl submit: a file with no claim ($f) is refused" "$?" 2
	check "claimctl submit: ... saying so ($f)" grep -q "no claim in" <<<"$out"
done
# A claim too large to send, after a good one: refused before the good
# one is sent, naming it (the producer would refuse it after the first
# was sent; the socket would drop the connection without an answer).
{
	echo "$good"
	printf '{"source":"s","external_id":"big","membership_number":"1","lines":[{"line_ref":"%s"}]}\n' \
		"$(head -c 1100000 /dev/zero | tr '\0' x)"
} >"$TEST_LOGS/big.json"
for mode in "" --sync; do
	# shellcheck disable=SC2086 # $mode is no word or one
	out=$(CLAIMS_KAFKA_BROKERS=127.0.0.1:1 CLAIMS_INTAKE_ENDPOINT=tcp://127.0.0.1:9 \
		"$BIN/claimctl" submit $mode "$TEST_LOGS/big.json" 2>&1)
	check_eq "claimctl submit ${mode:-(Kafka)}: a claim too large, nothing sent (exit 2)" "$?" 2
	check "claimctl submit ${mode:-(Kafka)}: ... naming it and the limit" \
		grep -q "claim 1 (external_id big): 11[0-9]* bytes as sent, at most" <<<"$out"
done
# dlq: only a dead-letter topic is read as one; --help after the action.
"$BIN/claimctl" dlq replay --topic claims.submitted >/dev/null 2>&1
check_eq "claimctl dlq replay of a live topic: a usage error" "$?" 2
out=$("$BIN/claimctl" dlq list --help 2>/dev/null)
check "claimctl dlq list --help: the usage, exit 0" bash -c "[ $? -eq 0 ] && grep -q Usage <<<'$out'"
"$BIN/claimctl" submit -h >/dev/null
check_eq "claimctl submit -h: exit 0" "$?" 0
# What a command prints must reach its reader: a full disk is a failure.
"$BIN/claimctl" submit --help >/dev/full 2>/dev/null
check_eq "claimctl: standard output not written (a full disk), exit 1" "$?" 1
report
