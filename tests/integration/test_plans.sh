#!/usr/bin/env bash
# test_plans.sh - no daemon statement scans a growing table whole
#
# The daemons' statements run with generic plans, made once per session
# from the statistics of that moment. On a database just created every
# table is empty, and a plan made then would scan the claims tables
# whole for as long as the session lives. Each daemon's --plans prints
# the plan of every statement it prepares; on a new, empty database no
# plan may read a table whole, by a sequential scan or by an index
# scanned without a condition (a partial index read through, say),
# except the reference tables (formulas, their versions and guarantees:
# a few hundred rows) and the head of a queue read under a LIMIT. Then,
# with a large register of professionals, none is found by reading it
# whole.
source "$(dirname "$0")/../lib.sh"

ADMIN_DSN=$CLAIMS_PG_DSN
FRESH_DB=claims_plans_$RUN_ID
if ! FRESH_DSN=$(database_uri "$FRESH_DB"); then
	fail "CLAIMS_PG_DSN is a URI" "this test makes its database's URI from it: $CLAIMS_PG_DSN"
	report
	exit
fi
REFERENCE_TABLES='formulas|formula_versions|guarantees'

# unkeyed_reads: from --plans on stdin, "statement: node" for each index
# scan without an Index Cond (the whole index read), in plans not bounded
# by a LIMIT at their top
unkeyed_reads() {
	awk '
	function flush() {
		if (node != "" && !cond && !limited) print stmt ": " node
		node = ""
	}
	/^-- / { flush(); stmt = substr($0, 4); first = 1; next }
	/^$/ { flush(); next }
	{
		if (first) { limited = ($0 ~ /^Limit/); first = 0 }
		if ($0 ~ /Scan/ && $0 !~ /^ *(Index Cond|Recheck Cond|Filter):/) {
			flush()
			if ($0 ~ /Index (Only )?Scan/) {
				node = $0
				sub(/^ *(-> *)?/, "", node)
				sub(/ *\(cost.*/, "", node)
				cond = 0
			}
			next
		}
		if ($0 ~ /^ *Index Cond:/) cond = 1
	}
	END { flush() }'
}

drop_fresh() {
	psql -X -q "$ADMIN_DSN" -c "DROP DATABASE IF EXISTS $FRESH_DB" >/dev/null 2>&1
}
trap 'stop_all; drop_fresh' EXIT

drop_fresh
check "a new database" psql -X -q "$ADMIN_DSN" -c "CREATE DATABASE $FRESH_DB"
check "migrated" env CLAIMS_PG_DSN="$FRESH_DSN" "$BIN/claimctl" migrate

# expect_plans DAEMON STATEMENT...: each named statement has a plan, and
# no plan scans a table outside the reference ones
expect_plans() {
	local daemon=$1 out rc scans
	shift
	out=$(CLAIMS_PG_DSN="$FRESH_DSN" "$BIN/$daemon" --plans 2>&1)
	rc=$?
	check_eq "$daemon --plans exits 0" "$rc" 0
	for statement in "$@"; do
		if grep -q "^-- $statement\$" <<<"$out"; then
			pass "$daemon --plans shows $statement"
		else
			fail "$daemon --plans shows $statement" "not in: $(grep '^-- ' <<<"$out" | tr '\n' ' ')"
		fi
	done
	scans=$(grep -E 'Seq Scan on ' <<<"$out" | grep -Ev "Seq Scan on ($REFERENCE_TABLES) ")
	if [ -z "$scans" ]; then
		pass "$daemon: no sequential scan of a growing table on an empty database"
	else
		fail "$daemon: no sequential scan of a growing table on an empty database" "$scans"
	fi
	scans=$(unkeyed_reads <<<"$out" | grep -Ev " on ($REFERENCE_TABLES)([ _]|$)")
	if [ -z "$scans" ]; then
		pass "$daemon: no index of a growing table read whole on an empty database"
	else
		fail "$daemon: no index of a growing table read whole on an empty database" "$scans"
	fi
}

expect_plans intake outbox_add intake_first_answers intake_coverage intake_other_contracts \
	intake_professionals \
	intake_quotes intake_insert_claims intake_insert_rejections outbox_pending \
	outbox_mark_sent outbox_drop_stale outbox_mark_refused
expect_plans reimburse reimburse_lock reimburse_history reimburse_write quote_store \
	outbox_pending
expect_plans notify notify_record outbox_pending
expect_plans tpgate tp_professional_active tp_invoice_status tp_contract_member tp_rights \
	tp_catalog zap_key

# A register of professionals as large as a region's: a lookup by the
# number alone reads the whole table, or the whole of its unique index,
# which begins with the register (an Index Cond on the number only),
# for every professional of every batch.
check "50,000 professionals registered" psql -X -q "$FRESH_DSN" -c "
	INSERT INTO professionals (id_kind, id_value, name, profession)
	SELECT (ARRAY['RPPS', 'ADELI', 'FINESS'])[1 + g % 3], (10000000000 + g)::text, 'P', 'medecin'
	FROM generate_series(1, 50000) g" -c "ANALYZE professionals"
# whole_register_reads: from --plans on stdin, each statement reading
# professionals by a sequential scan or by an index condition without
# the register
whole_register_reads() {
	awk '
	/^-- / { stmt = substr($0, 4); on = 0; next }
	/Seq Scan on professionals/ { print stmt ": " $0; next }
	/(Index (Only )?Scan using|Bitmap Index Scan on) professionals_id_kind_id_value_key/ { on = 1; next }
	on && /Index Cond:/ { if ($0 !~ /id_kind/) print stmt ": " $0; on = 0 }'
}
# (intake looks professionals up by number; the front door by their key)
check_eq "intake: professionals found by register and number in a large register" \
	"$(CLAIMS_PG_DSN="$FRESH_DSN" "$BIN/intake" --plans 2>&1 | whole_register_reads)" ""

for daemon in intake reimburse tpgate notify; do
	check "$daemon --help tells of --plans" grep -q -- "--plans" <<<"$("$BIN/$daemon" --help)"
	CLAIMS_PG_DSN=postgresql://claims@127.0.0.1:1/nowhere "$BIN/$daemon" --plans \
		>/dev/null 2>&1
	check_eq "$daemon --plans without a database exits 1" "$?" 1
done
report
