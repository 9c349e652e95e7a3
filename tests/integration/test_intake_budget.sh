#!/usr/bin/env bash
# test_intake_budget.sh - what intake holds decoded is bounded, whatever
# the messages make of themselves once decoded
#
#  - a submission whose ClaimSubmitted would take some 100 MB decoded
#    (1 MB of empty lines: 2 bytes each on the wire, a ClaimLine of some
#    200 bytes in memory) goes to claims.submitted.dlq, said, and intake
#    carries on;
#  - a batch of submissions that each decode within their budget but
#    together hold more than the batch may (CLAIMS_INTAKE_BATCH_MIB, 2
#    here: 80 of 2,200 small lines, some 0.8 MiB each decoded; with the
#    default 32 MiB, the split depended on 41 of them coming in one
#    poll, which a slow start of the consumer's fetches can deny) is
#    decided in parts in one transaction: every one
#    answered (TOO_MANY_LINES), a repeat of one of them after the split
#    answered as a repeat, nothing recorded twice;
#  - a claim sent after them is accepted as usual.
# The messages are written here byte by byte (no client would send
# them); intake is started once they are all in Kafka, so that it reads
# them in one batch.
source "$(dirname "$0")/../lib.sh"

export SRC="budget-$RUN_ID"
LOG="$TEST_LOGS/intake-budget-$RUN_ID.log"
DIR="$TEST_LOGS/budget-$RUN_ID"
mkdir -p "$DIR"

# varint N: N as a protobuf varint, in printf escapes
varint() {
	local n=$1 out=""
	while [ "$n" -ge 128 ]; do
		out+=$(printf '\\x%02x' $(((n & 127) | 128)))
		n=$((n >> 7))
	done
	printf '%s\\x%02x' "$out" "$n"
}
# text TAG TEXT: a string field (TAG: its key byte, in hex)
text() { printf "\\x$1$(varint ${#2})%s" "$2"; }
# envelope PAYLOAD_FILE OUT: an Envelope(CLAIM_SUBMITTED, schema 1) around it
envelope() {
	local size
	size=$(stat -c %s "$1")
	{
		printf '\x08\x01'
		text 12 "$(cat /proc/sys/kernel/random/uuid)"
		printf '\x28\x01'
		printf "\\x32$(varint "$size")"
		cat "$1"
	} >"$2"
}
# lines N OUT: N lines of only a line_ref of 40 bytes (44 bytes each)
lines() {
	local i
	for ((i = 0; i < $1; i++)); do
		printf '\x42\x2a\x0a\x28%s' 0123456789012345678901234567890123456789
	done >"$2"
}
# claim EXTERNAL_ID LINES_FILE OUT: a ClaimSubmitted of this run's source
claim() {
	{
		text 12 "$SRC"
		text 1a "$1"
		text 22 "1000000016"
		cat "$2"
	} >"$3"
}
# metric NAME: its value in intake's /metrics (0 when absent)
metric() {
	curl -s http://127.0.0.1:9193/metrics | awk -v m="$1" '$1 == m { n = $2 } END { print n + 0 }'
}

# 1 MB of empty lines: some 500,000 ClaimLines once decoded.
head -c 499000 /dev/zero | sed -z 's/^/B/' >"$DIR/empty-lines.bin"
claim "HUGE" "$DIR/empty-lines.bin" "$DIR/huge.payload"
envelope "$DIR/huge.payload" "$DIR/huge.msg"
check "the huge submission is under the 1 MB a message may be" \
	test "$(stat -c %s "$DIR/huge.msg")" -le 1000000

# 80 submissions of 2,200 small lines (some 97 KB each), B80 a copy of B1.
lines 2200 "$DIR/lines.bin"
files=()
for i in $(seq 1 79); do
	claim "B$i" "$DIR/lines.bin" "$DIR/b$i.payload"
	envelope "$DIR/b$i.payload" "$DIR/b$i.msg"
	files+=("$DIR/b$i.msg")
done
envelope "$DIR/b1.payload" "$DIR/b80.msg"
files+=("$DIR/b80.msg")
check "the submissions of the batch are in Kafka" \
	kcat -b "$CLAIMS_KAFKA_BROKERS" -P -t claims.submitted "${files[@]}"
check "the huge submission is in Kafka" \
	kcat -b "$CLAIMS_KAFKA_BROKERS" -P -t claims.submitted -k "huge-$RUN_ID" "$DIR/huge.msg"

start_daemon intake "$LOG" CLAIMS_METRICS_ADDR=127.0.0.1:9193 CLAIMS_INTAKE_ENDPOINT= CLAIMS_INTAKE_BATCH_MIB=2
INTAKE=$LAST_PID
rejected() { sql "SELECT count(*) FROM claim_rejections WHERE source = '$SRC'"; }
check "every submission of the batch answered" \
	wait_for 60 bash -c "$(declare -f sql rejected); [ \"\$(rejected)\" -ge 79 ]"
check_eq "... each once, TOO_MANY_LINES, B1 once" \
	"$(sql "SELECT count(*), count(DISTINCT external_id), min(reason_code), max(reason_code),
		count(*) FILTER (WHERE external_id = 'B1') FROM claim_rejections WHERE source = '$SRC'")" \
	"79|79|TOO_MANY_LINES|TOO_MANY_LINES|1"
check_eq "... their claims.rejected events, one each" \
	"$(sql "SELECT count(*) FROM outbox WHERE topic = 'claims.rejected' AND key LIKE 'B%'
		AND position(convert_to('$SRC', 'UTF8') IN payload) > 0")" 79
check "... the batch was decided in parts (intake_batch_splits_total)" \
	test "$(metric intake_batch_splits_total)" -ge 1
check "... the copy of B1 answered as a repeat (intake_duplicates_total)" \
	test "$(metric intake_duplicates_total)" -ge 1
check "the huge submission: in the DLQ, said" wait_for 30 bash -c \
	"kcat -b '$CLAIMS_KAFKA_BROKERS' -C -t claims.submitted.dlq -o beginning -e -q -f '%k\n' 2>/dev/null |
		grep -qx 'huge-$RUN_ID'"
"$BIN/claimctl" dlq list >"$DIR/dlq.txt" 2>&1
check "... its reason: more than its budget decoded" \
	grep -q "key=huge-$RUN_ID by intake: a ClaimSubmitted of [0-9]* bytes taking more than" "$DIR/dlq.txt"
check "intake still running" kill -0 "$INTAKE"

# A claim after them: accepted.
create_members "9${RUN_ID: -5}" 1 CONFORT
cat >"$DIR/after.json" <<JSON
{"source":"$SRC","source_kind":"amo","external_id":"AFTER","membership_number":"9${RUN_ID: -5}00001",
 "lines":[{"line_ref":"L1","act_code":"G","category":"CONSULT_GP","care_date":"2026-03-10","charged_cents":3000,"brss_cents":3000,"amo_rate":70}]}
JSON
check "a claim after them: sent" "$BIN/claimctl" submit "$DIR/after.json"
check "... and accepted" wait_for 30 all_accepted "$SRC" 1
stop_daemon "$INTAKE"
check_eq "intake stops cleanly" "$?" 0
report
