/*
 * NAME
 *	claimctl_migrate.c - claimctl migrate: bring the schema up to date
 *
 * SYNOPSIS
 *	claimctl migrate [--dir DIR]
 *
 * DESCRIPTION
 *	Applies deploy/sql/NNN_*.sql not applied yet (see common/migrate.h).
 *	Safe to run at every deployment and from several places at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "common/log.h"
#include "common/migrate.h"
#include "common/pg.h"

int cmd_migrate(int argc, char **argv)
{
	const char *dsn = claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN);
	const char *dir = getenv("CLAIMS_MIGRATIONS_DIR");
	struct pg *db;
	int applied, status;

	if (dir == NULL)
		dir = "deploy/sql";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else {
			int help = strcmp(argv[i], "--help") == 0;

			fprintf(help ? stdout : stderr,
				"Usage: claimctl migrate [--dir DIR]\n\n"
				"Applies the SQL migrations of DIR in name order, each once.\n"
				"  CLAIMS_PG_DSN          database "
				"[" CLAIMCTL_PG_DSN "]\n"
				"  CLAIMS_MIGRATIONS_DIR  migrations [deploy/sql]\n");
			return help ? 0 : EXIT_USAGE;
		}
	}
	if (pg_open(dsn, &db) != OK)
		return 1;
	status = migrate_apply(db, dir, &applied);
	pg_close(db);
	if (status != OK)
		return 1;
	printf("%d migration%s applied\n", applied, applied == 1 ? "" : "s");
	return 0;
}
