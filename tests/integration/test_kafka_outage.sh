#!/usr/bin/env bash
# test_kafka_outage.sh - intake with no Kafka to publish to, then with a
# broker that stalls
#
# An intake daemon whose brokers are unreachable (a closed port): the
# claims submitted on its socket are still recorded and answered, their
# claims.accepted events wait in the outbox, and the failing relay does
# not count as failed steps (with CLAIMS_MAX_STEP_ERRORS=1 the daemon
# would have exited at the first). Then a normal intake publishes them.
#
# Then the broker stalls: stopped (SIGSTOP) for 25 s, its connections
# open, with 3,000 events pending on a topic of the test's own. Every
# relay pass in the meantime gives up after its 5 s wait; what the
# producer had not sent is taken back, and no pass produces while an
# earlier one's messages are in flight (those are heard when the broker
# answers, and not sent again), so once the broker is back (SIGCONT)
# every event is on the topic, and none more than twice (before, each
# pass of the stall added a copy: up to five). This stops the one
# broker of tools/infra/infra.sh for 25 s: run it alone.
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

# ---- the broker stalls --------------------------------------------------------------
# broker_pid: the broker's process: the one listening on the brokers'
# port (ss names it to its owner and to root), else infra.sh's pid file.
broker_pid() {
	local port=${CLAIMS_KAFKA_BROKERS##*:} pid
	pid=$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1)
	pid=${pid#pid=}
	[ -n "$pid" ] || pid=$(cat .infra/kafka/kafka.pid 2>/dev/null)
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}
STOPPED=
resume_broker() {
	[ -n "$STOPPED" ] && kill -CONT "$STOPPED" 2>/dev/null
	STOPPED=
}
trap 'resume_broker; stop_all' EXIT
STALL="stall.$RUN_ID"
N=3000
tools/infra/infra.sh topic "$STALL" 12 >/dev/null
# stall_events KEY_PREFIX COUNT: events to the test's topic, keyed
# PREFIX1..PREFIXn, through the outbox: the running intake's relay
# publishes them.
stall_events() {
	sql "INSERT INTO outbox (message_id, topic, key, msg_type, payload)
	     SELECT gen_random_uuid(), '$STALL', '$1' || i, 1, '\\x00' FROM generate_series(1, $2) i" >/dev/null
}
stall_queued() { sql "SELECT count(*) FROM outbox_queue JOIN outbox USING (event_id) WHERE topic = '$STALL'"; }
stall_empty() { [ "$(stall_queued)" = 0 ]; }
# One event first, so that the producer knows the topic's partitions and
# has its connections up when the broker stops: requests are then in
# flight, not waiting for metadata.
stall_events warm 1
check "stall: the topic is published to" wait_for 60 stall_empty
BROKER=$(broker_pid)
check "stall: the broker's process found (port ${CLAIMS_KAFKA_BROKERS##*:})" test -n "$BROKER"
if [ -n "$BROKER" ]; then
	seen=$(wc -l <"$LOG")
	kill -STOP "$BROKER"
	STOPPED=$BROKER
	stall_events k "$N"
	sleep 25 # the stall itself: several relay passes give up meanwhile
	resume_broker
	broker_answers() { kcat -b "$CLAIMS_KAFKA_BROKERS" -L -m 5 >/dev/null 2>&1; }
	check "stall: the broker answers again" wait_for 60 broker_answers
	check "stall: the pending events are published once it is back" wait_for 180 stall_empty
	copies=$(kcat -C -b "$CLAIMS_KAFKA_BROKERS" -t "$STALL" -o beginning -e -q -f '%k\n' 2>/dev/null |
		grep '^k[0-9]' | sort | uniq -c)
	check_eq "stall: every event is on the topic" "$(grep -c . <<<"$copies")" "$N"
	check_eq "stall: no event on it more than twice" "$(awk '$1 > 2' <<<"$copies" | wc -l)" 0
	echo "# stall: $(awk '$1 == 2' <<<"$copies" | wc -l) of $N events twice (no answer to their request)"
	stalled=$(tail -n "+$((seen + 1))" "$LOG")
	check "stall: the relay took back what it had not sent" \
		grep -q 'messages not sent yet given up' <<<"$stalled"
	check_eq "stall: the producer never went into a fatal state" \
		"$(grep -c 'kafka fatal error' <<<"$stalled")" 0
fi
report
