#!/usr/bin/env bash
# test_contracts.sh - claimctl contract against the real database, and
# the smaller operator commands mended with it
#
#  - terminate twice: a later end date refused without --extend (the
#    cover it would re-open), accepted with it; the reason kept when
#    none is given; terminated_at kept; an earlier date accepted;
#  - every change audited (actor, action, the contract before and after)
#    and announced (contracts.changed), a refused one neither;
#  - a member with a renewal: --contract ends the contract before it,
#    the renewal is named on stderr, and cancelled (an end date before
#    its start ends it on its start); intake then refuses care after the
#    first contract's end NOT_COVERED; --contract of another member is
#    refused;
#  - an end date that would overlap another contract refused; a
#    cancelled contract overlaps nothing; migration 024's CHECK;
#  - two operators at once on one member: the second picks its contract
#    from what the first made;
#  - Redis unreachable: the change stands, said on stderr;
#  - outbox retry of an id named twice, outbox refused --limit 0;
#  - claimctl simulate into a full disk exits 1.
source "$(dirname "$0")/../lib.sh"

P="1${RUN_ID: -5}" # membership-number prefix of this run
LOG="$TEST_LOGS/contracts-$RUN_ID.log"
export CLAIMS_OPERATOR="contracts-test-$RUN_ID"
ENDPOINT=tcp://127.0.0.1:5751 # an intake of this test's own

# ctl ARGS...: claimctl ARGS, its stdout in OUT, its stderr in ERR (and
# the log), its exit status in RC
ctl() {
	local errf="$TEST_LOGS/contracts-$RUN_ID.err"
	OUT=$("$BIN/claimctl" "$@" 2>"$errf")
	RC=$?
	ERR=$(cat "$errf")
	{
		echo "\$ claimctl $* -> $RC"
		echo "$OUT"
		echo "$ERR"
	} >>"$LOG"
}

# contracts MEMBER: the member's contract ids, oldest first
contracts() {
	sql "SELECT string_agg(c.contract_id::text, ' ' ORDER BY c.start_date, c.contract_id)
		FROM contracts c JOIN members m USING (member_id) WHERE m.membership_number = '$1'"
}

# state ID: status, end date and reason of a contract
state() {
	sql "SELECT status || ' ' || coalesce(end_date::text, '-') || ' ' || coalesce(termination_reason, '-')
		FROM contracts WHERE contract_id = $1"
}

# renewal MEMBER START: a second contract of the member (ESSENTIEL,
# active) from START (an SQL date), its id printed
renewal() {
	sql "INSERT INTO contracts (member_id, formula_code, amc_number, status, start_date)
	SELECT member_id, 'ESSENTIEL', '75500017', 'active', $2
	FROM members WHERE membership_number = '$1' RETURNING contract_id"
}

# audited ID: the actions audited for contract ID, in order
audited() {
	sql "SELECT coalesce(string_agg(action, ' ' ORDER BY audit_id), '')
		FROM audit_log WHERE entity = 'contract' AND entity_id = '$1'"
}

# ---- the simulator: no server needed ---------------------------------------------
# A result bigger than stdio's buffer: the write that fails is inside
# fputs, and the flush after it has nothing left to fail on.
jq '.lines = [range(0; 40) as $i | .lines[0] | .id = "L\($i)"]' \
	tests/vectors/01_gp_consultation_100pct.in.json >"$TEST_LOGS/contracts-simulate.json"
"$BIN/claimctl" simulate <"$TEST_LOGS/contracts-simulate.json" >/dev/null 2>>"$LOG"
check_eq "simulate: the request computes (exit 0)" "$?" 0
"$BIN/claimctl" simulate <"$TEST_LOGS/contracts-simulate.json" >/dev/full 2>>"$LOG"
check_eq "simulate: a result not written whole (a full disk) exits 1" "$?" 1
"$BIN/claimctl" simulate <tests/vectors/01_gp_consultation_100pct.in.json >/dev/full 2>>"$LOG"
check_eq "simulate: ... a small one too" "$?" 1

# ---- outbox: before any relay runs here, so that nothing takes the rows -----------
# Two events set aside, of a topic of their own.
aside() {
	sql "INSERT INTO outbox (message_id, topic, key, msg_type, payload, refused_at, refusal)
	     VALUES (gen_random_uuid(), 'contracts-test.$RUN_ID', '$1', 3, '\\x00', now(), 'test')
	     RETURNING event_id"
}
E1=$(aside one)
E2=$(aside two)
total=$(sql "SELECT count(*) FROM outbox WHERE refused_at IS NOT NULL")
ctl outbox refused --limit 0
check_eq "outbox refused --limit 0: exit 0" "$RC" 0
check_eq "outbox refused --limit 0: lists none, counts them all" "$OUT" "$total refused"
check "outbox refused --limit 0: ... and says the list was cut" \
	grep -q "^claimctl outbox refused: $total refused in all, the first 0 listed" <<<"$ERR"
ctl outbox refused --limit 1
check_eq "outbox refused --limit 1: one listed, all counted" \
	"$(grep -c ' bytes refused ' <<<"$OUT") $(tail -n 1 <<<"$OUT")" "1 $total refused"
ctl outbox retry "$E1" "$E1"
check_eq "outbox retry of an id named twice: put back once, exit 0" \
	"$RC $OUT" "0 1 event(s) put back for the relay"
ctl outbox retry "$E2" "0$E2"
check_eq "outbox retry: 0$E2 is $E2" "$RC $OUT" "0 1 event(s) put back for the relay"
check_eq "outbox retry: ... both queued again" \
	"$(sql "SELECT count(*) FROM outbox_queue WHERE event_id IN ($E1, $E2)")" 2
ctl outbox retry "$E1" 999999999999 999999999999
check_eq "outbox retry: an unknown id named twice is one id not refused (exit 1)" "$RC" 1
check "outbox retry: ... said so" grep -q "2 of the 2 ids named were not refused" <<<"$ERR"
sql "DELETE FROM outbox_queue WHERE event_id IN ($E1, $E2);
     DELETE FROM outbox WHERE event_id IN ($E1, $E2)" >/dev/null

# ---- migration 024 ------------------------------------------------------------------
check_eq "migration 024: the CHECK end_date > start_date is gone" \
	"$(sql "SELECT count(*) FROM pg_constraint WHERE conrelid = 'contracts'::regclass
		AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%end_date > start_date%'")" 0
check_eq "migration 024: ... replaced by end_date >= start_date" \
	"$(sql "SELECT count(*) FROM pg_constraint WHERE conrelid = 'contracts'::regclass
		AND conname = 'contracts_end_not_before_start'")" 1

# ---- a termination recorded late ----------------------------------------------------
# Claims paid to the member for care after the new end, decided before
# it was recorded (a death reported weeks later): they stay decided, and
# the command lists them, with their payments, for the treasury.
create_members "${P}7" 1 CONFORT
M7="${P}700001"
A7=$(contracts "$M7")
B7=$(sql "SELECT beneficiary_id FROM beneficiaries WHERE contract_id = $A7")
late_claim() { # late_claim N DAY PAYMENT_STATUS: a decided claim of care on DAY
	local id
	id=$(printf '01900000-0000-7000-8000-%012d' "$((10#${RUN_ID: -6} * 10 + $1))")
	sql "INSERT INTO claims (claim_id, source, source_kind, external_id, contract_id,
	       beneficiary_id, payee, status, decided_at)
	     VALUES ('$id', 'late-$RUN_ID', 'amo', 'L$1', $A7, $B7, 'member', 'complete', now());
	     INSERT INTO claim_lines (claim_id, line_no, category, care_date, quantity,
	       charged_cents, brss_cents, amo_rate)
	     VALUES ('$id', 1, 'CONSULT_GP', '$2', 1, 3000, 3000, 70);
	     INSERT INTO payments (claim_id, payee, payee_ref, amount_cents)
	     VALUES ('$id', 'member', '$M7', 900)" >/dev/null
	echo "$id"
}
before_end=$(late_claim 1 2026-02-10)
after_end=$(late_claim 2 2026-03-20)
ctl contract terminate --member "$M7" --end-date 2026-03-01 --reason deces
check_eq "late termination: exit 0" "$RC" 0
check "late termination: the claims decided for care after the end are named" \
	grep -q "note: 1 claim(s) paid to member $M7 were decided before this change for care on or after 2026-03-01" <<<"$ERR"
check "late termination: ... each with its payment" \
	grep -q "note:   claim $after_end, care from 2026-03-20, payment pending 900" <<<"$ERR"
check "late termination: ... not the claims before the end" \
	bash -c "! grep -q '$before_end' <<<'$ERR'"
# Its answer not written (a full disk): exit 1, saying the change is made.
"$BIN/claimctl" contract suspend --member "$M7" --from 2026-02-20 >/dev/full 2>"$TEST_LOGS/contracts-full-$RUN_ID.err"
check_eq "an answer not written: exit 1" "$?" 1
check "... saying the change is made" \
	grep -q "the change is made (contract $A7 of member $M7: suspended" "$TEST_LOGS/contracts-full-$RUN_ID.err"

# ---- terminate twice -----------------------------------------------------------------
ctl contract --help
check "contract --help tells of --contract, --extend and --cancel" \
	grep -q -- "--extend] \[--cancel] \[--contract ID\]" <<<"$OUT"
create_members "${P}1" 1 CONFORT
M1="${P}100001"
A1=$(contracts "$M1")
ctl contract terminate --member "$M1" --end-date 2026-03-01 --reason deces
check_eq "terminate: exit 0" "$RC" 0
check_eq "terminate: said" "$OUT" "contract $A1 of member $M1: terminated until 2026-03-01"
check_eq "terminate: recorded" "$(state "$A1")" "terminated 2026-03-01 deces"
first_at=$(sql "SELECT terminated_at FROM contracts WHERE contract_id = $A1")
ctl contract terminate --member "$M1" --end-date 2026-12-31
check_eq "terminate again, later: refused (exit 1)" "$RC" 1
check "terminate again, later: ... naming the end date it has" \
	grep -q "contract $A1 of member $M1 already ends on 2026-03-01; .* give --extend" <<<"$ERR"
check_eq "terminate again, later: ... and nothing changed" "$(state "$A1")" "terminated 2026-03-01 deces"
ctl contract terminate --member "$M1" --end-date 2026-03-01
check_eq "terminate again, the same day (a retry): exit 0" "$RC" 0
check_eq "terminate again, the same day: the reason kept" "$(state "$A1")" "terminated 2026-03-01 deces"
ctl contract terminate --member "$M1" --end-date 2026-02-15
check_eq "terminate again, earlier: accepted, the reason kept" "$RC $(state "$A1")" \
	"0 terminated 2026-02-15 deces"
ctl contract terminate --member "$M1" --end-date 2026-12-31 --extend
check_eq "terminate again, later with --extend: accepted, the reason kept" "$RC $(state "$A1")" \
	"0 terminated 2026-12-31 deces"
ctl contract terminate --member "$M1" --end-date 2026-12-31 --reason demission
check_eq "terminate again with --reason: the reason replaced" "$RC $(state "$A1")" \
	"0 terminated 2026-12-31 demission"
check_eq "terminate again: terminated_at is still the first termination's" \
	"$(sql "SELECT terminated_at FROM contracts WHERE contract_id = $A1")" "$first_at"
ctl contract suspend --member "$M1" --extend
check_eq "--extend on suspend is refused (exit 2)" "$RC" 2
ctl contract reactivate --member "$M1" --cancel
check_eq "--cancel on reactivate is refused (exit 2)" "$RC" 2
ctl contract terminate --member "$M1" --end-date 2026-12-31 --reason
check_eq "a value forgotten is refused (exit 2)" "$RC" 2
# Audited and announced, each change once; the refused one neither.
check_eq "audit: one row per change" "$(audited "$A1")" \
	"terminate terminate terminate terminate terminate"
check_eq "audit: the operator named" \
	"$(sql "SELECT string_agg(DISTINCT actor, ',') FROM audit_log
		WHERE entity = 'contract' AND entity_id = '$A1'")" "$CLAIMS_OPERATOR"
check_eq "audit: the first, before and after" \
	"$(sql "SELECT concat_ws(' ', detail->>'member', detail->'before'->>'status',
		coalesce(detail->'before'->>'end_date', '-'), detail->'after'->>'status',
		detail->'after'->>'end_date', detail->'after'->>'termination_reason')
		FROM audit_log WHERE entity = 'contract' AND entity_id = '$A1'
		ORDER BY audit_id LIMIT 1")" "$M1 active - terminated 2026-03-01 deces"
check_eq "audit: the extension, before and after" \
	"$(sql "SELECT (detail->'before'->>'end_date') || ' ' || (detail->'after'->>'end_date')
		FROM audit_log WHERE entity = 'contract' AND entity_id = '$A1'
		ORDER BY audit_id OFFSET 3 LIMIT 1")" "2026-02-15 2026-12-31"
check_eq "contracts.changed: one event per change" \
	"$(sql "SELECT count(*) FROM outbox WHERE topic = 'contracts.changed' AND key = '$A1'")" 5
# A first termination without a reason: résiliation.
create_members "${P}2" 1 CONFORT
M2="${P}200001"
A2=$(contracts "$M2")
ctl contract terminate --member "$M2" --end-date 2026-06-01
check_eq "terminate without --reason: résiliation" "$(state "$A2")" "terminated 2026-06-01 résiliation"

# ---- suspend and reactivate: audited; Redis away ------------------------------------
CLAIMS_REDIS_URL=redis://127.0.0.1:9 ctl contract suspend --member "$M2" --from 2026-05-01
check_eq "Redis unreachable: the suspension stands (exit 0)" \
	"$RC $(sql "SELECT status || ' ' || suspended_from FROM contracts WHERE contract_id = $A2")" \
	"0 suspended 2026-05-01"
check "Redis unreachable: ... said on stderr" \
	grep -q "the change is committed, but Redis could not be reached to drop the cached rights of member $M2" <<<"$ERR"
ctl contract reactivate --member "$M2"
check_eq "reactivate: terminated again, at its end date" "$RC $(state "$A2")" \
	"0 terminated 2026-06-01 résiliation"
check_eq "audit: terminate, suspend, reactivate" "$(audited "$A2")" "terminate suspend reactivate"
check_eq "audit: the suspension's first day, before and after" \
	"$(sql "SELECT coalesce(detail->'before'->>'suspended_from', '-') || ' '
		|| (detail->'after'->>'suspended_from') || ' ' || (detail->'after'->>'status')
		FROM audit_log WHERE entity = 'contract' AND entity_id = '$A2' AND action = 'suspend'")" \
	"- 2026-05-01 suspended"
ctl contract reactivate --member "$M2"
check_eq "reactivate a contract not suspended: refused (exit 1), not audited" \
	"$RC $(audited "$A2")" "1 terminate suspend reactivate"

# ---- a member with a renewal ------------------------------------------------------------
# Contract A until 1 January, B from then (change_contract). A death on
# 20 December, recorded once B was in force: A is ended with --contract,
# and B, which the member never used, is cancelled.
create_members "${P}3" 1 CONFORT
M3="${P}300001"
check "renewal: contract A ends, B begins on 1 January" change_contract "$M3"
read -r A3 B3 <<<"$(contracts "$M3")"
ctl contract terminate --member "$M3" --contract "$A3" --end-date 2025-12-20 --reason deces
check_eq "renewal: --contract A ends A" "$RC $(state "$A3")" "0 terminated 2025-12-20 deces"
check_eq "renewal: ... and leaves B as it was" "$(state "$B3")" "active - -"
check "renewal: ... naming B on stderr, which still covers the member" \
	grep -q "note: contract $B3 (from 2026-01-01) still covers member $M3 on and after 2025-12-20: terminate it too with --contract $B3 if the member has left" <<<"$ERR"
ctl contract terminate --member "$M3" --contract "$B3" --end-date 2025-12-20
check_eq "cancellation: B has begun: refused without --cancel (exit 1)" "$RC $(state "$B3")" "1 active - -"
check "cancellation: ... said, naming --cancel" grep -q "which has begun: it would be cancelled.*give --cancel" <<<"$ERR"
ctl contract terminate --member "$M3" --contract "$B3" --end-date 2025-12-20 --cancel
check_eq "cancellation: an end date before B's start: exit 0" "$RC" 0
check_eq "cancellation: ... said" "$OUT" \
	"contract $B3 of member $M3: terminated until 2026-01-01, its start: cancelled, it covers no day"
check_eq "cancellation: B ends on its start" "$(state "$B3")" "terminated 2026-01-01 résiliation"
check_eq "cancellation: ... and no other contract covers the member after" \
	"$(grep -c 'note:' <<<"$ERR")" 0
check_eq "cancellation: audited" "$(audited "$B3")" "terminate"
sql "UPDATE contracts SET end_date = start_date - 1 WHERE contract_id = $B3" >/dev/null 2>&1
check_eq "cancellation: an end before the start is still refused by the database" \
	"$(state "$B3")" "terminated 2026-01-01 résiliation"
# Another member's contract, or none.
ctl contract terminate --member "$M3" --contract "$A1" --end-date 2025-12-20
check_eq "--contract of another member: refused (exit 1)" "$RC" 1
check "--contract of another member: ... listing the member's" \
	grep -q "contract $A1 is not one of member $M3's (theirs: $A3 (from 2025-01-01), $B3 (from 2026-01-01))" <<<"$ERR"
check_eq "--contract of another member: ... and nothing changed" "$(state "$A1") $(audited "$A1")" \
	"terminated 2026-12-31 demission terminate terminate terminate terminate terminate"
ctl contract suspend --member "${P}399999"
check_eq "a member without a contract: refused (exit 1)" "$RC" 1
check "a member without a contract: ... said" grep -q "member ${P}399999 has no contract" <<<"$ERR"
ctl contract suspend --member "$M3" --contract 12x
check_eq "--contract that is not a number: exit 2" "$RC" 2

# Care after A's end: no contract covers it, B cancelled.
start_daemon intake "$LOG" CLAIMS_METRICS_ADDR= CLAIMS_INTAKE_ENDPOINT=$ENDPOINT
SC="contracts-$RUN_ID"
for d in 2025-12-25 2026-01-10; do
	printf '{"source":"%s","external_id":"%s","membership_number":"%s","lines":[%s]}\n' "$SC" "$d" "$M3" \
		"{\"category\":\"PHARMA\",\"care_date\":\"$d\",\"quantity\":2,\"charged_cents\":1200,\"brss_cents\":1200,\"amo_rate\":65}"
done >"$TEST_LOGS/contracts-ended.json"
out=$("$BIN/claimctl" submit --sync --endpoint "$ENDPOINT" "$TEST_LOGS/contracts-ended.json" 2>>"$LOG")
check_eq "intake: submitted (exit 0)" "$?" 0
check "intake: care after A's end refused NOT_COVERED" \
	grep -q "^2025-12-25 rejected NOT_COVERED lines\[0\].care_date" <<<"$out"
check "intake: care under the cancelled B refused NOT_COVERED" \
	grep -q "^2026-01-10 rejected NOT_COVERED lines\[0\].care_date" <<<"$out"

# ---- overlaps ------------------------------------------------------------------------------
# A renewal recorded in advance, from 1 June, while A runs on: A may end
# on 1 June at the latest.
create_members "${P}4" 1 CONFORT
M4="${P}400001"
A4=$(contracts "$M4")
B4=$(renewal "$M4" "date '2026-06-01'")
ctl contract terminate --member "$M4" --contract "$A4" --end-date 2026-09-01
check_eq "overlap: an end date after the renewal's start refused (exit 1)" "$RC" 1
check "overlap: ... naming the renewal and its start" \
	grep -q "would leave contract $A4 of member $M4 overlapping contract $B4 (from 2026-06-01, until no end)" <<<"$ERR"
check_eq "overlap: ... and nothing changed" "$(state "$A4") $(audited "$A4")" "active - - "
ctl contract terminate --member "$M4" --contract "$A4" --end-date 2026-06-01
check_eq "overlap: A ended on the renewal's start" "$RC $(state "$A4")" "0 terminated 2026-06-01 résiliation"
check "overlap: ... the renewal named on stderr" \
	grep -q "note: contract $B4 (from 2026-06-01) still covers member $M4 on and after 2026-06-01: terminate it too with --contract $B4" <<<"$ERR"
ctl contract terminate --member "$M4" --contract "$A4" --end-date 2026-09-01 --extend
check_eq "overlap: --extend does not make it one (exit 1)" "$RC $(state "$A4")" \
	"1 terminated 2026-06-01 résiliation"
ctl contract terminate --member "$M4" --contract "$B4" --end-date 2026-06-01 --cancel
check_eq "overlap: the renewal cancelled (an end date on its start)" "$RC $(state "$B4")" \
	"0 terminated 2026-06-01 résiliation"
check "overlap: ... said cancelled" grep -q ", its start: cancelled, it covers no day$" <<<"$OUT"
ctl contract terminate --member "$M4" --contract "$A4" --end-date 2026-09-01 --extend
check_eq "overlap: a cancelled contract overlaps nothing: A extended" "$RC $(state "$A4")" \
	"0 terminated 2026-09-01 résiliation"
check_eq "overlap: ... without a note (the renewal covers no day)" "$(grep -c 'note:' <<<"$ERR")" 0
# The renewal re-opened (--extend) over A, which began before it: the
# overlap is refused whichever began first.
ctl contract terminate --member "$M4" --contract "$B4" --end-date 2027-01-01 --extend
check_eq "overlap: the cancelled renewal re-opened over A refused (exit 1)" "$RC $(state "$B4")" \
	"1 terminated 2026-06-01 résiliation"
check "overlap: ... naming A, which began before it" \
	grep -q "overlapping contract $A4 (from 2025-01-01, until 2026-09-01)" <<<"$ERR"

# ---- two operators at once ------------------------------------------------------------
# One ends contract A today, its transaction still open, while another
# suspends the member's contract without naming it: the second waits for
# the first, then picks from what the first made (A ended, so the renewal
# B), as if it had run after it; not A, the contract in force when it
# began waiting.
create_members "${P}5" 1 CONFORT
M5="${P}500001"
A5=$(contracts "$M5")
B5=$(renewal "$M5" "current_date + 30")
PGAPPNAME="operator_one_$RUN_ID" psql -X -q "$CLAIMS_PG_DSN" -c "BEGIN;
	SELECT 1 FROM members WHERE membership_number = '$M5' FOR NO KEY UPDATE;
	UPDATE contracts SET status = 'terminated', end_date = current_date,
	  termination_reason = 'résiliation', terminated_at = now() WHERE contract_id = $A5;
	SELECT pg_sleep(3); COMMIT" >/dev/null 2>>"$LOG" &
first=$!
check "two operators: the first's change made, not committed" wait_for 10 bash -c \
	"[ \"\$(psql -X -At '$CLAIMS_PG_DSN' -c \"SELECT count(*) FROM pg_stat_activity
	  WHERE application_name = 'operator_one_$RUN_ID' AND wait_event = 'PgSleep'\")\" = 1 ]"
ctl contract suspend --member "$M5"
wait "$first"
check_eq "two operators: the second's suspension done (exit 0)" "$RC" 0
check_eq "two operators: ... on the renewal, A left as the first made it" \
	"$(sql "SELECT string_agg(status, ' ' ORDER BY start_date) FROM contracts
	  WHERE contract_id IN ($A5, $B5)")" "terminated suspended"

report
