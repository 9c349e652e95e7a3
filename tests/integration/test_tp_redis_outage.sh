#!/usr/bin/env bash
# test_tp_redis_outage.sh - the tiers-payant front door when Redis goes away
#
# Redis holds sessions, rate limits and the rights cache, no record. With
# its own Redis (a private redis-server on a spare port, so the shared one
# is never touched), a front door:
#  - answers while Redis is there;
#  - answers UNAVAILABLE, at once and without dying, while it is gone;
#  - says so on /health (503 naming Redis), even with no traffic;
#  - serves again once Redis is back, after a new session (the old ones
#    were lost with it);
#  - a Redis demoted to a replica (read-only) counts as away;
#  - a contract changed while Redis is away has its cached rights dropped
#    once Redis is back with its data (the change is held, not skipped).
source "$(dirname "$0")/../lib.sh"

P="5${RUN_ID: -5}"
LOG="$TEST_LOGS/tp-redis-$RUN_ID.log"
PORT=56391
REDIS_DIR=$(mktemp -d)
create_members "$P" 2 CONFORT

# Whether the server answering on PORT is this test's own (its pid file's
# process): a server of something else on the port is never taken for
# it, nor stopped.
redis_ours() {
	[ -s "$REDIS_DIR/redis.pid" ] &&
		[ "$(redis-cli -p "$PORT" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')" = \
			"$(cat "$REDIS_DIR/redis.pid")" ]
}
redis_up() {
	redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$REDIS_DIR" --daemonize yes --pidfile "$REDIS_DIR/redis.pid" >/dev/null
	wait_for 10 redis_ours
}
redis_down() { # [save]: keep the data for the next start
	redis_ours || return 0
	redis-cli -p "$PORT" shutdown "${1:-nosave}" >/dev/null 2>&1
	wait_for 10 sh -c "! redis-cli -p $PORT ping >/dev/null 2>&1"
}
cleanup() {
	[ -f "$REDIS_DIR/redis.pid" ] && kill -CONT "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null
	redis_down
	rm -rf "$REDIS_DIR"
	stop_all
}
trap cleanup EXIT

tp_client tcp://127.0.0.1:5722
export CLAIMS_REDIS_URL=redis://127.0.0.1:$PORT
if redis-cli -p "$PORT" ping >/dev/null 2>&1; then
	fail "private Redis" "port $PORT already answers: another server holds it; stop it and run again"
	report
	exit 1
fi
check "private Redis started" redis_up
check "keys: register a pharmacy" "$BIN/claimctl" tp register --kind RPPS \
	--id "4${RUN_ID: -5}00001" --public-key "$CLAIMS_TP_PUBLIC_KEY" >/dev/null
HEALTH=http://127.0.0.1:9197/health
health() { curl -s -o /dev/null -w '%{http_code}' "$HEALTH"; }
start_daemon tpgate "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9197 CLAIMS_TP_SERVER_SECRET="$SERVER_SEC" \
	CLAIMS_TP_QUOTE_ENDPOINT=tcp://127.0.0.1:5723 CLAIMS_TP_GROUP="tpgate-redis-$RUN_ID"
TPGATE_PID=$LAST_PID
open_rights() { [ "$("$BIN/claimctl" tp eligibility --member "${P}00001" 2>>"$LOG" | jq .rights_open)" = true ]; }
check "with Redis: answered" wait_for 30 open_rights
check_eq "with Redis: /health 200" "$(health)" 200

redis_down
health_down() { [ "$(health)" = 503 ] && curl -s "$HEALTH" | grep -q Redis; }
check "without Redis: /health 503, naming Redis, with no request sent" wait_for 10 health_down
start=$SECONDS
got=$("$BIN/claimctl" tp eligibility --member "${P}00001" 2>>"$LOG" | jq -r '.error + " " + .message')
check "without Redis: refused with UNAVAILABLE (got: $got)" grep -q "^SESSION .*UNAVAILABLE" <<<"$got"
check "without Redis: the answer comes at once" test $((SECONDS - start)) -lt 5
check "without Redis: the front door keeps running" kill -0 "$TPGATE_PID"

check "Redis back (empty)" redis_up
check "with Redis again: answered, with a new session" wait_for 30 open_rights
check_eq "with Redis again: /health 200" "$(health)" 200

# A frozen Redis (stopped by a signal, or paused during a failover)
# still accepts connections in the kernel and answers nothing: each
# request is refused UNAVAILABLE, the front door keeps running, and it
# answers again once Redis thaws. How long the refusals took is printed
# (a timeout of 250 ms once a second, not one per request), not judged.
kill -STOP "$(cat "$REDIS_DIR/redis.pid")"
frozen_start=$(date +%s%N)
refused=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
	out=$("$BIN/claimctl" tp eligibility --member "${P}00001" 2>>"$LOG")
	grep -q UNAVAILABLE <<<"$out" && refused=$((refused + 1))
done
echo "# frozen Redis: 10 requests answered in $((($(date +%s%N) - frozen_start) / 1000000)) ms"
check_eq "frozen Redis: every request refused UNAVAILABLE" "$refused" 10
check "frozen Redis: the front door keeps running" kill -0 "$TPGATE_PID"
kill -CONT "$(cat "$REDIS_DIR/redis.pid")"
check "Redis thawed: answered again" wait_for 30 open_rights

# Redis demoted to a replica (a failover, the address still leading to
# the old primary): it answers PING and reads, and refuses every write
# READONLY. The front door says so on /health (503 naming Redis) and
# answers UNAVAILABLE; once it is a primary again, it serves.
redis-cli -p "$PORT" REPLICAOF 127.0.0.1 9 >/dev/null
check "replica Redis: /health 503, naming Redis" wait_for 10 health_down
got=$("$BIN/claimctl" tp eligibility --member "${P}00001" 2>>"$LOG" | jq -r '.error + " " + .message')
check "replica Redis: refused with UNAVAILABLE (got: $got)" grep -q "UNAVAILABLE" <<<"$got"
check "replica Redis: the front door keeps running" kill -0 "$TPGATE_PID"
redis-cli -p "$PORT" REPLICAOF NO ONE >/dev/null
check "primary again: answered" wait_for 30 open_rights
# The next look at Redis (once a second) finds it a primary.
check "primary again: /health 200" wait_for 10 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $HEALTH)\" = 200 ]"

# A contract changed while Redis is away: its contracts.changed event
# (published by intake's relay) cannot drop the cached rights yet; they
# are dropped once Redis is back with its data, not left for their TTL.
start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9198 CLAIMS_INTAKE_ENDPOINT=
rights_of_2() { "$BIN/claimctl" tp eligibility --member "${P}00002" 2>>"$LOG" | jq -r "$1"; }
cached_2() { [ "$(redis-cli -p "$PORT" STRLEN "tp:rights:${P}00002")" -gt 0 ] 2>/dev/null; }
check_eq "change while away: rights open" "$(rights_of_2 .rights_open)" true
check "change while away: ... and cached" cached_2
check "change while away: Redis stopped, its data kept" redis_down save
check "change while away: ... in its dump" test -s "$REDIS_DIR/dump.rdb"
last_event=$(sql "SELECT coalesce(max(event_id), 0) FROM outbox")
CLAIMS_REDIS_URL=redis://127.0.0.1:9 "$BIN/claimctl" contract suspend --member "${P}00002" >>"$LOG" 2>&1
check_eq "change while away: suspended (Redis away for the command too)" "$?" 0
# This change's event, off the queue and not set aside.
published() { [ "$(sql "SELECT count(*) FILTER (WHERE q.event_id IS NULL AND o.refused_at IS NULL)
	                     FROM outbox o LEFT JOIN outbox_queue q USING (event_id)
	                     WHERE o.topic = 'contracts.changed' AND o.event_id > $last_event")" = 1 ]; }
check "change while away: the change is published to Kafka" wait_for 30 published
# The front door reads its group's backlog of earlier tests' changes
# first: the change at the head of it is the one held, whichever it is.
check "change while away: a drop failed and is held" \
	wait_for 30 grep -q "cannot be dropped now; held" "$LOG"
sleep 1 # a front door that skipped what it could not drop would skip this one now
check "change while away: Redis back, with the stale rights (its dump)" redis_up
suspended_seen() { [ "$(rights_of_2 .reason)" = CONTRACT_SUSPENDED ]; }
check "change while away: the held change drops them" wait_for 30 suspended_seen
stop_daemon "$TPGATE_PID"
check_eq "SIGTERM: exits 0" "$?" 0
report
