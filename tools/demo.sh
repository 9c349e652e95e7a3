#!/usr/bin/env bash
# demo.sh - the claims backend on sample data, from a fresh machine
#
# Starts PostgreSQL, Redis and Kafka (tools/infra), applies the
# migrations, seeds 1,000 members, starts the intake, reimbursement and
# notification daemons, submits tools/demo/claims.json (consultations, pharmacy,
# hospital, dental, optics, hearing aid, and two claims that must be
# rejected) through Kafka, waits for the decisions, prints per claim the
# AMO, AMC and reste à charge from the database, and stops the daemons
# with SIGTERM, after showing what the members were told (one in-app
# notification per decided claim, claimctl notifications). Then a pharmacy uses the tiers-payant front door: its key
# is registered, it checks a patient's rights, gets a quote, sends the
# invoice citing the quote and follows it until it is computed; the
# payment goes out in a transfer run (claimctl payments export), the
# bank's transfer is recorded (claimctl payments settle) and the invoice
# shows paid. The
# infrastructure stays up for exploration with
# build/bin/claimctl; `make infra-down` stops it.
#
# The demo stops with an error, the tail of the daemons' logs and a
# non-zero status when a daemon's port is taken, a daemon exits or does
# not answer GET /health within 30 s, or not every claim is decided.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CLAIMS_BIN:-build/bin}
LOGS=.infra/demo
# The daemons' fixed ports on 127.0.0.1: ZeroMQ (intake, tpgate's front
# door, tpgate's quote back end) and /metrics and /health (intake,
# reimburse, tpgate, notify).
PORTS=(5701 5702 5703 9101 9102 9103 9106)
HEALTH_TIMEOUT=30 # seconds for a daemon to answer GET /health

fail() {
	printf 'demo: error: %s\n' "$*" >&2
	exit 1
}

# show_log NAME: the tail of a daemon's log, after a failure.
show_log() {
	printf -- '--- last 20 lines of %s ---\n' "$LOGS/$1.log" >&2
	tail -n 20 "$LOGS/$1.log" >&2 || true
	printf -- '---\n' >&2
}

# A daemon that cannot bind its port exits at once, and a /health answered
# by another process on that port would look like ours: check first.
busy=""
for port in "${PORTS[@]}"; do
	[ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] || busy+=" $port"
done
[ -z "$busy" ] || fail "port(s)$busy already taken (another demo or test run? see ss -ltnp);" \
	"the demo's daemons need ${PORTS[*]} on 127.0.0.1"
mkdir -p "$LOGS"

tools/infra/infra.sh up
eval "$(tools/infra/infra.sh env)"
export CLAIMS_LOG_LEVEL=warn

echo "== schema and data"
$BIN/claimctl migrate
$BIN/claimctl seed --members 1000

echo "== daemons (logs in $LOGS/)"
PIDS=()
stop() {
	((${#PIDS[@]} > 0)) || return 0
	kill -TERM "${PIDS[@]}" 2>/dev/null || true
	wait "${PIDS[@]}" 2>/dev/null || true
	PIDS=()
}
trap stop EXIT

# start_daemon NAME PORT [VAR=VALUE...]: runs $BIN/NAME in the background
# with its metrics and health endpoint on 127.0.0.1:PORT, and waits until
# GET /health answers 200; fails with the tail of its log if the daemon
# exits or does not answer within HEALTH_TIMEOUT seconds.
start_daemon() {
	local name=$1 port=$2 pid deadline
	shift 2
	env "$@" CLAIMS_METRICS_ADDR="127.0.0.1:$port" "$BIN/$name" >>"$LOGS/$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	deadline=$((SECONDS + HEALTH_TIMEOUT))
	until curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$port/health"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			show_log "$name"
			fail "$name exited during start-up (log: $LOGS/$name.log)"
		fi
		if ((SECONDS >= deadline)); then
			show_log "$name"
			fail "$name: no healthy answer on http://127.0.0.1:$port/health within ${HEALTH_TIMEOUT} s"
		fi
		sleep 0.25
	done
	kill -0 "$pid" 2>/dev/null || {
		show_log "$name"
		fail "$name exited during start-up (log: $LOGS/$name.log)"
	}
	echo "$name: healthy (pid $pid)"
}

start_daemon intake 9101
start_daemon reimburse 9102
start_daemon notify 9106
# A new consumer group starts at the topics' end (pinned when its
# partitions are first assigned): in its group before the claims are
# sent, so that it reads their decisions.
joined=""
for _ in $(seq 1 60); do
	curl -fs --max-time 2 http://127.0.0.1:9106/metrics |
		awk '$1 == "worker_partitions_assigned" && $2 > 0 { found = 1 } END { exit !found }' &&
		joined=1 && break
	sleep 0.5
done
if [ -z "$joined" ]; then
	show_log notify
	fail "notify not in its consumer group after 30 s"
fi
# The tiers-payant front door with a fresh key pair; a pharmacy's key.
eval "$($BIN/claimctl tp keygen | sed 's/^/SERVER_/')"
eval "$($BIN/claimctl tp keygen)"
start_daemon tpgate 9103 CLAIMS_TP_SERVER_SECRET="$SERVER_SECRET_KEY"

echo "== submitting tools/demo/claims.json to Kafka (claims.submitted)"
$BIN/claimctl submit tools/demo/claims.json
n=$(grep -c . tools/demo/claims.json)
sql() { psql -X -q -At "$CLAIMS_PG_DSN" -c "$1"; }
done_count=0
for _ in $(seq 1 120); do
	done_count=$(sql "SELECT (SELECT count(*) FROM claims WHERE external_id LIKE 'DEMO-%' AND status <> 'queued')
	                 + (SELECT count(*) FROM claim_rejections WHERE external_id LIKE 'DEMO-%')") || true
	[[ $done_count =~ ^[0-9]+$ ]] || done_count=0
	[ "$done_count" -ge "$n" ] && break
	sleep 0.5
done
if [ "$done_count" -lt "$n" ]; then
	show_log intake
	show_log reimburse
	fail "only $done_count of the $n submitted claims were decided or rejected after 60 s"
fi

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
told=0
decided=$(sql "SELECT count(*) FROM claims WHERE external_id LIKE 'DEMO-%' AND status IN ('complete', 'partial', 'error')")
for _ in $(seq 1 60); do
	told=$(sql "SELECT count(DISTINCT n.claim_id) FROM notifications n JOIN claims c USING (claim_id)
	           WHERE c.external_id LIKE 'DEMO-%'") || true
	[[ $told =~ ^[0-9]+$ ]] || told=0
	[ "$told" -ge "$decided" ] && break
	sleep 0.5
done
if [ "$told" -lt "$decided" ]; then
	show_log notify
	fail "only $told of the $decided decided claims were told to their members after 30 s"
fi
echo "== one claim in detail: $BIN/claimctl claim --external amo-cpam-75 DEMO-0002"
$BIN/claimctl claim --external amo-cpam-75 DEMO-0002
member=$(sql "SELECT m.membership_number FROM claims c JOIN contracts ct USING (contract_id)
              JOIN members m ON m.member_id = ct.member_id
              WHERE c.source = 'amo-cpam-75' AND c.external_id = 'DEMO-0002'")
echo "== what member $member was told (in the app; live on Redis channel member:<id>:notifications)"
$BIN/claimctl notifications "$member" --limit 5

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
if [ "$(jq -r .status <<<"$status")" = queued ]; then
	show_log reimburse
	fail "invoice $invoice still queued after 30 s"
fi
echo "-- the treasury's transfer run: claimctl payments export (the pharmacy's payment among them)"
run=$($BIN/claimctl payments export --run "RUN-${invoice#DEMO-TP-}" --payee professional --limit 100000) ||
	fail "payments export failed"
echo "$(grep -c . <<<"$run") payment(s) in run RUN-${invoice#DEMO-TP-}; the pharmacy's:"
grep " $(jq -r .claim_id <<<"$status") " <<<"$run" || fail "the invoice's payment is not in the run"
echo "-- the bank pays the pharmacy: claimctl payments settle, then INVOICE_STATUS again"
printf '%s %s VIR-%s\n' "$(jq -r .claim_id <<<"$status")" "$(jq -r .amc_cents <<<"$status")" \
	"${invoice#DEMO-TP-}" | $BIN/claimctl payments settle -
$BIN/claimctl tp status --invoice-id "$invoice" | jq -c .
stop
trap - EXIT
echo
echo "Daemons stopped. Explore with $BIN/claimctl --help; stop the infrastructure with: make infra-down"
