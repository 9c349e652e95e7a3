# lib.sh - helpers of the shell integration tests (sourced, not run)
#
# Checks print "ok NAME" or "not ok NAME: detail" and are counted;
# `report` prints the closing "N passed, N failed" and sets the exit
# status. Daemons started with `start_daemon` are stopped at exit.
# Fixtures (members, contracts) are created under a prefix unique to
# the run, so tests never depend on what an earlier run left behind.

set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
BIN=${CLAIMS_BIN:-build/bin}
export CLAIMS_PG_DSN=${CLAIMS_PG_DSN:-postgresql://claims@127.0.0.1:55432/claims}
export CLAIMS_KAFKA_BROKERS=${CLAIMS_KAFKA_BROKERS:-127.0.0.1:59092}
export CLAIMS_LOG_LEVEL=${CLAIMS_LOG_LEVEL:-warn}
TEST_LOGS=${TEST_LOGS:-build/test-logs}
mkdir -p "$TEST_LOGS"
RUN_ID=$(date +%s%N | tail -c 9)

t_passed=0
t_failed=0
DAEMON_PIDS=()

pass() { t_passed=$((t_passed + 1)); echo "ok $1"; }
fail() { t_failed=$((t_failed + 1)); echo "not ok $1: $2"; }

check() { # check NAME COMMAND...
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name" "command failed: $*"; fi
}

check_eq() { # check_eq NAME GOT WANT
	if [ "$2" == "$3" ]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi
}

sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$CLAIMS_PG_DSN" -c "$1"; }

# hold_lock TABLE SECONDS [EXCLUSIVE]: a session of its own holds the
# table locked (ACCESS EXCLUSIVE, or EXCLUSIVE) for SECONDS, in the
# background (its pid in LOCKER, for `wait`); returns once the lock is
# granted (pg_locks), or fails after 10 s. Tests wait on locks, never on
# sleeps. release_lock ends the hold before its time (its statement
# cancelled, its transaction rolled back) and waits for it.
hold_lock() {
	local table=$1 seconds=$2 mode=${3:-ACCESS EXCLUSIVE} held
	held=$([ "$mode" = EXCLUSIVE ] && echo ExclusiveLock || echo AccessExclusiveLock)
	PGAPPNAME="hold_lock_$RUN_ID" psql -X -q "$CLAIMS_PG_DSN" -c "BEGIN; LOCK TABLE $table IN $mode MODE;
		SELECT pg_sleep($seconds); COMMIT" >/dev/null 2>&1 &
	LOCKER=$!
	wait_for 10 bash -c "[ \"\$(psql -X -At '$CLAIMS_PG_DSN' -c \"SELECT count(*) FROM pg_locks
		WHERE relation = '$table'::regclass AND mode = '$held' AND granted\")\" -ge 1 ]"
}
release_lock() {
	sql "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity
	     WHERE application_name = 'hold_lock_$RUN_ID'" >/dev/null
	wait "$LOCKER" 2>/dev/null
	return 0
}

# start_daemon NAME LOGFILE [ENV=VALUE...]: start build/bin/NAME in the background
start_daemon() {
	local name=$1 log=$2
	shift 2
	env "$@" "$BIN/$name" >>"$log" 2>&1 &
	DAEMON_PIDS+=($!)
	LAST_PID=$!
}

# keypair NAME: a new CURVE key pair in NAME_PUB and NAME_SEC
keypair() {
	local out
	out=$("$BIN/claimctl" tp keygen)
	printf -v "${1}_PUB" '%s' "$(sed -n "s/^PUBLIC_KEY='\(.*\)'$/\1/p" <<<"$out")"
	printf -v "${1}_SEC" '%s' "$(sed -n "s/^SECRET_KEY='\(.*\)'$/\1/p" <<<"$out")"
}

# tp_client ENDPOINT: keys of a front door (SERVER_PUB, SERVER_SEC) and of
# a professional, exported as claimctl tp's client settings for ENDPOINT
tp_client() {
	keypair SERVER
	keypair CLIENT
	export CLAIMS_TP_PUBLIC_KEY=$CLIENT_PUB CLAIMS_TP_SECRET_KEY=$CLIENT_SEC
	export CLAIMS_TP_SERVER_KEY=$SERVER_PUB CLAIMS_TP_ENDPOINT=$1
}

# stop_daemon PID: one daemon, asked to stop and waited for (its status
# returned; 124 when it was still running STOP_LIMIT_SECONDS, default 60,
# after SIGTERM and had to be killed), and forgotten by stop_all.
stop_daemon() {
	local pid=$1 status keep=() p limit=$((SECONDS + ${STOP_LIMIT_SECONDS:-60}))
	kill -TERM "$pid" 2>/dev/null
	# A daemon that does not stop fails its test rather than hanging the suite.
	while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$limit" ]; do sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		echo "# stop_daemon: $pid still running ${STOP_LIMIT_SECONDS:-60} s after SIGTERM: killed" >&2
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		status=124
	else
		wait "$pid"
		status=$?
	fi
	for p in "${DAEMON_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
	DAEMON_PIDS=("${keep[@]}")
	return "$status"
}

stop_all() {
	local pid
	for pid in "${DAEMON_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${DAEMON_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	DAEMON_PIDS=()
}
trap stop_all EXIT

# wait_for SECONDS COMMAND...: poll until the command succeeds, every
# WAIT_STEP seconds (default 0.5; shorter to catch a moment that passes)
wait_for() {
	local limit=$1 start=$SECONDS
	shift
	until "$@"; do
		[ $((SECONDS - start)) -lt "$limit" ] || return 1
		sleep "${WAIT_STEP:-0.5}"
	done
}

# quote_id_at WHEN [TAIL]: a quote id (UUID version 7) made at WHEN (as
# date -d reads it), its last 12 hex digits the number TAIL (default 0)
quote_id_at() {
	local h
	h=$(printf '%012x' $(($(date -u -d "$1" +%s) * 1000))) || return 1
	printf '%s-%s-7000-8000-%012x\n' "${h:0:8}" "${h:8:4}" "${2:-0}"
}

# create_gap_formula CODE: a formula with CONFORT's guarantees, in force
# from 2026-06-01 only (version 1): care before June has no version
create_gap_formula() {
	sql "INSERT INTO formulas (formula_code, label, responsible)
	       SELECT '$1', 'Versions with a gap', responsible FROM formulas WHERE formula_code = 'CONFORT';
	     INSERT INTO formula_versions (formula_code, version, effective_from) VALUES ('$1', 1, '2026-06-01');
	     INSERT INTO guarantees (formula_code, version, category, spec)
	       SELECT '$1', 1, category, spec FROM guarantees
	       WHERE formula_code = 'CONFORT' AND version = (SELECT max(version) FROM formula_versions
	                                                    WHERE formula_code = 'CONFORT')" >/dev/null
}

# fill_gap_formula CODE: version 2 of create_gap_formula's formula, the
# same guarantees from 2026-01-01 to June: the gap closed
fill_gap_formula() {
	sql "INSERT INTO formula_versions (formula_code, version, effective_from, effective_to)
	       VALUES ('$1', 2, '2026-01-01', '2026-06-01');
	     INSERT INTO guarantees (formula_code, version, category, spec)
	       SELECT '$1', 2, category, spec FROM guarantees WHERE formula_code = '$1' AND version = 1" >/dev/null
}

# change_contract MEMBER: create_members' contract of MEMBER ends on
# 2026-01-01 (terminated) and an ESSENTIEL one, with the same
# subscriber, begins that day
change_contract() {
	sql "UPDATE contracts SET status = 'terminated', end_date = '2026-01-01'
	       WHERE member_id = (SELECT member_id FROM members WHERE membership_number = '$1');
	     WITH c AS (INSERT INTO contracts (member_id, formula_code, amc_number, status, start_date)
	       SELECT member_id, 'ESSENTIEL', '75500017', 'active', date '2026-01-01' FROM members
	       WHERE membership_number = '$1' RETURNING contract_id, member_id)
	     INSERT INTO beneficiaries (contract_id, member_id, rank, relationship, last_name,
	       first_name, birth_date, start_date)
	     SELECT contract_id, member_id, 1, 'subscriber', 'Test', 'Member', date '1980-05-01',
	       date '2026-01-01' FROM c"
}

# own_role NAME: a login role NAME_<run> of its own (a member of the
# owner's, so with its rights), in ROLE, and CLAIMS_PG_DSN logging in as
# it, in DSN: a daemon given DSN is told apart in pg_stat_activity
# (usename), and its database can be taken away from it alone (NOLOGIN,
# its sessions ended). drop_own_role ends its sessions and drops it.
own_role() {
	ROLE="$1_${RUN_ID//[^a-zA-Z0-9]/_}"
	case "$CLAIMS_PG_DSN" in
	*://*@*) DSN="${CLAIMS_PG_DSN%%://*}://$ROLE@${CLAIMS_PG_DSN#*@}" ;;
	*) DSN="$CLAIMS_PG_DSN user=$ROLE" ;;
	esac
	sql "CREATE ROLE $ROLE LOGIN IN ROLE $(sql 'SELECT current_user')" >/dev/null
}

drop_own_role() {
	sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '$ROLE'" >/dev/null 2>&1
	sql "DROP ROLE IF EXISTS $ROLE" >/dev/null 2>&1
}

# database_uri NAME: CLAIMS_PG_DSN (a URI) naming database NAME, its
# parameters kept; fails when CLAIMS_PG_DSN is not a URI
database_uri() {
	local base=${CLAIMS_PG_DSN%%\?*}
	case $CLAIMS_PG_DSN in
	postgres://* | postgresql://*) echo "${base%/*}/$1${CLAIMS_PG_DSN#"$base"}" ;;
	*) return 1 ;;
	esac
}

# create_members PREFIX COUNT FORMULA: members PREFIX0001.. with one
# contract from 2025-01-01 and a subscriber born 1980-05-01. A fixture
# that cannot be made (a prefix used twice: its numbers exist) is a
# failed check: the test would otherwise run on the members it found.
create_members() {
	sql "WITH m AS (
	  INSERT INTO members (membership_number, last_name, first_name, birth_date)
	  SELECT '$1' || lpad(i::text, 5, '0'), 'Test', 'Member ' || i, date '1980-05-01'
	  FROM generate_series(1, $2) i RETURNING member_id),
	c AS (
	  INSERT INTO contracts (member_id, formula_code, amc_number, status, start_date)
	  SELECT member_id, '$3', '75500017', 'active', date '2025-01-01' FROM m
	  RETURNING contract_id, member_id)
	INSERT INTO beneficiaries (contract_id, member_id, rank, relationship, last_name,
	  first_name, birth_date, start_date)
	SELECT contract_id, member_id, 1, 'subscriber', 'Test', 'Member', date '1980-05-01',
	  date '2025-01-01' FROM c" >/dev/null || fail "fixture: create_members $1 $2 $3" "not made"
}

# claims_file PREFIX MEMBERS CLAIMS SOURCE [varied]: JSON lines, 3 lines
# per claim (a GP consultation, two boxes of medicine, three nursing
# acts), spread over the members round robin and over 2026's first ten
# months. With "varied", one claim in seven has a fourth line, glasses or
# an osteopathy session in turn: paid once per renewal period and a few
# times a year, their decisions depend on what was decided before (order,
# nothing twice), and they fill the counters' units and equipments.
claims_file() {
	awk -v prefix="$1" -v members="$2" -v n="$3" -v source="$4" -v varied="${5:-}" 'BEGIN {
	  for (i = 0; i < n; i++) {
	    m = i % members + 1
	    month = int(i / members) % 10 + 1
	    day = int(i / (members * 10)) % 28 + 1
	    date = sprintf("2026-%02d-%02d", month, day)
	    printf("{\"source\":\"%s\",\"source_kind\":\"amo\",\"external_id\":\"%s-%d\",", source, source, i)
	    printf("\"membership_number\":\"%s%05d\",\"lines\":[", prefix, m)
	    printf("{\"line_ref\":\"1\",\"act_code\":\"G\",\"category\":\"CONSULT_GP\",\"care_date\":\"%s\",\"charged_cents\":3000,\"brss_cents\":3000,\"amo_rate\":70},", date)
	    printf("{\"line_ref\":\"2\",\"category\":\"PHARMA\",\"care_date\":\"%s\",\"quantity\":2,\"charged_cents\":1200,\"brss_cents\":1200,\"amo_rate\":65},", date)
	    printf("{\"line_ref\":\"3\",\"act_code\":\"AMI\",\"category\":\"AUXILIAIRE\",\"care_date\":\"%s\",\"quantity\":3,\"charged_cents\":945,\"brss_cents\":945,\"amo_rate\":60}", date)
	    if (varied != "" && i % 14 == 3)
	      printf(",{\"line_ref\":\"4\",\"category\":\"OPTIQUE_EQUIPEMENT\",\"care_date\":\"%s\",\"charged_cents\":45000,\"brss_cents\":15,\"amo_rate\":60,\"lenses\":[\"simple\",\"complex\"],\"frame_charged_cents\":15000}", date)
	    else if (varied != "" && i % 14 == 10)
	      printf(",{\"line_ref\":\"4\",\"category\":\"MEDECINE_DOUCE\",\"care_date\":\"%s\",\"charged_cents\":6000}", date)
	    printf("]}\n")
	  }
	}'
}

# results SOURCE: per claim and line, the member's index, the claim's
# index, amounts and rules; comparable across runs on identical members
results() {
	sql "SELECT substr(m.membership_number, 7), split_part(c.external_id, '-', 3), d.line_no,
	  d.pf_cents, d.franchise_cents, d.amo_paid_cents, d.amc_cents, d.rac_cents, d.rules
	  FROM decisions d JOIN claims c USING (claim_id) JOIN contracts ct USING (contract_id)
	  JOIN members m ON m.member_id = ct.member_id WHERE c.source = '$1' ORDER BY 1, 2, 3"
}

# counter_mismatches SOURCE: how many of the consumption counters (daily
# and yearly) of the beneficiaries of SOURCE's claims differ from the sum
# of the decisions they stand for (0: every counter right, none missing,
# none extra). Units count the quantity of lines paid by a forfait;
# equipments the optical and audio lines the AMC paid.
counter_mismatches() {
	sql "WITH b AS (SELECT DISTINCT beneficiary_id FROM claims WHERE source = '$1'),
	  l AS (SELECT c.beneficiary_id, l.category, l.care_date, d.pf_cents, d.franchise_cents,
	          d.amc_cents, d.forfait_cents,
	          CASE WHEN d.forfait_cents > 0 THEN l.quantity ELSE 0 END units,
	          CASE WHEN l.category IN ('OPTIQUE_EQUIPEMENT', 'AUDIO') AND d.amc_cents > 0
	               THEN 1 ELSE 0 END equipment
	        FROM decisions d JOIN claim_lines l USING (claim_id, line_no)
	        JOIN claims c USING (claim_id) WHERE c.beneficiary_id IN (SELECT * FROM b)),
	  d AS (SELECT beneficiary_id, category, care_date, sum(pf_cents) pf, sum(franchise_cents) fr,
	          sum(amc_cents) amc, sum(forfait_cents) fo, sum(units) u, sum(equipment) e, count(*) n
	        FROM l GROUP BY 1, 2, 3),
	  k AS (SELECT beneficiary_id, category, care_date, pf_cents, franchise_cents, amc_cents,
	          forfait_cents, forfait_units, equipments, lines
	        FROM consumption_counters WHERE beneficiary_id IN (SELECT * FROM b)),
	  dy AS (SELECT beneficiary_id, date_part('year', care_date)::int y, category, sum(pf_cents) pf,
	          sum(franchise_cents) fr, sum(amc_cents) amc, sum(forfait_cents) fo, sum(units) u,
	          count(*) n
	        FROM l GROUP BY 1, 2, 3),
	  ky AS (SELECT beneficiary_id, year, category, pf_cents, franchise_cents, amc_cents,
	          forfait_cents, forfait_units, lines
	        FROM consumption_years WHERE beneficiary_id IN (SELECT * FROM b))
	  SELECT (SELECT count(*) FROM ((SELECT * FROM d EXCEPT SELECT * FROM k)
	                                UNION ALL (SELECT * FROM k EXCEPT SELECT * FROM d)) x)
	       + (SELECT count(*) FROM ((SELECT * FROM dy EXCEPT SELECT * FROM ky)
	                                UNION ALL (SELECT * FROM ky EXCEPT SELECT * FROM dy)) y)"
}

# payment_results SOURCE: per claim (member, claim number), the amount
# paid and to whom, in a stable order, to compare two runs
payment_results() {
	sql "SELECT substr(m.membership_number, 7), split_part(c.external_id, '-', 3),
	  p.payee, p.amount_cents
	  FROM payments p JOIN claims c USING (claim_id) JOIN contracts ct USING (contract_id)
	  JOIN members m ON m.member_id = ct.member_id WHERE c.source = '$1' ORDER BY 1, 2"
}

file_lines() { # file_lines FILE: the care lines of a claims_file
	grep -o '"line_ref"' "$1" | wc -l
}

decided_count() { # decided_count SOURCE
	sql "SELECT count(*) FROM claims WHERE source = '$1' AND status <> 'queued'"
}

accepted_count() { # accepted_count SOURCE: claims intake took in
	sql "SELECT count(*) FROM claims WHERE source = '$1'"
}

all_decided() { # all_decided SOURCE N
	[ "$(decided_count "$1")" -ge "$2" ]
}

decided_over() { # decided_over SOURCE N: more than N decided
	[ "$(decided_count "$1")" -gt "$2" ]
}

all_accepted() { # all_accepted SOURCE N: at least N taken in
	[ "$(accepted_count "$1")" -ge "$2" ]
}

accepted_over() { # accepted_over SOURCE N: more than N taken in
	[ "$(accepted_count "$1")" -gt "$2" ]
}

# Without the infrastructure every check would fail slowly: say so once.
if ! psql -X -At "$CLAIMS_PG_DSN" -c 'SELECT 1' >/dev/null 2>&1 ||
	! kcat -b "$CLAIMS_KAFKA_BROKERS" -L -m 5 >/dev/null 2>&1; then
	echo "not ok infrastructure: PostgreSQL or Kafka unreachable (tools/infra/infra.sh up)"
	echo "0 passed, 1 failed"
	exit 1
fi

# The schema and the formulas the fixtures use (both idempotent).
if ! "$BIN/claimctl" migrate >/dev/null 2>&1 || ! "$BIN/claimctl" seed --members 0 >/dev/null 2>&1; then
	echo "not ok set-up: claimctl migrate / seed failed"
	echo "0 passed, 1 failed"
	exit 1
fi

report() {
	echo "$t_passed passed, $t_failed failed"
	[ "$t_failed" -eq 0 ]
}
