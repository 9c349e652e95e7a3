#!/usr/bin/env bash
# test_scaling.sh - three reimbursement workers share the partitions and
# decide exactly what one worker decides
#
# The same 3,000 claims are submitted twice, on two identical copies of
# 60 members: once with one worker, once with three workers in the
# consumer group. The three must share the 12 partitions (each takes
# some), and both runs must give identical per-line results and
# payments, each with counters equal to the sum of its decisions.
source "$(dirname "$0")/../lib.sh"

N=${SCALING_CLAIMS:-3000}
MEMBERS=60
P="3${RUN_ID: -5}"
Q="4${RUN_ID: -5}"
ONE="one-$RUN_ID"
THREE="three-$RUN_ID"
LOG="$TEST_LOGS/scaling-$RUN_ID.log"

create_members "$P" $MEMBERS PREMIUM
create_members "$Q" $MEMBERS PREMIUM
claims_file "$P" $MEMBERS "$N" "$ONE" varied >"$TEST_LOGS/one-claims.json"
claims_file "$Q" $MEMBERS "$N" "$THREE" varied >"$TEST_LOGS/three-claims.json"
LINES=$(file_lines "$TEST_LOGS/one-claims.json")

start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9195

# One worker.
start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9196
single=$LAST_PID
"$BIN/claimctl" submit "$TEST_LOGS/one-claims.json" 2>>"$LOG"
check "scaling: one worker decides every claim" wait_for 300 all_decided "$ONE" "$N"
stop_daemon "$single"
check_eq "scaling: the single worker stops on SIGTERM (exit 0)" "$?" 0

# Three workers, each with its own log to see its assignment.
for w in 1 2 3; do
	start_daemon reimburse "$TEST_LOGS/scaling-$RUN_ID-worker$w.log" \
		CLAIMS_METRICS_ADDR=127.0.0.1:920$w CLAIMS_LOG_LEVEL=info
done
# The group settles on three members before the work arrives: each
# worker's last assignment says so, and together they hold the 12.
assignment() { # the partitions worker $1 was last assigned
	grep -o 'assigned [0-9]* partitions' "$TEST_LOGS/scaling-$RUN_ID-worker$1.log" 2>/dev/null |
		tail -n 1 | cut -d' ' -f2
}
settled() {
	local a1 a2 a3
	a1=$(assignment 1) a2=$(assignment 2) a3=$(assignment 3)
	[ "${a1:-0}" -ge 1 ] && [ "${a2:-0}" -ge 1 ] && [ "${a3:-0}" -ge 1 ] &&
		[ $((a1 + a2 + a3)) -eq 12 ]
}
check "scaling: the three workers share the 12 partitions" wait_for 60 settled
"$BIN/claimctl" submit "$TEST_LOGS/three-claims.json" 2>>"$LOG"
check "scaling: three workers decide every claim" wait_for 300 all_decided "$THREE" "$N"
for w in 1 2 3; do
	last=$(assignment $w)
	check "scaling: worker $w holds some partitions (${last:-0})" test "${last:-0}" -ge 1
	handled=$(curl -s "127.0.0.1:920$w/metrics" | awk '/^worker_messages_total/ {print $2}')
	check "scaling: worker $w decided claims (${handled:-0})" test "${handled:-0}" -gt 0
done

results "$ONE" >"$TEST_LOGS/one-results.txt"
results "$THREE" >"$TEST_LOGS/three-results.txt"
check "scaling: three workers give the single worker's results" \
	cmp -s "$TEST_LOGS/one-results.txt" "$TEST_LOGS/three-results.txt"
check_eq "scaling: every line decided" "$(wc -l <"$TEST_LOGS/three-results.txt")" "$LINES"
check "scaling: ... some glasses and sessions refused for what was paid before (order kept)" \
	grep -Eq 'RENEWAL_NOT_DUE|MAX_ACTS' "$TEST_LOGS/one-results.txt"
payment_results "$ONE" >"$TEST_LOGS/one-payments.txt"
payment_results "$THREE" >"$TEST_LOGS/three-payments.txt"
check "scaling: three workers pay what the single worker pays" \
	cmp -s "$TEST_LOGS/one-payments.txt" "$TEST_LOGS/three-payments.txt"
check_eq "scaling: ... a payment for every claim with an AMC share" \
	"$(wc -l <"$TEST_LOGS/three-payments.txt")" \
	"$(sql "SELECT count(*) FROM claims c WHERE source = '$THREE'
	  AND (SELECT sum(amc_cents) FROM decisions d WHERE d.claim_id = c.claim_id) > 0")"
check_eq "scaling: counters (daily and yearly) equal the sum of their decisions, both runs" \
	"$(counter_mismatches "$ONE") $(counter_mismatches "$THREE")" "0 0"
check_eq "scaling: every claim complete" \
	"$(sql "SELECT count(*) FROM claims WHERE source IN ('$ONE', '$THREE') AND status = 'complete'")" \
	"$((N * 2))"

report
