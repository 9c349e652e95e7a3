/*
 * NAME
 *	migrate.c - apply the SQL migrations of deploy/sql in order
 */
#include "common/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/xalloc.h"

#define MIGRATE_LOCK	    "SELECT pg_advisory_lock(7415002)"
#define MIGRATION_MAX_BYTES (16u << 20)
#define MIGRATE_UNLOCK	    "SELECT pg_advisory_unlock(7415002)"

static int is_migration(const char *name)
{
	size_t n = strlen(name);

	return n > 8 && name[0] >= '0' && name[0] <= '9' && strcmp(name + n - 4, ".sql") == 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_files(const char *dir, char ***names, int *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0, cap = 16;
	char **v;

	if (d == NULL) {
		log_error("migrations directory %s: %s", dir, strerror(errno));
		return ERR;
	}
	v = xmalloc(sizeof(*v) * (size_t)cap);
	while ((e = readdir(d)) != NULL) {
		if (!is_migration(e->d_name))
			continue;
		if (n == cap)
			v = xrealloc(v, sizeof(*v) * (size_t)(cap *= 2));
		v[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(v, (size_t)n, sizeof(*v), compare_names);
	*names = v;
	*count = n;
	return OK;
}

/* 1 applied with the same content, 0 not applied, ERR changed or failed. */
static int applied_state(struct pg *db, const char *name, const char *sum)
{
	const char *values[1] = {name};
	PGresult *res;
	int state;

	if (pg_exec_params(db, "SELECT sha256 FROM schema_migrations WHERE name = $1", 1, values,
			   &res) != OK)
		return ERR;
	if (PQntuples(res) == 0) {
		state = 0;
	} else if (strcmp(PQgetvalue(res, 0, 0), sum) == 0) {
		state = 1;
	} else {
		log_error("migration %s changed after it was applied (write a new migration)",
			  name);
		state = ERR;
	}
	PQclear(res);
	return state;
}

/* OK when no migration applied here sorts after name: a file that sorts
 * before one already applied (a branch's, a hotfix numbered into the
 * past) would run here after it and elsewhere before it, two schemas
 * from the same files. */
static int in_order(struct pg *db, const char *name)
{
	const char *values[1] = {name};
	PGresult *res;
	int status = OK;

	if (pg_exec_params(db, "SELECT max(name) FROM schema_migrations WHERE name > $1", 1, values,
			   &res) != OK)
		return ERR;
	if (!PQgetisnull(res, 0, 0)) {
		log_error("migration %s sorts before %s, already applied: it would run out of"
			  " order; give it a name that sorts after it",
			  name, PQgetvalue(res, 0, 0));
		status = ERR;
	}
	PQclear(res);
	return status;
}

static int apply_one(struct pg *db, const char *dir, const char *name, int out_of_order)
{
	char *path = xasprintf("%s/%s", dir, name), *sql = NULL, sum[65];
	size_t len;
	const char *values[2] = {name, sum};
	int state, status = ERR;

	if (read_file(path, MIGRATION_MAX_BYTES, &sql, &len) != OK)
		goto out;
	sha256_hex(sql, strlen(sql), sum);
	state = applied_state(db, name, sum);
	if (state != 0) {
		status = state == 1 ? 1 : ERR;
		goto out;
	}
	if ((!out_of_order && in_order(db, name) != OK) || pg_begin(db) != OK)
		goto out;
	if (pg_exec(db, sql) != OK ||
	    pg_exec_params(db, "INSERT INTO schema_migrations (name, sha256) VALUES ($1, $2)", 2,
			   values, NULL) != OK ||
	    pg_commit(db) != OK) {
		log_error("migration %s failed, rolled back", name);
		pg_rollback(db);
		goto out;
	}
	log_info("migration %s applied", name);
	status = OK;
out:
	free(sql);
	free(path);
	return status;
}

int migrate_apply(struct pg *db, const char *dir, int out_of_order, int *applied)
{
	char **names;
	int count, status = OK;

	*applied = 0;
	if (pg_exec(db, MIGRATE_LOCK) != OK)
		return ERR;
	/* The lock is the session's: a new session would run on without it. */
	pg_pin_session(db, 1);
	if (pg_exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
			" name text PRIMARY KEY, sha256 text NOT NULL,"
			" applied_at timestamptz NOT NULL DEFAULT now())") != OK ||
	    list_files(dir, &names, &count) != OK) {
		if (pg_exec(db, MIGRATE_UNLOCK) != OK)
			log_warn("migration lock not released");
		pg_pin_session(db, 0);
		return ERR;
	}
	for (int i = 0; i < count; i++) {
		int r = status == OK ? apply_one(db, dir, names[i], out_of_order) : OK;

		if (r == ERR)
			status = ERR;
		else if (r == OK && status == OK)
			(*applied)++;
		free(names[i]);
	}
	free(names);
	if (pg_exec(db, MIGRATE_UNLOCK) != OK)
		status = ERR;
	pg_pin_session(db, 0);
	return status;
}
