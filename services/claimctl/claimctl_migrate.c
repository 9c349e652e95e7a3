/*
 * NAME
 *	claimctl_migrate.c - claimctl migrate: bring the schema up to date
 *
 * SYNOPSIS
 *	claimctl migrate [--dir DIR] [--out-of-order]
 *
 * DESCRIPTION
 *	Applies deploy/sql/NNN_*.sql not applied yet (see common/migrate.h).
 *	Safe to run at every deployment and from several places at once.
 *	A file that sorts before one already applied is refused, unless
 *	--out-of-order (repairs by hand, tests of upgrades).
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
	int applied, status, out_of_order = 0;

	if (dir == NULL)
		dir = "deploy/sql";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else if (strcmp(argv[i], "--out-of-order") == 0) {
			out_of_order = 1;
		} else {
			int help = claimctl_is_help(argv[i]);

			fprintf(help ? stdout : stderr,
				"Usage: claimctl migrate [--dir DIR] [--out-of-order]\n\n"
				"Applies the SQL migrations of DIR in name order, each once. One\n"
				"that sorts before a migration already applied is refused, unless\n"
				"--out-of-order (a repair by hand, never a release).\n"
				"  CLAIMS_PG_DSN          database "
				"[" CLAIMCTL_PG_DSN "]\n"
				"  CLAIMS_MIGRATIONS_DIR  migrations [deploy/sql]\n");
			return help ? 0 : EXIT_USAGE;
		}
	}
	if (pg_open(dsn, &db) != OK)
		return 1;
	status = migrate_apply(db, dir, out_of_order, &applied);
	pg_close(db);
	if (status != OK)
		return 1;
	printf("%d migration%s applied\n", applied, applied == 1 ? "" : "s");
	return 0;
}
