#!/usr/bin/env bash
# test_crash.sh - kill -9 intake and the reimbursement worker while they
# work: nothing lost, nothing taken or paid twice
#
# 10,000 claims (30,000 lines) for 200 members go through intake, killed
# with SIGKILL and restarted while it takes them in (each claim is taken
# once, with its lines); the reimbursement worker is killed with SIGKILL and restarted several times
# while it decides them. At the end every claim has exactly one decision
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
claims_file "$P" $MEMBERS "$N" "$SRC" >"$TEST_LOGS/crash-claims.json"
claims_file "$Q" $MEMBERS "$N" "$REF" >"$TEST_LOGS/ref-claims.json"

# Intake is killed too while it takes the claims in: what it had not
# committed is redelivered and taken once (the key is unique).
accepted() { sql "SELECT count(*) FROM claims WHERE source = '$SRC'"; }
check "crash: claims submitted" "$BIN/claimctl" submit "$TEST_LOGS/crash-claims.json"
intake_kills=0
for round in 1 2; do
	start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9193 CLAIMS_INTAKE_BATCH=50
	pid=$LAST_PID
	wait_for 120 bash -c "[ \$(psql -X -At '$CLAIMS_PG_DSN' -c \"SELECT count(*) FROM claims WHERE source = '$SRC'\") -ge $((N * round / 4)) ]"
	if [ "$(accepted)" -lt "$N" ] && kill -KILL "$pid" 2>/dev/null; then
		intake_kills=$((intake_kills + 1))
	fi
	wait "$pid" 2>/dev/null
done
check "crash: intake killed while claims were still coming in" test "$intake_kills" -ge 1
start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9193
check "crash: claims accepted by intake" wait_for 180 bash -c \
	"[ \$(psql -X -At '$CLAIMS_PG_DSN' -c \"SELECT count(*) FROM claims WHERE source = '$SRC'\") -ge $N ]"
check_eq "crash: each claim taken once, with its lines, none refused" \
	"$(sql "SELECT concat_ws(' ', count(DISTINCT c.claim_id), count(*),
	          (SELECT count(*) FROM claim_rejections WHERE source = '$SRC'))
	        FROM claims c JOIN claim_lines l USING (claim_id) WHERE c.source = '$SRC'")" "$N $((N * 3)) 0"

# Kill the worker whenever it has made some progress, a few times over.
kills=0
for round in 1 2 3 4 5; do
	start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9194 CLAIMS_REIMBURSE_BATCH=200
	pid=$LAST_PID
	target=$((N * round / 6))
	wait_for 120 bash -c "[ \$(psql -X -At '$CLAIMS_PG_DSN' -c \"SELECT count(*) FROM claims WHERE source = '$SRC' AND status <> 'queued'\") -ge $target ]"
	sleep 0.$((RANDOM % 9 + 1))
	if kill -KILL "$pid" 2>/dev/null; then
		kills=$((kills + 1))
	fi
	wait "$pid" 2>/dev/null
done
check "crash: worker killed several times" test "$kills" -ge 3
start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9194
check "crash: every claim decided in the end" wait_for 300 all_decided "$SRC" "$N"

check_eq "crash: every claim complete" \
	"$(sql "SELECT count(*) FROM claims WHERE source = '$SRC' AND status = 'complete'")" "$N"
check_eq "crash: exactly one decision per line" \
	"$(sql "SELECT count(*) FROM decisions d JOIN claims c USING (claim_id) WHERE c.source = '$SRC'")" \
	"$((N * 3))"
check_eq "crash: counters equal the sum of their decisions" \
	"$(sql "WITH b AS (SELECT DISTINCT beneficiary_id FROM claims WHERE source = '$SRC'),
	  d AS (SELECT c.beneficiary_id, l.category, l.care_date, sum(d.pf_cents) pf,
	          sum(d.franchise_cents) fr, sum(d.amc_cents) amc, sum(d.forfait_cents) fo, count(*) n
	        FROM decisions d JOIN claim_lines l USING (claim_id, line_no)
	        JOIN claims c USING (claim_id) WHERE c.beneficiary_id IN (SELECT * FROM b)
	        GROUP BY 1, 2, 3),
	  k AS (SELECT beneficiary_id, category, care_date, pf_cents pf, franchise_cents fr,
	          amc_cents amc, forfait_cents fo, lines n FROM consumption_counters
	        WHERE beneficiary_id IN (SELECT * FROM b))
	  SELECT count(*) FROM ((SELECT * FROM d EXCEPT SELECT * FROM k)
	                        UNION ALL (SELECT * FROM k EXCEPT SELECT * FROM d)) x")" 0
check_eq "crash: yearly counters equal the sum of their decisions" \
	"$(sql "WITH b AS (SELECT DISTINCT beneficiary_id FROM claims WHERE source = '$SRC'),
	  d AS (SELECT c.beneficiary_id, date_part('year', l.care_date)::int y, l.category,
	          sum(d.pf_cents) pf, sum(d.franchise_cents) fr, sum(d.amc_cents) amc,
	          sum(d.forfait_cents) fo, count(*) n
	        FROM decisions d JOIN claim_lines l USING (claim_id, line_no)
	        JOIN claims c USING (claim_id) WHERE c.beneficiary_id IN (SELECT * FROM b)
	        GROUP BY 1, 2, 3),
	  k AS (SELECT beneficiary_id, year, category, pf_cents pf, franchise_cents fr,
	          amc_cents amc, forfait_cents fo, lines n FROM consumption_years
	        WHERE beneficiary_id IN (SELECT * FROM b))
	  SELECT count(*) FROM ((SELECT * FROM d EXCEPT SELECT * FROM k)
	                        UNION ALL (SELECT * FROM k EXCEPT SELECT * FROM d)) x")" 0
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
check "crash: results are not trivial" test "$(wc -l <"$TEST_LOGS/ref-results.txt")" -eq "$((N * 3))"

report
