#!/usr/bin/env bash
# demo.sh - the claims backend on sample data, from a fresh machine
#
# Starts PostgreSQL, Redis and Kafka (tools/infra), applies the
# migrations, seeds 1,000 members, starts the intake and reimbursement
# daemons, submits tools/demo/claims.json (consultations, pharmacy,
# hospital, dental, optics, hearing aid, and two claims that must be
# rejected) through Kafka, waits for the decisions, prints per claim the
# AMO, AMC and reste à charge from the database, and stops the daemons
# with SIGTERM. The infrastructure stays up for exploration with
# build/bin/claimctl; `make infra-down` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bin
LOGS=.infra/demo
mkdir -p "$LOGS"

tools/infra/infra.sh up
eval "$(tools/infra/infra.sh env)"
export CLAIMS_LOG_LEVEL=warn

echo "== schema and data"
$BIN/claimctl migrate
$BIN/claimctl seed --members 1000

echo "== daemons (logs in $LOGS/)"
$BIN/intake >>"$LOGS/intake.log" 2>&1 &
intake=$!
$BIN/reimburse >>"$LOGS/reimburse.log" 2>&1 &
reimburse=$!
stop() {
	kill -TERM "$intake" "$reimburse" 2>/dev/null || true
	wait "$intake" "$reimburse" 2>/dev/null || true
}
trap stop EXIT

echo "== submitting tools/demo/claims.json to Kafka (claims.submitted)"
$BIN/claimctl submit tools/demo/claims.json
n=$(grep -c . tools/demo/claims.json)
sql() { psql -X -q -At "$CLAIMS_PG_DSN" -c "$1"; }
for _ in $(seq 1 120); do
	done_count=$(sql "SELECT (SELECT count(*) FROM claims WHERE external_id LIKE 'DEMO-%' AND status <> 'queued')
	                 + (SELECT count(*) FROM claim_rejections WHERE external_id LIKE 'DEMO-%')")
	[ "$done_count" -ge "$n" ] && break
	sleep 0.5
done

echo
echo "== decisions (euros)"
psql -X -q "$CLAIMS_PG_DSN" -c "
SELECT c.external_id AS claim, m.membership_number AS member, ct.formula_code AS formula,
       c.status, l.category,
       to_char(d.charged_cents / 100.0, 'FM99990.00') AS charged,
       to_char(d.amo_paid_cents / 100.0, 'FM99990.00') AS amo,
       to_char(d.amc_cents / 100.0, 'FM99990.00') AS amc,
       to_char(d.rac_cents / 100.0, 'FM99990.00') AS reste_a_charge,
       array_to_string(d.rules, ' ') AS rules
FROM claims c JOIN contracts ct USING (contract_id) JOIN members m ON m.member_id = ct.member_id
JOIN claim_lines l USING (claim_id) LEFT JOIN decisions d USING (claim_id, line_no)
WHERE c.external_id LIKE 'DEMO-%' ORDER BY c.external_id, l.line_no"
echo "== rejections"
psql -X -q "$CLAIMS_PG_DSN" -c "
SELECT external_id AS claim, reason_code, field, message FROM claim_rejections
WHERE external_id LIKE 'DEMO-%' ORDER BY external_id"
echo "== one claim in detail: $BIN/claimctl claim --external amo-cpam-75 DEMO-0002"
$BIN/claimctl claim --external amo-cpam-75 DEMO-0002
stop
trap - EXIT
echo
echo "Daemons stopped. Explore with $BIN/claimctl --help; stop the infrastructure with: make infra-down"
