#!/usr/bin/env bash
# demo.sh - the claims backend on sample data, from a fresh machine
#
# Starts PostgreSQL, Redis and Kafka (tools/infra), applies the
# migrations, seeds 1,000 members, starts the intake and reimbursement
# daemons, submits tools/demo/claims.json (consultations, pharmacy,
# hospital, dental, optics, hearing aid, and two claims that must be
# rejected) through Kafka, waits for the decisions, prints per claim the
# AMO, AMC and reste à charge from the database, and stops the daemons
# with SIGTERM. Then a pharmacy uses the tiers-payant front door: its key
# is registered, it checks a patient's rights, gets a quote, sends the
# invoice citing the quote and follows it until it is computed; the
# bank's transfer is recorded (claimctl payments settle) and the invoice
# shows paid. The
# infrastructure stays up for exploration with
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
# The tiers-payant front door with a fresh key pair; a pharmacy's key.
eval "$($BIN/claimctl tp keygen | sed 's/^/SERVER_/')"
eval "$($BIN/claimctl tp keygen)"
CLAIMS_TP_SERVER_SECRET=$SERVER_SECRET_KEY $BIN/tpgate >>"$LOGS/tpgate.log" 2>&1 &
tpgate=$!
stop() {
	kill -TERM "$intake" "$reimburse" "$tpgate" 2>/dev/null || true
	wait "$intake" "$reimburse" "$tpgate" 2>/dev/null || true
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

echo
echo "== tiers payant: a pharmacy (RPPS 10019999991) and member 1000000016"
$BIN/claimctl tp register --kind RPPS --id 10019999991 --public-key "$PUBLIC_KEY" \
	--name "Pharmacie de la démonstration" --profession pharmacie
export CLAIMS_TP_SERVER_KEY=$SERVER_PUBLIC_KEY CLAIMS_TP_PUBLIC_KEY=$PUBLIC_KEY CLAIMS_TP_SECRET_KEY=$SECRET_KEY
echo "-- ELIGIBILITY"
$BIN/claimctl tp eligibility --member 1000000016 --date 2026-11-02 | jq -c .
echo "-- QUOTE (tools/demo/tp-lines.json)"
quote=$($BIN/claimctl tp quote --member 1000000016 tools/demo/tp-lines.json)
jq -c '{quote_id, valid_until, total_charged_cents, total_amo_paid_cents, total_amc_cents, total_rac_cents}' <<<"$quote"
invoice="DEMO-TP-$(date +%s)"
echo "-- INVOICE $invoice citing the quote"
$BIN/claimctl tp invoice --member 1000000016 --invoice-id "$invoice" \
	--quote "$(jq -r .quote_id <<<"$quote")" tools/demo/tp-lines.json | jq -c .
echo "-- INVOICE_STATUS"
for _ in $(seq 1 60); do
	status=$($BIN/claimctl tp status --invoice-id "$invoice")
	[ "$(jq -r .status <<<"$status")" != queued ] && break
	sleep 0.5
done
jq -c . <<<"$status"
echo "-- the bank pays the pharmacy: claimctl payments settle, then INVOICE_STATUS again"
printf '%s %s VIR-%s\n' "$(jq -r .claim_id <<<"$status")" "$(jq -r .amc_cents <<<"$status")" \
	"${invoice#DEMO-TP-}" | $BIN/claimctl payments settle -
$BIN/claimctl tp status --invoice-id "$invoice" | jq -c .
stop
trap - EXIT
echo
echo "Daemons stopped. Explore with $BIN/claimctl --help; stop the infrastructure with: make infra-down"
