#!/usr/bin/env bash
# test_tiers_payant.sh - the tiers-payant front door with real sockets,
# Redis, PostgreSQL and Kafka
#
#  - every request type for a covered, a not covered (suspended), a
#    terminated-contract and an unknown beneficiary; an invoice for a
#    birth date nobody of the membership has is refused, not billed to
#    the subscriber;
#  - quotes are spread over the two reimburse replicas;
#  - a quote and the later invoice for the same care give the same
#    amounts; the quote consumed nothing; a repeated invoice id gets the
#    first answer; an invoice citing someone else's quote is refused;
#  - payments: returned by the bank (paid, or sent and rejected), held
#    and released by the treasury; a run or a statement whose output cannot be written
#    whole (a full disk), a statement's line numbers and bytes, two
#    statements settled at once over the same payments;
#  - a contract change drops the cached rights: at once through
#    `claimctl contract`, and through the contracts.changed event alone;
#  - hostile clients (probe_tpgate): wrong keys, malformed and oversized
#    frames, stale and replayed requests, missing and expired sessions,
#    a burst past the rate limit; another professional stays served;
#  - SIGTERM: the front door exits 0.
source "$(dirname "$0")/../lib.sh"

P="8${RUN_ID: -5}" # membership-number prefix of this run
LOG="$TEST_LOGS/tiers-payant-$RUN_ID.log"
export CLAIMS_REDIS_URL=${CLAIMS_REDIS_URL:-redis://127.0.0.1:56379}

# ---- fixtures -----------------------------------------------------------------
create_members "$P" 5 CONFORT
COVERED=${P}00001 TERMINATED=${P}00002 SUSPENDED=${P}00003 UNKNOWN=${P}99999
sql "UPDATE contracts c SET status = 'terminated', end_date = '2026-06-01'
     FROM members m WHERE m.member_id = c.member_id AND m.membership_number = '$TERMINATED'"
sql "UPDATE contracts c SET status = 'suspended'
     FROM members m WHERE m.member_id = c.member_id AND m.membership_number = '$SUSPENDED'"
sql "INSERT INTO beneficiaries (contract_id, rank, relationship, last_name, first_name,
       birth_date, start_date)
     SELECT c.contract_id, 3, 'child', 'Test', 'Child', '2015-02-03', '2025-01-01'
     FROM contracts c JOIN members m USING (member_id) WHERE m.membership_number = '$COVERED'"

keypair SERVER
keypair A
keypair B
keypair REVOKED
keypair UNKNOWNKEY
keypair ROTATED
keypair ROTATED_NEW
PRO_A="9${RUN_ID: -5}00001" PRO_B="7${RUN_ID: -5}001" PRO_R="6${RUN_ID: -5}001"
PRO_K="8${RUN_ID: -5}00001"
check "keys: register a pharmacy (RPPS)" "$BIN/claimctl" tp register --kind RPPS --id "$PRO_A" \
	--public-key "$A_PUB" --name "Pharmacie du test" --profession pharmacie
check "keys: register a hospital (FINESS)" "$BIN/claimctl" tp register --kind FINESS --id "$PRO_B" \
	--public-key "$B_PUB" --name "Clinique du test" --profession etablissement
check "keys: register then revoke" "$BIN/claimctl" tp register --kind ADELI --id "$PRO_R" \
	--public-key "$REVOKED_PUB"
out=$("$BIN/claimctl" tp revoke --id "$PRO_R")
check_eq "keys: revoke" "$?" 0
check "keys: register a dentist whose key the probe replaces" "$BIN/claimctl" tp register \
	--kind RPPS --id "$PRO_K" --public-key "$ROTATED_PUB" --name "Cabinet du test" --profession dentiste

start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9191
# Two reimburse replicas serve the quotes of two front doors.
QUOTE_DOORS=tcp://127.0.0.1:5703,tcp://127.0.0.1:5713
start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9192 CLAIMS_QUOTE_CONNECT=$QUOTE_DOORS
start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9194 CLAIMS_QUOTE_CONNECT=$QUOTE_DOORS
start_daemon tpgate "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9193 CLAIMS_TP_SERVER_SECRET="$SERVER_SEC" \
	CLAIMS_TP_SESSION_TTL=4 CLAIMS_TP_RATE_LIMIT=50
TPGATE_PID=$LAST_PID
start_daemon tpgate "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9195 CLAIMS_TP_SERVER_SECRET="$SERVER_SEC" \
	CLAIMS_TP_ENDPOINT=tcp://127.0.0.1:5712 CLAIMS_TP_QUOTE_ENDPOINT=tcp://127.0.0.1:5713 \
	CLAIMS_TP_GROUP="tpgate-second-$RUN_ID"

export CLAIMS_TP_SERVER_KEY=$SERVER_PUB CLAIMS_TP_PUBLIC_KEY=$A_PUB CLAIMS_TP_SECRET_KEY=$A_SEC
tp() { "$BIN/claimctl" tp "$@" 2>>"$LOG"; }
as_b() { CLAIMS_TP_PUBLIC_KEY=$B_PUB CLAIMS_TP_SECRET_KEY=$B_SEC "$BIN/claimctl" tp "$@" 2>>"$LOG"; }
check "front door answers" wait_for 30 tp eligibility --member "$COVERED"

# ---- ELIGIBILITY --------------------------------------------------------------------
e=$(tp eligibility --member "$COVERED" --date 2026-03-10)
check_eq "eligibility: covered" "$(jq -c '[.rights_open, .responsible, .amc_number, .valid_from, .valid_to]' <<<"$e")" \
	'[true,true,"75500017","2026-01-01","2026-12-31"]'
check_eq "eligibility: covered domains include GP consultations" \
	"$(jq '.domains | index("CONSULT_GP") != null' <<<"$e")" true
check_eq "eligibility: child found by birth date" \
	"$(tp eligibility --member "$COVERED" --birth-date 2015-02-03 --date 2026-03-10 | jq .rights_open)" true
check_eq "eligibility: rank and birth date that disagree" \
	"$(tp eligibility --member "$COVERED" --rank 1 --birth-date 2015-02-03 | jq -r .reason)" BENEFICIARY_MISMATCH
check_eq "eligibility: before the contract starts" \
	"$(tp eligibility --member "$COVERED" --date 2024-06-01 | jq -c '[.rights_open, .reason]')" '[false,"NOT_YET_COVERED"]'
check_eq "eligibility: terminated contract, care before the end" \
	"$(tp eligibility --member "$TERMINATED" --date 2026-03-10 | jq -c '[.rights_open, .valid_to]')" '[true,"2026-05-31"]'
check_eq "eligibility: terminated contract, care after the end" \
	"$(tp eligibility --member "$TERMINATED" --date 2026-07-01 | jq -c '[.rights_open, .reason, .valid_to]')" \
	'[false,"RIGHTS_CLOSED","2026-05-31"]'
check_eq "eligibility: not covered (suspended)" \
	"$(tp eligibility --member "$SUSPENDED" --date 2026-03-10 | jq -c '[.rights_open, .reason]')" '[false,"CONTRACT_SUSPENDED"]'
check_eq "eligibility: unknown beneficiary" \
	"$(tp eligibility --member "$UNKNOWN" | jq -c '[.rights_open, .reason]')" '[false,"UNKNOWN_BENEFICIARY"]'

# ---- QUOTE ----------------------------------------------------------------------------
lines() { # lines DATE: a consultation, medicine and an optical equipment
	cat <<JSON
[{"line_ref":"1","act_code":"G","category":"CONSULT_GP","care_date":"$1","charged_cents":3000,"brss_cents":3000,"amo_rate":70},
 {"line_ref":"2","category":"PHARMA","care_date":"$1","quantity":2,"charged_cents":1200,"brss_cents":1200,"amo_rate":65},
 {"line_ref":"3","category":"OPTIQUE_EQUIPEMENT","care_date":"$1","charged_cents":45000,"brss_cents":15,"amo_rate":60,"lenses":["simple","complex"],"frame_charged_cents":15000}]
JSON
}
lines 2026-03-10 >"$TEST_LOGS/tp-lines.json"
lines 2026-07-01 >"$TEST_LOGS/tp-lines-late.json"
# Daily and yearly counters of the covered member.
counters() { sql "WITH b AS (SELECT b.beneficiary_id FROM beneficiaries b
	  JOIN contracts c ON c.contract_id = b.contract_id JOIN members m ON m.member_id = c.member_id
	  WHERE m.membership_number = '$COVERED')
	SELECT (SELECT count(*) FROM consumption_counters WHERE beneficiary_id IN (SELECT * FROM b))
	     + (SELECT count(*) FROM consumption_years WHERE beneficiary_id IN (SELECT * FROM b))"; }
q=$(tp quote --member "$COVERED" "$TEST_LOGS/tp-lines.json")
QUOTE=$(jq -r .quote_id <<<"$q")
check "quote: covered gets a quote id and three decided lines" \
	test "$(jq -c '[(.quote_id | length), (.lines | length), (.total_amc_cents > 0)]' <<<"$q")" = '[36,3,true]'
check_eq "quote: totals add up" "$(jq '[.total_amo_paid_cents, .total_amc_cents, .total_rac_cents, .total_charged_cents]
	| all(type == "number") and .[3] > 0 and .[0] + .[1] + .[2] == .[3]' <<<"$q")" true
# Stored behind its reply (within QUOTE_FLUSH_US, 20 ms): waited for.
# Valid 30 days from today in metropolitan France (CLAIMS_TP_TIMEZONE's
# default), which is the UTC day after for an hour or two each night.
# (CLAIMS_TP_TIMEZONE="<+14>-14" runs the test as in that hour.)
quote_stored() {
	local today
	today=$(TZ=${CLAIMS_TP_TIMEZONE:-CET-1CEST,M3.5.0,M10.5.0/3} date +%F)
	[ "$(sql "SELECT valid_until - date '$today', total_amc_cents FROM quotes WHERE quote_id = '$QUOTE'")" = \
		"30|$(jq .total_amc_cents <<<"$q")" ]
}
check "quote: stored with its validity" wait_for 10 quote_stored
check_eq "quote: consumed no counters" "$(counters)" 0
check_eq "quote: terminated contract, care after the end" \
	"$(tp quote --member "$TERMINATED" "$TEST_LOGS/tp-lines-late.json" | jq -r .error)" RIGHTS_CLOSED
check_eq "quote: not covered (suspended)" \
	"$(tp quote --member "$SUSPENDED" "$TEST_LOGS/tp-lines.json" | jq -r .error)" CONTRACT_SUSPENDED
check_eq "quote: unknown beneficiary" \
	"$(tp quote --member "$UNKNOWN" "$TEST_LOGS/tp-lines.json" | jq -r .error)" UNKNOWN_BENEFICIARY
# A change of contract on 1 January: a quote, like a claim, is one
# contract's; lines on both sides are SPANS_CONTRACTS, not a rights
# reason (both days are open), and so is such an invoice (from intake).
create_members "${P}8" 1 CONFORT
CHANGED=${P}800001
check "change of contract: contract A ends, B begins on 1 January" change_contract "$CHANGED"
cat >"$TEST_LOGS/tp-spans.json" <<'JSON'
[{"line_ref":"1","category":"PHARMA","care_date":"2025-12-30","quantity":2,"charged_cents":1200,"brss_cents":1200,"amo_rate":65},
 {"line_ref":"2","category":"PHARMA","care_date":"2026-01-02","quantity":2,"charged_cents":1200,"brss_cents":1200,"amo_rate":65}]
JSON
check_eq "quote: lines on both sides of a change of contract" \
	"$(tp quote --member "$CHANGED" "$TEST_LOGS/tp-spans.json" | jq -r .error)" SPANS_CONTRACTS
check_eq "invoice: ... the same" \
	"$(tp invoice --member "$CHANGED" --invoice-id "spans-$RUN_ID" "$TEST_LOGS/tp-spans.json" |
		jq -c '[.accepted, .reason_code]')" '[false,"SPANS_CONTRACTS"]'
# The history a quote reads is the person's, not the contract's
# (migration 023): glasses invoiced in December under A, and a quote for
# glasses in March under B says their renewal is not due. The same quote
# asked before the invoice pays them: what refuses them is A's history.
glasses() { printf '[{"line_ref":"1","category":"OPTIQUE_EQUIPEMENT","care_date":"%s","charged_cents":45000,"brss_cents":15,"amo_rate":60,"lenses":["simple","complex"],"frame_charged_cents":15000}]\n' "$1"; }
glasses 2025-12-15 >"$TEST_LOGS/tp-glasses-dec.json"
glasses 2026-03-16 >"$TEST_LOGS/tp-glasses-mar.json"
glasses_quote() { tp quote --member "$CHANGED" "$TEST_LOGS/tp-glasses-mar.json" |
	jq -c '[.lines[0].amc_cents > 0, (.lines[0].rules | index("RENEWAL_NOT_DUE") != null)]'; }
check_eq "quote: glasses in March under B, none bought before, paid" "$(glasses_quote)" '[true,false]'
check_eq "invoice: glasses in December under A accepted" \
	"$(tp invoice --member "$CHANGED" --invoice-id "glasses-$RUN_ID" "$TEST_LOGS/tp-glasses-dec.json" | jq .accepted)" true
glasses_computed() { [ "$(tp status --invoice-id "glasses-$RUN_ID" | jq -r .status)" = computed ]; }
check "invoice: glasses in December computed" wait_for 60 glasses_computed
check_eq "quote: glasses in March under B, the person's December glasses seen: renewal not due" \
	"$(glasses_quote)" '[false,true]'
echo '[{"category":"NO_SUCH","care_date":"2026-03-10","charged_cents":100}]' >"$TEST_LOGS/tp-bad-line.json"
check_eq "quote: a line with an unknown category" \
	"$(tp quote --member "$COVERED" "$TEST_LOGS/tp-bad-line.json" | jq -r .error)" INVALID_LINE
# A line intake would refuse in the invoice (a basket it does not know;
# the engine alone would take it for no basket) is refused in the quote.
echo '[{"category":"DENT_PROTHESE","care_date":"2026-03-10","charged_cents":50000,"brss_cents":10750,"amo_rate":60,"basket":"GOLD"}]' \
	>"$TEST_LOGS/tp-bad-basket.json"
check_eq "quote: a line refused as the invoice's would be" \
	"$(tp quote --member "$COVERED" "$TEST_LOGS/tp-bad-basket.json" | jq -r '.error + " " + .message')" \
	"INVALID_LINE lines[0].basket: basket must be 100PS, MAITRISE or LIBRE"
# A first line the engine refuses (a nurse's act on a GP line): the
# quote comes back, the other line computed, and the workers live on.
echo '[{"line_ref":"1","act_code":"AMI","category":"CONSULT_GP","care_date":"2026-03-10","charged_cents":3000,"brss_cents":3000,"amo_rate":70},
 {"line_ref":"2","category":"PHARMA","care_date":"2026-03-10","quantity":2,"charged_cents":1200,"brss_cents":1200,"amo_rate":65}]' \
	>"$TEST_LOGS/tp-refused-first.json"
refused_first=$(tp quote --member "$COVERED" "$TEST_LOGS/tp-refused-first.json")
check "quote: a refused first line, the second computed (got $(jq -c '[.lines[].amc_cents]' <<<"$refused_first" 2>/dev/null))" \
	test "$(jq '.lines | length == 2 and .[1].amc_cents > 0' <<<"$refused_first")" = true
check "quote: the workers still run after it" bash -c "kill -0 ${DAEMON_PIDS[1]} && kill -0 ${DAEMON_PIDS[2]}"

quotes_served() { # quotes_served PORT: quotes computed by the worker with that metrics port
	curl -s "http://127.0.0.1:$1/metrics" | awk '$1 == "reimburse_quotes_total" {print $2}'
}
for _ in 1 2 3 4 5 6; do tp quote --member "$COVERED" "$TEST_LOGS/tp-lines.json" >/dev/null; done
check "quote: both reimburse replicas compute quotes" \
	test "$(quotes_served 9192)" -gt 0 -a "$(quotes_served 9194)" -gt 0

# Each worker is connected to both front doors: its answer must go back
# to the door that asked, never to the other one.
# (The second door is asked as the hospital, so that neither professional
# nears the rate limit of 50 requests a second.)
second() { CLAIMS_TP_ENDPOINT=tcp://127.0.0.1:5712 as_b "$@"; }
check "two front doors: the second answers" wait_for 30 second eligibility --member "$COVERED"
answered=0
# An irregular order: a worker answering round-robin over its connections
# instead of to the asker would send some replies to the wrong door.
sleep 1 # a new second of the rate limit: the quotes above were many
: >"$TEST_LOGS/tp-two-doors.out"
for door in tp tp second tp second second second tp tp tp second tp second second tp tp second second tp second; do
	out=$($door quote --member "$COVERED" "$TEST_LOGS/tp-lines.json")
	if [ "$(jq -r '.quote_id | length' <<<"$out")" = 36 ]; then
		answered=$((answered + 1))
	else
		echo "$door: $out" >>"$TEST_LOGS/tp-two-doors.out"
	fi
done
check_eq "two front doors: every quote answered through the door that asked (else see tp-two-doors.out)" "$answered" 20
sleep 1 # a new second of the rate limit for what follows
# "none" when the counter is not there (a door not answering /metrics).
late() { curl -sf "http://127.0.0.1:$1/metrics" | awk '$1 == "tpgate_late_replies_total" {s += $2; n++} END {print n ? s : "none"}'; }
check_eq "two front doors: no reply reached the wrong door" "$(late 9193)/$(late 9195)" 0/0

# ---- INVOICE and INVOICE_STATUS --------------------------------------------------------
INV="INV-$RUN_ID"
i1=$(tp invoice --member "$COVERED" --invoice-id "$INV-1" --quote "$QUOTE" "$TEST_LOGS/tp-lines.json")
CLAIM=$(jq -r .claim_id <<<"$i1")
check_eq "invoice: covered accepted" "$(jq -c '[.accepted, .duplicate]' <<<"$i1")" '[true,false]'
i2=$(tp invoice --member "$COVERED" --invoice-id "$INV-1" --quote "$QUOTE" "$TEST_LOGS/tp-lines.json")
check_eq "invoice: repeated invoice id gets the first answer" \
	"$(jq -c '[.accepted, .duplicate, .content_differs, .claim_id]' <<<"$i2")" "[true,true,false,\"$CLAIM\"]"
# The same invoice id for other care (without the quote): the first
# answer, said to differ; nothing of it recorded.
i3=$(tp invoice --member "$COVERED" --invoice-id "$INV-1" "$TEST_LOGS/tp-lines.json")
check_eq "invoice: its id reused for other content, the first answer, said to differ" \
	"$(jq -c '[.accepted, .duplicate, .content_differs, .claim_id]' <<<"$i3")" "[true,true,true,\"$CLAIM\"]"
check_eq "invoice: claim paid to the professional, citing the quote" \
	"$(sql "SELECT source, payee, quote_id, (SELECT id_value FROM professionals p WHERE p.professional_id = c.professional_id)
		FROM claims c WHERE claim_id = '$CLAIM'")" "tp:RPPS:$PRO_A|professional|$QUOTE|$PRO_A"
computed() { [ "$(tp status --invoice-id "$INV-1" | jq -r .status)" = computed ]; }
check "invoice: computed" wait_for 60 computed
st=$(tp status --invoice-id "$INV-1")
check_eq "status: AMC of the invoice equals the quote's" "$(jq .amc_cents <<<"$st")" "$(jq .total_amc_cents <<<"$q")"
check_eq "invoice: every line as quoted" \
	"$(sql "SELECT string_agg(concat_ws(',', line_no, amo_paid_cents, amc_cents, rac_cents), ' ' ORDER BY line_no)
		FROM decisions WHERE claim_id = '$CLAIM'")" \
	"$(jq -r '[.lines[] | [.line_no, .amo_paid_cents, .amc_cents, .rac_cents] | map(tostring) | join(",")] | join(" ")' <<<"$q")"
check_eq "invoice: one payment to the professional" \
	"$(sql "SELECT payee, payee_ref, amount_cents FROM payments WHERE claim_id = '$CLAIM'")" \
	"professional|$PRO_A|$(jq .total_amc_cents <<<"$q")"

# ---- the bank pays: INVOICE_STATUS paid ------------------------------------------------------
AMOUNT=$(jq .total_amc_cents <<<"$q") REF="E2E-$RUN_ID-1"
payments() { "$BIN/claimctl" payments "$@" 2>>"$LOG"; }
check "payments list: the invoice's payment is owed" \
	bash -c "'$BIN/claimctl' payments list --payee professional --limit 1000000 | grep -q ' $CLAIM professional $PRO_A $AMOUNT pending -\$'"
# A list cut short by its limit says so (here 0, with the invoice's
# payment there); one that ends before its limit says nothing.
out=$("$BIN/claimctl" payments list --status all --limit 0 2>&1)
check_eq "payments list: stopped at its limit, says so" "$out" \
	"claimctl payments list: stopped at --limit 0; more payments match"
check_eq "payments list: ... and not when all were shown" \
	"$("$BIN/claimctl" payments list --payee professional --limit 1000000 2>&1 >/dev/null)" ""
# The treasury takes what is owed into a named run, the bank's file.
RUN="RUN-$RUN_ID"
# Its first export finds the disk full: the run is recorded and its
# payments sent all the same, so the command fails and says to export
# the run again, which gives them (checked below).
out=$(CLAIMS_OPERATOR="treasurer-$RUN_ID" "$BIN/claimctl" payments export --run "$RUN" --payee professional \
	--limit 1000000 2>&1 >/dev/full)
check_eq "payments export: a file not written whole fails (exit 1)" "$?" 1
check "payments export: ... saying the run is recorded and to export it again" \
	grep -q "run $RUN is recorded .* not written whole: export run $RUN again" <<<"$out"
payments export --run "$RUN" --payee professional --limit 1000000 >"$TEST_LOGS/tp-run.txt"
check "payments export: the invoice's payment goes in the run, sent" \
	grep -q "^[0-9]* $CLAIM professional $PRO_A $AMOUNT sent -\$" "$TEST_LOGS/tp-run.txt"
check_eq "payments export: the same run again gives the same payments" \
	"$(payments export --run "$RUN" --payee professional --limit 1000000)" "$(cat "$TEST_LOGS/tp-run.txt")"
out=$("$BIN/claimctl" payments export --run "$RUN" --payee member --limit 1000000 2>&1)
check_eq "payments export: the same run asked with other options is refused (exit 1)" "$?" 1
check "payments export: ... saying how it was made" grep -q "run $RUN was made with --payee professional" <<<"$out"
check_eq "payments export: a run is recorded with its count and sum" \
	"$(sql "SELECT payments = (SELECT count(*) FROM payments WHERE run_id = '$RUN')
		AND amount_cents = (SELECT sum(amount_cents) FROM payments WHERE run_id = '$RUN')
		FROM payment_runs WHERE run_id = '$RUN'")" t
check_eq "payments export: a run names the operator who made it (CLAIMS_OPERATOR)" \
	"$(sql "SELECT made_by FROM payment_runs WHERE run_id = '$RUN'")" "treasurer-$RUN_ID"
CLAIMS_OPERATOR= USER="clerk-$RUN_ID" payments export --run "$RUN-empty" --limit 0 >/dev/null
check_eq "payments export: ... else \$USER" \
	"$(sql "SELECT made_by FROM payment_runs WHERE run_id = '$RUN-empty'")" "clerk-$RUN_ID"
# A run made when nothing of its kind was owed (every professional's
# payment just taken), asked again once one is owed (the invoice's, put
# back by hand, restored after): it stays the empty run it was.
payments export --run "$RUN-idle" --payee professional --limit 1000000 >"$TEST_LOGS/tp-run-idle.txt"
check_eq "payments export: a run made when nothing was owed is empty (exit 0)" \
	"$?:$(wc -l <"$TEST_LOGS/tp-run-idle.txt")" "0:0"
sql "UPDATE payments SET status = 'pending', run_id = NULL WHERE claim_id = '$CLAIM'" >/dev/null
out=$(payments export --run "$RUN-idle" --payee professional --limit 1000000)
check_eq "payments export: a run that took nothing takes nothing later either" \
	"$?:$out:$(sql "SELECT status FROM payments WHERE claim_id = '$CLAIM'")" "0::pending"
sql "UPDATE payments SET status = 'sent', run_id = '$RUN' WHERE claim_id = '$CLAIM'" >/dev/null
payments export --run "$RUN-2" --payee professional --limit 1000000 >"$TEST_LOGS/tp-run-2.txt"
check_eq "payments export: another run (made: exit 0) does not take them again" \
	"$?:$(grep -c " $CLAIM " "$TEST_LOGS/tp-run-2.txt")" 0:0
check_eq "payments export: the run is recorded" \
	"$(sql "SELECT status, run_id FROM payments WHERE claim_id = '$CLAIM'")" "sent|$RUN"
check_eq "status: sent while the bank has not paid" "$(tp status --invoice-id "$INV-1" | jq -c '[.status, .payment_status]')" \
	'["computed","sent"]'
# Member payments of this test's own (upstream claims, paid to the
# member), for what follows to lock, export and settle: the test does not
# rely on what other tests left in the database.
MEMBER_SOURCE="tp-member-$RUN_ID"
create_members "${P}5" 2 CONFORT # two payees: two statements race below
claims_file "${P}5" 2 20 "$MEMBER_SOURCE" >"$TEST_LOGS/tp-member-claims.json"
check "payments: claims paid to the member, of this test's own, accepted" \
	"$BIN/claimctl" submit --sync "$TEST_LOGS/tp-member-claims.json" >>"$LOG" 2>&1
member_paid() {
	[ "$(sql "SELECT count(*) FROM payments p JOIN claims c USING (claim_id)
		WHERE c.source = '$MEMBER_SOURCE' AND p.payee = 'member' AND p.status = 'pending'")" = 20 ]
}
check "payments: ... decided, their payments owed" wait_for 60 member_paid
# A payment another export holds (its row locked) is skipped, not waited for.
held=$(sql "SELECT payment_id FROM payments WHERE status = 'pending' AND payee = 'member' ORDER BY payment_id LIMIT 1")
if [ -n "$held" ]; then
	psql -X -q "$CLAIMS_PG_DSN" -c "BEGIN; SELECT 1 FROM payments WHERE payment_id = $held FOR UPDATE;
		SELECT pg_sleep(6); COMMIT" >/dev/null 2>>"$LOG" &
	holder=$!
	sleep 0.5
	start=$SECONDS
	payments export --run "$RUN-skip" --payee member --limit 5 >"$TEST_LOGS/tp-run-skip.txt"
	check_eq "payments export: with a payment locked by another export, made (exit 0)" "$?" 0
	check "payments export: ... the locked one skipped, not waited for" \
		test $((SECONDS - start)) -lt 4
	check_eq "payments export: ... and not in this run" "$(grep -c "^$held " "$TEST_LOGS/tp-run-skip.txt")" 0
	wait "$holder"
else
	fail "payments export: a pending member payment to lock" "none in the database"
fi
# Between them they take the oldest pending (up to their limits), each
# payment once.
sql "SELECT payment_id FROM payments WHERE status = 'pending' AND payee = 'member'
	ORDER BY payment_id LIMIT 10" | sort >"$TEST_LOGS/tp-pending.txt"
payments export --run "$RUN-a" --payee member --limit 5 >"$TEST_LOGS/tp-run-a.txt" &
export_a=$!
payments export --run "$RUN-b" --payee member --limit 5 >"$TEST_LOGS/tp-run-b.txt" &
export_b=$!
wait "$export_a"
rc_a=$?
wait "$export_b"
check_eq "payments export: two exports at once, both made" "$rc_a:$?" 0:0
check_eq "payments export: ... share no payment" \
	"$(cut -d' ' -f1 "$TEST_LOGS/tp-run-a.txt" "$TEST_LOGS/tp-run-b.txt" | sort | uniq -d | wc -l)" 0
check_eq "payments export: ... and took all that was pending ($(wc -l <"$TEST_LOGS/tp-pending.txt"), oldest first)" \
	"$(cut -d' ' -f1 "$TEST_LOGS/tp-run-a.txt" "$TEST_LOGS/tp-run-b.txt" | sort |
		comm -23 "$TEST_LOGS/tp-pending.txt" - | wc -l)" 0
check_eq "payments export: a run id with a space is bad usage (exit 2)" \
	"$(payments export --run "A B" >/dev/null; echo $?)" 2
printf '# bank statement\n%s %s %s\n' "$CLAIM" "$((AMOUNT + 1))" "$REF" >"$TEST_LOGS/tp-pay-wrong.txt"
check_eq "settle: a transfer of another amount is refused (exit 1)" \
	"$(payments settle "$TEST_LOGS/tp-pay-wrong.txt"; echo "exit $?")" \
	"$CLAIM refused amount $((AMOUNT + 1)) differs from the payment's $AMOUNT
exit 1"
check_eq "status: still computed while unpaid" "$(tp status --invoice-id "$INV-1" | jq -r .status)" computed
printf '%s %s %s\n' "$CLAIM" "$AMOUNT" "$REF" >"$TEST_LOGS/tp-pay.txt"
check_eq "settle: the transfer marks the payment paid" "$(payments settle "$TEST_LOGS/tp-pay.txt")" "$CLAIM paid $AMOUNT $REF"
check_eq "status: paid" "$(tp status --invoice-id "$INV-1" | jq -c '[.status, .payment_status]')" '["paid","paid"]'
check_eq "settle: the same statement again changes nothing" \
	"$(payments settle "$TEST_LOGS/tp-pay.txt"; echo "exit $?")" "$CLAIM already paid $REF
exit 0"
out=$("$BIN/claimctl" payments settle "$TEST_LOGS/tp-pay.txt" 2>&1 >/dev/full)
check_eq "settle: answers not written whole fail (exit 1)" "$?" 1
check "settle: ... saying the statement is recorded and to settle it again" \
	grep -q "settle: recorded, but the answers were not written whole: run the same command again" <<<"$out"
printf '%s %s OTHER-%s\n01900000-0000-7000-8000-000000000000 100 X-1\n' "$CLAIM" "$AMOUNT" "$RUN_ID" >"$TEST_LOGS/tp-pay-other.txt"
check_eq "settle: paid under another reference, or no such payment: refused" \
	"$(payments settle "$TEST_LOGS/tp-pay-other.txt" | cut -d' ' -f2-4)" "refused already paid
refused no payment"
# A transfer goes to one account: its reference on a member's payment,
# the professional's already, is a line copied with the wrong claim id.
read -r _ member_claim _ _ member_amount _ < <(head -n 1 "$TEST_LOGS/tp-run-a.txt")
printf '%s %s %s\n' "$member_claim" "$member_amount" "$REF" >"$TEST_LOGS/tp-pay-copied.txt"
check_eq "settle: a reference that pays another payee already: refused (exit 1)" \
	"$(payments settle "$TEST_LOGS/tp-pay-copied.txt"; echo "exit $?")" \
	"$member_claim refused reference $REF already settles a payment to another payee (claim $CLAIM)
exit 1"
check_eq "settle: ... the member's payment still unpaid" \
	"$(sql "SELECT status FROM payments WHERE claim_id = '$member_claim'")" sent
printf '%s 12.50 %s\n' "$CLAIM" "$REF" >"$TEST_LOGS/tp-pay-bad.txt"
check_eq "settle: a malformed line is bad input (exit 2)" \
	"$(payments settle "$TEST_LOGS/tp-pay-bad.txt" >/dev/null; echo $?)" 2
# Its number is the file's, blank lines counted.
printf '# bank statement\n\n%s 12.50 %s\n' "$CLAIM" "$REF" >"$TEST_LOGS/tp-pay-bad3.txt"
check_eq "settle: ... named by its line in the file, blank lines counted" \
	"$("$BIN/claimctl" payments settle "$TEST_LOGS/tp-pay-bad3.txt" 2>&1 >/dev/null)" \
	"line 3: amount '12.50' is not a whole number of cents"
# A NUL byte would end the reading there: the lines after it unread.
printf '%s %s %s\n\0%s 1 %s\n' "$CLAIM" "$AMOUNT" "$REF" "$CLAIM" "$REF" >"$TEST_LOGS/tp-pay-nul.txt"
out=$("$BIN/claimctl" payments settle "$TEST_LOGS/tp-pay-nul.txt" 2>&1 >/dev/null)
check_eq "settle: a statement with a NUL byte is bad input (exit 2)" "$?" 2
check_eq "settle: ... naming its line" "$out" "line 2: a NUL byte: not a text statement"
# Each line of a statement looks its reference up among the paid
# payments: through an index, not a read of the whole table per line
# (20,000 lines against 1.3 million payments took ten minutes).
check_eq "settle: a reference is found through an index" \
	"$(psql -X -At "$CLAIMS_PG_DSN" -c "SET enable_seqscan = off" -c "EXPLAIN SELECT claim_id FROM payments WHERE bank_reference = '$REF'" |
		grep -c 'Seq Scan')" 0
check_eq "payment recorded once, with its date and reference" \
	"$(sql "SELECT status, bank_reference, paid_at IS NOT NULL FROM payments WHERE claim_id = '$CLAIM'")" "paid|$REF|t"
settled_sent() {
	[ "$(sql "SELECT count(*) FILTER (WHERE q.event_id IS NULL) || '/' || count(*) FROM outbox o
	          LEFT JOIN outbox_queue q USING (event_id)
	          JOIN claims c ON c.contract_id::text = o.key WHERE c.claim_id = '$CLAIM'
	          AND o.topic = 'payments.settled'")" = 1/1 ]
}
check "payments.settled: one event, published through the outbox" wait_for 30 settled_sent

# ---- payments the bank gives back, or the treasury stops --------------------------
# The professional's transfer, paid, comes back: the account was closed.
printf '# returns\n%s %s AC04 %s\n' "$CLAIM" "$AMOUNT" "$RUN" >"$TEST_LOGS/tp-return.txt"
check_eq "return: a paid transfer given back holds the payment" \
	"$(CLAIMS_OPERATOR="treasurer-$RUN_ID" payments return "$TEST_LOGS/tp-return.txt")" \
	"$CLAIM returned $AMOUNT AC04 (paid under $REF)"
check_eq "return: ... no longer paid, and why it is held" \
	"$(sql "SELECT status, paid_at IS NULL, bank_reference IS NULL, hold_reason FROM payments WHERE claim_id = '$CLAIM'")" \
	"held|t|t|returned by the bank: AC04"
check_eq "return: ... an audit row keeps who, the run and what it was" \
	"$(sql "SELECT actor, detail->>'was', detail->>'bank_reference', detail->>'run' FROM audit_log
	  WHERE entity = 'payment' AND action = 'return' AND detail->>'claim_id' = '$CLAIM'")" \
	"treasurer-$RUN_ID|paid|$REF|$RUN"
check_eq "status: computed again, its payment held" \
	"$(tp status --invoice-id "$INV-1" | jq -c '[.status, .payment_status]')" '["computed","held"]'
returned_sent() {
	[ "$(sql "SELECT string_agg(o.msg_type || ':' || (q.event_id IS NULL), ',' ORDER BY o.event_id)
	          FROM outbox o LEFT JOIN outbox_queue q USING (event_id)
	          JOIN claims c ON c.contract_id::text = o.key WHERE c.claim_id = '$CLAIM'
	          AND o.topic = 'payments.settled'")" = "6:true,7:true" ]
}
check "payments.settled: a PaymentReturned after the PaymentSettled, published" wait_for 30 returned_sent
check_eq "return: the same report again changes nothing (exit 0)" \
	"$(payments return "$TEST_LOGS/tp-return.txt"; echo "exit $?")" "$CLAIM already returned AC04
exit 0"
check_eq "settle: the old statement read again: already paid, returned since (exit 0)" \
	"$(payments settle "$TEST_LOGS/tp-pay.txt"; echo "exit $?")" \
	"$CLAIM already paid $REF, returned since (AC04)
exit 0"
printf '%s %s NEW-%s\n' "$CLAIM" "$AMOUNT" "$RUN_ID" >"$TEST_LOGS/tp-pay-new.txt"
check_eq "settle: a held payment is not paid (exit 1)" \
	"$(payments settle "$TEST_LOGS/tp-pay-new.txt"; echo "exit $?")" \
	"$CLAIM refused held (returned by the bank: AC04): release it before it is paid
exit 1"
check_eq "export: a held payment is not taken, nor given again with its old run" \
	"$(payments export --run "$RUN-held" --payee professional --limit 1000000 | grep -c " $CLAIM ")/$(
		payments export --run "$RUN" --payee professional --limit 1000000 | grep -c " $CLAIM ")" 0/0
check "list: held, since when and why" bash -c "'$BIN/claimctl' payments list --status held --payee professional --limit 1000000 |
	grep -q ' $CLAIM professional $PRO_A $AMOUNT held since [0-9-]*: returned by the bank: AC04\$'"
check_eq "release: the payment is pending again, its old run forgotten" \
	"$(payments release "$CLAIM"):$(sql "SELECT status, run_id IS NULL, hold_reason IS NULL FROM payments WHERE claim_id = '$CLAIM'")" \
	"$CLAIM released $AMOUNT:pending|t|t"
check_eq "release: ... asked again, done once (exit 0)" \
	"$(payments release "$CLAIM"; echo "exit $?")" "$CLAIM already released
exit 0"
check_eq "settle: the old statement read again after the release: the returned transfer pays nothing" \
	"$(payments settle "$TEST_LOGS/tp-pay.txt"; echo "exit $?"):$(sql "SELECT status FROM payments WHERE claim_id = '$CLAIM'")" \
	"$CLAIM already paid $REF, returned since (AC04)
exit 0:pending"
payments export --run "$RUN-again" --payee professional --limit 1000000 >"$TEST_LOGS/tp-run-again.txt"
check "export: released, it goes in a new run" grep -q " $CLAIM professional $PRO_A $AMOUNT sent -\$" "$TEST_LOGS/tp-run-again.txt"
check_eq "return: the old report read again still changes nothing" \
	"$(payments return "$TEST_LOGS/tp-return.txt"; echo "exit $?")" "$CLAIM already returned AC04
exit 0"
check_eq "settle: the new transfer pays it" \
	"$(payments settle "$TEST_LOGS/tp-pay-new.txt")" "$CLAIM paid $AMOUNT NEW-$RUN_ID"
# Named by the reference it was paid under, the new transfer comes back
# too; paid a third time, the old statement and the old return report,
# read again, change nothing.
printf '%s %s MS03 NEW-%s\n' "$CLAIM" "$AMOUNT" "$RUN_ID" >"$TEST_LOGS/tp-return-2.txt"
check_eq "return: a transfer named by its reference" \
	"$(payments return "$TEST_LOGS/tp-return-2.txt")" "$CLAIM returned $AMOUNT MS03 (paid under NEW-$RUN_ID)"
payments release "$CLAIM" >/dev/null
payments export --run "$RUN-third" --payee professional --limit 1000000 >/dev/null
printf '%s %s THIRD-%s\n' "$CLAIM" "$AMOUNT" "$RUN_ID" | payments settle - >/dev/null
check_eq "return, settle: the old reports read again leave the third payment paid" \
	"$(payments return "$TEST_LOGS/tp-return.txt") / $(payments return "$TEST_LOGS/tp-return-2.txt") / $(
		payments settle "$TEST_LOGS/tp-pay.txt") / $(payments settle "$TEST_LOGS/tp-pay-new.txt") / $(
		sql "SELECT status, bank_reference FROM payments WHERE claim_id = '$CLAIM'")" \
	"$CLAIM already returned AC04 / $CLAIM already returned MS03 / $CLAIM already paid $REF, returned since (AC04) / $CLAIM already paid NEW-$RUN_ID, returned since (MS03) / paid|THIRD-$RUN_ID"
check_eq "status: paid" "$(tp status --invoice-id "$INV-1" | jq -c '[.status, .payment_status]')" '["paid","paid"]'
# A member's transfer rejected before it was made: still 'sent' here.
read -r _ rejected _ _ rejected_amount _ < <(sed -n 2p "$TEST_LOGS/tp-run-a.txt")
printf '%s %s AC01 %s-b\n%s %s AC01 %s-a\n%s %s AC01 %s-a\n' "$rejected" "$rejected_amount" "$RUN" \
	"$rejected" "$((rejected_amount + 1))" "$RUN" "$rejected" "$rejected_amount" "$RUN" >"$TEST_LOGS/tp-reject.txt"
check_eq "return: a transfer rejected before it was made, named by its run and amount" \
	"$(payments return "$TEST_LOGS/tp-reject.txt"; echo "exit $?")" \
	"$rejected refused $RUN-b is not the payment's transfer (sent in run $RUN-a)
$rejected refused amount $((rejected_amount + 1)) differs from the payment's $rejected_amount
$rejected returned $rejected_amount AC01 (sent in run $RUN-a)
exit 1"
check_eq "return: ... held, one PaymentReturned event" \
	"$(sql "SELECT p.status || ' ' || count(o.*) FROM payments p JOIN claims c USING (claim_id)
	  LEFT JOIN outbox o ON o.key = c.contract_id::text AND o.msg_type = 7
	   AND position(convert_to(p.claim_id::text, 'UTF8') IN o.payload) > 0
	  WHERE p.claim_id = '$rejected' GROUP BY p.status")" "held 1"
check_eq "release: ... it is pending again" "$(payments release "$rejected")" "$rejected released $rejected_amount"
printf '%s %s AC04 %s-never\n%s %s AC04 %s-a\n' "$rejected" "$rejected_amount" "$RUN" \
	"$rejected" "$rejected_amount" "$RUN" >"$TEST_LOGS/tp-return-pending.txt"
check_eq "return: a pending payment has no transfer to return (exit 1); the one given back, named again, was" \
	"$(payments return "$TEST_LOGS/tp-return-pending.txt"; echo "exit $?")" \
	"$rejected refused the payment is pending: no transfer of it to return
$rejected already returned AC01
exit 1"
printf '%s 12 AC4 %s-a\n' "$rejected" "$RUN" >"$TEST_LOGS/tp-return-bad.txt"
check_eq "return: a reason that is not a bank's code is bad input (exit 2)" \
	"$("$BIN/claimctl" payments return "$TEST_LOGS/tp-return-bad.txt" 2>&1 >/dev/null; echo "exit $?")" \
	"line 1: reason 'AC4' is not a bank's reason code (4 of A-Z 0-9)
exit 2"
# The treasury stops a pending payment; one at the bank cannot be.
check_eq "hold: a pending payment, and one sent: refused (exit 1)" \
	"$(CLAIMS_OPERATOR="treasurer-$RUN_ID" payments hold --reason "late termination" "$rejected" "$member_claim"; echo "exit $?")" \
	"$rejected held $rejected_amount
$member_claim refused sent in run $RUN-a: at the bank (its rejection or return is recorded by payments return)
exit 1"
check_eq "hold: ... asked again, done once (exit 0)" \
	"$(payments hold --reason "late termination" "$rejected"; echo "exit $?")" "$rejected already held
exit 0"
check_eq "hold: ... for another reason: refused (exit 1)" \
	"$(payments hold --reason "other" "$rejected"; echo "exit $?")" "$rejected refused held (late termination)
exit 1"
check_eq "hold: ... the payment held, the sent one untouched; an audit row for the hold" \
	"$(sql "SELECT string_agg(status, ' ' ORDER BY claim_id = '$rejected') FROM payments
	  WHERE claim_id IN ('$rejected', '$member_claim')") $(sql "SELECT actor || ' ' || (detail->>'reason')
	  FROM audit_log WHERE entity = 'payment' AND action = 'hold' AND detail->>'claim_id' = '$rejected'")" \
	"sent held treasurer-$RUN_ID late termination"
shown=$("$BIN/claimctl" claim "$rejected")
WHO=${CLAIMS_OPERATOR:-${USER:-operator}} # who claimctl names (claimctl_operator)
check "claim: its payment shown held, with the reason" \
	grep -Eq "^payment +[0-9]+\.[0-9]{2} to member [^ ]+: held since [0-9-]{10} [0-9:]{8}: late termination" <<<"$shown"
check_eq "claim: ... and what the bank and the treasury did to it, in order" \
	"$(sed -n '/^history$/,/^$/p' <<<"$shown" | sed '/^$/d' | cut -d' ' -f3-)" "history
return by $WHO: AC01, transfer $RUN-a
release by $WHO
hold by treasurer-$RUN_ID: late termination"
check_eq "release: pending again" "$(payments release "$rejected")" "$rejected released $rejected_amount"
check_eq "hold: no such claim, refused (exit 1)" \
	"$(payments hold --reason x 01900000-0000-7000-8000-000000000000; echo "exit $?")" \
	"01900000-0000-7000-8000-000000000000 refused no payment for this claim (not decided, or unknown)
exit 1"
check_eq "hold: a reason with a line break, or no claim: bad usage (exit 2)" \
	"$(payments hold --reason "$(printf 'a\nb')" "$rejected" >/dev/null; echo $?) $(payments hold --reason x >/dev/null; echo $?)" "2 2"
# Two statements at once under one reference for two payees: the second
# waits for the first (a lock per reference) and refuses its line; not
# waiting, it would see neither's rows and pay both.
# Two payments of this test's own members (the runs above took the
# oldest pending, which may all be one member's), sent in run a.
read -r race_a race_amount_a race_b race_amount_b < <(sql "SELECT DISTINCT ON (p.payee_ref)
	p.claim_id, p.amount_cents FROM payments p JOIN claims c USING (claim_id)
	WHERE c.source = '$MEMBER_SOURCE' AND p.status IN ('pending', 'sent')
	AND p.claim_id NOT IN ('$member_claim', '$rejected') ORDER BY p.payee_ref, p.payment_id" |
	tr '|\n' '  ')
sql "UPDATE payments SET status = 'sent', run_id = '$RUN-a', sent_at = now()
	WHERE claim_id IN ('$race_a', '$race_b') AND status = 'pending'" >/dev/null
race_ref="E2E-$RUN_ID-race"
held=""
coproc RACE { psql -X -q -At "$CLAIMS_PG_DSN"; }
race_in=${RACE[1]} race_out=${RACE[0]} race_pid=$RACE_PID
echo "BEGIN; SELECT 'held' FROM pg_advisory_xact_lock(7415006, hashtext('$race_ref'));" >&"$race_in" 2>/dev/null &&
	read -r -t 30 held <&"$race_out"
check_eq "settle at once, one reference: the first statement holds it" "$held" held
printf '%s %s %s\n' "$race_b" "$race_amount_b" "$race_ref" >"$TEST_LOGS/tp-pay-race.txt"
payments settle "$TEST_LOGS/tp-pay-race.txt" >"$TEST_LOGS/tp-pay-race.out" &
settle_pid=$!
waiting_on_reference() {
	[ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
	          AND wait_event = 'advisory' AND query LIKE '%7415006%'")" -ge 1 ]
}
check "settle at once, one reference: the second waits for it" wait_for 30 waiting_on_reference
echo "UPDATE payments SET status = 'paid', paid_at = now(), bank_reference = '$race_ref'
      WHERE claim_id = '$race_a'; COMMIT;" >&"$race_in" 2>/dev/null
exec {race_in}>&-
wait "$race_pid" 2>/dev/null
wait "$settle_pid"
check_eq "settle at once, one reference: ... then refuses the other payee's line (exit 1)" \
	"$?:$(cat "$TEST_LOGS/tp-pay-race.out")" \
	"1:$race_b refused reference $race_ref already settles a payment to another payee (claim $race_a)"
check_eq "invoice: terminated contract, care after the end" \
	"$(tp invoice --member "$TERMINATED" --invoice-id "$INV-2" "$TEST_LOGS/tp-lines-late.json" | jq -c '[.accepted, .reason_code]')" \
	'[false,"NOT_COVERED"]'
check_eq "invoice: not covered (suspended)" \
	"$(tp invoice --member "$SUSPENDED" --invoice-id "$INV-3" "$TEST_LOGS/tp-lines.json" | jq -c '[.accepted, .reason_code]')" \
	'[false,"NOT_COVERED"]'
check_eq "invoice: unknown beneficiary" \
	"$(tp invoice --member "$UNKNOWN" --invoice-id "$INV-4" "$TEST_LOGS/tp-lines.json" | jq -c '[.accepted, .reason_code]')" \
	'[false,"UNKNOWN_MEMBER"]'
# A birth date nobody of a covered membership has: refused at the door,
# not billed to the subscriber; nothing reaches intake.
check_eq "invoice: a birth date nobody has, refused" \
	"$(tp invoice --member "$COVERED" --birth-date 1901-01-01 --invoice-id "$INV-nobody" "$TEST_LOGS/tp-lines.json" | jq -c '[.accepted, .reason_code, .field]')" \
	'[false,"UNKNOWN_BENEFICIARY","beneficiary"]'
check_eq "invoice: ... nothing recorded, neither claim nor rejection" \
	"$(sql "SELECT (SELECT count(*) FROM claims WHERE source = 'tp:RPPS:$PRO_A' AND external_id = '$INV-nobody')
		+ (SELECT count(*) FROM claim_rejections WHERE source = 'tp:RPPS:$PRO_A' AND external_id = '$INV-nobody')")" 0
check_eq "invoice: ... and its status unknown" "$(tp status --invoice-id "$INV-nobody" | jq -r .error)" UNKNOWN_INVOICE

# ---- ranks renumbered at a renewal ---------------------------------------------------
# Ranks are per contract. In 2025 Léo was rank 2 and Jade rank 3; the
# 2026 contract (Jade gone) has Paul rank 2, Léo rank 3 and Paul's twin
# Lou rank 4. This year's card for last year's care names Léo, under his
# row of 2025, never Jade, last year's rank 3: the birth date goes with
# the invoice, and intake finds the person as the front door does.
create_members "${P}6" 1 CONFORT
RENUM=${P}600001
sql "UPDATE contracts SET status = 'terminated', end_date = '2026-01-01'
       WHERE member_id = (SELECT member_id FROM members WHERE membership_number = '$RENUM');
     INSERT INTO beneficiaries (contract_id, rank, relationship, last_name, first_name, birth_date, start_date)
       SELECT c.contract_id, k.rank, 'child', 'Test', k.name, k.born::date, '2025-01-01'
       FROM contracts c JOIN members m USING (member_id),
            (VALUES (2, 'Leo', '2015-03-03'), (3, 'Jade', '2012-09-09')) k(rank, name, born)
       WHERE m.membership_number = '$RENUM';
     WITH c AS (INSERT INTO contracts (member_id, formula_code, amc_number, status, start_date)
       SELECT member_id, 'CONFORT', '75500017', 'active', date '2026-01-01' FROM members
       WHERE membership_number = '$RENUM' RETURNING contract_id, member_id)
     INSERT INTO beneficiaries (contract_id, member_id, rank, relationship, last_name, first_name,
       birth_date, start_date)
     SELECT c.contract_id, CASE k.rank WHEN 1 THEN c.member_id END, k.rank, k.rel, 'Test', k.name,
       k.born::date, '2026-01-01'
     FROM c, (VALUES (1, 'subscriber', 'Member', '1980-05-01'), (2, 'child', 'Paul', '2018-01-01'),
       (3, 'child', 'Leo', '2015-03-03'), (4, 'child', 'Lou', '2018-01-01')) k(rank, rel, name, born)" >/dev/null
check_eq "renumbered ranks: Léo's two rows are one person" \
	"$(sql "SELECT count(*) || ' ' || count(DISTINCT b.person_id) FROM beneficiaries b
	  JOIN contracts c USING (contract_id) JOIN members m ON m.member_id = c.member_id
	  WHERE m.membership_number = '$RENUM' AND b.first_name = 'Leo'")" "2 1"
check_eq "renumbered ranks: his birth date alone names him (one person, two ranks: not twins)" \
	"$(tp eligibility --member "$RENUM" --birth-date 2015-03-03 --date 2026-03-10 | jq -c '[.rights_open, .reason]')" \
	'[true,null]'
check_eq "renumbered ranks: this year's rank 3 and his birth date, for last year's care: open" \
	"$(tp eligibility --member "$RENUM" --rank 3 --birth-date 2015-03-03 --date 2025-12-15 | jq -c '[.rights_open, .reason]')" \
	'[true,null]'
echo '[{"line_ref":"1","act_code":"G","category":"CONSULT_GP","care_date":"2025-12-15","charged_cents":3000,"brss_cents":3000,"amo_rate":70}]' \
	>"$TEST_LOGS/tp-renum.json"
renum=$(tp invoice --member "$RENUM" --rank 3 --birth-date 2015-03-03 --invoice-id "$INV-renum" "$TEST_LOGS/tp-renum.json")
check_eq "renumbered ranks: the invoice accepted" "$(jq -c '[.accepted, .reason_code]' <<<"$renum")" '[true,null]'
whose_claim() { sql "SELECT b.first_name || ' ' || b.rank || ' ' || extract(year FROM k.start_date)
	FROM claims c JOIN beneficiaries b USING (beneficiary_id) JOIN contracts k ON k.contract_id = c.contract_id
	WHERE c.claim_id = '$1'"; }
check_eq "renumbered ranks: ... billed to Léo under his 2025 row, not to Jade" \
	"$(whose_claim "$(jq -r .claim_id <<<"$renum")")" "Leo 2 2025"
# Upstream claims carry the birth date the same way (NOEMIE names the
# beneficiary by it); without it, the rank is whoever holds it on the
# contract of the day.
renum_claim() { # external id, rank, birth date ("" none), care date
	printf '{"source":"renum-%s","external_id":"%s","membership_number":"%s","beneficiary_rank":%s%s,"lines":[{"act_code":"G","category":"CONSULT_GP","care_date":"%s","charged_cents":3000,"brss_cents":3000,"amo_rate":70}]}\n' \
		"$RUN_ID" "$1" "$RENUM" "$2" "${3:+,\"beneficiary_birth_date\":\"$3\"}" "$4"
}
{
	renum_claim with-birth 3 2015-03-03 2025-12-16
	renum_claim rank-only 3 "" 2025-12-16
	renum_claim twins-no-rank 0 2018-01-01 2026-03-10
	renum_claim twin-by-rank 4 2018-01-01 2026-03-10
	renum_claim nobody 3 2018-01-01 2026-03-10
} >"$TEST_LOGS/renum-upstream.json"
out=$("$BIN/claimctl" submit --sync "$TEST_LOGS/renum-upstream.json" 2>>"$LOG")
upstream_whose() { whose_claim "$(sql "SELECT claim_id FROM claims WHERE source = 'renum-$RUN_ID' AND external_id = '$1'")"; }
check_eq "renumbered ranks: upstream, rank and birth date: Léo" "$(upstream_whose with-birth)" "Leo 2 2025"
check_eq "renumbered ranks: upstream, the rank alone: last year's rank 3, Jade" "$(upstream_whose rank-only)" "Jade 3 2025"
check "renumbered ranks: upstream, a birth date twins share, no rank: AMBIGUOUS_BENEFICIARY" \
	grep -q "^twins-no-rank rejected AMBIGUOUS_BENEFICIARY beneficiary_birth_date" <<<"$out"
check_eq "renumbered ranks: upstream, the twin by rank and birth date" "$(upstream_whose twin-by-rank)" "Lou 4 2026"
check "renumbered ranks: upstream, a rank that was never that birth date's: UNKNOWN_MEMBER" \
	grep -q "^nobody rejected UNKNOWN_MEMBER beneficiary_birth_date" <<<"$out"
check_eq "invoice: someone else's quote" \
	"$(tp invoice --member "$COVERED" --rank 3 --invoice-id "$INV-5" --quote "$QUOTE" "$TEST_LOGS/tp-lines.json" | jq -r .reason_code)" \
	QUOTE_MISMATCH
check_eq "invoice: a quote that does not exist" \
	"$(tp invoice --member "$COVERED" --invoice-id "$INV-6" --quote "$(quote_id_at now)" "$TEST_LOGS/tp-lines.json" | jq -r .reason_code)" \
	QUOTE_UNKNOWN
# A quote not yet stored when its invoice arrives (the quote server
# stores its quotes a moment after answering them): refused, nothing
# recorded, and the same invoice sent again once it is stored is
# judged anew (its refusal, recorded, answered every later copy).
Q3=$(tp quote --member "$COVERED" "$TEST_LOGS/tp-lines.json" | jq -r .quote_id)
check "invoice: a quote ... is stored" wait_for 10 bash -c \
	"[ \"\$(psql -X -At '$CLAIMS_PG_DSN' -c \"SELECT count(*) FROM quotes WHERE quote_id = '$Q3'\")\" = 1 ]"
HIDDEN=$(sed 's/^........-/00000000-/' <<<"$Q3")
sql "UPDATE quotes SET quote_id = '$HIDDEN' WHERE quote_id = '$Q3'" >/dev/null
check_eq "invoice: a quote not yet stored: QUOTE_UNKNOWN" \
	"$(tp invoice --member "$COVERED" --invoice-id "$INV-6b" --quote "$Q3" "$TEST_LOGS/tp-lines.json" | jq -r .reason_code)" \
	QUOTE_UNKNOWN
check_eq "... nothing recorded under the invoice's id" \
	"$(sql "SELECT count(*) FROM claim_rejections WHERE external_id = '$INV-6b'")" 0
sql "UPDATE quotes SET quote_id = '$Q3' WHERE quote_id = '$HIDDEN'" >/dev/null
check_eq "... the same invoice again, the quote stored: accepted" \
	"$(tp invoice --member "$COVERED" --invoice-id "$INV-6b" --quote "$Q3" "$TEST_LOGS/tp-lines.json" | jq -c '[.accepted, .duplicate]')" \
	'[true,false]'
# A quote's last day is honoured while it is that day anywhere on earth
# (UTC-12): a professional in Guadeloupe at 21:00 on it is at 01:00 UTC
# the day after. Past that, it is expired.
Q2=$(tp quote --member "$COVERED" "$TEST_LOGS/tp-lines.json" | jq -r .quote_id)
sql "UPDATE quotes SET valid_until = (now() AT TIME ZONE 'UTC')::date - 2 WHERE quote_id = '$Q2'" >/dev/null
check_eq "invoice: a quote past its validity" \
	"$(tp invoice --member "$COVERED" --invoice-id "$INV-7" --quote "$Q2" "$TEST_LOGS/tp-lines.json" | jq -r .reason_code)" \
	QUOTE_EXPIRED
sql "UPDATE quotes SET valid_until = (now() AT TIME ZONE 'UTC' - interval '12 hours')::date
	WHERE quote_id = '$Q2'" >/dev/null
check_eq "invoice: a quote on its last day somewhere on earth is honoured" \
	"$(tp invoice --member "$COVERED" --invoice-id "$INV-8" --quote "$Q2" "$TEST_LOGS/tp-lines.json" | jq -r .accepted)" \
	true

# ---- quotes purged ------------------------------------------------------------------------------
# claimctl quotes purge deletes the quotes whose validity ended more
# than N days ago, made before that day (the cut). An invoice citing one,
# or citing any quote made before the cut and not stored, is then
# refused QUOTE_EXPIRED, recorded: not QUOTE_UNKNOWN, kept for replay for
# ever. The quotes below are the first quote's row under other ids.
check_eq "quotes purge: a quote's id sorts within the day it was stored (the time the purge reads)" \
	"$(sql "SELECT quote_id >= uuid_v7_floor(((created_at - interval '1 minute') AT TIME ZONE 'UTC')::date)
		AND quote_id < uuid_v7_floor((created_at AT TIME ZONE 'UTC')::date + 1)
		FROM quotes WHERE quote_id = '$QUOTE'")" t
TAIL=$((10#$RUN_ID))
copy_quote() { # copy_quote ID VALID_UNTIL (days from today)
	sql "INSERT INTO quotes (quote_id, professional_id, beneficiary_id, contract_id, request, result,
		total_charged_cents, total_amc_cents, total_rac_cents, valid_until)
	     SELECT '$1', professional_id, beneficiary_id, contract_id, request, result,
		total_charged_cents, total_amc_cents, total_rac_cents, current_date + $2
	     FROM quotes WHERE quote_id = '$QUOTE'" >/dev/null
}
GONE=$(quote_id_at '200 days ago' "$TAIL")
copy_quote "$GONE" -170
LONG=$(quote_id_at '200 days ago' $((TAIL + 1))) # made long ago, valid still
copy_quote "$LONG" 5
RECENT=$(quote_id_at '30 days ago' "$TAIL") # expired within the days kept
copy_quote "$RECENT" -20
NEVER=$(quote_id_at '200 days ago' $((TAIL + 2)))                   # never stored
NOT_OURS=$(quote_id_at '200 days ago' $((TAIL + 3)) | sed 's/-7000-/-4000-/') # version 4: no time
LATE=$(quote_id_at now $((TAIL + 4)))                                # made today, not stored yet
# 12,001 expired quotes made 300 days ago: slices of 5,000, to the end.
MANY=$(quote_id_at '300 days ago' $((TAIL * 65536)))
MANY_LAST="${MANY:0:24}$(printf "%012x" $((TAIL * 65536 + 12000)))"
sql "INSERT INTO quotes (quote_id, professional_id, beneficiary_id, contract_id, request, result,
	total_charged_cents, total_amc_cents, total_rac_cents, valid_until)
     SELECT (substr('$MANY', 1, 24) || lpad(to_hex($TAIL::bigint * 65536 + i), 12, '0'))::uuid,
	professional_id, beneficiary_id, contract_id, request, result,
	total_charged_cents, total_amc_cents, total_rac_cents, current_date - 270
     FROM quotes, generate_series(0, 12000) i WHERE quote_id = '$QUOTE'" >/dev/null
purged=$(CLAIMS_OPERATOR="purger-$RUN_ID" "$BIN/claimctl" quotes purge --days 90 2>>"$LOG")
check_eq "quotes purge: exit 0" "$?" 0
check "quotes purge: says how many, and the cut" \
	grep -Eq '^[0-9]+ quote\(s\) purged: validity ended before [0-9]{4}-[0-9]{2}-[0-9]{2}$' <<<"$purged"
check "quotes purge: in slices, to the end (${purged%% *} purged)" test "${purged%% *}" -ge 12002
check_eq "quotes purge: the quotes expired before the cut gone, the 12,001 all; one still valid, one expired since, kept" \
	"$(sql "SELECT string_agg(name, ' ' ORDER BY name) FROM (VALUES ('gone', '$GONE'), ('long', '$LONG'),
		('recent', '$RECENT')) v(name, id)
		WHERE EXISTS (SELECT 1 FROM quotes WHERE quote_id = v.id::uuid)") $(sql "SELECT count(*)
		FROM quotes WHERE quote_id BETWEEN '$MANY' AND '$MANY_LAST'")" "long recent 0"
check_eq "quotes purge: recorded with its cut, operator and count, finished" \
	"$(sql "SELECT cut BETWEEN (now() AT TIME ZONE 'UTC')::date - 91 AND (now() AT TIME ZONE 'UTC')::date - 90,
		made_by, quotes, finished_at IS NOT NULL
		FROM quote_purges ORDER BY purge_id DESC LIMIT 1")" "t|purger-$RUN_ID|${purged%% *}|t"
check "quotes purge: again, none left" \
	grep -q '^0 quote(s) purged' <<<"$("$BIN/claimctl" quotes purge --days 90 2>>"$LOG")"
for bad in "--days 0" "--days x" "--days 3651" "--weeks 3" "--days"; do
	# shellcheck disable=SC2086 # the options, split
	"$BIN/claimctl" quotes purge $bad >/dev/null 2>&1
	check_eq "quotes purge: '$bad' is a usage error" "$?" 2
done
check "quotes purge: --help" bash -c "'$BIN/claimctl' quotes purge --help | grep -q 'Usage: claimctl quotes purge'"
sleep 1 # a new second of the rate limit
cites() { # cites INVOICE_ID QUOTE_ID: the invoice's reason code, or accepted
	tp invoice --member "$COVERED" --invoice-id "$1" --quote "$2" "$TEST_LOGS/tp-lines.json" |
		jq -r 'if .accepted then "accepted" else .reason_code end'
}
check_eq "invoice: a purged quote: QUOTE_EXPIRED" "$(cites "$INV-p1" "$GONE")" QUOTE_EXPIRED
check_eq "... recorded under the invoice's id, final" \
	"$(tp status --invoice-id "$INV-p1" | jq -c '[.status, .reason_code]')" '["rejected","QUOTE_EXPIRED"]'
check_eq "invoice: a quote made before the cut, never stored: QUOTE_EXPIRED" \
	"$(cites "$INV-p2" "$NEVER")" QUOTE_EXPIRED
check_eq "invoice: a quote made before the cut, valid still, kept: accepted" \
	"$(cites "$INV-p3" "$LONG")" accepted
check_eq "invoice: a quote expired since the cut, kept: QUOTE_EXPIRED" \
	"$(cites "$INV-p4" "$RECENT")" QUOTE_EXPIRED
check_eq "invoice: an id of no quote of ours (version 4), not stored: QUOTE_UNKNOWN" \
	"$(cites "$INV-p5" "$NOT_OURS")" QUOTE_UNKNOWN
check_eq "invoice: a quote made after the cut, not stored yet: QUOTE_UNKNOWN, nothing recorded" \
	"$(cites "$INV-p6" "$LATE"):$(sql "SELECT count(*) FROM claim_rejections WHERE external_id IN ('$INV-p5', '$INV-p6')")" \
	QUOTE_UNKNOWN:0

check_eq "status: terminated contract's invoice rejected with its reason" \
	"$(tp status --invoice-id "$INV-2" | jq -c '[.status, .reason_code]')" '["rejected","NOT_COVERED"]'
check_eq "status: not covered, with its reason" \
	"$(tp status --invoice-id "$INV-3" | jq -c '[.status, .reason_code]')" '["rejected","NOT_COVERED"]'
check_eq "status: unknown beneficiary's invoice" \
	"$(tp status --invoice-id "$INV-4" | jq -c '[.status, .reason_code]')" '["rejected","UNKNOWN_MEMBER"]'
check_eq "status: an invoice never sent" "$(tp status --invoice-id "$INV-404" | jq -r .error)" UNKNOWN_INVOICE
check_eq "status: another professional cannot see it" "$(as_b status --invoice-id "$INV-1" | jq -r .error)" UNKNOWN_INVOICE

# ---- an invoice decided in part, then completed --------------------------------------------
# Formula TG is in force from June only: of an invoice's March and July
# consultations, the July one is decided. Once a version covers March,
# the operator completes the invoice (claimctl claim redecide); its
# status then lists the complement's, with its own amount and payment.
TG="TPG${RUN_ID: -6}"
create_gap_formula "$TG"
create_members "${P}7" 1 "$TG"
GAPPED=${P}700001
cat >"$TEST_LOGS/tp-lines-gap.json" <<JSON
[{"line_ref":"1","act_code":"G","category":"CONSULT_GP","care_date":"2026-03-10","charged_cents":3000,"brss_cents":3000,"amo_rate":70},
 {"line_ref":"2","act_code":"G","category":"CONSULT_GP","care_date":"2026-07-10","charged_cents":3000,"brss_cents":3000,"amo_rate":70}]
JSON
GAP_CLAIM=$(tp invoice --member "$GAPPED" --invoice-id "$INV-gap" "$TEST_LOGS/tp-lines-gap.json" | jq -r .claim_id)
gap_status() { tp status --invoice-id "$INV-gap"; }
gap_computed() { [ "$(gap_status | jq -r "$1")" = computed ]; }
check "partial invoice: computed" wait_for 60 gap_computed .status
st=$(gap_status)
# The July consultation alone is decided: 30 € at 70 %, AMO 21 € less the
# 2 € PF, the AMC pays the ticket modérateur, 9 € (CONFORT's latest version
# promises 200 % BRSS, but charged is the BRSS: no more is left to pay).
check_eq "partial invoice: its amount (the July line's 9 €), why, and no complement yet" \
	"$(jq -c '[.amc_cents, (.message | test("line 1")), .complements]' <<<"$st")" \
	"[900,true,null]"
# The member dies on 1 March, recorded after the invoice: the care of
# 10 March, given on rights the mutuelle confirmed, is still owed to the
# professional, and redecide sends it (for a member's claim it would
# not: its care is no longer covered).
"$BIN/claimctl" contract terminate --member "$GAPPED" --end-date 2026-03-01 --reason deces >>"$LOG" 2>&1
check_eq "partial invoice: the member's contract terminated before the care" \
	"$(sql "SELECT status || ' ' || end_date FROM contracts c JOIN members m USING (member_id)
	        WHERE m.membership_number = '$GAPPED'")" "terminated 2026-03-01"
fill_gap_formula "$TG"
out=$("$BIN/claimctl" claim redecide "$GAP_CLAIM")
check_eq "partial invoice: completed by the operator, the termination since notwithstanding" "$?" 0
COMPLEMENT=$(sql "SELECT complement_id FROM claim_complements WHERE claim_id = '$GAP_CLAIM'")
check "partial invoice: the complement computed" wait_for 60 gap_computed '.complements[0].status'
st=$(gap_status)
check_eq "partial invoice: the status lists the complement, with its own amount and payment" \
	"$(jq -c '[.claim_id, .amc_cents, (.complements | length), .complements[0].claim_id,
	           .complements[0].amc_cents, .complements[0].payment_status]' <<<"$st")" \
	"[\"$GAP_CLAIM\",900,1,\"$COMPLEMENT\",900,\"pending\"]"
check_eq "partial invoice: the complement's payment goes to the professional" \
	"$(sql "SELECT payee || ' ' || payee_ref || ' ' || (amount_cents > 0) FROM payments WHERE claim_id = '$COMPLEMENT'")" \
	"professional $PRO_A true"

# ---- one number in two registers ----------------------------------------------------------
# ADELI and FINESS numbers have the same shape: a nurse may hold the
# hospital's number. The front door names the register; an upstream
# submission without one is refused, not guessed.
sql "INSERT INTO professionals (id_kind, id_value, name, profession)
     VALUES ('ADELI', '$PRO_B', 'Homonyme du test', 'infirmier')"
b1=$(as_b invoice --member "$COVERED" --invoice-id "$INV-B1" "$TEST_LOGS/tp-lines.json")
check_eq "same number, two registers: the hospital's invoice is accepted" "$(jq -c '[.accepted]' <<<"$b1")" '[true]'
check_eq "same number, two registers: the claim is the hospital's" \
	"$(sql "SELECT p.id_kind, c.payee FROM claims c JOIN professionals p USING (professional_id)
	        WHERE c.source = 'tp:FINESS:$PRO_B' AND c.external_id = '$INV-B1'")" "FINESS|professional"
twin_claim() { # twin_claim EXTERNAL_ID [KIND]
	local kind=${2:+,\"professional_kind\":\"$2\"}
	printf '{"source":"twin-%s","external_id":"%s","membership_number":"%s","professional_id":"%s"%s,"lines":[{"care_date":"2026-03-10","category":"CONSULT_GP","charged_cents":3000,"brss_cents":3000,"amo_rate":70}]}\n' \
		"$RUN_ID" "$1" "$COVERED" "$PRO_B" "$kind"
}
{
	twin_claim no-kind
	twin_claim finess FINESS
	twin_claim rpps RPPS
	twin_claim bad-kind AMELI
} >"$TEST_LOGS/tp-twins.json"
"$BIN/claimctl" submit --sync "$TEST_LOGS/tp-twins.json" >"$TEST_LOGS/tp-twins.out" 2>>"$LOG"
check "same number, two registers: without the register, refused as ambiguous" \
	grep -q "^no-kind rejected AMBIGUOUS_PROFESSIONAL professional_kind" "$TEST_LOGS/tp-twins.out"
check "same number, two registers: with the register, accepted" grep -q "^finess accepted" "$TEST_LOGS/tp-twins.out"
check "same number, two registers: the wrong register is unknown" \
	grep -q "^rpps rejected UNKNOWN_PROFESSIONAL professional_id" "$TEST_LOGS/tp-twins.out"
check "professional_kind outside RPPS, ADELI, FINESS" \
	grep -q "^bad-kind rejected INVALID_FIELD professional_kind" "$TEST_LOGS/tp-twins.out"
out=$("$BIN/claimctl" tp revoke --id "$PRO_B" 2>&1)
check_eq "same number, two registers: revoke without --kind refuses to guess (exit 1)" "$?" 1
check "same number, two registers: ... saying why" grep -q "say which with --kind" <<<"$out"
check_eq "same number, two registers: the hospital's key still works" \
	"$(as_b eligibility --member "$COVERED" | jq .rights_open)" true
check_eq "same number, two registers: the accepted claim names the hospital" \
	"$(sql "SELECT p.id_kind FROM claims c JOIN professionals p USING (professional_id)
	        WHERE c.source = 'twin-$RUN_ID' AND c.external_id = 'finess'")" FINESS

# ---- two statements settled at once ------------------------------------------------------
# Two statements over the same two payments (invoices INV-8 and B1), in
# opposite orders, settled at once. A third session holds the first
# payment (in claim id order) until both statements wait, so that they
# overlap: taken in file order, the second would hold the other payment
# while waiting for the first, which the first statement holds next,
# waiting for the other (a deadlock: one of them recording nothing).
S1=$(sql "SELECT claim_id FROM claims WHERE source = 'tp:RPPS:$PRO_A' AND external_id = '$INV-8'")
S2=$(jq -r .claim_id <<<"$b1")
two_pending() {
	[ "$(sql "SELECT count(*) FROM payments WHERE claim_id::text IN ('$S1', '$S2') AND status = 'pending'")" = 2 ]
}
check "settle at once: two invoices' payments pending" wait_for 60 two_pending
read -r SA SB <<<"$(sql "SELECT string_agg(claim_id::text, ' ' ORDER BY claim_id) FROM payments
	WHERE claim_id::text IN ('$S1', '$S2')")"
amount_of() { sql "SELECT amount_cents FROM payments WHERE claim_id = '$1'"; }
AA=$(amount_of "$SA") AB=$(amount_of "$SB")
printf '%s %s SET-A-%s\n%s %s SET-B-%s\n' "$SA" "$AA" "$RUN_ID" "$SB" "$AB" "$RUN_ID" >"$TEST_LOGS/tp-pay-ab.txt"
printf '%s %s SET-B-%s\n%s %s SET-A-%s\n' "$SB" "$AB" "$RUN_ID" "$SA" "$AA" "$RUN_ID" >"$TEST_LOGS/tp-pay-ba.txt"
psql -X -q "$CLAIMS_PG_DSN" -c "BEGIN; SELECT 1 FROM payments WHERE claim_id = '$SA' FOR UPDATE;
	SELECT pg_sleep(6), 'hold-$RUN_ID'; COMMIT" >/dev/null 2>>"$LOG" &
holder=$!
held() {
	[ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE '%hold-$RUN_ID%'")" = 1 ]
}
settles_waiting() { # N: settle sessions waiting for a lock
	[ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'claimctl'
		AND wait_event_type = 'Lock'")" -ge "$1" ]
}
check "settle at once: the first payment held" wait_for 5 held
payments settle "$TEST_LOGS/tp-pay-ab.txt" >"$TEST_LOGS/tp-pay-ab.out" &
settle_ab=$!
check "settle at once: one statement waits for it" wait_for 5 settles_waiting 1
payments settle "$TEST_LOGS/tp-pay-ba.txt" >"$TEST_LOGS/tp-pay-ba.out" &
settle_ba=$!
check "settle at once: ... and the other too" wait_for 5 settles_waiting 2
wait "$settle_ab"
rc_ab=$?
wait "$settle_ba"
rc_ba=$?
wait "$holder"
check_eq "settle at once: both statements go through, no deadlock (exit 0 and 0)" "$rc_ab $rc_ba" "0 0"
check_eq "settle at once: the first pays both" "$(cat "$TEST_LOGS/tp-pay-ab.out")" \
	"$SA paid $AA SET-A-$RUN_ID
$SB paid $AB SET-B-$RUN_ID"
check_eq "settle at once: the second finds them paid, answered in its file's order" \
	"$(cat "$TEST_LOGS/tp-pay-ba.out")" "$SB already paid SET-B-$RUN_ID
$SA already paid SET-A-$RUN_ID"

# ---- cached rights follow contract changes ------------------------------------------
check_eq "cache: open before the change" "$(tp eligibility --member "${P}00004" | jq .rights_open)" true
"$BIN/claimctl" contract terminate --member "${P}00004" --end-date 2026-01-01 >>"$LOG" 2>&1
# A front door that read the old rights just before the change must not
# cache them just after: the change leaves a mark a SET NX cannot pass.
mark="$(redis-cli -u "$CLAIMS_REDIS_URL" SET "tp:rights:${P}00004" stale EX 600 NX)|$(redis-cli -u "$CLAIMS_REDIS_URL" TTL "tp:rights:${P}00004")"
check "cache: a change leaves a short mark that a stale write cannot replace (got $mark)" \
	grep -Eq '^\|[1-5]$' <<<"$mark"
check_eq "cache: claimctl contract drops the cached rights" \
	"$(tp eligibility --member "${P}00004" | jq -r .reason)" RIGHTS_CLOSED
check_eq "cache: open before the change (event only)" "$(tp eligibility --member "${P}00005" | jq .rights_open)" true
check "cache: ... and cached" test "$(redis-cli -u "$CLAIMS_REDIS_URL" STRLEN "tp:rights:${P}00005")" -gt 0
# Redis unreachable for the command: only the contracts.changed event can drop the cache.
CLAIMS_REDIS_URL=redis://127.0.0.1:9 "$BIN/claimctl" contract suspend --member "${P}00005" >>"$LOG" 2>&1
check_eq "cache: suspended, Redis away for the command" "$?" 0
suspended_seen() { [ "$(tp eligibility --member "${P}00005" | jq -r .reason)" = CONTRACT_SUSPENDED ]; }
check "cache: the contracts.changed event drops the cached rights" wait_for 60 suspended_seen
# Suspended from today: the day before, the rights were open, and that
# day's attestation ends there.
yesterday=$(date -u -d yesterday +%F)
check_eq "suspension from today: open the day before, until that day" \
	"$(tp eligibility --member "${P}00005" --date "$yesterday" | jq -c '[.rights_open, .valid_to]')" \
	"[true,\"$yesterday\"]"

# ---- PostgreSQL sessions cut (a restarted server, an idle session killed) -------------------
cut=$(sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'tpgate'")
check "database cut: the front doors' sessions ended (main and key checks)" test "$cut" -ge 4
# At once, no retry: the key check finds its session cut and connects again.
check_eq "database cut: the first new client is let in (key checked) and served" \
	"$(tp status --invoice-id "$INV-1" | jq -r .status)" paid
# The second door gets no traffic: it must notice and reconnect by itself.
sessions() { [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tpgate'")" -ge 4 ]; }
check "database cut: both front doors connected again, idle or not" wait_for 15 sessions
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/health")" = 200 ]; }
check "database cut: both front doors healthy" wait_for 15 bash -c "$(declare -f healthy); healthy 9193 && healthy 9195"

# ---- hostile clients ---------------------------------------------------------------------
PROBE_KEYS_A="$A_PUB $A_SEC" PROBE_KEYS_B="$B_PUB $B_SEC" PROBE_KEYS_REVOKED="$REVOKED_PUB $REVOKED_SEC" \
	PROBE_KEYS_UNKNOWN="$UNKNOWNKEY_PUB $UNKNOWNKEY_SEC" PROBE_MEMBER="$COVERED" \
	PROBE_KEYS_ROTATED="$ROTATED_PUB $ROTATED_SEC" \
	PROBE_ROTATE="'$BIN/claimctl' tp register --kind RPPS --id '$PRO_K' --public-key '$ROTATED_NEW_PUB' >/dev/null 2>&1" \
	PROBE_SESSION_TTL=4 PROBE_RATE_LIMIT=50 \
	"$(dirname "$BIN")/tests/integration/probe_tpgate" >"$TEST_LOGS/tp-probe.out" 2>>"$LOG"
while IFS= read -r line; do
	case $line in
	"ok "*) pass "probe: ${line#ok }" ;;
	"not ok "*) fail "probe: ${line#not ok }" "see $TEST_LOGS/tp-probe.out" ;;
	esac
done <"$TEST_LOGS/tp-probe.out"
check "probe: ran to the end" grep -q '^[0-9]* passed' "$TEST_LOGS/tp-probe.out"
# Refused keys are remembered a while: retried handshakes are refused
# without a query or a log line each.
refusals=$(curl -s http://127.0.0.1:9193/metrics | awk '$1 == "tpgate_handshakes_total{result=\"refused\"}" { print $2 }')
check "keys: refused handshakes counted (got ${refusals:-none})" test "${refusals:-0}" -ge 3
check_eq "keys: an unknown key retrying is logged once" \
	"$(grep -c 'tiers-payant connection refused: unknown key' "$LOG")" 1
check "front door still running after the probe" kill -0 "$TPGATE_PID"
check_eq "a normal request after the probe" "$(tp eligibility --member "$COVERED" | jq .rights_open)" true
# Registering again (a new key, an ended agreement) ends the sessions
# opened before: they are checked in Redis only.
check "register again: the sessions opened before are ended" \
	bash -c "'$BIN/claimctl' tp register --kind RPPS --id '$PRO_A' --public-key '$A_PUB' --name 'Pharmacie du test' --profession pharmacie | grep -q 'previous session(s) ended'"
check_eq "register again: served with a new session" "$(tp eligibility --member "$COVERED" | jq .rights_open)" true
# A Redis restarted empty has lost the admission script: loaded again.
redis-cli -u "$CLAIMS_REDIS_URL" SCRIPT FLUSH >/dev/null
check_eq "Redis without the admission script: loaded again" \
	"$(tp eligibility --member "$COVERED" | jq .rights_open)" true

# ---- graceful stop -----------------------------------------------------------------------
stop_daemon "$TPGATE_PID"
check_eq "SIGTERM: front door exits 0" "$?" 0

report
