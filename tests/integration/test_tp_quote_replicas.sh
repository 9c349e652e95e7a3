#!/usr/bin/env bash
# test_tp_quote_replicas.sh - quotes keep flowing when one of two workers
# cannot serve them
#
# A front door deals quotes round-robin to the reimbursement workers
# connected to it. Two replicas serve one front door; each time one of
# them cannot answer, every quote must still be computed by the other:
#  - one whose database is away (its own role refused, its sessions
#    ended) leaves the front door until the database is back, then
#    serves again (before: it kept its share and answered UNAVAILABLE);
#  - one that is stopped (SIGSTOP: connected, silent) is dropped by the
#    heartbeats after 3 s (before: its share waited and timed out).
# And one professional sending a burst holds at most its share of the
# front door's slots for requests in flight: the others still get one.
source "$(dirname "$0")/../lib.sh"

P="4${RUN_ID: -5}"
LOG="$TEST_LOGS/tp-quote-replicas-$RUN_ID.log"
create_members "$P" 1 CONFORT
own_role quoter
STOPPED=
cleanup() {
	[ -n "$STOPPED" ] && kill -CONT "$STOPPED" 2>/dev/null
	stop_all
	drop_own_role
}
trap cleanup EXIT

tp_client tcp://127.0.0.1:5742
check "keys: register a pharmacy" "$BIN/claimctl" tp register --kind RPPS \
	--id "4${RUN_ID: -5}00002" --public-key "$CLAIMS_TP_PUBLIC_KEY" >/dev/null
keypair OTHER
check "keys: register another pharmacy" "$BIN/claimctl" tp register --kind RPPS \
	--id "4${RUN_ID: -5}00003" --public-key "$OTHER_PUB" >/dev/null

DOOR=tcp://127.0.0.1:5743
start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9181 CLAIMS_QUOTE_CONNECT=$DOOR
STEADY=$LAST_PID
start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9182 CLAIMS_QUOTE_CONNECT=$DOOR \
	CLAIMS_PG_DSN="$DSN" CLAIMS_MAX_STEP_ERRORS=100000
HELD=$LAST_PID
start_daemon tpgate "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9183 CLAIMS_TP_SERVER_SECRET="$SERVER_SEC" \
	CLAIMS_TP_QUOTE_ENDPOINT=$DOOR CLAIMS_TP_INTAKE_ENDPOINT=tcp://127.0.0.1:5749 \
	CLAIMS_TP_MAX_IN_FLIGHT=8 CLAIMS_TP_MAX_IN_FLIGHT_PER_PRO=4 \
	CLAIMS_TP_GROUP="tpgate-quotes-$RUN_ID"
for port in 9181 9182 9183; do
	check "daemon on :$port up" wait_for 30 curl -fs -o /dev/null "http://127.0.0.1:$port/health"
done

cat >"$TEST_LOGS/quote-replicas-lines.json" <<JSON
[{"line_ref":"1","act_code":"G","category":"CONSULT_GP","care_date":"2026-03-10","charged_cents":3000,"brss_cents":3000,"amo_rate":70}]
JSON
quotes() { # quotes N: the outcome of each (a quote id's length, or the error)
	local i
	for ((i = 0; i < $1; i++)); do
		"$BIN/claimctl" tp quote --member "${P}00001" "$TEST_LOGS/quote-replicas-lines.json" \
			2>>"$LOG" | jq -r 'if .quote_id then (.quote_id | length | tostring) else .error end'
	done | sort | uniq -c | awk '{ print $2 "x" $1 }' | tr '\n' ' '
}
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 + 0 }'; }
served() { metric "$1" reimburse_quotes_total; }
serving() { [ "$(metric 9182 reimburse_quote_serving)" = "$1" ]; }

both() { [ "$(quotes 1)" = "36x1 " ]; }
check "both workers connected: a quote answered" wait_for 30 both
check_eq "both workers: 20 quotes computed" "$(quotes 20)" "36x20 "
check "both workers: each served some" test "$(served 9181)" -gt 0 -a "$(served 9182)" -gt 0

# ---- one worker's database away ------------------------------------------------
sql "ALTER ROLE $ROLE NOLOGIN" >/dev/null
sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '$ROLE'" >/dev/null
check "database away: the worker leaves the front door" wait_for 15 serving 0
check_eq "database away: 20 quotes, all computed by the other" "$(quotes 20)" "36x20 "
check "database away: the worker still runs" kill -0 "$HELD"

sql "ALTER ROLE $ROLE LOGIN" >/dev/null
check "database back: the worker serves again" wait_for 30 serving 1
before=$(served 9182)
check_eq "database back: 20 quotes computed" "$(quotes 20)" "36x20 "
check "database back: ... some by the worker that was away" test "$(served 9182)" -gt "$before"

# ---- one professional's burst -------------------------------------------------------
# The workers held (their reading of the counters waits on a lock), a
# professional sends 10 quotes at once: 4 (CLAIMS_TP_MAX_IN_FLIGHT_PER_PRO)
# wait for a worker and time out, 6 are told BUSY at once; another
# professional still gets one of the 8 slots (CLAIMS_TP_MAX_IN_FLIGHT),
# which the first would otherwise all hold (its quote waits, and times
# out too).
# Quotes answered in more than a second, as the door's histogram has them.
slow_quotes() {
	curl -s http://127.0.0.1:9183/metrics | awk '
		$1 == "tpgate_request_seconds_count{type=\"quote\"}" { n = $2 }
		$1 == "tpgate_request_seconds_bucket{type=\"quote\",le=\"1\"}" { fast = $2 }
		END { print n - fast }'
}
slow_before=$(slow_quotes)
check "burst: the workers' counters locked" hold_lock consumption_counters 120
PROBE_MEMBER="${P}00001" "$(dirname "$BIN")/tests/integration/probe_tp_load" burst 10 \
	>"$TEST_LOGS/quote-burst-$RUN_ID.txt" 2>>"$LOG" &
prober=$!
worker_waits() {
	[ "$(sql "SELECT count(*) FROM pg_locks WHERE relation = 'consumption_counters'::regclass
		AND NOT granted")" -ge 1 ]
}
check "burst: a worker waits on the lock with the first quotes" wait_for 10 worker_waits
other=$(CLAIMS_TP_PUBLIC_KEY=$OTHER_PUB CLAIMS_TP_SECRET_KEY=$OTHER_SEC "$BIN/claimctl" tp quote \
	--member "${P}00001" "$TEST_LOGS/quote-replicas-lines.json" 2>>"$LOG" | jq -r '.error // "quoted"')
wait "$prober"
release_lock # once every quote of the burst is answered (BUSY or TIMEOUT)
check_eq "burst: 4 in flight (then TIMEOUT), 6 BUSY" \
	"$(sort -k2 "$TEST_LOGS/quote-burst-$RUN_ID.txt" | tr '\n' ' ')" "6 BUSY 4 TIMEOUT "
check_eq "burst: another professional still gets a slot (not BUSY)" "$other" TIMEOUT
check_eq "burst: the door's latency histogram counts the 5 TIMEOUTs, each past 1 s" \
	"$(($(slow_quotes) - slow_before))" 5
check_eq "burst: once the workers are free, quotes computed" "$(quotes 5)" "36x5 "

# ---- one worker stopped ------------------------------------------------------------
kill -STOP "$STEADY"
STOPPED=$STEADY
sleep 5 # the heartbeats' 3 s, and a margin
check_eq "worker stopped: 20 quotes, all computed by the other" "$(quotes 20)" "36x20 "
kill -CONT "$STEADY"
STOPPED=
check "worker resumed: it runs" kill -0 "$STEADY"
report
