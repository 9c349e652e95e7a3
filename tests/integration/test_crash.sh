#!/usr/bin/env bash
# test_crash.sh - kill -9 intake and the reimbursement worker while they
# work: nothing lost, nothing taken or paid twice
#
# 10,000 claims (some 31,400 lines: one claim in seven has glasses or an
# osteopathy session, paid once per renewal period or a few times a year)
# for 200 members go through intake, killed with SIGKILL and restarted
# while it takes them in (each claim is taken once, with its lines); the
# reimbursement worker is killed with SIGKILL and restarted several times
# while it decides them (kills that find it idle do not count), and at
# least one kill must fall between a commit and its offsets. At the end every claim has exactly one decision
# per line, every consumption counter (daily and yearly) equals the sum
# of the decisions it stands for, every claim with an AMC share has exactly one payment of
# that share, and the results equal those of an uninterrupted run over
# an identical copy of the same members and claims.
source "$(dirname "$0")/../lib.sh"

N=${CRASH_CLAIMS:-10000}
MEMBERS=200
P="5${RUN_ID: -5}"    # members of the killed run
Q="6${RUN_ID: -5}"    # identical members for the reference run
SRC="crash-$RUN_ID"
REF="ref-$RUN_ID"
LOG="$TEST_LOGS/crash-$RUN_ID.log"

create_members "$P" $MEMBERS CONFORT
create_members "$Q" $MEMBERS CONFORT
claims_file "$P" $MEMBERS "$N" "$SRC" varied >"$TEST_LOGS/crash-claims.json"
claims_file "$Q" $MEMBERS "$N" "$REF" varied >"$TEST_LOGS/ref-claims.json"
LINES=$(file_lines "$TEST_LOGS/crash-claims.json")

# Intake is killed too while it takes the claims in: what it had not
# committed is redelivered and taken once (the key is unique).
check "crash: claims submitted" "$BIN/claimctl" submit "$TEST_LOGS/crash-claims.json"
intake_kills=0
for round in 1 2; do
	start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9193 CLAIMS_INTAKE_BATCH=50
	pid=$LAST_PID
	wait_for 120 all_accepted "$SRC" $((N * round / 4))
	if [ "$(accepted_count "$SRC")" -lt "$N" ] && kill -KILL "$pid" 2>/dev/null; then
		intake_kills=$((intake_kills + 1))
	fi
	wait "$pid" 2>/dev/null
done
check "crash: intake killed while claims were still coming in" test "$intake_kills" -ge 1
start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9193
check "crash: claims accepted by intake" wait_for 180 all_accepted "$SRC" "$N"
check_eq "crash: each claim taken once, with its lines, none refused" \
	"$(sql "SELECT concat_ws(' ', count(DISTINCT c.claim_id), count(*),
	          (SELECT count(*) FROM claim_rejections WHERE source = '$SRC'))
	        FROM claims c JOIN claim_lines l USING (claim_id) WHERE c.source = '$SRC'")" "$N $LINES 0"

# Kill the worker while it decides, several times over. A kill counts
# when the worker had decided claims since it started (it held partitions
# and worked) and claims were still waiting when it died (it was busy, not
# done). Small batches, so that a kill falls inside one as often as not:
# what the dead worker committed without its offsets is redelivered to
# the next, which must find it decided (reimburse_redelivered_total).
busy_kills=0
redelivered=0
redelivered_seen() { # the worker's count of claims found decided already
	curl -s http://127.0.0.1:9194/metrics | awk '$1 == "reimburse_redelivered_total" { n = $2 } END { print n + 0 }'
}
for round in $(seq 1 12); do
	d0=$(decided_count "$SRC")
	[ "$busy_kills" -lt 4 ] && [ "$d0" -lt $((N * 8 / 10)) ] || break
	start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9194 CLAIMS_REIMBURSE_BATCH=50
	pid=$LAST_PID
	WAIT_STEP=0.05 wait_for 120 decided_over "$SRC" $((d0 + 50))
	sleep 0.0$((RANDOM % 10))
	redelivered=$((redelivered + $(redelivered_seen)))
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	d1=$(decided_count "$SRC")
	echo "# round $round: decided $d0 -> $d1 of $N"
	if [ "$d1" -gt "$d0" ] && [ "$d1" -lt "$N" ]; then
		busy_kills=$((busy_kills + 1))
	fi
done
check "crash: worker killed while busy, several times ($busy_kills)" test "$busy_kills" -ge 3
start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9194
check "crash: every claim decided in the end" wait_for 300 all_decided "$SRC" "$N"
redelivered=$((redelivered + $(redelivered_seen)))
check "crash: a kill fell between a commit and its offsets ($redelivered claims redelivered, found decided)" \
	test "$redelivered" -gt 0

check_eq "crash: every claim complete" \
	"$(sql "SELECT count(*) FROM claims WHERE source = '$SRC' AND status = 'complete'")" "$N"
check_eq "crash: exactly one decision per line" \
	"$(sql "SELECT count(*) FROM decisions d JOIN claims c USING (claim_id) WHERE c.source = '$SRC'")" \
	"$LINES"
check_eq "crash: counters (daily and yearly) equal the sum of their decisions" \
	"$(counter_mismatches "$SRC")" 0
check "crash: ... counters of every kind were written (units, equipments)" \
	test "$(sql "SELECT count(*) FILTER (WHERE forfait_units > 0) > 0 AND count(*) FILTER (WHERE equipments > 0) > 0
	  FROM consumption_counters WHERE beneficiary_id IN (SELECT beneficiary_id FROM claims WHERE source = '$SRC')")" = t
check_eq "crash: nothing paid twice (one payment per claim, equal to its AMC)" \
	"$(sql "SELECT count(*) FROM claims c
	  LEFT JOIN (SELECT claim_id, sum(amc_cents) amc FROM decisions GROUP BY 1) d USING (claim_id)
	  LEFT JOIN payments p USING (claim_id)
	  WHERE c.source = '$SRC' AND coalesce(p.amount_cents, 0) <> coalesce(d.amc, 0)")" 0

# The reference: the same claims on identical members, no kill.
check "crash: reference claims submitted" "$BIN/claimctl" submit "$TEST_LOGS/ref-claims.json"
check "crash: reference run decided" wait_for 300 all_decided "$REF" "$N"
results "$SRC" >"$TEST_LOGS/crash-results.txt"
results "$REF" >"$TEST_LOGS/ref-results.txt"
check "crash: results equal an uninterrupted run" cmp -s "$TEST_LOGS/crash-results.txt" "$TEST_LOGS/ref-results.txt"
check "crash: results are not trivial" test "$(wc -l <"$TEST_LOGS/ref-results.txt")" -eq "$LINES"
check "crash: ... some glasses and sessions refused for what was paid before (order kept)" \
	grep -Eq 'RENEWAL_NOT_DUE|MAX_ACTS' "$TEST_LOGS/ref-results.txt"
payment_results "$SRC" >"$TEST_LOGS/crash-payments.txt"
payment_results "$REF" >"$TEST_LOGS/ref-payments.txt"
check "crash: payments equal an uninterrupted run's" cmp -s "$TEST_LOGS/crash-payments.txt" "$TEST_LOGS/ref-payments.txt"
check_eq "crash: one reimbursements.computed event per claim, none twice" \
	"$(sql "SELECT count(*) || ' ' || count(DISTINCT o.payload) FROM outbox o
	  WHERE o.topic = 'reimbursements.computed'
	    AND o.key IN (SELECT DISTINCT contract_id::text FROM claims WHERE source = '$SRC')")" "$N $N"

report
