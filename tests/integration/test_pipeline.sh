#!/usr/bin/env bash
# test_pipeline.sh - claims through the real pipeline: Kafka, intake,
# reimburse, PostgreSQL
#
#  - end to end: a claim submitted to Kafka comes out with exactly the
#    amounts and rules that `claimctl simulate` gives for the same care;
#  - bad input: garbage bytes and a wrong envelope type land in the DLQ
#    (in intake and in reimburse), counted once in worker_dead_letters_total;
#    unknown member, negative amount, care before the contract, future
#    date are rejected with their reason; the daemons keep serving;
#  - the history read back from the database: PF daily and annual caps
#    across claims decided in separate batches;
#  - a claim in error is decided again (claimctl claim redecide) once its
#    formula version is published, with the amounts of the same care;
#    outbox purge keeps what it must;
#  - two intake replicas given one key at once give one answer;
#  - graceful stop: intake and the worker, each sent SIGTERM while busy,
#    exit 0 and lose nothing.
source "$(dirname "$0")/../lib.sh"

P="7${RUN_ID: -5}" # membership-number prefix of this run
LOG="$TEST_LOGS/pipeline-$RUN_ID.log"
create_members "$P" 20 CONFORT

# A DateStyle other than ISO in the sessions' defaults (here PGOPTIONS)
# must not change how the daemons read the dates they get back as text.
T0=$(sql "SELECT now()")
start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9191 CLAIMS_LIVE_STALL_SECONDS=5 \
	PGOPTIONS="-c DateStyle=SQL,DMY"
start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9192 PGOPTIONS="-c DateStyle=SQL,DMY"

# ---- end to end -----------------------------------------------------------
SRC="e2e-$RUN_ID"
cat >"$TEST_LOGS/e2e-claim.json" <<JSON
{"source":"$SRC","source_kind":"amo","external_id":"E1","membership_number":"${P}00001",
 "lines":[
  {"line_ref":"L1","act_code":"G","category":"CONSULT_GP","care_date":"2026-03-10","charged_cents":3000,"brss_cents":3000,"amo_rate":70},
  {"line_ref":"L2","category":"CONSULT_SPEC","care_date":"2026-03-11","charged_cents":7000,"brss_cents":3000,"amo_rate":70,"optam":false},
  {"line_ref":"L3","category":"PHARMA","care_date":"2026-03-11","quantity":2,"charged_cents":1200,"brss_cents":1200,"amo_rate":65},
  {"line_ref":"L4","category":"OPTIQUE_EQUIPEMENT","care_date":"2026-03-12","charged_cents":45000,"brss_cents":15,"amo_rate":60,"lenses":["simple","complex"],"frame_charged_cents":15000}]}
JSON
check "e2e: submitted to Kafka" "$BIN/claimctl" submit "$TEST_LOGS/e2e-claim.json"
check "e2e: decided" wait_for 60 all_decided "$SRC" 1

guarantees=$(jq '.versions[] | select(.version == 2) | .guarantees' deploy/formulas/CONFORT.json)
jq --argjson g "$guarantees" '{beneficiary: {birth_date: "1980-05-01"},
   contract: {responsible: true, guarantees: $g},
   lines: [.lines[] | {id: .line_ref, date: .care_date, category, charged_cents, brss_cents,
           amo_rate, quantity, optam, lenses, frame_charged_cents} | with_entries(select(.value != null))]}' \
	"$TEST_LOGS/e2e-claim.json" >"$TEST_LOGS/e2e-request.json"
"$BIN/claimctl" simulate <"$TEST_LOGS/e2e-request.json" >"$TEST_LOGS/e2e-result.json"
# What follows compares with the engine's answer: it must be one, with
# every line decided and some AMC (else empty met empty, and passed).
check_eq "e2e: the engine's answer (simulate exit 0, 4 lines, AMC above 0)" \
	"$?:$(jq '[(.lines | length), .totals.amc_cents > 0] | @csv' -r "$TEST_LOGS/e2e-result.json")" "0:4,true"
want=$(jq -r '.lines[] | [.amo_gross_cents, .pf_cents, .franchise_cents, .amo_paid_cents,
	.amc_cents, .forfait_cents, .rac_cents, (.rules | join(" "))] | @tsv' "$TEST_LOGS/e2e-result.json")
got=$(sql "SELECT d.amo_gross_cents, d.pf_cents, d.franchise_cents, d.amo_paid_cents,
	d.amc_cents, d.forfait_cents, d.rac_cents, array_to_string(d.rules, ' ')
	FROM decisions d JOIN claims c USING (claim_id) WHERE c.source = '$SRC'
	ORDER BY d.line_no" | tr '|' '\t')
check_eq "e2e: amounts and rules equal the engine's" "$got" "$want"
check_eq "e2e: claim complete" "$(sql "SELECT status FROM claims WHERE source = '$SRC'")" complete
# (a claim left queued by an earlier run on this database may be decided too)
completes_counted() {
	[ "$(curl -s http://127.0.0.1:9192/metrics | awk '$1 == "reimburse_claims_total{outcome=\"complete\"}" { print $2 }')" = \
		"$(sql "SELECT count(*) FROM claims WHERE status = 'complete' AND decided_at >= '$T0'")" ]
}
check "e2e: reimburse counts the claims it completed, once" wait_for 10 completes_counted
check_eq "e2e: one payment of the AMC total" \
	"$(sql "SELECT p.amount_cents FROM payments p JOIN claims c USING (claim_id) WHERE c.source = '$SRC'")" \
	"$(jq '.totals.amc_cents' "$TEST_LOGS/e2e-result.json")"
check "e2e: counters hold the claim" test \
	"$(sql "SELECT sum(amc_cents) FROM consumption_counters k JOIN beneficiaries b USING (beneficiary_id)
		JOIN contracts ct ON ct.contract_id = b.contract_id JOIN members m ON m.member_id = ct.member_id
		WHERE m.membership_number = '${P}00001'")" = "$(jq '.totals.amc_cents' "$TEST_LOGS/e2e-result.json")"

# ---- the nightly reconciliation (claimctl check) --------------------------------
# The member's child (a beneficiary of the contract, not a member) has a
# claim too: the check covers the whole family.
M="${P}00001"
sql "INSERT INTO beneficiaries (contract_id, rank, relationship, last_name, first_name, birth_date, start_date)
	SELECT c.contract_id, 3, 'child', 'Test', 'Child', '2015-06-01', '2025-01-01'
	FROM contracts c JOIN members m USING (member_id) WHERE m.membership_number = '$M'" >/dev/null
CH="child-$RUN_ID"
printf '{"source":"%s","external_id":"c1","membership_number":"%s","beneficiary_rank":3,"lines":[%s]}\n' "$CH" "$M" \
	'{"act_code":"G","category":"CONSULT_GP","care_date":"2026-03-10","charged_cents":3000,"brss_cents":3000,"amo_rate":70}' \
	>"$TEST_LOGS/child-claim.json"
"$BIN/claimctl" submit "$TEST_LOGS/child-claim.json" 2>>"$LOG"
check "check: the child's claim decided" wait_for 30 all_decided "$CH" 1
out=$("$BIN/claimctl" check --member "$M" --days 1)
check_eq "check: the books agree with the decisions (exit 0)" "$?" 0
check_eq "check: ... in all three" "$(grep -c '^ok ' <<<"$out")" 3
check_eq "check: ... the scope said first (the e2e claim and the child's)" "$(head -n 1 <<<"$out")" \
	"in scope: 2 claims, 2 beneficiaries"
child=$(sql "SELECT beneficiary_id FROM claims WHERE source = '$CH'")
corrupt() { # corrupt +1|-1: the child's counter and the e2e claim's payment
	sql "UPDATE consumption_counters SET amc_cents = amc_cents + ($1)
		WHERE beneficiary_id = $child AND care_date = '2026-03-10' AND category = 'CONSULT_GP';
	     UPDATE payments SET amount_cents = amount_cents + ($1)
		WHERE claim_id = (SELECT claim_id FROM claims WHERE source = '$SRC')" >/dev/null
}
corrupt 1
out=$("$BIN/claimctl" check --member "$M" --days 1)
check_eq "check: a counter or a payment off by a cent is a mismatch (exit 1)" "$?" 1
check "check: ... the child's daily counter named" \
	grep -q "^MISMATCH counters: 1" <<<"$out"
check "check: ... by its beneficiary" grep -q "^  $child CONSULT_GP 2026-03-10: " <<<"$out"
check "check: ... its year too" grep -q "^MISMATCH years: 1" <<<"$out"
check "check: ... and the payment, with both amounts" \
	grep -q "^  $(sql "SELECT claim_id FROM claims WHERE source = '$SRC'"): $(($(jq '.totals.amc_cents' "$TEST_LOGS/e2e-result.json") + 1)), $(jq '.totals.amc_cents' "$TEST_LOGS/e2e-result.json")$" <<<"$out"
# A mismatch printed stands when a later check fails on the database
# (here the payments, locked beyond the session's lock_timeout): exit 1,
# not 3 ("nothing concluded", which a scheduler tries again).
check "check: the payments locked away" hold_lock payments 5
out=$(PGOPTIONS="-c lock_timeout=500ms" "$BIN/claimctl" check --member "$M" --days 1 2>&1)
rc=$?
wait "$LOCKER"
check_eq "check: a mismatch, then a database error: still a mismatch (exit 1)" "$rc" 1
check "check: ... the mismatch printed" grep -q "^MISMATCH counters: 1 " <<<"$out"
check "check: ... and the error after it said" grep -q "database error after a mismatch" <<<"$out"
corrupt -1
check "check: agrees again once mended" "$BIN/claimctl" check --member "$M" --since 2026-01-01
# The engine's history is more than amounts: the units paid a forfait
# (acts a year) and the equipments (renewal periods). One too many on
# the child's day is a mismatch of the day, and of its year for the
# units (the years keep no equipments). Values: PF/franchise/AMC/
# forfait/units/equipments/lines (the years without the equipments).
day_counter() { # day_counter SET: the child's consultation day changed
	sql "UPDATE consumption_counters SET $1
		WHERE beneficiary_id = $child AND care_date = '2026-03-10' AND category = 'CONSULT_GP'" >/dev/null
}
day_counter "equipments = equipments + 1"
out=$("$BIN/claimctl" check --member "$M" --days 1)
check_eq "check: an equipment too many is a mismatch (exit 1)" "$?" 1
check "check: ... of the day's counter" \
	grep -q "^  $child CONSULT_GP 2026-03-10: [0-9]*/[0-9]*/[0-9]*/0/0/1/[0-9]*, [0-9]*/[0-9]*/[0-9]*/0/0/0/[0-9]*\$" <<<"$out"
check "check: ... not of the years, which keep none" grep -q "^ok years\$" <<<"$out"
day_counter "equipments = equipments - 1, forfait_units = forfait_units + 1"
out=$("$BIN/claimctl" check --member "$M" --days 1)
check_eq "check: a unit paid a forfait too many is a mismatch (exit 1)" "$?" 1
check "check: ... of the day's counter" \
	grep -q "^  $child CONSULT_GP 2026-03-10: [0-9]*/[0-9]*/[0-9]*/0/1/0/[0-9]*, [0-9]*/[0-9]*/[0-9]*/0/0/0/[0-9]*\$" <<<"$out"
check "check: ... and of its year" \
	grep -q "^  $child 2026 CONSULT_GP: [0-9]*/[0-9]*/[0-9]*/0/1/[0-9]*, [0-9]*/[0-9]*/[0-9]*/0/0/[0-9]*\$" <<<"$out"
day_counter "forfait_units = forfait_units - 1"
check "check: agrees again, units and equipments mended" "$BIN/claimctl" check --member "$M" --days 1
# A day with a counter and no decision, and one with decisions and no
# counter (the child's day moved to the next, its year unchanged): the
# side that has no row is shown "-".
day_counter "care_date = '2026-03-11'"
out=$("$BIN/claimctl" check --member "$M" --days 1)
check "check: a day without a counter is a mismatch" grep -q "^MISMATCH counters: 2 " <<<"$out"
check "check: ... its book shown \"-\"" grep -q "^  $child CONSULT_GP 2026-03-10: -, [0-9/]*\$" <<<"$out"
check "check: ... and a counter without decisions, its decisions \"-\"" \
	grep -q "^  $child CONSULT_GP 2026-03-11: [0-9/]*, -\$" <<<"$out"
sql "UPDATE consumption_counters SET care_date = '2026-03-10'
	WHERE beneficiary_id = $child AND care_date = '2026-03-11' AND category = 'CONSULT_GP'" >/dev/null
check "check: agrees again, the day moved back" "$BIN/claimctl" check --member "$M" --days 1
# A claim whose AMC is 0 (the AMO pays it all) has no payment: one of 0
# is a mismatch too.
printf '{"source":"%s","external_id":"c2","membership_number":"%s","beneficiary_rank":3,"lines":[%s]}\n' "$CH" "$M" \
	'{"category":"CONSULT_GP","care_date":"2026-03-20","charged_cents":3000,"brss_cents":3000,"amo_rate":100}' \
	>"$TEST_LOGS/child-claim-2.json"
"$BIN/claimctl" submit "$TEST_LOGS/child-claim-2.json" 2>>"$LOG"
check "check: the child's claim paid by the AMO alone decided" wait_for 30 all_decided "$CH" 2
zero=$(sql "SELECT claim_id FROM claims WHERE source = '$CH' AND external_id = 'c2'")
check_eq "check: ... its AMC 0, and no payment" \
	"$(sql "SELECT sum(d.amc_cents) || ' ' || (SELECT count(*) FROM payments WHERE claim_id = '$zero')
		FROM decisions d WHERE d.claim_id = '$zero'")" "0 0"
sql "INSERT INTO payments (claim_id, payee, payee_ref, amount_cents) VALUES ('$zero', 'member', '$M', 0)" >/dev/null
out=$("$BIN/claimctl" check --member "$M" --days 1)
check_eq "check: a payment of 0 where no AMC is due is a mismatch (exit 1)" "$?" 1
check "check: ... the payment named" grep -q "^  $zero: 0, 0 (no payment due)\$" <<<"$out"
sql "DELETE FROM payments WHERE claim_id = '$zero'" >/dev/null
check "check: agrees again, the payment of 0 gone" "$BIN/claimctl" check --member "$M" --days 1
"$BIN/claimctl" check --since yesterday >/dev/null 2>&1
check_eq "check: a malformed date is bad usage (exit 2)" "$?" 2
# Options that would check something other than asked, or nothing.
"$BIN/claimctl" check --since 2026-01-01 --days 2 >/dev/null 2>&1
check_eq "check: --since and --days together are bad usage (exit 2)" "$?" 2
"$BIN/claimctl" check --days 0 >/dev/null 2>&1
check_eq "check: --days 0 is bad usage (exit 2)" "$?" 2
out=$("$BIN/claimctl" check --member "${P}99999" 2>&1)
check_eq "check: a member that does not exist is bad usage (exit 2)" "$?" 2
check_eq "check: ... and said" "$out" "claimctl check: no member ${P}99999"
out=$("$BIN/claimctl" check --member "${P}00002" --since 2026-01-01)
check_eq "check: a member with no claim agrees (exit 0)" "$?" 0
check_eq "check: ... and says its scope is empty" "$(head -n 1 <<<"$out")" "in scope: 0 claims, 0 beneficiaries"
CLAIMS_PG_DSN=postgresql://nobody@127.0.0.1:9/none "$BIN/claimctl" check >/dev/null 2>&1
check_eq "check: no database, nothing concluded (exit 3, not a mismatch)" "$?" 3

# ---- bad input --------------------------------------------------------------
dlq_count() { "$BIN/claimctl" dlq list 2>/dev/null | tail -n 1 | cut -d' ' -f1; }
# dead_letters PORT: the daemon's worker_dead_letters_total
dead_letters() { curl -s "http://127.0.0.1:$1/metrics" | awk '$1 == "worker_dead_letters_total" { print $2 }'; }
intake_dead=$(dead_letters 9191)
reimburse_dead=$(dead_letters 9192)
before=$(dlq_count)
printf 'this is not protobuf %s' "$RUN_ID" | kcat -b "$CLAIMS_KAFKA_BROKERS" -P -t claims.submitted -k "garbage-$RUN_ID"
# Envelope{type: CLAIM_ACCEPTED, message_id, schema_version: 1}: a valid envelope of the wrong type
uuid=$(printf '01234567-89ab-7def-8123-%012d' "$((10#$RUN_ID))")
printf '\x08\x02\x12\x24%s\x28\x01' "$uuid" | kcat -b "$CLAIMS_KAFKA_BROKERS" -P -t claims.submitted -k "wrongtype-$RUN_ID"
# Nearly 1 MB of garbage: its dead letter (the bytes and their story)
# would not fit the topic; it keeps their beginning, and the outbox
# behind it keeps flowing (the claims below are decided).
head -c 999800 /dev/zero | tr '\0' 'x' >"$TEST_LOGS/big-garbage.bin"
kcat -b "$CLAIMS_KAFKA_BROKERS" -P -t claims.submitted -k "big-$RUN_ID" "$TEST_LOGS/big-garbage.bin"
# Keys are bytes: one in Latin-1 (not text to PostgreSQL: its dead
# letter is written under its hex), and one of 320 bytes with an "é"
# across its 63rd (kept whole: cut there, or at 255, it would be
# neither, and the letter would go to another partition).
latin_key=$(printf 'latin\xe9-%s' "$RUN_ID")
latin_hex=$(printf '%s' "$latin_key" | od -An -tx1 | tr -d ' \n')
long_key=$(printf 'long-%s-%s' "$RUN_ID" "$(printf 'a%.0s' $(seq 1 70))" | head -c 62)é-$(printf 'b%.0s' $(seq 1 250))-end
printf 'garbage with a Latin-1 key' | kcat -b "$CLAIMS_KAFKA_BROKERS" -P -t claims.submitted -k "$latin_key"
printf 'garbage with a long key' | kcat -b "$CLAIMS_KAFKA_BROKERS" -P -t claims.submitted -k "$long_key"
check "bad input: garbage, wrong type, a huge message, odd keys reach the DLQ" \
	wait_for 30 bash -c "[ \"\$('$BIN/claimctl' dlq list 2>/dev/null | tail -n 1 | cut -d' ' -f1)\" -ge $((before + 5)) ]"
"$BIN/claimctl" dlq list 2>/dev/null >"$TEST_LOGS/dlq-list.txt"
check "bad input: DLQ says why (not protobuf)" \
	grep -q "key=garbage-$RUN_ID by intake: not a protobuf Envelope" "$TEST_LOGS/dlq-list.txt"
check "bad input: the huge message's dead letter keeps its beginning" \
	grep -q "key=big-$RUN_ID by intake: .*value of 999800 bytes kept to its first 262144" "$TEST_LOGS/dlq-list.txt"
check "bad input: DLQ says why (wrong type)" \
	grep -q "key=wrongtype-$RUN_ID by intake: expected CLAIM_SUBMITTED, got CLAIM_ACCEPTED" \
	"$TEST_LOGS/dlq-list.txt"
check "bad input: a key that is not text is shown (and published) in hex" \
	grep -q "key=hex:$latin_hex by intake: not a protobuf Envelope" "$TEST_LOGS/dlq-list.txt"
check "bad input: a long key is kept whole" \
	grep -qF "key=$long_key by intake: not a protobuf Envelope" "$TEST_LOGS/dlq-list.txt"
check "bad input: the dead letter is published under its key, whole" \
	bash -c "kcat -b '$CLAIMS_KAFKA_BROKERS' -C -t claims.submitted.dlq -o beginning -e -q -f '%k\n' 2>/dev/null |
		grep -qxF '$long_key'"
check_eq "bad input: intake counts its five dead letters" "$(dead_letters 9191)" "$((intake_dead + 5))"
# A submission without a key (here: an empty ClaimSubmitted) delivered
# twice, as after a worker stopped between its commit and its offsets:
# one rejection, one claims.rejected event, named by its message id.
# Answered: the first copy rejected, the second either rejected again
# (another batch) or a repeat of it (the same batch).
missing() {
	curl -s http://127.0.0.1:9191/metrics | awk '$1 == "intake_rejected_total{reason=\"MISSING_FIELD\"}" ||
		$1 == "intake_duplicates_total" { n += $2 } END { print n + 0 }'
}
missing_before=$(missing)
keyless=$(printf '01234567-89ab-7def-8124-%012d' "$((10#$RUN_ID))")
# Both copies in one call, one after the other: most likely one batch.
printf '\x08\x01\x12\x24%s\x28\x01' "$keyless" >"$TEST_LOGS/keyless.bin"
kcat -b "$CLAIMS_KAFKA_BROKERS" -P -t claims.submitted -k "keyless-$RUN_ID" \
	"$TEST_LOGS/keyless.bin" "$TEST_LOGS/keyless.bin"
check "bad input: a keyless submission delivered twice, answered twice" \
	wait_for 30 bash -c "$(declare -f missing); [ \"\$(missing)\" -ge $((${missing_before:-0} + 2)) ]"
check_eq "bad input: ... one claims.rejected event" \
	"$(sql "SELECT count(*) FROM outbox WHERE topic = 'claims.rejected'
		AND position(convert_to('$keyless', 'UTF8') IN payload) > 0")" 1
check_eq "bad input: ... one rejection recorded" \
	"$(sql "SELECT count(*) FROM claim_rejections WHERE source IS NULL AND reason_code = 'MISSING_FIELD'
		AND received_at >= '$T0'")" 1
# A claim citing a quote no one stored: refused for a reason that may
# pass (a quote is stored a moment after its answer), so nothing is
# recorded under its key and the message is kept in the DLQ, to replay.
intake_dead=$(dead_letters 9191)
cat >"$TEST_LOGS/unknown-quote.json" <<JSON
{"source":"quote-$RUN_ID","source_kind":"facility","external_id":"Q1","membership_number":"${P}00002",
 "quote_id":"$(quote_id_at now)",
 "lines":[{"line_ref":"L1","act_code":"G","category":"CONSULT_GP","care_date":"2026-03-10","charged_cents":3000,"brss_cents":3000,"amo_rate":70}]}
JSON
check "bad input: a claim citing an unknown quote: sent" "$BIN/claimctl" submit "$TEST_LOGS/unknown-quote.json"
check "bad input: ... kept in the DLQ with its reason" wait_for 30 bash -c \
	"'$BIN/claimctl' dlq list 2>/dev/null | grep -q 'key=${P}00002 by intake: QUOTE_UNKNOWN quote_id: no stored quote'"
check_eq "bad input: ... nothing recorded under its key" \
	"$(sql "SELECT (SELECT count(*) FROM claim_rejections WHERE source = 'quote-$RUN_ID')
		+ (SELECT count(*) FROM claims WHERE source = 'quote-$RUN_ID')")" 0
check_eq "bad input: ... one dead letter" "$(dead_letters 9191)" "$((intake_dead + 1))"
# The reimbursement worker's own input: bytes that are no envelope, and
# an envelope (CLAIM_ACCEPTED) whose payload is no ClaimAccepted.
printf 'not an accepted claim %s' "$RUN_ID" |
	kcat -b "$CLAIMS_KAFKA_BROKERS" -P -t claims.accepted -k "garbage-accepted-$RUN_ID"
printf '\x08\x02\x12\x24%s\x28\x01\x32\x03\xff\xff\xff' "$uuid" |
	kcat -b "$CLAIMS_KAFKA_BROKERS" -P -t claims.accepted -k "badpayload-$RUN_ID"
check "bad input: reimburse sends undecodable claims.accepted to its DLQ" \
	wait_for 30 bash -c "'$BIN/claimctl' dlq list --topic claims.accepted.dlq 2>/dev/null |
		grep -q 'key=badpayload-$RUN_ID by reimburse: payload is not a ClaimAccepted'"
check "bad input: ... and says why (not an envelope)" \
	wait_for 30 bash -c "'$BIN/claimctl' dlq list --topic claims.accepted.dlq 2>/dev/null |
		grep -q 'key=garbage-accepted-$RUN_ID by reimburse: not a protobuf Envelope'"
check_eq "bad input: reimburse counts its two dead letters" "$(dead_letters 9192)" "$((reimburse_dead + 2))"

# An event Kafka can never take (here larger than the topic allows) is
# set aside with its reason; the events behind it keep flowing.
poison=$(sql "INSERT INTO outbox (message_id, topic, key, msg_type, payload)
              VALUES (gen_random_uuid(), 'claims.rejected', 'poison-$RUN_ID', 3,
                      decode(repeat('00', 1500000), 'hex')) RETURNING event_id")
refused() { [ "$(sql "SELECT refusal IS NOT NULL FROM outbox WHERE event_id = $poison")" = t ]; }
check "outbox: an event Kafka refuses for good is set aside" wait_for 30 refused
check "outbox: claimctl outbox refused says why" \
	bash -c "'$BIN/claimctl' outbox refused | grep -q '^$poison claims.rejected key=poison-$RUN_ID 1500000 bytes refused .*: .*too large'"
first_refusal=$(sql "SELECT refused_at FROM outbox WHERE event_id = $poison")
check_eq "outbox: retry puts it back" "$("$BIN/claimctl" outbox retry "$poison")" "1 event(s) put back for the relay"
# A refusal of its own, after the retry, not the first one still there.
refused_anew() {
	[ "$(sql "SELECT refusal IS NOT NULL AND refused_at > '$first_refusal'
		FROM outbox WHERE event_id = $poison")" = t ]
}
check "outbox: refused again while the cause stays" wait_for 30 refused_anew
out=$("$BIN/claimctl" outbox retry "$poison" 999999999999 2>&1)
check_eq "outbox: retry of an id that is not refused: exit 1" "$?" 1
check "outbox: ... saying so (the refused one put back)" \
	grep -q "1 of the 2 ids named were not refused" <<<"$out"
sql "DELETE FROM outbox WHERE event_id = $poison" >/dev/null
# Refused only on delivery, by the broker: a topic whose size limit is
# below the producer's. Set aside too, and the next event of the same
# topic goes out.
tools/infra/infra.sh topic "small.$RUN_ID" 1 max.message.bytes=10000 >/dev/null
tools/infra/infra.sh topic "wide.$RUN_ID" 1 >/dev/null
# All three committed together, so that one relay pass takes them: the
# broker refuses a whole batch of a partition, the small event with the
# big one, and the relay must find which of the two is at fault; the
# event of another topic, accepted at once, must not go twice.
# (MD5 digests: bytes that compression cannot shrink under the limit.)
read -r big next other < <(sql "WITH added AS (
           INSERT INTO outbox (message_id, topic, key, msg_type, payload)
           SELECT gen_random_uuid(), t, k, 3, p FROM (
               SELECT 1 AS n, 'small.$RUN_ID' AS t, 'big' AS k,
                      (SELECT decode(string_agg(md5(i::text), ''), 'hex') FROM generate_series(1, 3125) i) AS p
               UNION ALL
               SELECT 2, 'small.$RUN_ID', 'next', decode(repeat('00', 100), 'hex')
               UNION ALL
               SELECT 3, 'wide.$RUN_ID', 'other', decode(repeat('00', 100), 'hex')) x
           ORDER BY n RETURNING event_id)
       SELECT string_agg(event_id::text, ' ' ORDER BY event_id) FROM added")
big_aside() { [ "$(sql "SELECT refusal IS NOT NULL FROM outbox WHERE event_id = $big")" = t ]; }
next_sent() { [ "$(sql "SELECT NOT EXISTS (SELECT 1 FROM outbox_queue WHERE event_id = $next)")" = t ]; }
check "outbox: refused by the broker on delivery, set aside" wait_for 60 big_aside
check "outbox: the event behind it is published" wait_for 60 next_sent
check_eq "outbox: the event behind it was never set aside" \
	"$(sql "SELECT refusal IS NULL AND refused_at IS NULL FROM outbox WHERE event_id = $next")" t
check "outbox: the reason is the broker's" \
	bash -c "'$BIN/claimctl' outbox refused | grep -q '^$big small.$RUN_ID key=big 50000 bytes refused .*too large'"
in_wide() { kcat -C -b "$CLAIMS_KAFKA_BROKERS" -t "wide.$RUN_ID" -o beginning -e -q -f '%k\n' | grep -c '^other$'; }
check "outbox: the broker refused the big event and its neighbour together" \
	grep -q 'Kafka refused 2 events of one pass together' "$LOG"
check_eq "outbox: the event Kafka took in the refused pass went once" \
	"$(sql "SELECT count(*) FROM outbox_queue WHERE event_id = $other") $(in_wide)" "0 1"
sql "DELETE FROM outbox WHERE event_id = $big" >/dev/null
# Retention: events written more than N days ago and published since go;
# recent ones, those set aside and those still queued stay.
outbox_row() { # outbox_row KEY DAYS_AGO SET_ASIDE(true|false) -> event id
	sql "INSERT INTO outbox (message_id, topic, key, msg_type, payload, created_at, refused_at, refusal)
	     VALUES (gen_random_uuid(), 'small.$RUN_ID', '$1', 3, '\\x00', now() - interval '$2 days',
	             CASE WHEN $3 THEN now() END, CASE WHEN $3 THEN 'test' END) RETURNING event_id"
}
as_published() { sql "DELETE FROM outbox_queue WHERE event_id = $1" >/dev/null; }
old_sent=$(outbox_row old-sent 8 false)
as_published "$old_sent"
recent_sent=$(outbox_row recent-sent 6 false)
as_published "$recent_sent"
old_refused=$(outbox_row old-refused 20 true)
limit_refused=$(outbox_row limit-refused 0 true)
check "outbox: the listing is cut by --limit, and says so" \
	grep -q "refused in all, the first 1 listed" <<<"$("$BIN/claimctl" outbox refused --limit 1 2>&1 >/dev/null)"
sql "DELETE FROM outbox WHERE event_id = $limit_refused" >/dev/null
# What the operator runs when the alert fires finds the few refused
# events through an index of theirs, not by reading a week of events
# (in full, or in id order keeping the refused ones: a Filter).
check_eq "outbox: the refused events found through an index of theirs" \
	"$(psql -X -At "$CLAIMS_PG_DSN" -c "SET enable_seqscan = off" \
		-c "EXPLAIN SELECT event_id FROM outbox WHERE refused_at IS NOT NULL ORDER BY event_id LIMIT 10" |
		grep -cE 'Seq Scan|Filter')" 0
# One old event still queued: the daemons' relays kept from it by holding
# their turn (the relays' advisory lock) for the purge's duration.
# (The coproc's descriptors copied at once: bash forgets TURN when psql
# ends, and a failed psql must fail checks, not stop the script.)
held=""
coproc TURN { psql -X -q -At "$CLAIMS_PG_DSN"; }
turn_in=${TURN[1]} turn_out=${TURN[0]} turn_pid=$TURN_PID
echo "SELECT pg_advisory_lock(7415001), 'held';" >&"$turn_in" 2>/dev/null &&
	read -r -t 30 held <&"$turn_out"
check_eq "outbox purge: the relays' turn held" "$held" "|held"
old_queued=$(outbox_row old-queued 9 false)
purged=$("$BIN/claimctl" outbox purge --days 7)
echo "SELECT pg_advisory_unlock(7415001);" >&"$turn_in" 2>/dev/null
exec {turn_in}>&-
wait "$turn_pid" 2>/dev/null
check "outbox purge: says how many" grep -Eq '^[1-9][0-9]* sent event\(s\) older than 7 day\(s\) purged$' <<<"$purged"
check_eq "outbox purge: only the published event written more than 7 days ago" \
	"$(sql "SELECT string_agg(key, ',' ORDER BY event_id) FROM outbox
	        WHERE event_id IN ($old_sent, $recent_sent, $old_refused, $old_queued)")" \
	"recent-sent,old-refused,old-queued"
# More than one slice (5,000 rows each), written as sent: the insert and
# the queue's delete in one transaction, so that no relay ever sees them
# queued (it would set them aside as refused: their topic does not exist).
sql "INSERT INTO outbox (message_id, topic, key, msg_type, payload, created_at)
     SELECT gen_random_uuid(), 'small.$RUN_ID', 'bulk', 3, '\\x00', now() - interval '9 days'
     FROM generate_series(1, 12001);
     DELETE FROM outbox_queue q USING outbox o
     WHERE o.event_id = q.event_id AND o.topic = 'small.$RUN_ID' AND o.key = 'bulk'" >/dev/null
purged=$("$BIN/claimctl" outbox purge --days 7)
check "outbox purge: in slices, to the end (${purged%% *} purged)" test "${purged%% *}" -ge 12001
check_eq "outbox purge: none left behind" \
	"$(sql "SELECT count(*) FROM outbox WHERE topic = 'small.$RUN_ID' AND key = 'bulk'")" 0
"$BIN/claimctl" outbox purge --days x >/dev/null 2>&1
check_eq "outbox purge: a bad --days is a usage error" "$?" 2
sql "DELETE FROM outbox WHERE event_id IN ($recent_sent, $old_refused, $old_queued)" >/dev/null

# Replay sends the original bytes back to claims.submitted: still bad,
# they come back to the DLQ, and the replay group has moved past them.
before=$(dlq_count)
replayed=$("$BIN/claimctl" dlq replay 2>>"$LOG" | tail -n 1 | cut -d' ' -f1)
check "dlq replay: the new dead letters replayed" test "${replayed:-0}" -ge 2
check "dlq replay: the one kept in part is not replayed" \
	grep -q "kept 262144 of its 999800 bytes: not replayed" "$LOG"
check "dlq replay: the replayed messages are refused again" \
	wait_for 30 bash -c "[ \"\$('$BIN/claimctl' dlq list 2>/dev/null | tail -n 1 | cut -d' ' -f1)\" -ge $((before + ${replayed:-0})) ]"

BAD="bad-$RUN_ID"
line='"category":"CONSULT_GP","charged_cents":3000,"brss_cents":3000,"amo_rate":70'
cat >"$TEST_LOGS/bad-claims.json" <<JSON
{"source":"$BAD","external_id":"unknown-member","membership_number":"9999999999","lines":[{"care_date":"2026-03-10",$line}]}
{"source":"$BAD","external_id":"negative","membership_number":"${P}00002","lines":[{"care_date":"2026-03-10","category":"PHARMA","charged_cents":-100}]}
{"source":"$BAD","external_id":"before-contract","membership_number":"${P}00002","lines":[{"care_date":"2024-06-01",$line}]}
{"source":"$BAD","external_id":"future","membership_number":"${P}00002","lines":[{"care_date":"2099-01-01",$line}]}
{"source":"$BAD","external_id":"unknown-category","membership_number":"${P}00002","lines":[{"care_date":"2026-03-10","category":"SPA","charged_cents":100}]}
{"source":"$BAD","external_id":"huge-rank","membership_number":"${P}00002","beneficiary_rank":4294967295,"lines":[{"care_date":"2026-03-10",$line}]}
{"source":"$BAD","external_id":"negative-price-limit","membership_number":"${P}00002","lines":[{"care_date":"2026-03-10","category":"DENT_PROTHESE","charged_cents":10000,"basket":"100PS","price_limit_cents":-1}]}
{"source":"$BAD","external_id":"charged-below-amo","membership_number":"${P}00002","lines":[{"care_date":"2026-03-10","category":"CONSULT_GP","charged_cents":1000,"brss_cents":3000,"amo_rate":70}]}
{"source":"$BAD","external_id":"amo-short-no-pf","membership_number":"${P}00002","lines":[{"care_date":"2026-03-10","category":"DENT_SOINS","charged_cents":3000,"brss_cents":3000,"amo_rate":70,"amo_paid_cents":1900}]}
{"source":"$BAD","external_id":"good-after-bad","membership_number":"${P}00002","lines":[{"care_date":"2026-03-10",$line}]}
JSON
"$BIN/claimctl" submit --sync "$TEST_LOGS/bad-claims.json" >"$TEST_LOGS/bad-replies.txt" 2>>"$LOG"
check "bad input: unknown member" grep -q "^unknown-member rejected UNKNOWN_MEMBER membership_number" "$TEST_LOGS/bad-replies.txt"
check "bad input: negative amount" grep -q "^negative rejected AMOUNT_OUT_OF_RANGE lines\[0\].charged_cents" "$TEST_LOGS/bad-replies.txt"
check "bad input: care before the contract" grep -q "^before-contract rejected NOT_COVERED lines\[0\].care_date" "$TEST_LOGS/bad-replies.txt"
check "bad input: future date" grep -q "^future rejected FUTURE_DATE" "$TEST_LOGS/bad-replies.txt"
check "bad input: unknown category" grep -q "^unknown-category rejected UNKNOWN_CATEGORY lines\[0\].category" "$TEST_LOGS/bad-replies.txt"
check "bad input: a rank past any beneficiary" grep -q "^huge-rank rejected INVALID_FIELD beneficiary_rank" "$TEST_LOGS/bad-replies.txt"
check "bad input: negative price limit" grep -q "^negative-price-limit rejected AMOUNT_OUT_OF_RANGE lines\[0\].price_limit_cents" "$TEST_LOGS/bad-replies.txt"
check "bad input: charged below the AMO share" grep -q "^charged-below-amo rejected AMOUNT_OUT_OF_RANGE lines\[0\].charged_cents" "$TEST_LOGS/bad-replies.txt"
check "bad input: a PF withheld on care without PF" grep -q "^amo-short-no-pf rejected AMO_INCONSISTENT lines\[0\].amo_paid_cents" "$TEST_LOGS/bad-replies.txt"
check "bad input: the daemons keep serving" grep -q "^good-after-bad accepted" "$TEST_LOGS/bad-replies.txt"
# claimctl submit sends what the file says, or nothing: a misspelt
# field ("opatm") would be sent as absent, OPTAM assumed and paid so;
# a field given twice would be the last one's.
printf '{"source":"%s","external_id":"typo","membership_number":"%s","lines":[{"care_date":"2026-03-10",%s,"opatm":false}]}\n' \
	"$BAD" "${P}00002" "$line" >"$TEST_LOGS/typo.json"
out=$("$BIN/claimctl" submit --sync "$TEST_LOGS/typo.json" 2>&1)
check_eq "submit: an unknown field refused, nothing sent (exit 2)" "$?" 2
check "submit: ... naming it" grep -q "lines\[0\].opatm: unknown field" <<<"$out"
printf '{"source":"%s","source":"other","external_id":"twice","membership_number":"%s","lines":[{"care_date":"2026-03-10",%s}]}\n' \
	"$BAD" "${P}00002" "$line" >"$TEST_LOGS/twice-key.json"
"$BIN/claimctl" submit --sync "$TEST_LOGS/twice-key.json" >>"$LOG" 2>&1
check_eq "submit: a field given twice refused (exit 2)" "$?" 2
check_eq "submit: ... neither recorded" \
	"$(sql "SELECT count(*) FROM claim_rejections WHERE source = '$BAD' AND external_id IN ('typo', 'twice')")" 0
# An answer of the socket itself (UNAVAILABLE: nothing recorded) is no
# verdict on the claim: the run stops there, exit 1. An intake whose
# database refuses every write (read-only sessions) gives it.
RO_DSN="${CLAIMS_PG_DSN}$([[ $CLAIMS_PG_DSN == *\?* ]] && echo '&' || echo '?')options=-c%20default_transaction_read_only%3Don"
start_daemon intake "$LOG" CLAIMS_PG_DSN="$RO_DSN" CLAIMS_METRICS_ADDR=127.0.0.1:9189 \
	CLAIMS_INTAKE_ENDPOINT=tcp://127.0.0.1:5719 CLAIMS_KAFKA_BROKERS=127.0.0.1:1
ro_intake=$LAST_PID
check "submit: an intake that cannot write serves" wait_for 30 curl -s -o /dev/null http://127.0.0.1:9189/health
for x in first second; do
	printf '{"source":"ro-%s","external_id":"%s","membership_number":"%s","lines":[{"care_date":"2026-03-10",%s}]}\n' \
		"$RUN_ID" "$x" "${P}00002" "$line"
done >"$TEST_LOGS/unavailable.json"
out=$("$BIN/claimctl" submit --sync --endpoint tcp://127.0.0.1:5719 "$TEST_LOGS/unavailable.json" 2>&1)
check_eq "submit: UNAVAILABLE is a failure (exit 1), not a rejection" "$?" 1
check "submit: ... said, with what to do" grep -q "^claimctl submit: first: UNAVAILABLE: .*sent again whole" <<<"$out"
check "submit: ... and the run stopped there" grep -q "0 claims answered" <<<"$out"
stop_daemon "$ro_intake"
check_eq "the read-only intake stops on SIGTERM (exit 0)" "$?" 0
# The AMO amount judged for its beneficiary: the child (under 18) bears
# no PF, the adult does; a line priced by its act code, without BRSS or
# rate, is judged at the act table's tariff.
gp='"act_code":"G","category":"CONSULT_GP","care_date":"2026-03-10","charged_cents":3000'
cat >"$TEST_LOGS/amo-of.json" <<JSON
{"source":"amo-$RUN_ID","external_id":"child-pf","membership_number":"$M","beneficiary_rank":3,"lines":[{$gp,"brss_cents":3000,"amo_rate":70,"amo_paid_cents":1900}]}
{"source":"amo-$RUN_ID","external_id":"adult-pf","membership_number":"$M","lines":[{$gp,"brss_cents":3000,"amo_rate":70,"amo_paid_cents":1900}]}
{"source":"amo-$RUN_ID","external_id":"act-priced","membership_number":"$M","lines":[{$gp,"parcours":true,"amo_paid_cents":1900}]}
{"source":"amo-$RUN_ID","external_id":"act-priced-high","membership_number":"$M","lines":[{$gp,"parcours":true,"amo_paid_cents":2101}]}
{"source":"amo-$RUN_ID","external_id":"no-base","membership_number":"$M","lines":[{"category":"CONSULT_GP","care_date":"2026-03-10","charged_cents":3000,"amo_paid_cents":1900}]}
JSON
"$BIN/claimctl" submit --sync "$TEST_LOGS/amo-of.json" >"$TEST_LOGS/amo-of.txt" 2>>"$LOG"
check "AMO amount: a PF withheld from a child" grep -q "^child-pf rejected AMO_INCONSISTENT lines\[0\].amo_paid_cents" "$TEST_LOGS/amo-of.txt"
check "AMO amount: ... and from an adult, accepted" grep -q "^adult-pf accepted" "$TEST_LOGS/amo-of.txt"
check "AMO amount: priced by the act table" grep -q "^act-priced accepted" "$TEST_LOGS/amo-of.txt"
check "AMO amount: ... above the act's share" grep -q "^act-priced-high rejected AMO_INCONSISTENT" "$TEST_LOGS/amo-of.txt"
check "AMO amount: nothing to judge it against" grep -q "^no-base rejected MISSING_FIELD lines\[0\].brss_cents" "$TEST_LOGS/amo-of.txt"
printf '{"source":"complement","external_id":"reserved-%s","membership_number":"%s","lines":[{"care_date":"2026-03-10",%s}]}\n' \
	"$RUN_ID" "${P}00002" "$line" >"$TEST_LOGS/reserved-source.json"
check "bad input: the source reserved for complements" grep -q "^reserved-$RUN_ID rejected INVALID_FIELD source" \
	<<<"$("$BIN/claimctl" submit --sync "$TEST_LOGS/reserved-source.json" 2>>"$LOG")"
printf '{"source":"tp:RPPS:10101010101","external_id":"spoof-%s","membership_number":"%s","professional_kind":"RPPS","professional_id":"10003000006","payee":"professional","lines":[{"care_date":"2026-03-10",%s}]}\n' \
	"$RUN_ID" "${P}00002" "$line" >"$TEST_LOGS/tp-spoof.json"
check "bad input: another professional's tp: source" grep -q "^spoof-$RUN_ID rejected INVALID_FIELD source" \
	<<<"$("$BIN/claimctl" submit --sync "$TEST_LOGS/tp-spoof.json" 2>>"$LOG")"
check_eq "bad input: no key kept in another's tp: namespace" \
	"$(sql "SELECT count(*) FROM claim_rejections WHERE external_id = 'spoof-$RUN_ID'")" 0
check_eq "bad input: rejections recorded with their reason" \
	"$(sql "SELECT count(*) FROM claim_rejections WHERE source = '$BAD'")" 9
# An external id of 4 kB is no key (at most 128 bytes): refused
# INVALID_FIELD, and recorded without it (as a key, it would not fit
# the unique index: the refusal could not be written, the socket would
# say "unavailable" for ever and a Kafka batch fail).
long_id=$(head -c 3000 /dev/urandom | base64 -w0)
for via in socket kafka; do
	printf '{"source":"long-%s-%s","external_id":"%s","membership_number":"%s","lines":[{"care_date":"2026-03-10",%s}]}\n' \
		"$via" "$RUN_ID" "$long_id" "${P}00002" "$line" >"$TEST_LOGS/long-key-$via.json"
done
check "bad input: a 4 kB external id refused on the socket" \
	grep -q "rejected INVALID_FIELD external_id" \
	<<<"$("$BIN/claimctl" submit --sync "$TEST_LOGS/long-key-socket.json" 2>>"$LOG")"
"$BIN/claimctl" submit "$TEST_LOGS/long-key-kafka.json" >>"$LOG" 2>&1
check "bad input: ... and from Kafka, recorded without its key" \
	wait_for 30 bash -c "[ \"\$(psql -X -At '$CLAIMS_PG_DSN' -c \"SELECT count(*) FROM claim_rejections
		WHERE source IN ('long-socket-$RUN_ID', 'long-kafka-$RUN_ID') AND external_id IS NULL
		AND reason_code = 'INVALID_FIELD' AND field = 'external_id'\")\" = 2 ]"
"$BIN/claimctl" submit --sync "$TEST_LOGS/bad-claims.json" >"$TEST_LOGS/bad-replies-2.txt" 2>>"$LOG"
check_eq "bad input: a repeat gets the first answers" \
	"$(grep -c "duplicate: first answer" "$TEST_LOGS/bad-replies-2.txt")" 10
check "bad input: the good claim is decided" wait_for 30 all_decided "$BAD" 1
# A key used again for other content (a sender's counter reset): the
# first answer all the same, but said on the socket; read from Kafka,
# the message is kept in the DLQ with why. The same content again stays
# a plain duplicate.
RK="reused-$RUN_ID"
for d in 2026-03-10 2026-03-11; do
	printf '{"source":"%s","external_id":"k","membership_number":"%s","lines":[{"care_date":"%s",%s}]}\n' \
		"$RK" "${P}00002" "$d" "$line" >"$TEST_LOGS/reused-$d.json"
done
reused_rc=
for f in 2026-03-10 2026-03-10 2026-03-11; do
	"$BIN/claimctl" submit --sync "$TEST_LOGS/reused-$f.json" 2>>"$LOG"
	reused_rc="$reused_rc $?"
done >"$TEST_LOGS/reused.txt"
check_eq "key reused: the other content's run exits 3 (nothing of it recorded)" "$reused_rc" " 0 0 3"
reused=$(sql "SELECT claim_id FROM claims WHERE source = '$RK'")
check_eq "key reused: accepted; the same again, a duplicate; other content, said" \
	"$(cat "$TEST_LOGS/reused.txt")" \
	"k accepted $reused
k accepted $reused (duplicate: first answer)
k accepted $reused (duplicate: first answer; this content differs from the first, nothing of it recorded)"
check_eq "key reused: one claim, as first submitted" \
	"$(sql "SELECT count(*) || ' ' || min(l.care_date) FROM claims c JOIN claim_lines l USING (claim_id)
		WHERE c.source = '$RK'")" "1 2026-03-10"
before_reused=$(dlq_count)
"$BIN/claimctl" submit "$TEST_LOGS/reused-2026-03-11.json" 2>>"$LOG"
check "key reused, from Kafka: the message kept in the DLQ" \
	wait_for 30 bash -c "[ \"\$('$BIN/claimctl' dlq list 2>/dev/null | tail -n 1 | cut -d' ' -f1)\" -gt $before_reused ]"
check "key reused, from Kafka: ... saying why" bash -c "'$BIN/claimctl' dlq list 2>/dev/null |
	grep -q 'by intake: key (source $RK, external id k) already answered for other content (first answer: accepted $reused)'"
check_eq "key reused, from Kafka: ... and nothing recorded" \
	"$(sql "SELECT count(*) FROM claim_lines l JOIN claims c USING (claim_id) WHERE c.source = '$RK'")" 1
# A rejection that depended on data loaded since (here: the member) is
# released by an operator; the key is then decided anew.
check "release: the key's rejection shown" grep -q "^rejected     UNKNOWN_MEMBER membership_number" \
	<<<"$("$BIN/claimctl" claim --external "$BAD" unknown-member 2>>"$LOG")"
check "release: the rejection released" bash -c "'$BIN/claimctl' claim release '$BAD' unknown-member >>'$LOG'"
printf '{"source":"%s","external_id":"unknown-member","membership_number":"%s","lines":[{"care_date":"2026-03-10",%s}]}\n' \
	"$BAD" "${P}00002" "$line" >"$TEST_LOGS/released.json"
check "release: the key decided anew (accepted, no duplicate)" grep -Eq "^unknown-member accepted [0-9a-f-]{36}$" \
	<<<"$("$BIN/claimctl" submit --sync "$TEST_LOGS/released.json" 2>>"$LOG")"
"$BIN/claimctl" claim release "$BAD" unknown-member >>"$LOG" 2>&1
check_eq "release: a key without a rejection is refused (exit 1)" "$?" 1

# ---- a line the engine refuses leaves its neighbours decided ----------------------
# Intake refuses what the engine would (an act code of another category:
# INVALID_FIELD). The worker may still refuse a line intake accepted
# when the two judge with different parameters (a rolling deployment of
# a new act table): here an intake whose table makes AMI a
# consultation's act, the worker's an auxiliary's. The claim is partial,
# its two other lines (under the same formula version) decided.
OL="oneline-$RUN_ID"
printf '{"source":"%s","external_id":"refused","membership_number":"%s","lines":[{"care_date":"2026-03-11","act_code":"AMI",%s}]}\n' \
	"$OL" "${P}00002" "$line" >"$TEST_LOGS/foreign-act.json"
check "an act of another category: refused by intake" \
	grep -q "^refused rejected INVALID_FIELD lines\[0\].act_code" \
	<<<"$("$BIN/claimctl" submit --sync "$TEST_LOGS/foreign-act.json" 2>>"$LOG")"
sed '/"code": "AMI"/{n;s/"AUXILIAIRE"/"CONSULT_GP"/}' deploy/params/parameters.json \
	>"$TEST_LOGS/params-ami-gp.json"
# No broker: it must not take claims.submitted's partitions; the
# other intake's relay publishes its events.
start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9188 \
	CLAIMS_INTAKE_ENDPOINT=tcp://127.0.0.1:5712 CLAIMS_KAFKA_BROKERS=127.0.0.1:1 \
	CLAIMS_RULES_PARAMS="$TEST_LOGS/params-ami-gp.json"
other_params_intake=$LAST_PID
check "an intake with another act table serves" \
	wait_for 30 curl -s -o /dev/null http://127.0.0.1:9188/health
printf '{"source":"%s","external_id":"x","membership_number":"%s","lines":[{"care_date":"2026-03-10",%s},{"care_date":"2026-03-11","act_code":"AMI",%s},{"care_date":"2026-03-12",%s}]}\n' \
	"$OL" "${P}00002" "$line" "$line" "$line" >"$TEST_LOGS/one-bad-line.json"
"$BIN/claimctl" submit --sync --endpoint tcp://127.0.0.1:5712 "$TEST_LOGS/one-bad-line.json" >>"$LOG" 2>&1
check "one bad line: the claim is decided" wait_for 30 all_decided "$OL" 1
check_eq "one bad line: partial, its two good lines decided" \
	"$(sql "SELECT concat_ws(' ', c.status, string_agg(d.line_no::text, ',' ORDER BY d.line_no))
	        FROM claims c JOIN decisions d USING (claim_id) WHERE c.source = '$OL' AND c.external_id = 'x'
	        GROUP BY c.status")" "partial 1,3"
check "one bad line: the reason names the claim's line and its act" grep -q "line 2: ENGINE_REFUSED: act: act AMI is a AUXILIAIRE act" \
	<<<"$(sql "SELECT outcome_reason FROM claims WHERE source = '$OL' AND external_id = 'x'")"
# The first line refused: the version of the run is still the others'.
printf '{"source":"%s","external_id":"first","membership_number":"%s","lines":[{"care_date":"2026-03-10","act_code":"AMI",%s},{"care_date":"2026-03-11",%s}]}\n' \
	"$OL" "${P}00002" "$line" "$line" >"$TEST_LOGS/first-bad-line.json"
"$BIN/claimctl" submit --sync --endpoint tcp://127.0.0.1:5712 "$TEST_LOGS/first-bad-line.json" >>"$LOG" 2>&1
stop_daemon "$other_params_intake"
check_eq "the intake with other parameters stops on SIGTERM (exit 0)" "$?" 0
check "first line bad: the claim is decided" wait_for 30 all_decided "$OL" 2
check_eq "first line bad: partial, its second line decided" \
	"$(sql "SELECT concat_ws(' ', c.status, string_agg(d.line_no::text, ','))
	        FROM claims c JOIN decisions d USING (claim_id) WHERE c.source = '$OL' AND c.external_id = 'first'
	        GROUP BY c.status")" "partial 2"
check "first line bad: the worker still runs" kill -0 "${DAEMON_PIDS[1]}"

# ---- a formula published while the workers run ----------------------------------
# A worker loaded the formulas at its start; a claim on a formula
# published since is decided with it at once, not in error until the
# periodic reload.
F="NEW${RUN_ID: -6}"
sql "INSERT INTO formulas (formula_code, label, responsible)
       SELECT '$F', 'Published during the test', responsible FROM formulas WHERE formula_code = 'CONFORT';
     INSERT INTO formula_versions (formula_code, version, effective_from, effective_to)
       SELECT '$F', 1, effective_from, effective_to FROM formula_versions
       WHERE formula_code = 'CONFORT' ORDER BY version DESC LIMIT 1;
     INSERT INTO guarantees (formula_code, version, category, spec)
       SELECT '$F', 1, category, spec FROM guarantees
       WHERE formula_code = 'CONFORT' AND version = (SELECT max(version) FROM formula_versions
                                                    WHERE formula_code = 'CONFORT')" >/dev/null
create_members "${P}7" 1 "$F"
NF="newformula-$RUN_ID"
claims_file "${P}7" 1 1 "$NF" >"$TEST_LOGS/new-formula.json"
"$BIN/claimctl" submit "$TEST_LOGS/new-formula.json" 2>>"$LOG"
check "new formula: the claim is decided" wait_for 30 all_decided "$NF" 1
check_eq "new formula: decided with it, not in error" \
	"$(sql "SELECT status FROM claims WHERE source = '$NF'")" complete

# The workers read five years of equipments: a longer renewal period is
# refused by the database too (migration 016), whoever writes it.
out=$(psql -X -q "$CLAIMS_PG_DSN" -c "INSERT INTO guarantees (formula_code, version, category, spec)
	VALUES ('$F', 1, 'AUDIO', '{\"equipment_cents\": 100000, \"renewal_months\": 61}')" 2>&1)
check "formulas: a renewal period over 60 months refused by the database" \
	grep -q 'violates check constraint "guarantees_renewal_months_bound"' <<<"$out"

out=$(psql -X -q "$CLAIMS_PG_DSN" -c "INSERT INTO guarantees (formula_code, version, category, spec)
	VALUES ('$F', 1, 'MEDECINE_DOUCE', '{\"per_act_cents\": 3500, \"annual_cents\": 10000}')" 2>&1)
check "formulas: a forfait per act with an annual envelope refused by the database" \
	grep -q 'guarantees_per_act_or_envelope' <<<"$out"

# ---- a version published with a past date, closing the one in force -------------
# The workers hold version 1, still open. Version 2 starts on 2026-03-01
# and closes it: no claim names anything unknown, and the periodic reload
# is a minute away. The database announces the change (NOTIFY) and the
# next claim of March is decided with version 2 at once.
sql "UPDATE formula_versions SET effective_to = '2026-03-01' WHERE formula_code = '$F' AND version = 1;
     INSERT INTO formula_versions (formula_code, version, effective_from) VALUES ('$F', 2, '2026-03-01');
     INSERT INTO guarantees (formula_code, version, category, spec)
       SELECT '$F', 2, category, spec FROM guarantees WHERE formula_code = '$F' AND version = 1" >/dev/null
# Two versions in force on the same day are refused (migration 017):
# version 3 from April, with version 2 left open.
out=$(psql -X -q "$CLAIMS_PG_DSN" -c "BEGIN; INSERT INTO formula_versions (formula_code, version, effective_from)
	VALUES ('$F', 3, '2026-04-01'); COMMIT" 2>&1)
check "formulas: a version overlapping another of its formula refused by the database" \
	grep -q 'formula_versions_no_overlap' <<<"$out"
RF="retro-$RUN_ID"
printf '{"source":"%s","external_id":"x","membership_number":"%s","lines":[{"care_date":"2026-03-10",%s}]}\n' \
	"$RF" "${P}700001" "$line" >"$TEST_LOGS/retro.json"
"$BIN/claimctl" submit "$TEST_LOGS/retro.json" 2>>"$LOG"
check "retroactive version: the claim is decided" wait_for 30 all_decided "$RF" 1
check_eq "retroactive version: decided with version 2, at once" \
	"$(sql "SELECT string_agg(DISTINCT d.formula_version::text, ',') FROM decisions d JOIN claims c USING (claim_id)
	        WHERE c.source = '$RF'")" 2

# ---- the history read back from the database -------------------------------------
# Claims of one member sent one at a time, each decided in its own batch,
# so that each reads the earlier ones from PostgreSQL (the rows of its
# days, the sums of its year): the PF daily cap (8 euros) across claims
# of one day, then the annual cap (50 euros) across days, and another year.
create_members "${P}4" 1 CONFORT
H="history-$RUN_ID"
gp='"act_code":"G","category":"CONSULT_GP","charged_cents":3000,"brss_cents":3000,"amo_rate":70'
one_by_one() { # one_by_one EXTERNAL_ID DATE LINES
	local lines="" i
	for ((i = 0; i < $3; i++)); do lines+="${lines:+,}{\"care_date\":\"$2\",$gp}"; done
	printf '{"source":"%s","external_id":"%s","membership_number":"%s","lines":[%s]}\n' \
		"$H" "$1" "${P}400001" "$lines" >"$TEST_LOGS/history-one.json"
	"$BIN/claimctl" submit "$TEST_LOGS/history-one.json" 2>>"$LOG" &&
		wait_for 30 bash -c "[ \"\$(psql -X -At '$CLAIMS_PG_DSN' -c \"SELECT status FROM claims WHERE source = '$H' AND external_id = '$1'\")\" = complete ]"
}
pf_of() { sql "SELECT sum(d.pf_cents) FROM decisions d JOIN claims c USING (claim_id) WHERE c.source = '$H' AND c.external_id = '$1'"; }
for k in 1 2 3 4 5; do one_by_one "day-$k" 2026-04-02 1; done
check_eq "history: PF of five claims of one day, one act each (cap 8 euros a day)" \
	"$(for k in 1 2 3 4 5; do pf_of "day-$k"; done | tr '\n' ' ')" "200 200 200 200 0 "
for k in 1 2 3 4 5 6; do one_by_one "year-$k" "2026-05-0$k" 4; done
check_eq "history: PF of six more days of four acts (cap 50 euros a year, 8 already paid)" \
	"$(for k in 1 2 3 4 5 6; do pf_of "year-$k"; done | tr '\n' ' ')" "800 800 800 800 800 200 "
one_by_one other-year 2025-06-02 1
check_eq "history: another year, its own cap" "$(pf_of other-year)" 200

# Whoever writes a daily counter (here plain SQL, as a worker of the
# previous release would), its year follows: insert, update, delete.
hb=$(sql "SELECT b.beneficiary_id FROM beneficiaries b JOIN contracts c USING (contract_id)
          JOIN members m ON m.member_id = c.member_id WHERE m.membership_number = '${P}400001'")
year_row() { # [YEAR], 2026 by default
	sql "SELECT concat_ws(' ', pf_cents, amc_cents, forfait_units, lines) FROM consumption_years
	     WHERE beneficiary_id = $hb AND year = ${1:-2026} AND category = 'CONSULT_GP'"
}
before=$(year_row)
sql "INSERT INTO consumption_counters (beneficiary_id, category, care_date, pf_cents, amc_cents, forfait_units, lines)
     VALUES ($hb, 'CONSULT_GP', '2026-09-01', 200, 1000, 1, 1)" >/dev/null
sql "UPDATE consumption_counters SET amc_cents = amc_cents + 500, lines = lines + 1
     WHERE beneficiary_id = $hb AND care_date IN ('2026-09-01', '2026-04-02')" >/dev/null
read -r pf amc units lines <<<"$before"
check_eq "yearly counters follow an insert and an update by anyone" "$(year_row)" \
	"$((pf + 200)) $((amc + 1000 + 1000)) $((units + 1)) $((lines + 3))"
sql "DELETE FROM consumption_counters WHERE beneficiary_id = $hb AND care_date = '2026-09-01'" >/dev/null
check_eq "yearly counters follow a delete" "$(year_row)" "$pf $((amc + 500)) $units $((lines + 1))"
sql "UPDATE consumption_counters SET amc_cents = amc_cents - 500, lines = lines - 1
     WHERE beneficiary_id = $hb AND care_date = '2026-04-02'" >/dev/null
check_eq "yearly counters back where they were" "$(year_row)" "$before"
# A day moved to another year (a corrected date of care) takes its
# amounts along, every one of them: one statement, two years.
year_all() { # YEAR -> the six sums of the member's CONSULT_GP year
	sql "SELECT concat_ws(' ', pf_cents, franchise_cents, amc_cents, forfait_cents, forfait_units, lines)
	     FROM consumption_years WHERE beneficiary_id = $hb AND year = $1 AND category = 'CONSULT_GP'"
}
read -r pf5 fr5 amc5 fo5 units5 lines5 <<<"$(year_all 2025 | grep . || echo 0 0 0 0 0 0)"
b26=$(year_all 2026)
sql "INSERT INTO consumption_counters (beneficiary_id, category, care_date, pf_cents, franchise_cents,
         amc_cents, forfait_cents, forfait_units, lines)
     VALUES ($hb, 'CONSULT_GP', '2026-09-02', 100, 50, 700, 300, 2, 1)" >/dev/null
sql "UPDATE consumption_counters SET care_date = '2025-09-02'
     WHERE beneficiary_id = $hb AND category = 'CONSULT_GP' AND care_date = '2026-09-02'" >/dev/null
check_eq "yearly counters follow a day moved to another year" "$(year_all 2026) | $(year_all 2025)" \
	"$b26 | $((pf5 + 100)) $((fr5 + 50)) $((amc5 + 700)) $((fo5 + 300)) $((units5 + 2)) $((lines5 + 1))"
sql "DELETE FROM consumption_counters
     WHERE beneficiary_id = $hb AND category = 'CONSULT_GP' AND care_date = '2025-09-02'" >/dev/null
check_eq "yearly counters of the other year back where they were" "$(year_all 2025)" \
	"$pf5 $fr5 $amc5 $fo5 $units5 $lines5"
# Whatever happened above, the member's years are the sums of its days.
check_eq "yearly counters are the sums of the daily ones" "$(sql "
	WITH y AS (SELECT year, category, pf_cents, franchise_cents, amc_cents, forfait_cents,
	                  forfait_units, lines
	           FROM consumption_years WHERE beneficiary_id = $hb
	           AND (pf_cents, franchise_cents, amc_cents, forfait_cents, forfait_units, lines)
	               <> (0, 0, 0, 0, 0, 0)),
	     d AS (SELECT date_part('year', care_date)::integer, category, sum(pf_cents),
	                  sum(franchise_cents), sum(amc_cents), sum(forfait_cents),
	                  sum(forfait_units), sum(lines)
	           FROM consumption_counters WHERE beneficiary_id = $hb GROUP BY 1, 2)
	SELECT (SELECT count(*) FROM (TABLE y EXCEPT TABLE d) a)
	     + (SELECT count(*) FROM (TABLE d EXCEPT TABLE y) b) || ' of '
	     || (SELECT count(*) FROM d)")" "0 of $(sql "SELECT count(DISTINCT (date_part('year', care_date), category))
	FROM consumption_counters WHERE beneficiary_id = $hb")"

# ---- a release out of step with its schema ----------------------------------------
# The worker's statement fails for a reason that is not the message's
# (here a column renamed under it, SQLSTATE 42703). The claim waits, no
# dead letter is written, and it is decided once the cause is gone.
OOS="out-of-step-$RUN_ID"
dead_before=$(sql "SELECT count(*) FROM outbox WHERE topic = 'claims.accepted.dlq'")
sql "ALTER TABLE payments RENAME COLUMN payee_ref TO payee_reference" >/dev/null
claims_file "${P}4" 1 1 "$OOS" >"$TEST_LOGS/out-of-step.json"
"$BIN/claimctl" submit "$TEST_LOGS/out-of-step.json" 2>>"$LOG"
check "schema out of step: the worker's statement fails" \
	wait_for 20 bash -c "grep -q 'payee_ref.* does not exist' '$LOG'"
sleep 2
check_eq "schema out of step: the claim waits" "$(sql "SELECT status FROM claims WHERE source = '$OOS'")" queued
check_eq "schema out of step: no dead letter" \
	"$(sql "SELECT count(*) FROM outbox WHERE topic = 'claims.accepted.dlq'")" "$dead_before"
sql "ALTER TABLE payments RENAME COLUMN payee_reference TO payee_ref" >/dev/null
check "schema out of step: decided once it is mended" wait_for 60 all_decided "$OOS" 1

# ---- a claim in error, decided again once its formula version exists ------------
# Formula G is in force from June only; a March claim on it ends in error
# (no line decided). Once the version covering March is published,
# `claimctl claim redecide` sends it back, rebuilt from the database (the
# GP line without BRSS or rate: priced from the act table both times),
# and it is decided exactly as the same care on the same guarantees.
G="GAP${RUN_ID: -6}"
create_gap_formula "$G"
create_members "${P}8" 3 "$G"
create_members "${P}6" 1 CONFORT
RD="redecide-$RUN_ID"
for m in "${P}800001" "${P}800002" "${P}600001"; do
	printf '{"source":"%s","external_id":"%s","membership_number":"%s","lines":[%s,%s]}\n' "$RD" "$m" "$m" \
		'{"act_code":"G","category":"CONSULT_GP","care_date":"2026-03-10","charged_cents":3000}' \
		'{"category":"PHARMA","care_date":"2026-03-10","quantity":2,"charged_cents":1200,"brss_cents":1200,"amo_rate":65}'
done >"$TEST_LOGS/redecide.json"
"$BIN/claimctl" submit "$TEST_LOGS/redecide.json" 2>>"$LOG"
check "redecide: the claims decided" wait_for 30 all_decided "$RD" 3
gap_claim=$(sql "SELECT claim_id FROM claims WHERE source = '$RD' AND external_id = '${P}800001'")
# The twin as intake recorded it before migration 008: 0 where the GP
# line left BRSS and rate to the act table.
legacy_claim=$(sql "SELECT claim_id FROM claims WHERE source = '$RD' AND external_id = '${P}800002'")
sql "UPDATE claim_lines SET brss_cents = 0, amo_rate = 0 WHERE claim_id = '$legacy_claim' AND brss_cents IS NULL;
     UPDATE claims SET received_at = (SELECT applied_at - interval '1 day' FROM schema_migrations
                                      WHERE name = '008_line_prices_as_given.sql')
     WHERE claim_id = '$legacy_claim'" >/dev/null
check_eq "redecide: no version in force in March: error" "$(sql "SELECT status FROM claims WHERE claim_id = '$gap_claim'")" error
# A claim in error whose contract ended since, before its care: intake
# would refuse that care now, and redecide leaves it to a person.
RU="uncovered-$RUN_ID"
create_members "${P}5" 2 "$G"
pharma_line() { printf '{"category":"PHARMA","care_date":"%s","quantity":2,"charged_cents":1200,"brss_cents":1200,"amo_rate":65}' "$1"; }
{
	printf '{"source":"%s","external_id":"u","membership_number":"%s","lines":[%s]}\n' "$RU" "${P}500001" \
		"$(pharma_line 2026-03-10)"
	# Care on both sides of the end given below: the first line is still owed.
	printf '{"source":"%s","external_id":"half","membership_number":"%s","lines":[%s,%s]}\n' "$RU" \
		"${P}500002" "$(pharma_line 2026-03-10)" "$(pharma_line 2026-03-20)"
} >"$TEST_LOGS/uncovered.json"
"$BIN/claimctl" submit --sync "$TEST_LOGS/uncovered.json" >>"$LOG" 2>&1
check "redecide, care no longer covered: the claims decided (error)" wait_for 30 all_decided "$RU" 2
"$BIN/claimctl" contract terminate --member "${P}500001" --end-date 2026-03-01 >>"$LOG" 2>&1
"$BIN/claimctl" contract terminate --member "${P}500002" --end-date 2026-03-15 >>"$LOG" 2>&1
uncovered_claim=$(sql "SELECT claim_id FROM claims WHERE source = '$RU' AND external_id = 'u'")
half_claim=$(sql "SELECT claim_id FROM claims WHERE source = '$RU' AND external_id = 'half'")
out=$("$BIN/claimctl" claim redecide "$uncovered_claim")
check_eq "redecide, care no longer covered: refused (exit 1)" "$?" 1
check "redecide, care no longer covered: ... naming the line" \
	grep -q "not sent again: no longer covered on line(s) 1 (2026-03-10)" <<<"$out"
check_eq "redecide, care no longer covered: ... left in error" \
	"$(sql "SELECT status FROM claims WHERE claim_id = '$uncovered_claim'")" error
check_eq "redecide: no ids on standard input is nothing to do (exit 0)" \
	"$(: | "$BIN/claimctl" claim redecide - >/dev/null 2>&1; echo $?)" 0
out=$("$BIN/claimctl" claim redecide "$gap_claim")
check_eq "redecide: sent while the version is still missing" "$?" 0
check "redecide: ... and in error again (nothing published yet)" wait_for 30 bash -c \
	"[ \"\$(psql -X -At '$CLAIMS_PG_DSN' -c \"SELECT status FROM claims WHERE claim_id = '$gap_claim'\")\" = error ]"
# A session cut while one claim waits for its lock (an administrator's
# kill, a failover): that claim is said, by its id, and the next one is
# sent again over a new session.
psql -X -q "$CLAIMS_PG_DSN" -c "SELECT 1 FROM claims WHERE claim_id = '$gap_claim' FOR UPDATE;
	SELECT pg_sleep(30)" >/dev/null 2>&1 &
locker=$!
holding() {
	[ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'
		AND query LIKE '%$gap_claim%FOR UPDATE%'")" = 1 ]
}
check "redecide, session cut: the claim locked" wait_for 10 holding
"$BIN/claimctl" claim redecide "$gap_claim" "$legacy_claim" >"$TEST_LOGS/redecide-cut.txt" 2>>"$LOG" &
redecider=$!
redecide_waits() {
	[ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'claimctl'
		AND wait_event_type = 'Lock'")" = 1 ]
}
check "redecide, session cut: waiting for the claim's lock" wait_for 10 redecide_waits
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'claimctl'
	AND wait_event_type = 'Lock'" >/dev/null
wait "$redecider"
check_eq "redecide, session cut: exit 1" "$?" 1
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event = 'PgSleep'
	AND query LIKE '%$gap_claim%FOR UPDATE%'" >/dev/null
wait "$locker"
check "redecide, session cut: the claim cut is said" \
	grep -q "^$gap_claim not sent again: database error (logged)" "$TEST_LOGS/redecide-cut.txt"
check "redecide, session cut: ... the next sent over a new session" \
	grep -q "^$legacy_claim queued again (2 lines)" "$TEST_LOGS/redecide-cut.txt"
check_eq "redecide, session cut: the claim cut left as it was, unaudited" \
	"$(sql "SELECT status || ' ' || (SELECT count(*) FROM audit_log WHERE action = 'redecide'
		AND entity_id = '$gap_claim') FROM claims WHERE claim_id = '$gap_claim'")" "error 1"
check "redecide, session cut: the next decided (in error again: nothing published yet)" \
	wait_for 30 bash -c "[ \"\$(psql -X -At '$CLAIMS_PG_DSN' -c \"SELECT status FROM claims WHERE claim_id = '$legacy_claim'\")\" = error ]"
# A claim with the same GP care in March and in July: the July line is
# decided, the March one not (partial), until version 2 below.
RP="partial-$RUN_ID"
printf '{"source":"%s","external_id":"%s","membership_number":"%s","lines":[%s,%s]}\n' "$RP" "${P}800003" "${P}800003" \
	'{"act_code":"G","category":"CONSULT_GP","care_date":"2026-03-10","charged_cents":3000}' \
	'{"act_code":"G","category":"CONSULT_GP","care_date":"2026-07-10","charged_cents":3000}' \
	>"$TEST_LOGS/partial.json"
"$BIN/claimctl" submit "$TEST_LOGS/partial.json" 2>>"$LOG"
check "complement: the claim decided" wait_for 30 all_decided "$RP" 1
partial_claim=$(sql "SELECT claim_id FROM claims WHERE source = '$RP'")
check_eq "complement: partial, its July line decided" \
	"$(sql "SELECT c.status || ' ' || string_agg(d.line_no::text, ',') FROM claims c
	        JOIN decisions d USING (claim_id) WHERE c.claim_id = '$partial_claim' GROUP BY c.status")" "partial 2"
fill_gap_formula "$G"
out=$("$BIN/claimctl" claim redecide "$gap_claim" "$legacy_claim")
check_eq "redecide: sent again" "$?" 0
check "redecide: says so" grep -q "^$gap_claim queued again (2 lines)" <<<"$out"
# Half its care still covered: sent, the covered line decided and paid,
# the other left NOT_COVERED (before, the whole claim was refused, and the
# covered care never paid).
out=$("$BIN/claimctl" claim redecide "$half_claim")
check_eq "redecide, half the care no longer covered: sent (exit 0)" "$?" 0
check "redecide, half the care no longer covered: ... saying which line will not be paid" \
	grep -q "^$half_claim note: no longer covered on line(s) 2 (2026-03-20)" <<<"$out"
check "redecide, half the care no longer covered: decided, partial" wait_for 30 bash -c \
	"[ \"\$(psql -X -At '$CLAIMS_PG_DSN' -c \"SELECT status FROM claims WHERE claim_id = '$half_claim'\")\" = partial ]"
check_eq "redecide, half the care no longer covered: the first line paid, the second NOT_COVERED" \
	"$(sql "SELECT (SELECT string_agg(line_no::text, ',') FROM decisions WHERE claim_id = '$half_claim')
		|| ' ' || (SELECT amount_cents = (SELECT sum(amc_cents) FROM decisions WHERE claim_id = '$half_claim')
		           FROM payments WHERE claim_id = '$half_claim')
		|| ' ' || (SELECT outcome_reason LIKE '%NOT_COVERED: the contract no longer covers 2026-03-20%'
		           FROM claims WHERE claim_id = '$half_claim')")" "1 true true"
check "redecide: decided with the version just published" wait_for 30 bash -c \
	"[ \"\$(psql -X -At '$CLAIMS_PG_DSN' -c \"SELECT status FROM claims WHERE claim_id = '$gap_claim'\")\" = complete ]"
check_eq "redecide: the same amounts and rules as the same care on the same guarantees" \
	"$(sql "SELECT string_agg(concat_ws(' ', d.line_no, d.amo_gross_cents, d.amo_paid_cents, d.amc_cents,
	          d.rac_cents, d.rules), '; ' ORDER BY d.line_no)
	        FROM decisions d JOIN claims c USING (claim_id) WHERE c.claim_id = '$gap_claim'")" \
	"$(sql "SELECT string_agg(concat_ws(' ', d.line_no, d.amo_gross_cents, d.amo_paid_cents, d.amc_cents,
	          d.rac_cents, d.rules), '; ' ORDER BY d.line_no)
	        FROM decisions d JOIN claims c USING (claim_id) WHERE c.source = '$RD' AND c.external_id = '${P}600001'")"
check "redecide: the claim recorded before migration 008 decided too" wait_for 30 bash -c \
	"[ \"\$(psql -X -At '$CLAIMS_PG_DSN' -c \"SELECT status FROM claims WHERE claim_id = '$legacy_claim'\")\" = complete ]"
check_eq "redecide: ... its GP line priced from the act table, as before" \
	"$(sql "SELECT string_agg(concat_ws(' ', line_no, amo_gross_cents, amc_cents, rules), '; ' ORDER BY line_no)
	        FROM decisions WHERE claim_id = '$legacy_claim'")" \
	"$(sql "SELECT string_agg(concat_ws(' ', line_no, amo_gross_cents, amc_cents, rules), '; ' ORDER BY line_no)
	        FROM decisions WHERE claim_id = '$gap_claim'")"
check_eq "redecide: version 2 decided it" \
	"$(sql "SELECT DISTINCT formula_version FROM decisions WHERE claim_id = '$gap_claim'")" 2
check_eq "redecide: one payment" "$(sql "SELECT count(*) FROM payments WHERE claim_id = '$gap_claim'")" 1
check_eq "redecide: in the audit log, twice" \
	"$(sql "SELECT count(*) FROM audit_log WHERE action = 'redecide' AND entity_id = '$gap_claim'")" 2
out=$("$BIN/claimctl" claim redecide "$gap_claim")
check_eq "redecide: a decided claim is never decided again (exit 1)" "$?" 1
check "redecide: ... and says why" grep -q "^$gap_claim not sent again: decided" <<<"$out"
"$BIN/claimctl" claim redecide not-a-uuid >/dev/null 2>&1
check_eq "redecide: a bad id is a usage error" "$?" 2
out=$(printf '%s\n\n' "$gap_claim" | "$BIN/claimctl" claim redecide -)
check "redecide: ids on standard input (one refused here)" grep -q "^$gap_claim not sent again: decided" <<<"$out"
printf '%s\nnot-a-uuid\n' "$gap_claim" | "$BIN/claimctl" claim redecide - >/dev/null 2>&1
check_eq "redecide: a bad id on standard input is a usage error" "$?" 2

# ---- a partial claim completed by a second claim, once the version exists ------
# Its decided July line was paid and counted: it is never decided again.
# The March line goes, copied, into a new claim linked to the first,
# decided like the same care of the claim above (same version, same
# day, first GP visit of the day for each beneficiary).
payments_before=$(sql "SELECT count(*) FROM payments WHERE claim_id = '$partial_claim'")
out=$("$BIN/claimctl" claim redecide "$partial_claim")
check_eq "complement: sent" "$?" 0
complement=$(sql "SELECT complement_id FROM claim_complements WHERE claim_id = '$partial_claim'")
check "complement: says so" grep -q "^$partial_claim completed by $complement (1 lines)" <<<"$out"
check "complement: decided" wait_for 30 bash -c \
	"[ \"\$(psql -X -At '$CLAIMS_PG_DSN' -c \"SELECT status FROM claims WHERE claim_id = '$complement'\")\" = complete ]"
check_eq "complement: the same payee and beneficiary, the reserved source, the first claim's id" \
	"$(sql "SELECT concat_ws(' ', k.payee = c.payee, k.beneficiary_id = c.beneficiary_id,
	          k.received_at = c.received_at, k.source, k.external_id = c.claim_id::text)
	        FROM claims c, claims k
	        WHERE c.claim_id = '$partial_claim' AND k.claim_id = '$complement'")" "t t t complement t"
check_eq "complement: holds the March line only, decided by version 2" \
	"$(sql "SELECT string_agg(concat_ws(' ', l.line_no, l.care_date, d.formula_version), '; ')
	        FROM claim_lines l JOIN decisions d USING (claim_id, line_no) WHERE l.claim_id = '$complement'")" \
	"1 2026-03-10 2"
check_eq "complement: the amounts and rules of the same care" \
	"$(sql "SELECT concat_ws(' ', amo_gross_cents, pf_cents, amo_paid_cents, amc_cents, rac_cents, rules)
	        FROM decisions WHERE claim_id = '$complement'")" \
	"$(sql "SELECT concat_ws(' ', amo_gross_cents, pf_cents, amo_paid_cents, amc_cents, rac_cents, rules)
	        FROM decisions WHERE claim_id = '$gap_claim' AND line_no = 1")"
check_eq "complement: the first claim is left as it was (partial, one decision, one payment)" \
	"$(sql "SELECT concat_ws(' ', status, (SELECT count(*) FROM decisions WHERE claim_id = '$partial_claim'),
	          (SELECT count(*) FROM payments WHERE claim_id = '$partial_claim'))
	        FROM claims WHERE claim_id = '$partial_claim'")" "partial 1 $payments_before"
check_eq "complement: its own payment, of its AMC share" \
	"$(sql "SELECT (SELECT amount_cents FROM payments WHERE claim_id = '$complement')
	          = (SELECT sum(amc_cents) FROM decisions WHERE claim_id = '$complement')")" t
check_eq "complement: the counters of the day are the sums of its decisions" \
	"$(sql "SELECT coalesce(max(k.pf_cents || ' ' || k.amc_cents), 'no counter') FROM consumption_counters k
	        JOIN claims c ON c.beneficiary_id = k.beneficiary_id
	        WHERE c.claim_id = '$complement' AND k.category = 'CONSULT_GP' AND k.care_date = '2026-03-10'")" \
	"$(sql "SELECT coalesce(max(pf_cents || ' ' || amc_cents), 'no decision') FROM decisions
	        WHERE claim_id = '$complement'")"
check_eq "complement: in the audit log" \
	"$(sql "SELECT detail->>'lines' FROM audit_log WHERE action = 'complement' AND entity_id = '$partial_claim'")" "[1]"
check "complement: claimctl claim shows the link" grep -q "^completed by $complement" \
	<<<"$("$BIN/claimctl" claim "$partial_claim")"
check "complement: ... both ways" grep -q "^complement of $partial_claim" \
	<<<"$("$BIN/claimctl" claim "$complement")"
check "complement: found by its source and external id" grep -q "^claim        $complement" \
	<<<"$("$BIN/claimctl" claim --external complement "$partial_claim")"
check "complement: ... and only by them" grep -q "no such claim" \
	<<<"$("$BIN/claimctl" claim --external complement "$complement" 2>&1)"
# A sender knows the first claim's id: under the reserved source it is
# refused, twice, never answered with the complement's first answer.
sender=$(printf '{"source":"complement","external_id":"%s","membership_number":"%s","lines":[%s]}' \
	"$partial_claim" "${P}800003" '{"act_code":"G","category":"CONSULT_GP","care_date":"2026-03-10","charged_cents":3000}')
printf '%s\n%s\n' "$sender" "$sender" >"$TEST_LOGS/complement-key.json"
check_eq "complement: its key cannot be used by a sender, nor read" \
	"$("$BIN/claimctl" submit --sync "$TEST_LOGS/complement-key.json" 2>>"$LOG" | cut -d' ' -f1-4 | sort | uniq -c | tr -s ' ')" \
	" 2 $partial_claim rejected INVALID_FIELD source"
check_eq "complement: ... and it holds no key of the namespace" \
	"$(sql "SELECT count(*) FROM claim_rejections WHERE source = 'complement'
	          AND external_id IN ('$partial_claim', 'reserved-$RUN_ID')")" 0
out=$("$BIN/claimctl" claim redecide "$partial_claim")
check_eq "complement: a claim is completed once (exit 1)" "$?" 1
check "complement: ... and says by which" \
	grep -q "^$partial_claim not sent again: partial, and already completed by $complement" <<<"$out"

# ---- contract changes ---------------------------------------------------------
# A suspension lifted gives back what the contract was: a termination
# made before or during the suspension stays, with its end date.
create_members "${P}88" 2 CONFORT
contract_of() {
	sql "SELECT c.status || ' ' || coalesce(c.end_date::text, '-') FROM contracts c
		JOIN members m USING (member_id) WHERE m.membership_number = '$1'"
}
M1="${P}8800001" M2="${P}8800002"
"$BIN/claimctl" contract terminate --member "$M1" --end-date 2026-12-31 >>"$LOG" 2>&1
"$BIN/claimctl" contract suspend --member "$M1" >>"$LOG" 2>&1
check_eq "contract: terminated then suspended keeps its end date" "$(contract_of "$M1")" "suspended 2026-12-31"
"$BIN/claimctl" contract reactivate --member "$M1" >>"$LOG" 2>&1
check_eq "contract: ... and reactivated is terminated again, not open-ended" \
	"$(contract_of "$M1")" "terminated 2026-12-31"
out=$("$BIN/claimctl" contract reactivate --member "$M1" 2>&1)
check_eq "contract: reactivating a terminated contract is refused (exit 1)" "$?" 1
check "contract: ... saying why" grep -q "reactivate lifts a suspension only" <<<"$out"
check_eq "contract: ... and changes nothing" "$(contract_of "$M1")" "terminated 2026-12-31"
"$BIN/claimctl" contract suspend --member "$M2" stray >>"$LOG" 2>&1
check_eq "contract: a stray argument is refused (exit 2)" "$?" 2
"$BIN/claimctl" contract suspend --member "$M2" --reason unpaid >>"$LOG" 2>&1
check_eq "contract: terminate's options on suspend are refused (exit 2)" "$?" 2
check_eq "contract: ... and nothing changed" "$(contract_of "$M2")" "active -"
"$BIN/claimctl" seed --members 10x >>"$LOG" 2>&1
check_eq "seed: a number that is not one is refused (exit 2)" "$?" 2
# seed loads a formula only as the engine reads it: one the engine
# would refuse (a member no guarantee has, a key given twice) fails the
# seed, which loads nothing.
SD="$TEST_LOGS/seed-formulas-$RUN_ID"
mkdir -p "$SD"
FX="SEEDX${RUN_ID: -6}"
version='"versions":[{"version":1,"effective_from":"2026-01-01","guarantees":{"PHARMA":{"pct_brss":100%s}}}]'
printf '{"code":"%s","label":"x","responsible":true,%s}\n' "$FX" "$(printf "$version" ',"pct_brs":100')" >"$SD/typo.json"
"$BIN/claimctl" seed --members 1 --formulas "$SD" >>"$LOG" 2>&1
check_eq "seed: a guarantee member the engine does not know fails the seed (exit 1)" "$?" 1
printf '{"code":"%s","label":"x","responsible":true,"responsible":false,%s}\n' "$FX" "$(printf "$version" '')" >"$SD/typo.json"
"$BIN/claimctl" seed --members 1 --formulas "$SD" >>"$LOG" 2>&1
check_eq "seed: a key given twice fails the seed (exit 1)" "$?" 1
check_eq "seed: ... and neither was loaded" "$(sql "SELECT count(*) FROM formulas WHERE formula_code = '$FX'")" 0
printf '{"code":"%s","label":"x","responsible":true,%s}\n' "$FX" "$(printf "$version" '')" >"$SD/typo.json"
"$BIN/claimctl" seed --members 1 --formulas "$SD" >>"$LOG" 2>&1
check_eq "seed: once mended, loaded" "$?:$(sql "SELECT count(*) FROM formulas WHERE formula_code = '$FX'")" "0:1"
# A formula declared responsible that is not (the ticket modérateur left
# uncovered) fails the seed, saying why; declared not responsible, it loads.
low='"versions":[{"version":1,"effective_from":"2026-01-01","guarantees":{"CONSULT_GP":{"pct_brss":50}}}]'
printf '{"code":"%sR","label":"x","responsible":true,%s}\n' "$FX" "$low" >"$SD/low.json"
out=$("$BIN/claimctl" seed --members 1 --formulas "$SD" 2>&1)
check_eq "seed: a formula declared responsible that is not fails the seed (exit 1)" "$?" 1
check "seed: ... saying why" grep -q "version 1 declared responsible, but CONSULT_GP: pct_brss 50 %" <<<"$out"
check_eq "seed: ... and it was not loaded" "$(sql "SELECT count(*) FROM formulas WHERE formula_code = '${FX}R'")" 0
printf '{"code":"%sR","label":"x","responsible":false,%s}\n' "$FX" "$low" >"$SD/low.json"
"$BIN/claimctl" seed --members 1 --formulas "$SD" >>"$LOG" 2>&1
check_eq "seed: ... declared not responsible, loaded" "$?:$(sql "SELECT count(*) FROM formulas WHERE formula_code = '${FX}R'")" "0:1"
# A renewal that starts next month is not the contract suspended today.
create_members "${P}3" 1 CONFORT
M3="${P}300001"
sql "INSERT INTO contracts (member_id, formula_code, amc_number, status, start_date)
	SELECT member_id, 'CONFORT', '75500017', 'active', current_date + 30
	FROM members WHERE membership_number = '$M3'" >/dev/null
"$BIN/claimctl" contract suspend --member "$M3" >>"$LOG" 2>&1
check_eq "contract: the one in force today is suspended, not next month's" \
	"$(sql "SELECT string_agg(c.status, ' ' ORDER BY c.start_date) FROM contracts c
		JOIN members m USING (member_id) WHERE m.membership_number = '$M3'")" "suspended active"
"$BIN/claimctl" contract suspend --member "$M2" >>"$LOG" 2>&1
"$BIN/claimctl" contract terminate --member "$M2" --end-date 2026-11-30 >>"$LOG" 2>&1
check_eq "contract: terminating a suspended contract keeps it suspended" \
	"$(contract_of "$M2")" "suspended 2026-11-30"
"$BIN/claimctl" contract reactivate --member "$M2" >>"$LOG" 2>&1
check_eq "contract: ... until reactivated: terminated at its end date" "$(contract_of "$M2")" \
	"terminated 2026-11-30"
# A suspension from a day: care before it is still covered, care on or
# after it is not; reactivated, the day goes with the suspension.
create_members "${P}2" 1 CONFORT
M4="${P}200001"
suspension_of() {
	sql "SELECT c.status || ' ' || coalesce(c.suspended_from::text, '-') FROM contracts c
		JOIN members m USING (member_id) WHERE m.membership_number = '$M4'"
}
out=$("$BIN/claimctl" contract suspend --member "$M4" --from 2026-06-01 2>>"$LOG")
check_eq "suspension from a day: recorded" "$(suspension_of)" "suspended 2026-06-01"
check "suspension from a day: ... and said" grep -q ": suspended from 2026-06-01$" <<<"$out"
SU="suspended-$RUN_ID"
for d in 2026-05-31 2026-06-01; do
	printf '{"source":"%s","external_id":"%s","membership_number":"%s","lines":[%s]}\n' "$SU" "$d" "$M4" \
		"{\"category\":\"PHARMA\",\"care_date\":\"$d\",\"quantity\":2,\"charged_cents\":1200,\"brss_cents\":1200,\"amo_rate\":65}"
done >"$TEST_LOGS/suspended.json"
out=$("$BIN/claimctl" submit --sync "$TEST_LOGS/suspended.json" 2>>"$LOG")
check "suspension from a day: care the day before accepted" grep -q "^2026-05-31 accepted" <<<"$out"
check "suspension from a day: care on the day refused" \
	grep -q "^2026-06-01 rejected NOT_COVERED lines\[0\].care_date" <<<"$out"
"$BIN/claimctl" contract suspend --member "$M4" --from 2026-02-30 >>"$LOG" 2>&1
check_eq "suspension from a day: an impossible day is refused (exit 2)" "$?" 2
"$BIN/claimctl" contract terminate --member "$M4" --end-date 2026-12-31 --from 2026-06-01 >>"$LOG" 2>&1
check_eq "suspension from a day: --from on terminate is refused (exit 2)" "$?" 2
"$BIN/claimctl" contract suspend --member "$M4" --from 2026-07-01 >>"$LOG" 2>&1
check_eq "suspension from a day: suspending again with --from mends the day" "$(suspension_of)" "suspended 2026-07-01"
"$BIN/claimctl" contract suspend --member "$M4" >>"$LOG" 2>&1
check_eq "suspension from a day: ... without, keeps it (a retried command)" "$(suspension_of)" "suspended 2026-07-01"
"$BIN/claimctl" contract reactivate --member "$M4" >>"$LOG" 2>&1
check_eq "suspension from a day: reactivated, active and the day cleared" "$(suspension_of)" "active -"

# A change of contract on 1 January: a claim is one contract's, so
# lines on both sides of the change are refused SPANS_CONTRACTS (not
# NOT_COVERED: both days are covered); each side alone is accepted.
create_members "${P}1" 1 CONFORT
M5="${P}100001"
check "change of contract: contract A ends, B begins on 1 January" change_contract "$M5"
SP="spans-$RUN_ID"
pharma() { printf '{"category":"PHARMA","care_date":"%s","quantity":2,"charged_cents":1200,"brss_cents":1200,"amo_rate":65}' "$1"; }
{
	printf '{"source":"%s","external_id":"both","membership_number":"%s","lines":[%s,%s]}\n' \
		"$SP" "$M5" "$(pharma 2025-12-30)" "$(pharma 2026-01-02)"
	printf '{"source":"%s","external_id":"both-reversed","membership_number":"%s","lines":[%s,%s]}\n' \
		"$SP" "$M5" "$(pharma 2026-01-02)" "$(pharma 2025-12-30)"
	printf '{"source":"%s","external_id":"december","membership_number":"%s","lines":[%s]}\n' \
		"$SP" "$M5" "$(pharma 2025-12-30)"
	printf '{"source":"%s","external_id":"january","membership_number":"%s","lines":[%s]}\n' \
		"$SP" "$M5" "$(pharma 2026-01-02)"
	printf '{"source":"%s","external_id":"before-both","membership_number":"%s","lines":[%s,%s]}\n' \
		"$SP" "$M5" "$(pharma 2025-12-30)" "$(pharma 2024-12-30)"
} >"$TEST_LOGS/spans.json"
out=$("$BIN/claimctl" submit --sync "$TEST_LOGS/spans.json" 2>>"$LOG")
check "change of contract: lines on both sides refused SPANS_CONTRACTS" \
	grep -q "^both rejected SPANS_CONTRACTS lines\[1\].care_date" <<<"$out"
check "change of contract: ... in either order" \
	grep -q "^both-reversed rejected SPANS_CONTRACTS lines\[1\].care_date" <<<"$out"
check "change of contract: December alone accepted" grep -q "^december accepted" <<<"$out"
check "change of contract: January alone accepted" grep -q "^january accepted" <<<"$out"
check "change of contract: a day no contract covers is NOT_COVERED" \
	grep -q "^before-both rejected NOT_COVERED lines\[1\].care_date" <<<"$out"
check_eq "change of contract: each side under its own contract" \
	"$(sql "SELECT string_agg(c.external_id || '=' || k.formula_code, ',' ORDER BY c.external_id)
		FROM claims c JOIN contracts k USING (contract_id) WHERE c.source = '$SP'")" \
	"december=CONFORT,january=ESSENTIEL"
# The history is the person's, not the contract's (migration 023): the
# two beneficiary rows are one person, and glasses paid in December under
# contract A are not paid again in March under B (one equipment per 24
# months); a quote for them says so too (test_tiers_payant).
check_eq "change of contract: the beneficiary rows of both contracts are one person" \
	"$(sql "SELECT count(*) || ' ' || count(DISTINCT b.person_id) FROM beneficiaries b
	  JOIN contracts c USING (contract_id) JOIN members m ON m.member_id = c.member_id
	  WHERE m.membership_number = '$M5'")" "2 1"
SG="glasses-$RUN_ID"
glasses() { printf '{"source":"%s","external_id":"%s","membership_number":"%s","lines":[{"category":"OPTIQUE_EQUIPEMENT","care_date":"%s","charged_cents":45000,"brss_cents":15,"amo_rate":60,"lenses":["simple","complex"],"frame_charged_cents":15000}]}\n' "$SG" "$1" "$M5" "$2"; }
glasses december 2025-12-15 >"$TEST_LOGS/glasses-dec.json"
glasses march 2026-03-16 >"$TEST_LOGS/glasses-mar.json"
"$BIN/claimctl" submit --sync "$TEST_LOGS/glasses-dec.json" >>"$LOG" 2>&1
check "change of contract: glasses in December decided" wait_for 60 all_decided "$SG" 1
"$BIN/claimctl" submit --sync "$TEST_LOGS/glasses-mar.json" >>"$LOG" 2>&1
check "change of contract: glasses in March decided" wait_for 60 all_decided "$SG" 2
glasses_paid() { # external id: AMC paid, and whether the renewal rule refused it
	sql "SELECT (sum(d.amc_cents) > 0) || ' ' || bool_or('RENEWAL_NOT_DUE' = ANY(d.rules))
	  FROM decisions d JOIN claims c USING (claim_id) WHERE c.source = '$SG' AND c.external_id = '$1'"
}
check_eq "change of contract: glasses in December paid under A" \
	"$(glasses_paid december)" "true false"
check_eq "change of contract: glasses in March under B refused, renewal not due (the person's)" \
	"$(glasses_paid march)" "false true"

# ---- one person, one transaction at a time ---------------------------------------
# A batch takes an advisory lock per person before reading their
# history: held here, the claim waits for it.
LK="lock-$RUN_ID"
claims_file "$P" 1 1 "$LK" >"$TEST_LOGS/lock-claim.json"
ben=$(sql "SELECT b.person_id FROM beneficiaries b JOIN members m USING (member_id)
	WHERE m.membership_number = '${P}00001' AND b.rank = 1")
psql -X -q "$CLAIMS_PG_DSN" -c "BEGIN; SELECT pg_advisory_xact_lock(7415003, $ben);
	SELECT pg_sleep(5); COMMIT" >/dev/null 2>>"$LOG" &
locker=$!
sleep 0.5
"$BIN/claimctl" submit "$TEST_LOGS/lock-claim.json" 2>>"$LOG"
lock_waited() {
	[ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
		AND classid = 7415003 AND objid = $ben")" -ge 1 ]
}
check "beneficiary lock: the worker waits for its beneficiary's lock" wait_for 4 lock_waited
check_eq "beneficiary lock: ... and has not decided the claim meanwhile" "$(decided_count "$LK")" 0
wait "$locker"
check "beneficiary lock: decided once it is released" wait_for 30 all_decided "$LK" 1
# An operator's change of a row's person (migration 025) takes the locks
# of the old and the new person: it waits for a batch holding either,
# so that no batch reads a history the change makes another person's.
other=$(sql "SELECT b.beneficiary_id FROM beneficiaries b JOIN members m USING (member_id)
	WHERE m.membership_number = '${P}00003' AND b.rank = 1")
psql -X -q "$CLAIMS_PG_DSN" -c "BEGIN; SELECT pg_advisory_xact_lock(7415003, $ben);
	SELECT pg_sleep(3); COMMIT" >/dev/null 2>>"$LOG" &
locker=$!
lock_held() {
	[ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND classid = 7415003 AND objid = $ben")" -ge 1 ]
}
join_person() { # rolled back: the row stays its own person
	sql "BEGIN; SET LOCAL lock_timeout = '1s';
	     UPDATE beneficiaries SET person_id = $ben WHERE beneficiary_id = $other; ROLLBACK" 2>&1
}
wait_for 10 lock_held
check "person change: waits for a batch holding the new person's lock" \
	grep -q 'lock timeout' <<<"$(join_person)"
wait "$locker"
check_eq "person change: made once the lock is released" "$(join_person)" ""
# A batch waiting for a person's lock while an operator moves the row to
# another person reads the new person once it has the old one's lock:
# it takes the new person's lock too before reading its history (held
# here by a session standing for another batch, it waits for it).
PX="8${RUN_ID: -5}"
MV="moved-$RUN_ID"
create_members "$PX" 2 CONFORT
row_a=$(sql "SELECT b.beneficiary_id FROM beneficiaries b JOIN members m USING (member_id)
	WHERE m.membership_number = '${PX}00001'")
pa=$(sql "SELECT person_id & 2147483647 FROM beneficiaries WHERE beneficiary_id = $row_a")
person_b=$(sql "SELECT b.person_id FROM beneficiaries b JOIN members m USING (member_id)
	WHERE m.membership_number = '${PX}00002'")
pb=$((person_b & 2147483647))
hold_person() { # hold_person KEY SECONDS: a session holding the person's lock
	psql -X -q "$CLAIMS_PG_DSN" -c "BEGIN; SELECT pg_advisory_xact_lock(7415003, $1);
		SELECT pg_sleep($2); COMMIT" >/dev/null 2>>"$LOG" &
}
waiting_on() { # waiting_on KEY N [APP]: N sessions (of APP) wait for the person's lock
	[ "$(sql "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND NOT l.granted AND l.classid = 7415003
		AND l.objid = $1 AND a.application_name LIKE '${3:-%}'")" -ge "$2" ]
}
held_on() {
	[ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND classid = 7415003 AND objid = $1")" -ge 1 ]
}
check "person moved under a waiting batch: the keys in order (fixture)" test "$pa" -lt "$pb"
hold_person "$pb" 8
first_holder=$!
wait_for 10 held_on "$pb"
sql "UPDATE beneficiaries SET person_id = $person_b WHERE beneficiary_id = $row_a" >/dev/null 2>>"$LOG" &
mover=$!
wait_for 10 waiting_on "$pb" 1 # the change holds the old person's lock, waits for the new's
claims_file "$PX" 1 1 "$MV" >"$TEST_LOGS/moved-claim.json"
"$BIN/claimctl" submit "$TEST_LOGS/moved-claim.json" 2>>"$LOG"
check "person moved under a waiting batch: the worker waits for the old person (fixture)" \
	wait_for 7 waiting_on "$pa" 1 reimburse
hold_person "$pb" 5 # another batch, behind the change
second_holder=$!
wait_for 5 waiting_on "$pb" 2
wait "$first_holder" "$mover"
check "person moved under a waiting batch: the worker waits for the new person's lock" \
	wait_for 4 waiting_on "$pb" 1 reimburse
check_eq "person moved under a waiting batch: ... and has not decided the claim meanwhile" \
	"$(decided_count "$MV")" 0
wait "$second_holder"
check "person moved under a waiting batch: decided once the new person's lock is free" \
	wait_for 30 all_decided "$MV" 1

# ---- one key, one answer, across intake replicas --------------------------------
# Two replicas given one key at once (a good claim on the first's socket,
# a malformed copy on a second's) give one answer: the second waits for
# the first's transaction, then answers it again as a duplicate. Each is
# held inside its transaction (outbox_queue locked: their event waits)
# so that the two overlap; apart, one would accept and the other reject,
# in two tables no unique key joins: a claim paid that its sender was
# told was refused.
TK="twice-$RUN_ID"
printf '{"source":"%s","external_id":"k","membership_number":"%s","lines":[{"care_date":"2026-03-10",%s}]}\n' \
	"$TK" "${P}00002" "$line" >"$TEST_LOGS/twice-good.json"
printf '{"source":"%s","external_id":"k","membership_number":"%s","lines":[{"care_date":"2026-03-10","category":"PHARMA","charged_cents":-100}]}\n' \
	"$TK" "${P}00002" >"$TEST_LOGS/twice-bad.json"
start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9196 CLAIMS_INTAKE_ENDPOINT=tcp://127.0.0.1:5711
second_intake=$LAST_PID
check "one key: a second intake replica serves" wait_for 30 bash -c "curl -sf http://127.0.0.1:9196/health >/dev/null"
check "one key: the queue locked" hold_lock outbox_queue 8 EXCLUSIVE
locker=$LOCKER
"$BIN/claimctl" submit --sync "$TEST_LOGS/twice-good.json" >"$TEST_LOGS/twice-good.txt" 2>>"$LOG" &
first=$!
claim_insert_waits() {
	[ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
		AND query LIKE '%INSERT INTO claims (claim_id%'")" -ge 1 ]
}
check "one key: the first replica waits inside its transaction" wait_for 10 claim_insert_waits
"$BIN/claimctl" submit --sync --endpoint tcp://127.0.0.1:5711 "$TEST_LOGS/twice-bad.json" \
	>"$TEST_LOGS/twice-bad.txt" 2>>"$LOG" &
second=$!
# The overlap itself: the second replica waits on the key's lock, which
# the first holds, before the queue is let go (else the test would pass
# on two submissions one after the other).
key_lock_waits() {
	[ "$(sql "SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'intake' AND wait_event_type = 'Lock'
		AND wait_event = 'advisory'")" -ge 1 ]
}
check "one key: the second replica waits for the first's key (the two overlap)" \
	wait_for 6 key_lock_waits
wait "$locker" "$first" "$second"
check_eq "one key: one answer recorded" \
	"$(sql "SELECT (SELECT count(*) FROM claims WHERE source = '$TK')
		|| '/' || (SELECT count(*) FROM claim_rejections WHERE source = '$TK')")" "1/0"
check "one key: the first replica accepted" grep -q "^k accepted" "$TEST_LOGS/twice-good.txt"
check "one key: the second answered the first's answer" \
	grep -q "^k accepted .*duplicate: first answer" "$TEST_LOGS/twice-bad.txt"
stop_daemon "$second_intake"
check_eq "the second intake replica stops on SIGTERM (exit 0)" "$?" 0

# ---- liveness -------------------------------------------------------------------
# /live fails while one step of the loop is stuck (here: intake's insert
# waits on a lock, held until then) and recovers once it ends; /health, which
# readiness probes read, stays 200: the database is there.
http_code() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:9191/$1"; }
check_eq "liveness: /live 200 while the loop turns" "$(http_code live)" 200
LV="live-$RUN_ID"
claims_file "$P" 1 1 "$LV" >"$TEST_LOGS/live-claim.json"
check "liveness: the claims' lines locked" hold_lock claim_lines 120
"$BIN/claimctl" submit "$TEST_LOGS/live-claim.json" 2>>"$LOG"
check "liveness: /live 503 once a step has run past CLAIMS_LIVE_STALL_SECONDS" \
	wait_for 60 bash -c "$(declare -f http_code); [ \"\$(http_code live)\" = 503 ]"
check_eq "liveness: ... while /health stays 200" "$(http_code health)" 200
release_lock
check "liveness: /live 200 again once the step ends" \
	wait_for 10 bash -c "$(declare -f http_code); [ \"\$(http_code live)\" = 200 ]"
check "liveness: the claim of the stuck step decided" wait_for 30 all_decided "$LV" 1

# ---- the endpoint under idle connections ----------------------------------------
# A client holding 20 connections open from one address keeps neither a
# probe from another address out, nor one from its own for longer than
# the 3 s an idle connection is kept; the endpoint's own messages are
# records of the log.
log_lines=$(wc -l <"$LOG")
holders=()
for i in $(seq 20); do
	exec {fd}<>/dev/tcp/127.0.0.1/9191
	holders+=("$fd")
done
check_eq "metrics endpoint: 20 held open from one address, a probe from another served" \
	"$(curl -s --interface 127.0.0.2 -o /dev/null -w '%{http_code}' http://127.0.0.1:9191/health)" 200
check "metrics endpoint: ... and one from the same address once the idle ones are closed" \
	wait_for 10 bash -c "$(declare -f http_code); [ \"\$(http_code live)\" = 200 ]"
for fd in "${holders[@]}"; do exec {fd}>&-; done
check "metrics endpoint: its refusals are records of the log" \
	bash -c "tail -n +$((log_lines + 1)) '$LOG' | grep -q '\"daemon\":\"intake\",\"msg\":\"metrics endpoint: .*connection limit'"

# ---- graceful stop ------------------------------------------------------------
stop_all
GS="stop-$RUN_ID"
create_members "${P}9" 50 ESSENTIEL
claims_file "${P}9" 50 3000 "$GS" >"$TEST_LOGS/stop-claims.json"
start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9191
intake_pid=$LAST_PID
# A claims.accepted event published three times in a row (an event
# published again after a relay's crash), while no worker runs: the
# copies come in one batch, and the claim is decided once.
DUP="dup-$RUN_ID"
claims_file "$P" 1 1 "$DUP" >"$TEST_LOGS/dup-claim.json"
"$BIN/claimctl" submit --sync "$TEST_LOGS/dup-claim.json" >>"$LOG" 2>&1
dup_claim=$(sql "SELECT claim_id FROM claims WHERE source = '$DUP'")
dup_sent() { [ "$(sql "SELECT count(*) FROM outbox o
	WHERE o.topic = 'claims.accepted' AND position(convert_to('$dup_claim', 'UTF8') IN o.payload) > 0
	AND NOT EXISTS (SELECT 1 FROM outbox_queue q WHERE q.event_id = o.event_id)")" = 1 ]; }
wait_for 30 dup_sent
psql -X -At "$CLAIMS_PG_DSN" -c "SELECT encode(o.payload, 'base64') FROM outbox o
	WHERE o.topic = 'claims.accepted' AND position(convert_to('$dup_claim', 'UTF8') IN o.payload) > 0" |
	base64 -d >"$TEST_LOGS/dup-event.bin"
dup_key=$(sql "SELECT contract_id FROM claims WHERE source = '$DUP'")
for copy in 1 2; do
	kcat -b "$CLAIMS_KAFKA_BROKERS" -P -t claims.accepted -k "$dup_key" "$TEST_LOGS/dup-event.bin"
done
# Events that disagree with their claim as recorded (here the rows are
# changed under them; in life an older release's event, a producer's
# bug, a forged one): the worker dead-letters them, moves no counter of
# either beneficiary and pays nobody.
DIS="disagree-$RUN_ID"
claims_file "${P}9" 2 2 "$DIS" >"$TEST_LOGS/disagree-claims.json"
"$BIN/claimctl" submit --sync "$TEST_LOGS/disagree-claims.json" >>"$LOG" 2>&1
other_beneficiary=$(sql "SELECT b.beneficiary_id FROM beneficiaries b JOIN contracts c USING (contract_id)
	JOIN members m ON m.member_id = c.member_id WHERE m.membership_number = '${P}00020'")
dis_beneficiary=$(sql "SELECT beneficiary_id FROM claims WHERE source = '$DIS' AND external_id = '$DIS-0'")
sql "UPDATE claims SET beneficiary_id = $other_beneficiary WHERE source = '$DIS' AND external_id = '$DIS-0';
     UPDATE claims SET payee = 'professional' WHERE source = '$DIS' AND external_id = '$DIS-1'" >/dev/null
counters_before=$(sql "SELECT count(*) FROM consumption_counters WHERE beneficiary_id = $other_beneficiary")
# A disagreeing event, then behind it in the same partition the event an
# operator rebuilt from the records (claimctl claim redecide of a claim
# still queued), both read in one batch: the first is dead-lettered, the
# second decides the claim (only a batch's first copy of a claim could be
# decided: the claim stayed queued, its good event taken for a repeat).
D2="disagree2-$RUN_ID"
claims_file "${P}9" 1 1 "$D2" | sed "s/\"${P}900001\"/\"${P}900049\"/" >"$TEST_LOGS/disagree2-claim.json"
"$BIN/claimctl" submit --sync "$TEST_LOGS/disagree2-claim.json" >>"$LOG" 2>&1
d2_claim=$(sql "SELECT claim_id FROM claims WHERE source = '$D2'")
d2_sent() { [ "$(sql "SELECT count(*) FROM outbox o
	WHERE o.topic = 'claims.accepted' AND position(convert_to('$d2_claim', 'UTF8') IN o.payload) > 0
	AND NOT EXISTS (SELECT 1 FROM outbox_queue q WHERE q.event_id = o.event_id)")" = "$1" ]; }
check "disagreeing event, then the operator's: the first sent" wait_for 30 d2_sent 1
sql "UPDATE claims SET payee = 'professional', professional_id = (SELECT professional_id
	FROM professionals WHERE id_value = '10010000015') WHERE claim_id = '$d2_claim'" >/dev/null
check "disagreeing event, then the operator's: the second queued" \
	bash -c "echo '$d2_claim' | '$BIN/claimctl' claim redecide - 2>>'$LOG' | grep -q ' queued again '"
check "disagreeing event, then the operator's: the second sent" wait_for 30 d2_sent 2
# Claims accepted, then their contract ended (a termination backdated, as
# after a death) before a worker took them: the care after the end is
# not paid to the member, the care before is; a professional paid in
# tiers payant (rights confirmed when the care was given) is paid.
ENDED="ended-$RUN_ID"
create_members "${P}0" 1 CONFORT
{
	printf '{"source":"%s","external_id":"after","membership_number":"%s","lines":[%s]}\n' \
		"$ENDED" "${P}000001" "$(pharma 2026-03-10)"
	printf '{"source":"%s","external_id":"both","membership_number":"%s","lines":[%s,%s]}\n' \
		"$ENDED" "${P}000001" "$(pharma 2026-02-10)" "$(pharma 2026-03-10)"
	printf '{"source":"%s","external_id":"tiers-payant","membership_number":"%s","professional_kind":"RPPS","professional_id":"10010000015","payee":"professional","lines":[%s]}\n' \
		"$ENDED" "${P}000001" "$(pharma 2026-03-10)"
} >"$TEST_LOGS/ended-claims.json"
out=$("$BIN/claimctl" submit --sync "$TEST_LOGS/ended-claims.json" 2>>"$LOG")
check_eq "contract ended after acceptance: the claims accepted" "$(grep -c ' accepted ' <<<"$out")" 3
check "contract ended after acceptance: the contract terminated on 1 March" \
	"$BIN/claimctl" contract terminate --member "${P}000001" --end-date 2026-03-01 --reason deces
start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9192
disagreements() { # dead letters of the disagreeing events, by what disagrees
	sql "SELECT string_agg(w, ' ' ORDER BY w) FROM (SELECT CASE
	  WHEN position(convert_to('as recorded: beneficiary', 'UTF8') IN payload) > 0 THEN 'beneficiary'
	  WHEN position(convert_to('as recorded: payee', 'UTF8') IN payload) > 0 THEN 'payee' END w
	  FROM outbox WHERE topic = 'claims.accepted.dlq'
	    AND key IN (SELECT contract_id::text FROM claims WHERE source = '$DIS')) x WHERE w IS NOT NULL"
}
both_disagreements() { [ "$(disagreements)" = 'beneficiary payee' ]; }
check "disagreeing events: dead-lettered, saying what disagrees" wait_for 60 both_disagreements
check_eq "disagreeing events: neither claim decided, nobody paid, no counter moved" \
	"$(sql "SELECT count(*) FILTER (WHERE c.status = 'queued') || ' ' || count(p.claim_id)
	  || ' ' || (SELECT count(*) FROM consumption_counters WHERE beneficiary_id = $other_beneficiary)
	  FROM claims c LEFT JOIN payments p USING (claim_id) WHERE c.source = '$DIS'")" "2 0 $counters_before"
# Once the records are right again, the operator sends them again: the
# events are rebuilt from the records, and the claims decided.
sql "UPDATE claims SET beneficiary_id = $dis_beneficiary WHERE source = '$DIS' AND external_id = '$DIS-0';
     UPDATE claims SET payee = 'member' WHERE source = '$DIS' AND external_id = '$DIS-1'" >/dev/null
out=$(sql "SELECT claim_id FROM claims WHERE source = '$DIS'" | "$BIN/claimctl" claim redecide - 2>>"$LOG")
check "disagreeing events: queued claims sent again by claimctl claim redecide" \
	test "$(grep -c ' queued again ' <<<"$out")" = 2
check "disagreeing events: ... and decided" wait_for 60 all_decided "$DIS" 2
check "one event thrice: the claim decided" wait_for 60 all_decided "$DUP" 1
check "disagreeing event, then the operator's: the claim decided" wait_for 60 all_decided "$D2" 1
check_eq "disagreeing event, then the operator's: the professional paid once, the first dead-lettered" \
	"$(sql "SELECT (SELECT string_agg(payee, ' ') FROM payments WHERE claim_id = '$d2_claim')
		|| ' ' || (SELECT count(*) FROM outbox WHERE topic = 'claims.accepted.dlq'
		  AND position(convert_to('as recorded: payee', 'UTF8') IN payload) > 0
		  AND key = (SELECT contract_id::text FROM claims WHERE claim_id = '$d2_claim'))")" "professional 1"
check "contract ended after acceptance: the claims decided" wait_for 60 all_decided "$ENDED" 3
check_eq "contract ended after acceptance: March care not paid, February care paid" \
	"$(sql "SELECT string_agg(c.external_id || '=' || c.status || '/' || coalesce(p.amount_cents, 0)
	  || '/' || coalesce((c.outcome_reason LIKE '%NOT_COVERED: the contract no longer covers 2026-03-10%')::text, ''),
	  ' ' ORDER BY c.external_id)
	  FROM claims c LEFT JOIN payments p USING (claim_id) WHERE c.source = '$ENDED'")" \
	"after=error/0/true both=partial/$(sql "SELECT amc_cents FROM decisions d JOIN claims c USING (claim_id)
	  WHERE c.source = '$ENDED' AND c.external_id = 'both' AND d.line_no = 1")/true tiers-payant=complete/$(sql "SELECT amc_cents FROM decisions d JOIN claims c USING (claim_id)
	  WHERE c.source = '$ENDED' AND c.external_id = 'both' AND d.line_no = 1")/"
check_eq "one event thrice: one decision per line, one payment, no dead letter" \
	"$(sql "SELECT (SELECT count(*) FROM decisions WHERE claim_id = '$dup_claim')
		|| ' ' || (SELECT count(*) FROM payments WHERE claim_id = '$dup_claim')
		|| ' ' || (SELECT count(*) FROM outbox WHERE topic = 'claims.accepted.dlq' AND key = '$dup_key')")" "3 1 0"
check_eq "one event thrice: ... at the first try (no batch failed on a second copy)" \
	"$(curl -s http://127.0.0.1:9192/metrics | awk '$1 == "worker_batch_retries_total" { print $2 + 0 }')" 0
stop_daemon "$LAST_PID"
check_eq "graceful stop: an idle worker exits 0" "$?" 0

# Intake stopped while it takes 3,000 claims in (small batches, so that
# the stop falls between commits with work left): exit 0, what it had
# committed is whole (each claim with its lines), the rest is taken in
# by the next intake, once.
# Its socket closes first, not at the end of the drain: held open
# unread, it kept the front doors' connections, whose invoices timed
# out instead of reaching another replica. (The drain held here: the
# outbox's queue locked, its last relay pass waits.)
check "graceful stop: the relay's queue locked (fixture)" hold_lock outbox_queue 30
kill -TERM "$intake_pid"
socket_closed() { [ -z "$(ss -Hltn 'sport = :5701')" ] && kill -0 "$intake_pid"; }
check "graceful stop: intake's socket closed as its drain begins" wait_for 5 socket_closed
release_lock
wait "$intake_pid" # (a second signal would stop it at once, status 2)
check_eq "graceful stop: an idle intake exits 0" "$?" 0
start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9191 CLAIMS_INTAKE_BATCH=20
intake_pid=$LAST_PID
"$BIN/claimctl" submit "$TEST_LOGS/stop-claims.json" 2>>"$LOG"
WAIT_STEP=0.02 wait_for 60 accepted_over "$GS" 0
stop_daemon "$intake_pid"
check_eq "graceful stop: intake, SIGTERM while busy, exits 0" "$?" 0
at_stop=$(accepted_count "$GS")
check "graceful stop: ... busy indeed ($at_stop of 3000 taken in)" \
	test "$at_stop" -gt 0 -a "$at_stop" -lt 3000
check_eq "graceful stop: ... no claim taken in without its lines" \
	"$(sql "SELECT count(*) FROM claims c WHERE source = '$GS' AND
		(SELECT count(*) FROM claim_lines l WHERE l.claim_id = c.claim_id) <> 3")" 0
start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9191
check "graceful stop: the rest taken in after restart" \
	wait_for 60 all_accepted "$GS" 3000
check_eq "graceful stop: each claim taken in once, with its lines, none refused" \
	"$(sql "SELECT concat_ws(' ', count(DISTINCT c.claim_id), count(*),
	          (SELECT count(*) FROM claim_rejections WHERE source = '$GS'))
	        FROM claims c JOIN claim_lines l USING (claim_id) WHERE c.source = '$GS'")" "3000 9000 0"

# The worker stopped while it decides them (small batches again).
start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9192 CLAIMS_REIMBURSE_BATCH=20
pid=$LAST_PID
WAIT_STEP=0.02 wait_for 60 decided_over "$GS" 0
stop_daemon "$pid"
check_eq "graceful stop: SIGTERM while busy exits 0" "$?" 0
at_stop=$(decided_count "$GS")
check "graceful stop: ... busy indeed ($at_stop of 3000 decided)" \
	test "$at_stop" -gt 0 -a "$at_stop" -lt 3000
check_eq "graceful stop: no claim half decided" \
	"$(sql "SELECT count(*) FROM claims c WHERE source = '$GS' AND
		(SELECT count(*) FROM decisions d WHERE d.claim_id = c.claim_id) NOT IN (0, 3)")" 0
start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9192
check "graceful stop: the rest decided after restart" wait_for 120 all_decided "$GS" 3000
check_eq "graceful stop: one decision per line, none lost" \
	"$(sql "SELECT count(*) FROM decisions d JOIN claims c USING (claim_id) WHERE c.source = '$GS'")" 9000

report
