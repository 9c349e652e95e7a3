#!/usr/bin/env bash
# test_frozen_worker.sh - a worker frozen inside its transaction does not
# hold the other replicas up
#
# A reimburse replica is stopped (SIGSTOP: a process frozen, or a host
# cut off by the network) while its batch's transaction is open: its
# session holds the batch's claims and beneficiaries locked. The broker
# gives its partitions to a second replica once the frozen one misses
# its heartbeats (10 s), and that replica reads the frozen one's batch
# again. PostgreSQL ends the frozen session after
# CLAIMS_PG_IDLE_TX_SECONDS, so the second replica decides every claim
# while the first is still frozen. Woken, the first finds its session
# ended and its batch decided: nothing decided twice, every counter the
# sum of its decisions.
source "$(dirname "$0")/../lib.sh"
LOG="$TEST_LOGS/frozen-worker-$RUN_ID.log"
N=2000
MEMBERS=50
P="9${RUN_ID: -5}"
SRC="frozen-$RUN_ID"
# The frozen replica logs in as a role of its own (a member of the
# owner's): its sessions are told apart from the second replica's.
own_role frozen
FROZEN=
cleanup() {
	[ -n "$FROZEN" ] && kill -CONT "$FROZEN" 2>/dev/null
	stop_all
	drop_own_role
}
trap cleanup EXIT

create_members "$P" $MEMBERS CONFORT
claims_file "$P" $MEMBERS "$N" "$SRC" varied >"$TEST_LOGS/frozen-claims.json"
start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9183
check "claims submitted" "$BIN/claimctl" submit "$TEST_LOGS/frozen-claims.json"
check "claims taken in" wait_for 120 all_accepted "$SRC" "$N"

# Small batches: the frozen one holds few claims, the rest is left for
# the second replica.
in_transaction() { # the frozen role's batch idle inside its transaction (claims locked)
	[ "$(sql "SELECT count(*) FROM pg_stat_activity a WHERE a.usename = '$ROLE'
	  AND a.state = 'idle in transaction' AND EXISTS (SELECT 1 FROM pg_locks l
	    WHERE l.pid = a.pid AND l.relation = 'claims'::regclass)")" -ge 1 ]
}
caught=0
for attempt in 1 2 3 4 5 6 7 8 9 10; do
	start_daemon reimburse "$LOG" CLAIMS_PG_DSN="$DSN" CLAIMS_METRICS_ADDR=127.0.0.1:9184 \
		CLAIMS_REIMBURSE_BATCH=20 CLAIMS_PG_IDLE_TX_SECONDS=10 CLAIMS_QUOTE_CONNECT=
	FROZEN=$LAST_PID
	WAIT_STEP=0.02 wait_for 60 decided_over "$SRC" 0
	# Frozen at a moment of its loop; caught inside a transaction when
	# its session, a moment later, is idle in one (the statement it was
	# running, if any, has ended and waits for the frozen client).
	for try in $(seq 1 200); do
		kill -STOP "$FROZEN"
		sleep 0.3
		if in_transaction; then
			caught=1
			break
		fi
		kill -CONT "$FROZEN"
		sleep 0.0$((RANDOM % 10))
	done
	[ "$caught" = 1 ] && break
	stop_daemon "$FROZEN" >/dev/null
done
check "a replica frozen inside its batch's transaction" test "$caught" = 1
at_freeze=$(decided_count "$SRC")
check "... with claims left to decide ($at_freeze of $N decided)" test "$at_freeze" -lt "$N"

start=$SECONDS
start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9185
check "a second replica decides every claim while the first is frozen" \
	wait_for 120 all_decided "$SRC" "$N"
echo "   (after $((SECONDS - start)) s)"
# Its other sessions (its relay's, perhaps caught inside a pass) are
# ended too, each CLAIMS_PG_IDLE_TX_SECONDS after it fell idle.
none_idle() {
	[ "$(sql "SELECT count(*) FROM pg_stat_activity
	  WHERE usename = '$ROLE' AND state = 'idle in transaction'")" = 0 ]
}
check "the frozen replica's sessions idle in a transaction were ended by PostgreSQL" \
	wait_for 30 none_idle
check "the first replica is still frozen" \
	bash -c "[ \"\$(ps -o stat= -p $FROZEN | cut -c1)\" = T ]"

# Woken: its transaction is gone, its batch decided by the other.
kill -CONT "$FROZEN"
serving() { [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9184/health)" = 200 ]; }
check "woken, the first replica serves again (its database sessions made anew)" wait_for 30 serving
check "... and runs on" kill -0 "$FROZEN"
stop_daemon "$FROZEN"
check_eq "... and stops on SIGTERM (exit 0)" "$?" 0
FROZEN=
check_eq "every claim complete, one decision per line" \
	"$(sql "SELECT count(DISTINCT c.claim_id) FILTER (WHERE c.status = 'complete') || ' ' || count(*)
	  FROM claims c JOIN decisions d USING (claim_id) WHERE c.source = '$SRC'")" \
	"$N $(file_lines "$TEST_LOGS/frozen-claims.json")"
check_eq "counters (daily and yearly) equal the sum of their decisions" "$(counter_mismatches "$SRC")" 0
check_eq "one payment per claim with an AMC share, equal to it" \
	"$(sql "SELECT count(*) FROM claims c
	  LEFT JOIN (SELECT claim_id, sum(amc_cents) amc FROM decisions GROUP BY 1) d USING (claim_id)
	  LEFT JOIN payments p USING (claim_id)
	  WHERE c.source = '$SRC' AND coalesce(p.amount_cents, 0) <> coalesce(d.amc, 0)")" 0
report
