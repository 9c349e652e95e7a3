#!/usr/bin/env bash
# test_duplicates.sh - claimctl duplicates: the same care paid under two
# claims, found across keys and sources
#
#  - a claim repeating another's care (same person, day, category, act,
#    quantity, amounts) under another key is a suspect, its first claim
#    named, with its payment's state; exit 1;
#  - care that differs in amount, day or person, or with two different
#    professionals, is not; one professional unknown on one side is;
#  - a third copy names the first claim; a claim and its complement are
#    not duplicates;
#  - --hold: the pending suspects' payments held for their first claim,
#    audited, once;
#  - clear: audited, once; the claim no longer listed; a claim that does
#    not exist refused (exit 1); bad usage exit 2; the database away
#    exit 3;
#  - the scope: --member, --since, an unknown member.
source "$(dirname "$0")/../lib.sh"

P="5${RUN_ID: -5}" # membership-number prefix of this run
LOG="$TEST_LOGS/duplicates-$RUN_ID.log"
export CLAIMS_OPERATOR="duplicates-test-$RUN_ID"
create_members "$P" 2 CONFORT
M1=${P}00001 M2=${P}00002

start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9191
start_daemon reimburse "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9192

CONSULT='{"line_ref":"1","act_code":"G","category":"CONSULT_GP","care_date":"2026-03-10","charged_cents":3000,"brss_cents":3000,"amo_rate":70}'
NO_BRSS='{"line_ref":"1","act_code":"G","category":"CONSULT_GP","care_date":"2026-03-10","charged_cents":3000,"amo_rate":70}'
PHARMA='{"line_ref":"2","category":"PHARMA","care_date":"2026-03-10","quantity":2,"charged_cents":1200,"brss_cents":1200,"amo_rate":65}'
# claim SOURCE EXTERNAL_ID MEMBER LINE...: one claim as a JSON line
claim() {
	local source=$1 external=$2 member=$3 lines
	shift 3
	lines=$(
		IFS=,
		echo "$*"
	)
	printf '{"source":"%s-%s","source_kind":"amo","external_id":"%s","membership_number":"%s","lines":[%s]}\n' \
		"$source" "$RUN_ID" "$external" "$member" "$lines"
}
# send FILE: its claims sent, waited for until decided with all sent
# before them (SENT counts them)
SENT=0
send() {
	SENT=$((SENT + $(wc -l <"$1")))
	"$BIN/claimctl" submit "$1" >>"$LOG" 2>&1 || fail "fixture: submit $1" "refused"
	wait_for 60 bash -c "[ \"\$(psql -X -At '$CLAIMS_PG_DSN' -c \"SELECT count(*) FROM claims
		WHERE source LIKE '%-$RUN_ID' AND status = 'complete'\")\" -ge $SENT ]" ||
		fail "fixture: $SENT claims decided" "not in time"
}
id_of() { sql "SELECT claim_id FROM claims WHERE source = '$1-$RUN_ID' AND external_id = '$2'"; }
dups() { "$BIN/claimctl" duplicates "$@" 2>>"$LOG"; }

# The first claim, then the others: the order they are received in.
claim amo A1 "$M1" "$CONSULT" "$PHARMA" >"$TEST_LOGS/dup-first.json"
send "$TEST_LOGS/dup-first.json"
{
	claim tp B1 "$M1" "$CONSULT"                          # the consultation again
	claim amo C1 "$M1" "${CONSULT/3000,\"brss/3500,\"brss}" # charged otherwise
	claim amo D1 "$M2" "$CONSULT"                         # another person
	claim amo E1 "$M1" "${CONSULT/03-10/03-11}"           # another day
	claim amo H1 "$M1" "${CONSULT/03-10/04-02}"           # two professionals, below
	claim amo H2 "$M1" "${CONSULT/03-10/04-02}"
	claim amo J1 "$M2" "${NO_BRSS/03-10/05-05}" # the BRSS left to the act's tariff
} >"$TEST_LOGS/dup-others.json"
send "$TEST_LOGS/dup-others.json"
A1=$(id_of amo A1) B1=$(id_of tp B1) H1=$(id_of amo H1) H2=$(id_of amo H2)
check "fixtures: the claims decided, each paid" test "$(sql "SELECT count(*) FROM payments p
	JOIN claims c USING (claim_id) WHERE c.source LIKE '%-$RUN_ID'")" = 8
sql "INSERT INTO professionals (id_kind, id_value, name, profession)
	VALUES ('RPPS', '1$RUN_ID', 'Dr One', 'generaliste'), ('RPPS', '2$RUN_ID', 'Dr Two', 'generaliste')" >/dev/null
pro() { sql "SELECT professional_id FROM professionals WHERE id_kind = 'RPPS' AND id_value = '$1$RUN_ID'"; }
sql "UPDATE claims SET professional_id = $(pro 1) WHERE claim_id IN ('$H1', '$A1');
     UPDATE claims SET professional_id = $(pro 2) WHERE claim_id = '$H2'" >/dev/null

out=$(dups --member "$M1" --days 1)
check_eq "duplicates: a suspect found (exit 1)" "$?" 1
check_eq "duplicates: the consultation of another key, its first claim named, its payment pending; nothing else" \
	"$(grep -v '^in scope' <<<"$out")" \
	"$B1 1 repeats $A1 1: 2026-03-10 CONSULT_GP G x1 charged 3000, AMC $(sql "SELECT amc_cents FROM decisions
		WHERE claim_id = '$B1'") (first paid $(sql "SELECT amc_cents FROM decisions WHERE claim_id = '$A1'
		AND line_no = 1")), payment pending
1 suspected duplicate(s)"
check_eq "duplicates: the scope said first" "$(head -n 1 <<<"$out")" "in scope: 6 claims, 1 beneficiaries"
out=$(dups --member "$M2" --days 1)
check_eq "duplicates: the other person's copy is no suspect (exit 0)" "$?:${out##*$'\n'}" "0:0 suspected duplicate(s)"
# A sender may leave the BRSS out (priced from the act's tariff): the
# same care with and without it, and twice without, are suspects.
claim tp J2 "$M2" "${CONSULT/03-10/05-05}" >"$TEST_LOGS/dup-brss.json"
claim tp J3 "$M2" "${NO_BRSS/03-10/05-05}" >>"$TEST_LOGS/dup-brss.json"
send "$TEST_LOGS/dup-brss.json"
J1=$(id_of amo J1)
out=$(dups --member "$M2" --days 1)
check_eq "duplicates: the BRSS given on one side only, or on neither: suspects, the first claim named" \
	"$(grep -c " repeats $J1 1: 2026-05-05 CONSULT_GP G " <<<"$out")" 2
sql "UPDATE claims SET professional_id = NULL WHERE claim_id = '$H2'" >/dev/null
# (H1 and H2 came in one batch, at one time: either may be named first)
check "duplicates: a professional unknown on one side: a suspect" \
	grep -Eq "^($H2 1 repeats $H1|$H1 1 repeats $H2) 1: 2026-04-02 " <<<"$(dups --member "$M1" --days 1)"
sql "UPDATE claims SET professional_id = $(pro 2) WHERE claim_id = '$H2'" >/dev/null

# A third copy names the first claim; a complement of the first is not
# its duplicate (it still repeats the second).
claim amo G1 "$M1" "$CONSULT" >"$TEST_LOGS/dup-third.json"
send "$TEST_LOGS/dup-third.json"
G1=$(id_of amo G1)
check "duplicates: a third copy names the first claim" \
	grep -q "^$G1 1 repeats $A1 1: " <<<"$(dups --member "$M1" --days 1)"
sql "INSERT INTO claim_complements (claim_id, complement_id, actor) VALUES ('$A1', '$G1', 'test')" >/dev/null
check "duplicates: ... made the first's complement, it repeats the second" \
	grep -q "^$G1 1 repeats $B1 1: " <<<"$(dups --member "$M1" --days 1)"
sql "DELETE FROM claim_complements WHERE complement_id = '$G1'" >/dev/null

# ---- --hold ----------------------------------------------------------------------------
# L1 repeats both lines of L0: two suspect lines, one payment.
claim amo L0 "$M1" "${CONSULT/03-10/07-07}" "${PHARMA/03-10/07-07}" >"$TEST_LOGS/dup-hold.json"
send "$TEST_LOGS/dup-hold.json"
claim amo L1 "$M1" "${CONSULT/03-10/07-07}" "${PHARMA/03-10/07-07}" >"$TEST_LOGS/dup-hold.json"
send "$TEST_LOGS/dup-hold.json"
L1=$(id_of amo L1)
out=$(CLAIMS_OPERATOR="controller-$RUN_ID" dups --member "$M1" --days 1 --hold)
check_eq "--hold: suspects listed (exit 1)" "$?" 1
check_eq "--hold: each pending suspect's payment held, once a claim (two lines, one hold)" \
	"$(grep -E '^[0-9a-f-]{36} (held [0-9]+|not held.*)$' <<<"$out" | cut -d' ' -f1-2 | sort)" \
	"$(printf '%s held\n%s held\n%s held\n' "$B1" "$G1" "$L1" | sort)"
check_eq "--hold: ... for the first claim, audited with the operator" \
	"$(sql "SELECT p.status, p.hold_reason, a.actor FROM payments p JOIN audit_log a
		ON a.entity = 'payment' AND a.entity_id = p.payment_id::text AND a.action = 'hold'
		WHERE p.claim_id = '$B1'")" "held|suspected duplicate of $A1|controller-$RUN_ID"
out=$(dups --member "$M1" --days 1 --hold)
check "--hold: again, the suspects listed held, nothing more held" \
	test "$(grep -c " held [0-9]*$" <<<"$out"):$(grep -c "^$B1 1 repeats $A1 1: .*, payment held$" <<<"$out")" = 0:1

# ---- clear -----------------------------------------------------------------------------
out=$("$BIN/claimctl" duplicates clear --reason "two prescriptions, checked" "$B1" "$G1")
check_eq "clear: each claim cleared (exit 0)" "$?:$out" "0:$B1 cleared
$G1 cleared"
"$BIN/claimctl" duplicates clear --reason "duplicate of L0, held" "$L1" >>"$LOG"
check_eq "clear: audited with its reason and operator" \
	"$(sql "SELECT count(*), min(actor), min(detail->>'reason') FROM audit_log
		WHERE action = 'duplicate_cleared' AND entity = 'claim' AND entity_id IN ('$B1', '$G1')")" \
	"2|$CLAIMS_OPERATOR|two prescriptions, checked"
check "clear: claimctl claim shows it in the claim's history" \
	grep -q " duplicate_cleared by $CLAIMS_OPERATOR: two prescriptions, checked\$" <<<"$("$BIN/claimctl" claim "$B1")"
out=$(dups --member "$M1" --days 1)
check_eq "clear: no longer listed; none left (exit 0)" "$?:${out##*$'\n'}" "0:0 suspected duplicate(s)"
# A line, not the whole claim: K1 repeats both lines of K0; its first
# line cleared, its second is still listed.
claim amo K0 "$M1" "${CONSULT/03-10/06-06}" "${PHARMA/03-10/06-06}" >"$TEST_LOGS/dup-lines.json"
send "$TEST_LOGS/dup-lines.json"
claim amo K1 "$M1" "${CONSULT/03-10/06-06}" "${PHARMA/03-10/06-06}" >"$TEST_LOGS/dup-lines.json"
send "$TEST_LOGS/dup-lines.json"
K0=$(id_of amo K0) K1=$(id_of amo K1)
check_eq "clear a line: both of K1's lines suspects first" \
	"$(dups --member "$M1" --days 1 | grep -c "^$K1 [12] repeats $K0 [12]: ")" 2
check_eq "clear a line: CLAIM/LINE cleared, once" \
	"$("$BIN/claimctl" duplicates clear --reason "line 1 seen" "$K1/1" "$K1/1")" "$K1/1 cleared
$K1/1 already cleared"
check_eq "clear a line: ... the other line still listed" \
	"$(dups --member "$M1" --days 1 | grep "^$K1 " | cut -d' ' -f1-4)" "$K1 2 repeats $K0"
out=$("$BIN/claimctl" duplicates clear --reason x "$K1/9" 2>>"$LOG")
check_eq "clear a line: a line the claim has not is refused (exit 1)" "$?:$out" "1:$K1/9 refused no such line"
check_eq "clear a line: the whole claim after one line: cleared; its lines then already" \
	"$("$BIN/claimctl" duplicates clear --reason "all seen" "$K1" "$K1/2")" "$K1 cleared
$K1/2 already cleared"
check_eq "clear a line: ... none of K1 listed" "$(dups --member "$M1" --days 1 | grep -c "^$K1 ")" 0
check "clear a line: claimctl claim names the line" \
	grep -q " duplicate_cleared by $CLAIMS_OPERATOR: line 1 seen, line 1\$" <<<"$("$BIN/claimctl" claim "$K1")"
UPPER=$(tr 'a-f' 'A-F' <<<"$B1")
check_eq "clear: again (the id in capitals), once" \
	"$("$BIN/claimctl" duplicates clear --reason again "$UPPER"):$(sql "SELECT count(*) FROM audit_log
		WHERE action = 'duplicate_cleared' AND entity_id = '$B1'")" "$B1 already cleared:1"
NOBODY=$(quote_id_at now 1)
out=$("$BIN/claimctl" duplicates clear --reason x "$NOBODY" 2>>"$LOG")
check_eq "clear: a claim that does not exist is refused (exit 1)" "$?:$out" "1:$NOBODY refused no such claim"
for bad in "clear $B1" "clear --reason $B1" "clear --reason x not-a-uuid" "clear --reason x $B1/0" \
	"clear --reason x $B1/" "clear --reason x $B1/x" "clear --reason x $B1/1/2" "--days 0" \
	"--since 2026-01-01 --days 3" "--member" "--hold --hold"; do
	# shellcheck disable=SC2086 # the options, split
	"$BIN/claimctl" duplicates $bad >/dev/null 2>&1
	check_eq "duplicates: '$bad' is a usage error" "$?" 2
done
"$BIN/claimctl" duplicates clear --reason "$(printf 'a\nb')" "$B1" >/dev/null 2>&1
check_eq "clear: a reason with a line break is a usage error" "$?" 2
CLAIMS_PG_DSN=postgresql://claims@127.0.0.1:9/claims "$BIN/claimctl" duplicates --days 1 >/dev/null 2>&1
check_eq "duplicates: the database away: nothing concluded (exit 3)" "$?" 3
out=$(CLAIMS_PG_DSN=postgresql://claims@127.0.0.1:9/claims "$BIN/claimctl" duplicates clear --reason x "$B1" 2>&1)
check_eq "clear: the database away (exit 3), the claims not cleared named" "$?:$(grep -c "1 claim(s) from $B1 on not cleared" <<<"$out")" 3:1
"$BIN/claimctl" duplicates --member "${P}99999" >/dev/null 2>&1
check_eq "duplicates: an unknown member is a usage error" "$?" 2
check_eq "duplicates: a scope holding nothing finds nothing (exit 0)" \
	"$(dups --member "$M1" --since 2099-01-01 | tr '\n' '/'; echo "${PIPESTATUS[0]}")" \
	"in scope: 0 claims, 0 beneficiaries/0 suspected duplicate(s)/0"
check "duplicates: --help" bash -c "'$BIN/claimctl' duplicates --help | grep -q 'duplicates clear --reason'"

stop_all
report
