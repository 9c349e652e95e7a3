/*
 * NAME
 *	migrate.h - apply the SQL migrations of deploy/sql in order
 *
 * DESCRIPTION
 *	Files named NNN_name.sql are applied in name order, each in its own
 *	transaction together with its row in schema_migrations (version,
 *	name, sha256). A file already applied is skipped, so running the
 *	migrations twice changes nothing; a file whose content changed after
 *	it was applied is refused (migrations are append-only: write a new
 *	one). A file that sorts before one already applied is refused too
 *	(it would run here after it, and before it on a new database), unless
 *	out_of_order is set: for repairing a database by hand, never for a
 *	release. A session advisory lock keeps two migrators from racing.
 *
 * DIAGNOSTICS
 *	ERR after logging the file and PostgreSQL's message; the failing
 *	file's transaction is rolled back, earlier files stay applied.
 */
#ifndef COMMON_MIGRATE_H
#define COMMON_MIGRATE_H

#include "common/pg.h"
#include "common/status.h"

int migrate_apply(struct pg *db, const char *dir, int out_of_order, int *applied) MUST_CHECK;

#endif
