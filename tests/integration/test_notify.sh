#!/usr/bin/env bash
# test_notify.sh - the notify daemon: a member told once about each
# decision and each payment, announced on Redis, through kills and bad input
#
#  - every decided claim gives its member exactly one in-app notification,
#    with the decision's totals, the beneficiary and the care's days, and
#    it is announced on the member's Redis channel;
#  - read again from the start (another group), the same events tell
#    nothing twice; killed with SIGKILL while it works (twice with a
#    batch waiting inside its transaction), notify loses nothing and
#    tells nothing twice; a new group by default starts at the topics'
#    end (a first deployment tells nothing of what they kept);
#  - a payment settled to the member, and returned by the bank, each give
#    one notification; a payment to a professional gives none;
#  - garbage bytes, a wrong envelope type and an event naming an unknown
#    claim land in the topic's .dlq, and notify goes on;
#  - Redis away: the notifications are recorded all the same (counted
#    as not announced); SIGTERM exits 0.
source "$(dirname "$0")/../lib.sh"

P="7${RUN_ID: -5}"
SRC="notify-$RUN_ID"
LOG="$TEST_LOGS/notify-$RUN_ID.log"
GROUP="notify-$RUN_ID"
N=200
METRICS=127.0.0.1:9196
export CLAIMS_REDIS_URL=${CLAIMS_REDIS_URL:-redis://127.0.0.1:56379}
REDIS_PORT=${CLAIMS_REDIS_URL##*:}
REDIS_PORT=${REDIS_PORT%%/*}

metric() { # metric NAME: its value on notify's endpoint (0 when absent)
	curl -s "http://$METRICS/metrics" | awk -v m="$1" '$1 == m { v = $2 } END { print v + 0 }'
}
# told SOURCE TEMPLATE: notifications of that kind about SOURCE's claims
told() {
	sql "SELECT count(*) FROM notifications n JOIN claims c USING (claim_id)
	     WHERE c.source = '$1' AND n.template = '$2'"
}
all_told() { [ "$(told "$1" "$2")" -ge "$3" ]; }
joined() { [ "$(metric worker_partitions_assigned)" -gt 0 ]; }
# start_notify [ENV=VALUE...]: notify in group $GROUP, a new group read
# from the topics' start, started and in its group (a killed member holds
# its partitions until its session times out: up to 10 s more)
start_notify() {
	start_daemon notify "$LOG" CLAIMS_METRICS_ADDR=$METRICS CLAIMS_NOTIFY_GROUP="$GROUP" \
		CLAIMS_NOTIFY_NEW_GROUP_FROM_START=true "$@"
	NOTIFY=$LAST_PID
	wait_for 30 curl -sf "http://$METRICS/health" >/dev/null &&
		wait_for 30 joined || fail "notify started in group $GROUP" "not in its group after 60 s"
}
# announced_as ID TEMPLATE MEMBER: the notification ID was announced on
# MEMBER's channel as JSON naming TEMPLATE and a claim
announced_as() {
	grep -A1 -x "member:$3:notifications" "$TEST_LOGS/notify-redis.txt" | grep -F "$1" |
		jq -e --arg t "$2" '.template == $t and .params.claim_id != null' >/dev/null
}

create_members "$P" 20 CONFORT
claims_file "$P" 20 "$N" "$SRC" >"$TEST_LOGS/notify-claims.json"

# Every announcement on any member's channel, one JSON per line.
redis-cli -p "$REDIS_PORT" --raw psubscribe 'member:*:notifications' >"$TEST_LOGS/notify-redis.txt" 2>&1 &
SUBSCRIBER=$!
trap 'kill $SUBSCRIBER 2>/dev/null; stop_all' EXIT
wait_for 10 grep -q psubscribe "$TEST_LOGS/notify-redis.txt"

start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9197
start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9198 CLAIMS_QUOTE_CONNECT=
start_notify
check "claims submitted" "$BIN/claimctl" submit "$TEST_LOGS/notify-claims.json"
check "claims decided" wait_for 120 all_decided "$SRC" "$N"
check "each decided claim told to its member" wait_for 60 all_told "$SRC" reimbursement_computed "$N"
check_eq "... once, in the app, to the contract's holder, about its claim" \
	"$(sql "SELECT count(*), count(DISTINCT n.claim_id), count(*) FILTER (WHERE n.channel = 'in_app'
	          AND n.status = 'sent' AND n.member_id = ct.member_id)
	        FROM notifications n JOIN claims c USING (claim_id) JOIN contracts ct USING (contract_id)
	        WHERE c.source = '$SRC'")" "$N|$N|$N"
check_eq "... with the decision's totals, the beneficiary and the care's days" \
	"$(sql "SELECT count(*) FROM notifications n JOIN claims c USING (claim_id)
	        JOIN (SELECT claim_id, sum(charged_cents) ch, sum(amo_paid_cents) amo, sum(amc_cents) amc,
	                sum(rac_cents) rac FROM decisions GROUP BY claim_id) d USING (claim_id)
	        JOIN (SELECT claim_id, min(care_date) d0 FROM claim_lines GROUP BY claim_id) l USING (claim_id)
	        WHERE c.source = '$SRC' AND (n.params->>'charged_cents')::bigint = d.ch
	          AND (n.params->>'amo_paid_cents')::bigint = d.amo AND (n.params->>'amc_cents')::bigint = d.amc
	          AND (n.params->>'rac_cents')::bigint = d.rac AND n.params->>'outcome' = 'complete'
	          AND n.params->>'beneficiary' = 'Member' AND n.params->>'claim_id' = c.claim_id::text
	          AND (n.params->>'care_from')::date = l.d0 AND (n.params->>'care_to')::date = l.d0")" "$N"
sql "SELECT n.notification_id FROM notifications n JOIN claims c USING (claim_id)
     WHERE c.source = '$SRC'" >"$TEST_LOGS/notify-ids.txt"
announced() {
	[ "$(grep -o -F -f "$TEST_LOGS/notify-ids.txt" "$TEST_LOGS/notify-redis.txt" | sort -u | wc -l)" -ge "$N" ]
}
check "each announced on Redis" wait_for 20 announced
one=$(sql "SELECT n.member_id || ' ' || n.notification_id FROM notifications n JOIN claims c USING (claim_id)
           WHERE c.source = '$SRC' LIMIT 1")
check "... on its member's channel, as JSON naming its template" \
	announced_as "${one#* }" reimbursement_computed "${one%% *}"
check_eq "metrics: recorded counted" "$(($(metric notify_recorded_total) >= N))" 1
stop_daemon "$NOTIFY"
check_eq "SIGTERM: notify exits 0" "$?" 0

# ---- the same events again: nothing told twice ---------------------------------
# A new group read from the start goes through every event the topics
# keep, this test's among them: until its count of messages stands
# still, then every one it read was told before.
messages() { metric 'worker_messages_total{topic="reimbursements.computed,payments.settled"}'; }
still() { # the count of messages read stands still for 2 s, above 0
	local a b
	a=$(messages)
	sleep 2
	b=$(messages)
	[ "$a" = "$b" ] && [ "$b" -gt 0 ]
}
GROUP="notify-again-$RUN_ID"
start_notify
check "read again from the topics' start (another group): all read" wait_for 180 still
check_eq "... this test's events among those found told before" \
	"$(($(metric notify_repeated_total) >= N))" 1
check_eq "... nothing told twice" "$(told "$SRC" reimbursement_computed)" "$N"
stop_daemon "$NOTIFY" >/dev/null

# ---- a new group, by default, starts at the end, once ------------------------------
# Its partitions' ends are committed when first assigned: stopped, then
# started again, it reads what came meanwhile, even on partitions it had
# read nothing of (a start at the end made again at each assignment
# would skip it).
start_default() {
	start_daemon notify "$LOG" CLAIMS_METRICS_ADDR=$METRICS CLAIMS_NOTIFY_GROUP="$GROUP"
	NOTIFY=$LAST_PID
	wait_for 30 curl -sf "http://$METRICS/health" >/dev/null
	check "new group: notify in its group" wait_for 30 joined
}
GROUP="notify-new-$RUN_ID"
start_default
sleep 3
check_eq "new group: nothing of what the topics kept is read" "$(messages)" 0
stop_daemon "$NOTIFY" >/dev/null
SRC4="notify-later-$RUN_ID"
claims_file "$P" 20 20 "$SRC4" >"$TEST_LOGS/notify-claims-4.json"
check "new group: claims decided while it is stopped" "$BIN/claimctl" submit "$TEST_LOGS/notify-claims-4.json"
check "new group: ... decided" wait_for 60 all_decided "$SRC4" 20
start_default
check "new group: started again, it tells them all" wait_for 60 all_told "$SRC4" reimbursement_computed 20
stop_daemon "$NOTIFY" >/dev/null

# ---- killed while it works ------------------------------------------------------
# A backlog of 4,000 decisions, read two at a time (a commit each):
# notify is killed with SIGKILL twice at a random moment while it works
# through it, then, once it has caught up, twice with a batch of new
# decisions waiting inside its transaction (the table locked against
# writes after notify's start: a lock held before it would stop its
# start itself). Then it tells the rest, and each claim once.
GROUP="notify-$RUN_ID"
SRC2="notify-kill-$RUN_ID"
N2=4000
claims_file "$P" 20 "$N2" "$SRC2" >"$TEST_LOGS/notify-claims-2.json"
check "kill: claims submitted" "$BIN/claimctl" submit "$TEST_LOGS/notify-claims-2.json"
check "kill: claims decided" wait_for 180 all_decided "$SRC2" "$N2"
kills=0
for round in 1 2; do
	t0=$(told "$SRC2" reimbursement_computed)
	start_notify CLAIMS_NOTIFY_BATCH=2
	WAIT_STEP=0.05 wait_for 60 all_told "$SRC2" reimbursement_computed $((t0 + 40))
	sleep 0.0$((RANDOM % 10))
	kill -KILL "$NOTIFY" 2>/dev/null
	wait "$NOTIFY" 2>/dev/null
	t1=$(told "$SRC2" reimbursement_computed)
	echo "# round $round: told $t0 -> $t1 of $N2"
	[ "$t1" -gt "$t0" ] && [ "$t1" -lt "$N2" ] && kills=$((kills + 1))
done
blocked() { # notify's statement waits for the table's lock
	[ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
	          AND application_name = 'notify' AND query LIKE '%INSERT INTO notifications%'")" -ge 1 ]
}
caught_up() { # SRC2's claims, and those of the rounds before, all told
	all_told "$SRC2" reimbursement_computed "$N2" &&
		{ [ "$1" -lt 4 ] || all_told "$SRC2-3" reimbursement_computed 10; }
}
for round in 3 4; do
	start_notify CLAIMS_NOTIFY_BATCH=2
	wait_for 120 caught_up "$round" || fail "kill: round $round" "notify did not catch up"
	more="$SRC2-$round"
	claims_file "$P" 20 10 "$more" >"$TEST_LOGS/notify-claims-$round.json"
	hold_lock notifications 60 EXCLUSIVE
	"$BIN/claimctl" submit "$TEST_LOGS/notify-claims-$round.json" >>"$LOG" 2>&1
	wait_for 60 blocked && kills=$((kills + 1))
	kill -KILL "$NOTIFY" 2>/dev/null
	wait "$NOTIFY" 2>/dev/null
	release_lock
	check_eq "kill: round $round: killed with a batch in its transaction, nothing of it recorded" \
		"$(told "$more" reimbursement_computed)" 0
done
check "kill: notify killed (SIGKILL) while busy, four times ($kills)" test "$kills" -ge 4
start_notify
check "kill: every claim told in the end" wait_for 120 all_told "$SRC2" reimbursement_computed "$N2"
check "kill: ... and those of the batches killed in their transaction" \
	wait_for 60 all_told "$SRC2-3" reimbursement_computed 10
check "kill: ..." wait_for 60 all_told "$SRC2-4" reimbursement_computed 10
check_eq "kill: ... each once" \
	"$(sql "SELECT count(*), count(DISTINCT n.claim_id) FROM notifications n JOIN claims c USING (claim_id)
	        WHERE c.source IN ('$SRC2', '$SRC2-3', '$SRC2-4')")" "$((N2 + 20))|$((N2 + 20))"

# ---- payments --------------------------------------------------------------------
CLAIM=$(sql "SELECT c.claim_id FROM claims c JOIN payments p USING (claim_id)
             WHERE c.source = '$SRC' AND p.payee = 'member' AND p.status = 'pending' LIMIT 1")
AMOUNT=$(sql "SELECT amount_cents FROM payments WHERE claim_id = '$CLAIM'")
RUN="notify-run-$RUN_ID"
sql "INSERT INTO payment_runs (run_id, max_payments, payments, amount_cents) VALUES ('$RUN', 2, 2, 0)" >/dev/null
sql "UPDATE payments SET status = 'sent', run_id = '$RUN', sent_at = now() WHERE claim_id = '$CLAIM'" >/dev/null
printf '%s %s REF-%s\n' "$CLAIM" "$AMOUNT" "$RUN_ID" >"$TEST_LOGS/notify-pay.txt"
check "payment: settled to the member" "$BIN/claimctl" payments settle "$TEST_LOGS/notify-pay.txt" >>"$LOG"
check "payment: told, once" wait_for 30 all_told "$SRC" reimbursement_paid 1
check_eq "payment: ... with its amount and the transfer's reference" \
	"$(sql "SELECT count(*), min(params->>'amount_cents'), min(params->>'bank_reference'),
	          min(params->>'paid_at') IS NOT NULL FROM notifications
	        WHERE claim_id = '$CLAIM' AND template = 'reimbursement_paid'")" "1|$AMOUNT|REF-$RUN_ID|t"
printf '%s %s AC04 REF-%s\n' "$CLAIM" "$AMOUNT" "$RUN_ID" >"$TEST_LOGS/notify-return.txt"
check "payment: returned by the bank" "$BIN/claimctl" payments return "$TEST_LOGS/notify-return.txt" >>"$LOG"
check "payment: the return told" wait_for 30 all_told "$SRC" payment_returned 1
check "payment: announced to the member as it happened" wait_for 20 \
	announced_as "$(sql "SELECT notification_id FROM notifications WHERE claim_id = '$CLAIM'
	                     AND template = 'payment_returned'")" payment_returned \
	"$(sql "SELECT member_id FROM notifications WHERE claim_id = '$CLAIM' LIMIT 1")"
check_eq "payment: ... with the bank's reason" \
	"$(sql "SELECT params->>'reason', params->>'was_paid', params->>'amount_cents' FROM notifications
	        WHERE claim_id = '$CLAIM' AND template = 'payment_returned'")" "AC04|true|$AMOUNT"

"$BIN/claimctl" claim "$CLAIM" >"$TEST_LOGS/notify-claim.txt"
check_eq "claimctl claim: what the member was told of it, in order" \
	"$(sed -n '/^told the member$/,$p' "$TEST_LOGS/notify-claim.txt" | awk 'NR > 1 { print $4 }' | paste -sd' ')" \
	"reimbursement_computed reimbursement_paid payment_returned"
MEMBER=$(sql "SELECT m.membership_number FROM claims c JOIN contracts ct USING (contract_id)
              JOIN members m ON m.member_id = ct.member_id WHERE c.claim_id = '$CLAIM'")
"$BIN/claimctl" notifications "$MEMBER" --limit 2 >"$TEST_LOGS/notify-member.txt"
check_eq "claimctl notifications: exit 0" "$?" 0
check_eq "claimctl notifications: the newest first, as many as asked" \
	"$(awk 'NR > 1 && NF > 2 { print $4 }' "$TEST_LOGS/notify-member.txt" | paste -sd' '):$(tail -n 1 "$TEST_LOGS/notify-member.txt")" \
	"payment_returned reimbursement_paid:2 notifications"
check "claimctl notifications: ... each with its claim and params" \
	grep -q "claim $CLAIM  {.*\"reason\": \"AC04\"" "$TEST_LOGS/notify-member.txt"
"$BIN/claimctl" notifications "nobody-$RUN_ID" >/dev/null 2>&1
check_eq "claimctl notifications: an unknown member exits 1" "$?" 1
"$BIN/claimctl" notifications "$MEMBER" --limit 0 >/dev/null 2>&1
check_eq "claimctl notifications: --limit 0 is bad usage (exit 2)" "$?" 2

# A payment to a professional (tiers payant): the member is told nothing.
pro_seen=$(metric 'notify_skipped_total{reason="professional_payee"}')
PRO_CLAIM=$(sql "SELECT claim_id FROM claims WHERE source = '$SRC' AND claim_id <> '$CLAIM' LIMIT 1")
sql "UPDATE payments SET payee = 'professional', payee_ref = '10101234567', status = 'sent',
       run_id = '$RUN', sent_at = now() WHERE claim_id = '$PRO_CLAIM'" >/dev/null
PRO_AMOUNT=$(sql "SELECT amount_cents FROM payments WHERE claim_id = '$PRO_CLAIM'")
printf '%s %s PRO-%s\n' "$PRO_CLAIM" "$PRO_AMOUNT" "$RUN_ID" >"$TEST_LOGS/notify-pay-pro.txt"
check "payment to a professional: settled" "$BIN/claimctl" payments settle "$TEST_LOGS/notify-pay-pro.txt" >>"$LOG"
pro_skipped() { [ "$(metric 'notify_skipped_total{reason="professional_payee"}')" -gt "$pro_seen" ]; }
check "payment to a professional: read" wait_for 30 pro_skipped
check_eq "payment to a professional: the member not told" \
	"$(sql "SELECT count(*) FROM notifications WHERE claim_id = '$PRO_CLAIM' AND template = 'reimbursement_paid'")" 0

# ---- bad input ---------------------------------------------------------------------
dead_letters() { # dead_letters TOPIC KEY: notify's dead letters of that key
	"$BIN/claimctl" dlq list --topic "$1.dlq" 2>/dev/null | grep "key=$2 by notify" || true
}
# varint N: N as a protobuf varint, in printf's \x escapes
varint() {
	local n=$1 out=""
	while ((n >= 128)); do
		out+=$(printf '\\x%02x' $(((n & 127) | 128)))
		n=$((n >> 7))
	done
	printf '%s\\x%02x' "$out" "$n"
}
# A well-formed event about a claim the database does not hold:
# Envelope{type REIMBURSEMENT_COMPUTED, message_id, created_at_us now,
# schema_version 1, payload ReimbursementComputed{claim_id, contract_id
# 1, outcome COMPLETE}}.
unknown=$(printf '00000000-0000-4000-8000-%012d' "$((10#$RUN_ID))")
event_id=$(printf '01234567-89ab-7def-8124-%012d' "$((10#$RUN_ID))")
payload="\x0a\x24$unknown\x10\x01\x20\x00"
# (From a file: one message, whole; kcat splits its input at newlines,
# and the bytes hold one.)
printf "\x08\x05\x12\x24%s\x20$(varint "$(date +%s%6N)")\x28\x01\x32\x2a$payload" "$event_id" \
	>"$TEST_LOGS/notify-unknown.bin"
kcat -b "$CLAIMS_KAFKA_BROKERS" -P -t reimbursements.computed -k "unknown-$RUN_ID" "$TEST_LOGS/notify-unknown.bin"
printf 'not protobuf %s' "$RUN_ID" | kcat -b "$CLAIMS_KAFKA_BROKERS" -P -t reimbursements.computed -k "garbage-$RUN_ID"
printf 'not protobuf %s' "$RUN_ID" | kcat -b "$CLAIMS_KAFKA_BROKERS" -P -t payments.settled -k "garbage-$RUN_ID"
# Envelope{type: CLAIM_ACCEPTED, message_id, schema_version: 1}: a valid
# envelope of a type notify does not read.
uuid=$(printf '01234567-89ab-7def-8123-%012d' "$((10#$RUN_ID))")
printf '\x08\x02\x12\x24%s\x28\x01' "$uuid" | kcat -b "$CLAIMS_KAFKA_BROKERS" -P -t reimbursements.computed -k "wrong-$RUN_ID"
dlq_all() {
	dead_letters reimbursements.computed "garbage-$RUN_ID" | grep -q 'not a protobuf Envelope' &&
		dead_letters payments.settled "garbage-$RUN_ID" | grep -q 'not a protobuf Envelope' &&
		dead_letters reimbursements.computed "wrong-$RUN_ID" | grep -q 'expected REIMBURSEMENT_COMPUTED' &&
		dead_letters reimbursements.computed "unknown-$RUN_ID" | grep -q "claim $unknown unknown"
}
check "bad input: garbage, a wrong type, an unknown claim: in the .dlq with the reason" wait_for 30 dlq_all
check "bad input: ... notify still running" kill -0 "$NOTIFY"
check_eq "bad input: ... and nothing told of them" \
	"$(sql "SELECT count(*) FROM notifications WHERE claim_id = '$unknown'")" 0

# ---- Redis away: recorded all the same -------------------------------------------
stop_daemon "$NOTIFY" >/dev/null
SRC3="notify-noredis-$RUN_ID"
claims_file "$P" 20 20 "$SRC3" >"$TEST_LOGS/notify-claims-3.json"
start_notify CLAIMS_REDIS_URL=redis://127.0.0.1:1
check "Redis away: claims submitted" "$BIN/claimctl" submit "$TEST_LOGS/notify-claims-3.json"
check "Redis away: every claim told all the same" wait_for 120 all_told "$SRC3" reimbursement_computed 20
check_eq "Redis away: ... counted as not announced" "$(($(metric notify_push_failures_total) >= 20))" 1
stop_daemon "$NOTIFY"
check_eq "Redis away: SIGTERM exits 0" "$?" 0

report
