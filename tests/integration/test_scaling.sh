#!/usr/bin/env bash
# test_scaling.sh - three reimbursement workers share the partitions and
# decide exactly what one worker decides
#
# The same 3,000 claims are submitted twice, on two identical copies of
# 60 members: once with one worker, once with three workers in the
# consumer group. The three must share the 12 partitions (each takes
# some), and the per-line results of both runs must be identical.
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
claims_file "$P" $MEMBERS "$N" "$ONE" >"$TEST_LOGS/one-claims.json"
claims_file "$Q" $MEMBERS "$N" "$THREE" >"$TEST_LOGS/three-claims.json"

start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9195

# One worker.
start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9196
single=$LAST_PID
"$BIN/claimctl" submit "$TEST_LOGS/one-claims.json" 2>>"$LOG"
check "scaling: one worker decides every claim" wait_for 300 all_decided "$ONE" "$N"
stop_daemon "$single"

# Three workers, each with its own log to see its assignment.
for w in 1 2 3; do
	start_daemon reimburse "$TEST_LOGS/scaling-$RUN_ID-worker$w.log" \
		CLAIMS_METRICS_ADDR=127.0.0.1:920$w CLAIMS_LOG_LEVEL=info
done
# Let the group settle on three members before the work arrives.
sleep 5
"$BIN/claimctl" submit "$TEST_LOGS/three-claims.json" 2>>"$LOG"
check "scaling: three workers decide every claim" wait_for 300 all_decided "$THREE" "$N"
for w in 1 2 3; do
	last=$(grep -o 'assigned [0-9]* partitions' "$TEST_LOGS/scaling-$RUN_ID-worker$w.log" | tail -n 1 | cut -d' ' -f2)
	check "scaling: worker $w holds some partitions (${last:-0})" test "${last:-0}" -ge 1
	handled=$(curl -s "127.0.0.1:920$w/metrics" | awk '/^worker_messages_total/ {print $2}')
	check "scaling: worker $w decided claims (${handled:-0})" test "${handled:-0}" -gt 0
done

results "$ONE" >"$TEST_LOGS/one-results.txt"
results "$THREE" >"$TEST_LOGS/three-results.txt"
check "scaling: three workers give the single worker's results" \
	cmp -s "$TEST_LOGS/one-results.txt" "$TEST_LOGS/three-results.txt"
check_eq "scaling: every line decided" "$(wc -l <"$TEST_LOGS/three-results.txt")" "$((N * 3))"
check_eq "scaling: every claim complete" \
	"$(sql "SELECT count(*) FROM claims WHERE source IN ('$ONE', '$THREE') AND status = 'complete'")" \
	"$((N * 2))"

report
