#!/usr/bin/env bash
# test_kafka_outage.sh - intake with no Kafka to publish to
#
# An intake daemon whose brokers are unreachable (a closed port): the
# claims submitted on its socket are still recorded and answered, their
# claims.accepted events wait in the outbox, and the failing relay does
# not count as failed steps (with CLAIMS_MAX_STEP_ERRORS=1 the daemon
# would have exited at the first). Then a normal intake publishes them.
source "$(dirname "$0")/../lib.sh"
P="2${RUN_ID: -5}"
SRC="kafka-away-$RUN_ID"
LOG="$TEST_LOGS/kafka-outage-$RUN_ID.log"
create_members "$P" 3 CONFORT

start_daemon intake "$LOG" CLAIMS_KAFKA_BROKERS=127.0.0.1:9 CLAIMS_INTAKE_ENDPOINT=tcp://127.0.0.1:5741 \
	CLAIMS_METRICS_ADDR=127.0.0.1:9198 CLAIMS_MAX_STEP_ERRORS=1 CLAIMS_INTAKE_GROUP="intake-away-$RUN_ID"
AWAY=$LAST_PID
line='"category":"CONSULT_GP","charged_cents":3000,"brss_cents":3000,"amo_rate":70'
for i in 1 2 3; do
	printf '{"source":"%s","external_id":"c%d","membership_number":"%s0000%d","lines":[{"care_date":"2026-03-10",%s}]}\n' \
		"$SRC" "$i" "$P" "$i" "$line"
done >"$TEST_LOGS/kafka-away.json"
start=$SECONDS
"$BIN/claimctl" submit --sync --endpoint tcp://127.0.0.1:5741 "$TEST_LOGS/kafka-away.json" \
	>"$TEST_LOGS/kafka-away.out" 2>>"$LOG"
check_eq "Kafka away: every submission on the socket recorded and answered" \
	"$(grep -c ' accepted ' "$TEST_LOGS/kafka-away.out")" 3
check "Kafka away: answered within the relay's bounded wait ($((SECONDS - start)) s)" test $((SECONDS - start)) -lt 20
check_eq "Kafka away: the events wait in the outbox" \
	"$(sql "SELECT count(q.event_id) FROM outbox o LEFT JOIN outbox_queue q USING (event_id) JOIN claims c
	        ON o.topic = 'claims.accepted' AND o.key = c.contract_id::text
	        WHERE c.source = '$SRC'")" 3
relay_failures() {
	curl -s http://127.0.0.1:9198/metrics | awk '$1 == "outbox_relay_failures_total" {print $2}'
}
two_failures() { [ "$(relay_failures)" -ge 2 ] 2>/dev/null; }
check "Kafka away: the relay fails, and tries again" wait_for 30 two_failures
check "Kafka away: the daemon still runs (one failed step would have stopped it)" kill -0 "$AWAY"
stop_daemon "$AWAY"
check_eq "Kafka away: SIGTERM exits 0" "$?" 0

start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=
# Off the queue (once the broker acknowledged them) and not set aside: a
# refused event leaves the queue too.
published() {
	[ "$(sql "SELECT count(*) FILTER (WHERE q.event_id IS NULL AND o.refused_at IS NULL)
	          FROM outbox o LEFT JOIN outbox_queue q USING (event_id) JOIN claims c
	          ON o.topic = 'claims.accepted' AND o.key = c.contract_id::text
	          WHERE c.source = '$SRC'")" = 3 ]
}
check "Kafka back: the waiting events are published" wait_for 60 published
report
