/*
 * NAME
 *	test_migrate.c - migrations and seed applied twice change nothing
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "itest.h"
#include "test.h"

/* A fingerprint of the schema: every column of every table, with types. */
static char *schema_fingerprint(struct pg *db)
{
	PGresult *res;
	char *text;

	if (pg_exec_params(
		    db,
		    "SELECT md5(string_agg(table_name || '.' || column_name || ':' ||"
		    " data_type || ':' || is_nullable, ',' ORDER BY table_name, column_name))"
		    " || ':' || (SELECT count(*) FROM pg_indexes WHERE schemaname = 'public')"
		    " FROM information_schema.columns WHERE table_schema = 'public'",
		    0, NULL, &res) != OK)
		return NULL;
	text = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return text;
}

static long count_rows(struct pg *db, const char *table)
{
	char *sql = xasprintf("SELECT count(*) FROM %s", table);
	PGresult *res;
	long n = -1;

	if (pg_exec_params(db, sql, 0, NULL, &res) == OK) {
		n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	free(sql);
	return n;
}

static void test_migrate_twice(void)
{
	struct pg *db = itest_db(); /* the first application, if needed */
	char *before, *after;
	int applied = -1;

	REQUIRE(db != NULL);
	before = schema_fingerprint(db);
	CHECK(migrate_apply(db, "deploy/sql", 0, &applied) == OK);
	CHECK_EQ_I64(applied, 0);
	after = schema_fingerprint(db);
	REQUIRE(before != NULL && after != NULL);
	CHECK_EQ_STR(after, before);
	CHECK(count_rows(db, "schema_migrations") >= 3);
	free(before);
	free(after);
	pg_close(db);
}

/* deploy/sql copied into dir (a mkdtemp template), then the shell
 * command `change` run in it; OK or ERR. */
static int migrations_copy(char *dir, const char *change)
{
	char *cmd;
	int status;

	if (mkdtemp(dir) == NULL)
		return ERR;
	cmd = xasprintf("cp deploy/sql/*.sql %s/ && cd %s && %s", dir, dir, change);
	status = system(cmd) == 0 ? OK : ERR;
	free(cmd);
	return status;
}

static void migrations_remove(const char *dir)
{
	char *cmd = xasprintf("rm -rf %s", dir);

	CHECK(system(cmd) == 0);
	free(cmd);
}

static void test_changed_migration_refused(void)
{
	struct pg *db = itest_db();
	char dir[] = "/tmp/claims-migrations-XXXXXX";
	int applied;

	REQUIRE(db != NULL);
	/* Same name as an applied migration, other content: must be refused. */
	REQUIRE(migrations_copy(dir, "echo '-- edited' >> 001_reference.sql") == OK);
	CHECK(migrate_apply(db, dir, 0, &applied) == ERR);
	migrations_remove(dir);
	pg_close(db);
}

/* A migration that sorts before one already applied is refused, and
 * not applied: here it would run after it, on a new database before. */
static void test_migration_out_of_order_refused(void)
{
	struct pg *db = itest_db();
	char dir[] = "/tmp/claims-migrations-XXXXXX";
	int applied;

	REQUIRE(db != NULL);
	REQUIRE(migrations_copy(
			dir, "echo 'CREATE TABLE late_fix (x int);' > 023_zz_late_fix.sql") == OK);
	CHECK(migrate_apply(db, dir, 0, &applied) == ERR);
	CHECK_EQ_I64(applied, 0);
	CHECK_EQ_I64(count_rows(db, "schema_migrations WHERE name = '023_zz_late_fix.sql'"), 0);
	CHECK_EQ_I64(count_rows(db, "pg_tables WHERE tablename = 'late_fix'"), 0);
	/* Should it have been applied: leave the shared database as it was. */
	CHECK(pg_exec(db,
		      "DROP TABLE IF EXISTS late_fix;"
		      " DELETE FROM schema_migrations WHERE name = '023_zz_late_fix.sql'") == OK);
	migrations_remove(dir);
	pg_close(db);
}

static void test_seed_twice(void)
{
	struct pg *db = itest_db();
	const char *claimctl = itest_env("CLAIMS_BIN", "build/bin");
	char *cmd = xasprintf("%s/claimctl seed --members 50 > /dev/null", claimctl);
	long members, beneficiaries, guarantees, formulas;

	REQUIRE(db != NULL);
	CHECK(system(cmd) == 0);
	members = count_rows(db, "members");
	beneficiaries = count_rows(db, "beneficiaries");
	guarantees = count_rows(db, "guarantees");
	formulas = count_rows(db, "formulas");
	CHECK(members >= 50);
	CHECK(beneficiaries > members);
	/* The four of deploy/formulas; tests may have added their own. */
	CHECK_EQ_I64(count_rows(db, "formulas WHERE formula_code IN"
				    " ('ESSENTIEL', 'CONFORT', 'LIBERTE', 'PREMIUM')"),
		     4);
	CHECK(system(cmd) == 0);
	CHECK_EQ_I64(count_rows(db, "members"), members);
	CHECK_EQ_I64(count_rows(db, "beneficiaries"), beneficiaries);
	CHECK_EQ_I64(count_rows(db, "guarantees"), guarantees);
	CHECK_EQ_I64(count_rows(db, "formulas"), formulas);
	free(cmd);
	pg_close(db);
}

int main(void)
{
	if (log_init("test_migrate") != OK)
		return 2;
	RUN(test_migrate_twice);
	RUN(test_changed_migration_refused);
	RUN(test_migration_out_of_order_refused);
	RUN(test_seed_twice);
	return test_report();
}
