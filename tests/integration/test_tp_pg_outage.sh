#!/usr/bin/env bash
# test_tp_pg_outage.sh - the tiers-payant front door when PostgreSQL stops
# answering
#
# The front door reaches PostgreSQL through a relay of its own (socat on a
# spare port; the shared server is never touched). Its sessions are then
# cut, and the port keeps accepting connections that never answer, as a
# partitioned or frozen server would. One professional, in one session,
# keeps asking the rights of a member cached in Redis; the front door:
#  - keeps answering them, each at once: its loop never waits out a
#    connection attempt to the silent server (before, it did, twice a
#    second, and nearly every request waited seconds or timed out);
#  - says so on /health (503 naming the database) and keeps running;
#  - is itself again once the server answers (the relay back);
#  - with the server slow for the queries of one table (a lock held),
#    keeps answering from Redis while the requests needing that table
#    are refused UNAVAILABLE.
source "$(dirname "$0")/../lib.sh"

P="6${RUN_ID: -5}"
LOG="$TEST_LOGS/tp-pg-$RUN_ID.log"
PORT=55499
create_members "$P" 1 CONFORT

pg_port=$(sed -n 's|.*@[^:/]*:\([0-9]*\)/.*|\1|p' <<<"$CLAIMS_PG_DSN")
RELAYED_DSN=${CLAIMS_PG_DSN/:$pg_port\//:$PORT/}
RELAY_PID=
relay() { # relay forward|silent: what answers on PORT
	if [ "$1" = forward ]; then
		setsid socat TCP-LISTEN:$PORT,bind=127.0.0.1,fork,reuseaddr TCP:127.0.0.1:"$pg_port" 2>>"$LOG" &
	else
		setsid socat TCP-LISTEN:$PORT,bind=127.0.0.1,fork,reuseaddr SYSTEM:'sleep 600' 2>>"$LOG" &
	fi
	RELAY_PID=$!
	wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null
}
relay_stop() { # the relay and every connection it holds
	[ -n "$RELAY_PID" ] && kill -TERM -- "-$RELAY_PID" 2>/dev/null
	[ -n "$RELAY_PID" ] && wait "$RELAY_PID" 2>/dev/null
	RELAY_PID=
}
cleanup() {
	relay_stop
	stop_all
}
trap cleanup EXIT

# served_meanwhile WHAT FROM_MS AT_LEAST WAIT_MS: the probe's requests sent
# from FROM_MS on (in $OUT) were at least AT_LEAST, each answered with the
# cached rights, none waiting WAIT_MS or more
served_meanwhile() {
	local what=$1 from=$2 least=$3 limit=$4 after count
	after=$(awk -v t="$from" '$1 ~ /^[0-9]+$/ && $1 + 0 >= t' "$OUT")
	count=$(grep -c . <<<"$after")
	check "$what: requests were sent meanwhile ($count)" test "$count" -ge "$least"
	check_eq "$what: every one answered with the cached rights" \
		"$(awk '$3 != "open"' <<<"$after" | head -n 3)" ""
	check_eq "$what: none waited $limit ms or more" \
		"$(awk -v l="$limit" '$2 >= l' <<<"$after" | head -n 3)" ""
}

tp_client tcp://127.0.0.1:5732
check "keys: register a pharmacy" "$BIN/claimctl" tp register --kind RPPS \
	--id "6${RUN_ID: -5}00001" --public-key "$CLAIMS_TP_PUBLIC_KEY" >/dev/null
if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then
	fail "relay" "port $PORT already answers: another program holds it; stop it and run again"
	report
	exit 1
fi
check "relay to PostgreSQL started" relay forward
HEALTH=http://127.0.0.1:9199/health
health() { curl -s -o /dev/null -w '%{http_code}' "$HEALTH"; }
start_daemon tpgate "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9199 CLAIMS_TP_SERVER_SECRET="$SERVER_SEC" \
	CLAIMS_PG_DSN="$RELAYED_DSN" CLAIMS_TP_QUOTE_ENDPOINT=tcp://127.0.0.1:5733 \
	CLAIMS_TP_GROUP="tpgate-pg-$RUN_ID"
TPGATE_PID=$LAST_PID
check "through the relay: /health 200" wait_for 30 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $HEALTH)\" = 200 ]"

OUT="$TEST_LOGS/tp-pg-steady-$RUN_ID.txt"
: >"$OUT"
PROBE_MEMBER="${P}00001" "$(dirname "$BIN")/tests/integration/probe_tp_load" steady 20 >"$OUT" 2>>"$LOG" &
probe=$!
check "a session, the member's rights cached" wait_for 30 grep -q '^ready$' "$OUT"
sleep 2
relay_stop
check "the server silent: connections accepted, never answered" relay silent
silent_from=$(($(tail -n 1 "$OUT" | cut -d' ' -f1) + 0))
wait "$probe"
check_eq "the probe ran to its end" "$?" 0

# Requests sent after the silence began (less the first second, the
# loop's session finding itself cut): each answered, at once.
served_meanwhile "silent server" $((silent_from + 1000)) 40 1000
check_eq "silent server: /health 503" "$(health)" 503
check "silent server: /health names the database" bash -c "curl -s $HEALTH | grep -q database"
check "silent server: the front door keeps running" kill -0 "$TPGATE_PID"

relay_stop
check "the server answers again" relay forward
check "server back: /health 200 again" wait_for 30 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $HEALTH)\" = 200 ]"
check_eq "server back: a new session, rights answered" \
	"$("$BIN/claimctl" tp eligibility --member "${P}00001" 2>>"$LOG" | jq .rights_open)" true
# A server slow for every query that needs one table (a migration's lock):
# the loop's first query on it waits out its statement_timeout (1 s), the
# loop's next queries fail at once for 5 s (UNAVAILABLE), and the requests
# answered from Redis go on. Before, each INVOICE_STATUS held the loop for
# its full second, and the cached rights waited behind all eight of them.
: >"$OUT"
PROBE_MEMBER="${P}00001" "$(dirname "$BIN")/tests/integration/probe_tp_load" steady 12 >"$OUT" 2>>"$LOG" &
probe=$!
check "slow server: a session, the member's rights cached" wait_for 30 grep -q '^ready$' "$OUT"
check "slow server: claim_rejections locked" hold_lock claim_rejections 8
locked_from=$(($(tail -n 1 "$OUT" | cut -d' ' -f1) + 0))
STATUS_OUT="$TEST_LOGS/tp-pg-status-$RUN_ID.txt"
: >"$STATUS_OUT"
asking=()
for i in 1 2 3 4 5 6 7 8; do
	"$BIN/claimctl" tp status --invoice-id "slow-$RUN_ID-$i" >>"$STATUS_OUT" 2>&1 &
	asking+=($!)
done
wait "${asking[@]}"
wait "$probe"
check_eq "the probe ran to its end" "$?" 0
release_lock
served_meanwhile "slow server" "$locked_from" 20 2500
check "slow server: the statuses were refused UNAVAILABLE" grep -q UNAVAILABLE "$STATUS_OUT"
check "slow server: the pause was logged" grep -q 'fail at once for the next 5000 ms' "$LOG"

stop_daemon "$TPGATE_PID"
check_eq "SIGTERM: exits 0" "$?" 0
report
