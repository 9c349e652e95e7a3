#!/usr/bin/env bash
# test_worker_outage.sh - a worker whose database is away keeps its place
# in the group
#
# One reimburse replica loses its own database connections (its role may
# no longer log in, its sessions are ended) while the broker and the other clients are fine, and holds a
# message it cannot commit. It must go on polling: a consumer that stops
# polling holds every rebalance of its group up until the broker evicts
# it (max.poll.interval.ms, 60 s), and with it every other replica. Here
# a new member of the group (kcat, committing nothing) is given its
# partitions within 20 s; once the database is back the held message is
# handled (a dead letter: it is not a claim) and the replica is alive.
# Last, a table held by another transaction (a migration, an operator's
# transaction left open): the replica's statement waiting for it is
# cancelled after CLAIMS_PG_STATEMENT_SECONDS (2 s here), its batch read
# again once the table is free, rather than the worker waiting, not
# polling, for as long as the lock is held.
source "$(dirname "$0")/../lib.sh"
LOG="$TEST_LOGS/worker-outage-$RUN_ID.log"
# The replica logs in as a role of its own (a member of the owner's, so
# with its rights): refusing that role's logins, and ending its
# sessions, takes the database away from it alone.
own_role held
cleanup() {
	stop_all
	drop_own_role
}
trap cleanup EXIT
metric() { curl -s "http://127.0.0.1:9186/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

# The replica, in the group every reimburse replica joins, so that it
# starts at the committed offsets; nothing else of the group runs now.
start_daemon reimburse "$LOG" CLAIMS_PG_DSN="$DSN" CLAIMS_METRICS_ADDR=127.0.0.1:9186 \
	CLAIMS_MAX_STEP_ERRORS=100000 CLAIMS_QUOTE_CONNECT= CLAIMS_LOG_LEVEL=info \
	CLAIMS_PG_STATEMENT_SECONDS=2
HELD=$LAST_PID
check "the replica is up" wait_for 30 curl -fs -o /dev/null http://127.0.0.1:9186/health
# Its first assignment (the broker delays a new group's first by 3 s).
check "the replica is given its partitions" wait_for 30 grep -qs "kafka: assigned" "$LOG"

# Its database goes away: no more logins for its role, its sessions ended.
sql "ALTER ROLE $ROLE NOLOGIN" >/dev/null
sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '$ROLE'" >/dev/null
check "database away: /health says so" wait_for 15 \
	bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9186/health)\" = 503 ]"

before=$(metric worker_dead_letters_total)
given_back=$(metric worker_batches_given_back_total)
printf 'not-a-claim-%s' "$RUN_ID" | kcat -P -b "$CLAIMS_KAFKA_BROKERS" -t claims.accepted -k "held-$RUN_ID"
handed_back() { [ "$(metric worker_batches_given_back_total)" -gt "$given_back" ]; }
check "database away: the message polled, and handed back uncommitted" wait_for 30 handed_back

start=$SECONDS
timeout 40 kcat -b "$CLAIMS_KAFKA_BROKERS" -G reimburse -X enable.auto.commit=false \
	-o end claims.accepted >/dev/null 2>"$TEST_LOGS/worker-outage-kcat-$RUN_ID.err" &
joiner=$!
check "database away: a new member of the group is given partitions within 20 s" \
	wait_for 20 grep -qs "rebalanced.*assigned: claims.accepted" "$TEST_LOGS/worker-outage-kcat-$RUN_ID.err"
echo "   (assigned after $((SECONDS - start)) s)"
kill "$joiner" 2>/dev/null
wait "$joiner" 2>/dev/null

sql "ALTER ROLE $ROLE LOGIN" >/dev/null
check "database back: the held message is handled (a dead letter, counted)" \
	wait_for 60 bash -c "$(declare -f metric); [ \"\$(metric worker_dead_letters_total)\" = $((before + 1)) ]"
check "the replica is still running" kill -0 "$HELD"
check_eq "the dead letter names the message" \
	"$(sql "SELECT count(*) FROM outbox WHERE topic = 'claims.accepted.dlq' AND key = 'held-$RUN_ID'")" 1

# The outbox held for 8 s by another transaction.
before=$(metric worker_dead_letters_total)
given_back=$(metric worker_batches_given_back_total)
psql -X -q "$CLAIMS_PG_DSN" -c "BEGIN; LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE;
	SELECT pg_sleep(8); COMMIT" >/dev/null 2>&1 &
holder=$!
outbox_locked() {
	[ "$(sql "SELECT count(*) FROM pg_locks WHERE relation = 'outbox'::regclass
		AND mode = 'AccessExclusiveLock' AND granted")" = 1 ]
}
check "table held: the outbox locked by another transaction" wait_for 10 outbox_locked
printf 'not-a-claim-%s' "$RUN_ID" | kcat -P -b "$CLAIMS_KAFKA_BROKERS" -t claims.accepted -k "locked-$RUN_ID"
check "table held: the waiting statement cancelled after 2 s, the batch handed back" \
	wait_for 7 bash -c "$(declare -f metric); [ \"\$(metric worker_batches_given_back_total)\" -gt $given_back ]"
check "table held: ... said in the log" grep -q "statement timeout" "$LOG"
wait "$holder"
check "table free: the message handled (a dead letter)" \
	wait_for 60 bash -c "$(declare -f metric); [ \"\$(metric worker_dead_letters_total)\" = $((before + 1)) ]"
check "the replica is still running" kill -0 "$HELD"
report
