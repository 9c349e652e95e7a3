#!/usr/bin/env bash
# test_upgrade.sh - migrations that change data, applied to a database
# of the release before them
#
# test_migrate checks that the migrations apply, twice, to the shared
# database. A migration that rewrites rows (not only the schema) must
# also be seen doing it on rows an older release could write: here a
# database of its own is migrated up to the migration before, given
# such rows, then brought up to date.
#
# 022: non_optam_pct_brss is taken out of the guarantees other than
# doctors' fees (where the engine never read it, and now refuses it),
# and kept on doctors' fees with its value.
# 023: the beneficiary rows of one person across a member's contracts
# are named one person (person_id), existing rows and new ones.
# 029: an index of 027 or 028 left invalid by a failed concurrent build
# is built again.
source "$(dirname "$0")/../lib.sh"

ADMIN_DSN=$CLAIMS_PG_DSN
OLD_DB=claims_upgrade_$RUN_ID
if ! OLD_DSN=$(database_uri "$OLD_DB"); then
	fail "CLAIMS_PG_DSN is a URI" "this test makes its database's URI from it: $CLAIMS_PG_DSN"
	report
	exit
fi
OLD_SQL=$(mktemp -d)

cleanup() {
	psql -X -q "$ADMIN_DSN" -c "DROP DATABASE IF EXISTS $OLD_DB" >/dev/null 2>&1
	rm -rf "$OLD_SQL"
}
trap cleanup EXIT

old_sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$OLD_DSN" -c "$1"; }
old_claimctl() { CLAIMS_PG_DSN="$OLD_DSN" "$BIN/claimctl" "$@" >/dev/null; }

# migrate_except NNN: the database has every migration but NNN
migrate_except() {
	local f
	rm -f "$OLD_SQL"/*.sql
	for f in deploy/sql/[0-9][0-9][0-9]_*.sql; do
		[[ $(basename "$f") == "$1"_* ]] || cp "$f" "$OLD_SQL/"
	done
	old_claimctl migrate --dir "$OLD_SQL"
}

# migrate_up_to NNN: the database has the migrations before NNN only
migrate_up_to() {
	local f
	rm -f "$OLD_SQL"/*.sql
	for f in deploy/sql/[0-9][0-9][0-9]_*.sql; do
		[[ $(basename "$f") < "$1" ]] && cp "$f" "$OLD_SQL/"
	done
	old_claimctl migrate --dir "$OLD_SQL"
}

check "a database of its own" psql -X -q "$ADMIN_DSN" -c "CREATE DATABASE $OLD_DB"
check "migrated up to 021" migrate_up_to 022
check_eq "022 not applied yet" \
	"$(old_sql "SELECT count(*) FROM schema_migrations WHERE name LIKE '022_%'")" 0
check "seeded" old_claimctl seed --members 2

# What an older release accepted: the member on a biology guarantee and
# on an optical one of the published versions.
check "non_optam_pct_brss set outside doctors' fees" old_sql "
	UPDATE guarantees SET spec = spec || '{\"non_optam_pct_brss\": 120}'
	 WHERE formula_code = 'CONFORT' AND category IN ('BIOLOGIE', 'OPTIQUE_LENTILLES')"
doctors_before=$(old_sql "SELECT string_agg(formula_code || '/' || version || '/' || category
	|| '=' || (spec->>'non_optam_pct_brss'), ',' ORDER BY 1)
	FROM guarantees WHERE category IN ('CONSULT_GP', 'CONSULT_SPEC', 'HOSP_HONORAIRES',
	'RADIOLOGIE') AND spec ? 'non_optam_pct_brss'")
others_before=$(old_sql "SELECT md5(string_agg(formula_code || version || category
	|| (spec - 'non_optam_pct_brss')::text, ',' ORDER BY formula_code, version, category))
	FROM guarantees")
check_eq "the member is on 2 categories per CONFORT version outside doctors' fees" \
	"$(old_sql "SELECT count(*) = 2 * count(DISTINCT version) FROM guarantees
		WHERE formula_code = 'CONFORT' AND spec ? 'non_optam_pct_brss'
		AND category IN ('BIOLOGIE', 'OPTIQUE_LENTILLES')")" t
if [ -n "$doctors_before" ]; then
	pass "doctors' fees carry non_optam_pct_brss before"
else
	fail "doctors' fees carry non_optam_pct_brss before" "none in deploy/formulas"
fi

# A family whose contract changed on 1 January, written before 023: the
# subscriber (her first name now in capitals), a child, and twins who
# carry their mother's NIR on both contracts, the spouse, born the same
# day as the subscriber, on the second only.
check "a family on two contracts" old_sql "
	WITH m AS (INSERT INTO members (membership_number, last_name, first_name, birth_date)
	  VALUES ('UPG$RUN_ID', 'Martin', 'Marie', '1980-05-01') RETURNING member_id),
	a AS (INSERT INTO contracts (member_id, formula_code, amc_number, status, start_date, end_date)
	  SELECT member_id, 'CONFORT', '75500017', 'terminated', '2025-01-01', '2026-01-01' FROM m
	  RETURNING contract_id, member_id),
	b AS (INSERT INTO contracts (member_id, formula_code, amc_number, status, start_date)
	  SELECT member_id, 'ESSENTIEL', '75500017', 'active', '2026-01-01' FROM m
	  RETURNING contract_id, member_id)
	INSERT INTO beneficiaries (contract_id, member_id, rank, relationship, last_name, first_name,
	  birth_date, start_date)
	SELECT contract_id, member_id, 1, 'subscriber', 'Martin', 'Marie', date '1980-05-01', date '2025-01-01' FROM a
	UNION ALL SELECT contract_id, NULL, 2, 'child', 'Martin', 'Léo', date '2015-03-03', date '2025-01-01' FROM a
	UNION ALL SELECT contract_id, NULL, 3, 'child', 'Martin', 'Jade', date '2019-07-07', date '2025-01-01' FROM a
	UNION ALL SELECT contract_id, NULL, 4, 'child', 'Martin', 'Lou', date '2019-07-07', date '2025-01-01' FROM a
	UNION ALL SELECT contract_id, member_id, 1, 'subscriber', 'Martin', 'MARIE', date '1980-05-01', date '2026-01-01' FROM b
	UNION ALL SELECT contract_id, NULL, 2, 'spouse', 'Martin', 'Paul', date '1980-05-01', date '2026-01-01' FROM b
	UNION ALL SELECT contract_id, NULL, 3, 'child', 'Martin', 'Léo', date '2015-03-03', date '2026-01-01' FROM b
	UNION ALL SELECT contract_id, NULL, 4, 'child', 'Martin', 'Lou', date '2019-07-07', date '2026-01-01' FROM b
	UNION ALL SELECT contract_id, NULL, 5, 'child', 'Martin', 'Jade', date '2019-07-07', date '2026-01-01' FROM b"
check "the twins carry their mother's NIR" old_sql "UPDATE beneficiaries SET nir = '280057512345612'
	WHERE first_name IN ('Jade', 'Lou') AND contract_id IN (SELECT contract_id FROM contracts c
	JOIN members m USING (member_id) WHERE m.membership_number = 'UPG$RUN_ID')"
# the family's persons: each the first names @ formulas of its rows
family() {
	old_sql "SELECT string_agg(x, ' ' ORDER BY x COLLATE \"C\") FROM (
	  SELECT string_agg(b.first_name || '@' || c.formula_code, '+' ORDER BY b.beneficiary_id) x
	  FROM beneficiaries b JOIN contracts c USING (contract_id) JOIN members m ON m.member_id = c.member_id
	  WHERE m.membership_number = 'UPG$RUN_ID' GROUP BY b.person_id) p"
}
# This release's statements need 023's column: it is applied first.
check "migrated but for 022" migrate_except 022
check_eq "023: one person per person of the family, across the two contracts" \
	"$(family)" "Jade@CONFORT+Jade@ESSENTIEL Lou@CONFORT+Lou@ESSENTIEL Léo@CONFORT+Léo@ESSENTIEL Marie@CONFORT+MARIE@ESSENTIEL Paul@ESSENTIEL"
check "023: a third contract's row, written after, joins its person" old_sql "
	WITH c AS (INSERT INTO contracts (member_id, formula_code, amc_number, status, start_date)
	  SELECT member_id, 'PREMIUM', '75500017', 'active', '2027-01-01' FROM members
	  WHERE membership_number = 'UPG$RUN_ID' RETURNING contract_id, member_id)
	INSERT INTO beneficiaries (contract_id, member_id, rank, relationship, last_name, first_name,
	  birth_date, start_date)
	SELECT contract_id, member_id, 1, 'subscriber', 'Martin', 'Marie', date '1980-05-01', date '2027-01-01' FROM c"
check_eq "023: ... (the trigger)" "$(family)" \
	"Jade@CONFORT+Jade@ESSENTIEL Lou@CONFORT+Lou@ESSENTIEL Léo@CONFORT+Léo@ESSENTIEL Marie@CONFORT+MARIE@ESSENTIEL+Marie@PREMIUM Paul@ESSENTIEL"
check_eq "022 not applied yet" \
	"$(old_sql "SELECT count(*) FROM schema_migrations WHERE name LIKE '022_%'")" 0

# upgrade_worker: a reimbursement worker on that database, started as in
# production but with no broker to reach (it must not take the shared
# topic's claims, which are not in this database) and quotes off
upgrade_worker() {
	start_daemon reimburse "$LOG" CLAIMS_PG_DSN="$OLD_DSN" CLAIMS_QUOTE_CONNECT= \
		CLAIMS_KAFKA_BROKERS=127.0.0.1:1 CLAIMS_METRICS_ADDR= CLAIMS_LOG_LEVEL=info
}
LOG=$TEST_LOGS/upgrade-$RUN_ID.log
upgrade_worker
check "before 022, a worker of this release starts, refusing those versions alone" \
	wait_for 30 grep -Eq '"msg":"[0-9]+ formula versions loaded, [1-9][0-9]* refused"' "$LOG"
check "it names the guarantee and the member" grep -Eq "(BIOLOGIE|OPTIQUE_LENTILLES)\.non_optam_pct_brss" "$LOG"
stop_daemon "$LAST_PID"
check_eq "and stops cleanly" "$?" 0

# 022 after 023 and 024, as no release does: said so to the runner.
check "brought up to date" old_claimctl migrate --dir deploy/sql --out-of-order
check_eq "022 applied" \
	"$(old_sql "SELECT count(*) FROM schema_migrations WHERE name LIKE '022_%'")" 1
check_eq "no guarantee outside doctors' fees keeps non_optam_pct_brss" \
	"$(old_sql "SELECT count(*) FROM guarantees WHERE spec ? 'non_optam_pct_brss'
		AND category NOT IN ('CONSULT_GP', 'CONSULT_SPEC', 'HOSP_HONORAIRES',
		'RADIOLOGIE')")" 0
check_eq "doctors' fees keep theirs, with its value" \
	"$(old_sql "SELECT string_agg(formula_code || '/' || version || '/' || category
		|| '=' || (spec->>'non_optam_pct_brss'), ',' ORDER BY 1)
		FROM guarantees WHERE category IN ('CONSULT_GP', 'CONSULT_SPEC',
		'HOSP_HONORAIRES', 'RADIOLOGIE') AND spec ? 'non_optam_pct_brss'")" \
	"$doctors_before"
check_eq "every other member of every guarantee unchanged" \
	"$(old_sql "SELECT md5(string_agg(formula_code || version || category
		|| (spec - 'non_optam_pct_brss')::text, ',' ORDER BY formula_code, version,
		category)) FROM guarantees")" "$others_before"
: >"$LOG"
upgrade_worker
check "after 022, the worker loads them and starts" \
	wait_for 30 grep -q '"msg":"started' "$LOG"
check "every version loaded" grep -Eq '"msg":"[0-9]+ formula versions loaded, 0 refused"' "$LOG"
stop_daemon "$LAST_PID"
check_eq "and stops cleanly" "$?" 0

# 028 and 029: the index 028 finds made beforehand by a concurrent build
# that failed (here: built unique, on a column with a repeated value) is
# invalid; 028 leaves it, 029 builds it again as 028 defines it.
check "a database before 028" old_sql "DROP INDEX outbox_refused;
	DELETE FROM schema_migrations WHERE name LIKE '028_%' OR name LIKE '029_%'"
check "two events of one topic" old_sql "
	INSERT INTO outbox (message_id, topic, key, msg_type, payload)
	SELECT gen_random_uuid(), 'upgrade.$RUN_ID', 'k', 3, '\x00' FROM generate_series(1, 2)"
psql -X -q "$OLD_DSN" -c "CREATE UNIQUE INDEX CONCURRENTLY outbox_refused ON outbox (topic)" \
	>/dev/null 2>&1
check_eq "a concurrent build that failed left outbox_refused invalid" \
	"$(old_sql "SELECT indisvalid FROM pg_index WHERE indexrelid = 'outbox_refused'::regclass")" f
# (Later migrations stay applied: 028 and 029 run again after them,
# said so to the runner.)
check "brought up to date again" old_claimctl migrate --dir deploy/sql --out-of-order
check_eq "029 built it again, valid, as 028 defines it" \
	"$(old_sql "SELECT i.indisvalid || ' ' || pg_get_indexdef(i.indexrelid) FROM pg_index i
		WHERE i.indexrelid = 'outbox_refused'::regclass")" \
	"true CREATE INDEX outbox_refused ON public.outbox USING btree (event_id) WHERE (refused_at IS NOT NULL)"
report
