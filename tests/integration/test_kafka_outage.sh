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
kill -TERM "$AWAY"
wait "$AWAY"
check_eq "Kafka away: SIGTERM exits 0" "$?" 0

start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=
published() {
	[ "$(sql "SELECT count(q.event_id) FROM outbox o LEFT JOIN outbox_queue q USING (event_id) JOIN claims c
	          ON o.topic = 'claims.accepted' AND o.key = c.contract_id::text
	          WHERE c.source = '$SRC'")" = 0 ]
}
check "Kafka back: the waiting events are published" wait_for 60 published

# ---- a topic not made yet --------------------------------------------------------
# An event to a topic that does not exist (a release ahead of its
# topics) is not set aside as if Kafka could never take it: it waits,
# past the client's own 30 s of waiting for a topic to appear, and goes
# once the topic is made. (The event behind it, to another topic, goes
# out when a pass reaches it; none is lost.)
tools/infra/infra.sh topic "behind.$RUN_ID" 1 >/dev/null
read -r late behind < <(sql "WITH added AS (
	INSERT INTO outbox (message_id, topic, key, msg_type, payload)
	SELECT gen_random_uuid(), t, 'k', 3, '\x00' FROM (VALUES (1, 'late.$RUN_ID'), (2, 'behind.$RUN_ID')) x(n, t)
	ORDER BY n RETURNING event_id)
	SELECT string_agg(event_id::text, ' ' ORDER BY event_id) FROM added")
queued() { [ "$(sql "SELECT count(*) FROM outbox_queue WHERE event_id = $1")" = 1 ]; }
sleep 40
check_eq "topic not made yet: its event is not set aside" \
	"$(sql "SELECT refused_at IS NULL FROM outbox WHERE event_id = $late")" t
check "topic not made yet: ... it waits, queued" queued "$late"
check "topic not made yet: the relay says why" grep -q "outbox event $late to late.$RUN_ID waits" "$LOG"
tools/infra/infra.sh topic "late.$RUN_ID" 1 >/dev/null
both_out() { ! queued "$late" && ! queued "$behind"; }
check "topic made: both events go" wait_for 90 both_out
check_eq "topic made: the late event is in its topic" \
	"$(kcat -C -b "$CLAIMS_KAFKA_BROKERS" -t "late.$RUN_ID" -o beginning -e -q -f '%k\n' | grep -c '^k$')" 1
report
