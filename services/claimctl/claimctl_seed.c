/*
 * NAME
 *	claimctl_seed.c - claimctl seed: load demonstration data
 *
 * SYNOPSIS
 *	claimctl seed [--members N] [--seed S] [--formulas DIR]
 *
 * DESCRIPTION
 *	Loads the formulas of deploy/formulas/ (one JSON file each) (with their dated
 *	versions and guarantees; each file read as the engine reads it, a
 *	key given twice refused, and one bad file loads nothing at all: one
 *	transaction), a fixed set of health professionals whose
 *	RPPS, ADELI and FINESS numbers pass their check digits, and N members
 *	(default 1000), each with a contract, often a spouse and children.
 *
 *	The data are drawn from a seeded generator: the same S and N give the
 *	same members, membership numbers and contracts, so tests and the demo
 *	can name them. Member i (from 1) has membership number
 *	membership_number_of(i) (common/ident.h). Running seed again adds nothing that is
 *	already there.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "common/ident.h"
#include "common/log.h"
#include "common/params.h"
#include "common/pg.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "rules/rules_json.h"

#define SEED_AMC_NUMBER "75500017"

static const char *const last_names[] = {
	"Martin",   "Bernard", "Thomas",   "Petit",   "Robert",	  "Richard", "Durand",	"Dubois",
	"Moreau",   "Laurent", "Simon",	   "Michel",  "Lefebvre", "Leroy",   "Roux",	"David",
	"Bertrand", "Morel",   "Fournier", "Girard",  "Bonnet",	  "Dupont",  "Lambert", "Fontaine",
	"Rousseau", "Vincent", "Muller",   "Lefevre", "Faure",	  "Andre",   "Mercier", "Blanc",
};
static const char *const first_names[] = {
	"Marie",   "Jean", "Camille", "Louis",	"Lea",	 "Hugo",   "Chloe",  "Lucas",	"Manon",
	"Gabriel", "Ines", "Arthur",  "Jade",	"Jules", "Louise", "Adam",   "Alice",	"Raphael",
	"Emma",	   "Paul", "Sarah",   "Nathan", "Julie", "Thomas", "Claire", "Antoine",
};

struct rng {
	uint64_t state;
};

/* splitmix64: small, fast, and the same sequence on every platform */
static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int rng_below(struct rng *r, int n)
{
	return (int)(rng_next(r) % (uint64_t)n);
}

#define PICK(r, array) (array[rng_below(r, (int)(sizeof(array) / sizeof(array[0])))])

/* ---- formulas ------------------------------------------------------------- */

static int insert_guarantees(struct pg *db, const char *code, const char *version,
			     json_t *guarantees)
{
	const char *category;
	json_t *spec;

	json_object_foreach (guarantees, category, spec) {
		char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
		const char *v[4] = {code, version, category, text};
		int status = pg_exec_prepared(db, "seed_guarantee", 4, v, NULL, NULL, NULL);

		free(text);
		if (status != OK)
			return ERR;
	}
	return OK;
}

static int insert_formula(struct pg *db, json_t *f, const char *path)
{
	const char *code = json_string_value(json_object_get(f, "code"));
	const char *label = json_string_value(json_object_get(f, "label"));
	json_t *versions = json_object_get(f, "versions"), *v;
	size_t i;

	if (code == NULL || label == NULL || !json_is_boolean(json_object_get(f, "responsible")) ||
	    !json_is_array(versions)) {
		log_error("%s: needs code, label, responsible and versions", path);
		return ERR;
	}
	{
		const char *values[3] = {
			code, label, json_is_true(json_object_get(f, "responsible")) ? "t" : "f"};

		if (pg_exec_prepared(db, "seed_formula", 3, values, NULL, NULL, NULL) != OK)
			return ERR;
	}
	json_array_foreach (versions, i, v) {
		char version[16];
		const char *to = json_string_value(json_object_get(v, "effective_to"));
		const char *values[4] = {
			code, version, json_string_value(json_object_get(v, "effective_from")), to};
		PGresult *res;
		int inserted;

		snprintf(version, sizeof(version), "%lld",
			 (long long)json_integer_value(json_object_get(v, "version")));
		if (values[2] == NULL || !json_is_object(json_object_get(v, "guarantees"))) {
			log_error("%s: version %s needs effective_from and guarantees", path,
				  version);
			return ERR;
		}
		if (pg_exec_prepared(db, "seed_formula_version", 4, values, NULL, NULL, &res) != OK)
			return ERR;
		inserted = PQntuples(res) > 0;
		PQclear(res);
		if (inserted &&
		    insert_guarantees(db, code, version, json_object_get(v, "guarantees")) != OK)
			return ERR;
	}
	return OK;
}

/* A formula declared responsible must be one: each version judged
 * against the contrat responsable frame in force on its first day
 * (claimctl formula check's verdict). The workers pay what a formula
 * says; one that covered the PF or the parcours' majoration would be
 * paid as written, and the mutuelle lose the responsible contract's tax
 * and social treatment for every member on it. */
static int formula_responsible(const struct rules_formula *f, const struct rules_params *params,
			       const char *path)
{
	struct rules_formula_issue issues[16];
	struct rules_error err;
	int status = OK;

	for (size_t i = 0; i < f->n_versions; i++) {
		const struct rules_formula_version *v = &f->v[i];
		rules_date_t day =
			v->has_from ? v->effective_from : rules_date_from_days(date_today());
		size_t n;

		if (rules_formula_check(&v->contract, params, day, issues, 16, &n, &err) !=
		    RULES_OK) {
			log_error("%s: version %d: %s: %s", path, (int)v->version, err.field,
				  err.reason);
			return ERR;
		}
		for (size_t k = 0; k < n && k < 16; k++)
			log_error("%s: version %d declared responsible, but %s: %s", path,
				  (int)v->version,
				  issues[k].category >= 0 ? rules_category_name(issues[k].category)
							  : "formula",
				  issues[k].reason);
		if (n > 0)
			status = ERR;
	}
	return status;
}

/* What the workers and claimctl formula check would refuse is not
 * loaded: the schema of docs/rules.md (a guarantee with a member the
 * engine does not know, a negative amount, overlapping versions), read
 * by the engine's own reader, and a formula declared responsible that
 * is not. jansson alone took a duplicated key's last value, and
 * anything in a guarantee. */
static int formula_valid(json_t *f, const struct rules_params *params, const char *path)
{
	struct rules_formula *parsed = xmalloc(sizeof(*parsed));
	struct rules_error err;
	int status = OK;

	if (rules_json_formula(f, parsed, &err) != RULES_OK) {
		log_error("%s: %s: %s", path, err.field, err.reason);
		status = ERR;
	} else {
		status = formula_responsible(parsed, params, path);
	}
	free(parsed);
	return status;
}

static int load_formulas(struct pg *db, const char *dir, int *count)
{
	struct rules_params *params = xmalloc(sizeof(*params));
	DIR *d;
	struct dirent *e;
	int status = OK;

	*count = 0;
	/* The frame's parameters: CLAIMS_RULES_PARAMS, else the shipped file. */
	if (params_load(NULL, params) != OK) {
		free(params);
		return ERR;
	}
	if ((d = opendir(dir)) == NULL) {
		log_error("formulas directory %s: %s", dir, strerror(errno));
		free(params);
		return ERR;
	}
	while (status == OK && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		char *path;
		json_error_t jerr;
		json_t *f;

		if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		f = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		if (f == NULL) {
			log_error("%s:%d: %s", path, jerr.line, jerr.text);
			status = ERR;
		} else {
			status = formula_valid(f, params, path);
			if (status == OK)
				status = insert_formula(db, f, path);
			json_decref(f);
			(*count)++;
		}
		free(path);
	}
	closedir(d);
	free(params);
	return status;
}

/* ---- professionals ---------------------------------------------------------- */

struct profession {
	const char *kind, *profession, *label;
	int count;
};

static const struct profession professions[] = {
	{"RPPS", "medecin_generaliste", "Dr", 20},
	{"RPPS", "medecin_specialiste", "Dr", 10},
	{"RPPS", "chirurgien_dentiste", "Dr", 4},
	{"ADELI", "infirmier", "Cabinet infirmier", 8},
	{"ADELI", "masseur_kinesitherapeute", "Cabinet de kinesitherapie", 4},
	{"FINESS", "pharmacie", "Pharmacie", 6},
	{"FINESS", "opticien", "Optique", 4},
	{"FINESS", "etablissement_sante", "Centre hospitalier", 4},
};

/* Digits of the right length for the kind, with the Luhn key appended. */
static void professional_number(const char *kind, int serial, char *out, size_t len)
{
	char body[24];

	if (strcmp(kind, "RPPS") == 0)
		snprintf(body, sizeof(body), "10%08d", 1000000 + serial);
	else if (strcmp(kind, "ADELI") == 0)
		snprintf(body, sizeof(body), "75%06d", 100000 + serial);
	else
		snprintf(body, sizeof(body), "75%06d", 300000 + serial);
	size_t n = strlen(body);

	if (n + 2 > len)
		log_panic("professional number buffer too small");
	memcpy(out, body, n);
	out[n] = (char)('0' + luhn_check_digit(body));
	out[n + 1] = '\0';
}

static int professional_count(void)
{
	int n = 0;

	for (size_t i = 0; i < sizeof(professions) / sizeof(professions[0]); i++)
		n += professions[i].count;
	return n;
}

static int load_professionals(struct pg *db, struct rng *r)
{
	int serial = 0;

	for (size_t i = 0; i < sizeof(professions) / sizeof(professions[0]); i++) {
		const struct profession *p = &professions[i];

		for (int k = 0; k < p->count; k++) {
			char number[16], *name;
			int status;

			professional_number(p->kind, ++serial, number, sizeof(number));
			name = xasprintf("%s %s", p->label, PICK(r, last_names));
			{
				const char *v[5] = {p->kind, number, name, p->profession,
						    k % 4 == 3 ? "f" : "t"};

				status = pg_exec_prepared(db, "seed_professional", 5, v, NULL, NULL,
							  NULL);
			}
			free(name);
			if (status != OK)
				return ERR;
		}
	}
	return OK;
}

/* ---- members --------------------------------------------------------------- */

static void random_date(struct rng *r, int year_from, int year_to, char out[DATE_STR_LEN])
{
	int32_t lo, hi;
	char a[DATE_STR_LEN], b[DATE_STR_LEN];

	snprintf(a, sizeof(a), "%04d-01-01", year_from);
	snprintf(b, sizeof(b), "%04d-12-31", year_to);
	if (date_parse(a, &lo) != OK || date_parse(b, &hi) != OK)
		lo = hi = 0;
	date_format(lo + rng_below(r, hi - lo + 1), out);
}

static void random_nir(struct rng *r, const char *birth, int sex, char out[16])
{
	char head[14];

	snprintf(head, sizeof(head), "%d%.2s%.2s%02d%03d%03d", sex, birth + 2, birth + 5,
		 1 + rng_below(r, 95), 1 + rng_below(r, 899), 1 + rng_below(r, 999));
	snprintf(out, 16, "%s%02d", head, nir_key(head));
}

struct member_plan {
	char number[11], birth[DATE_STR_LEN], start[DATE_STR_LEN], nir[16];
	const char *last, *first, *formula, *status, *end;
};

static const char *pick_formula(struct rng *r)
{
	int x = rng_below(r, 100);

	return x < 30 ? "ESSENTIEL" : x < 70 ? "CONFORT" : x < 90 ? "PREMIUM" : "LIBERTE";
}

static int insert_beneficiary(struct pg *db, const char *contract_id, const char *member_id,
			      int rank, const char *relationship, const char *last,
			      const char *first, const char *birth, const char *nir,
			      const char *exemptions, const char *start)
{
	char rank_s[8];
	const char *v[10] = {contract_id, member_id, rank_s, relationship, nir,
			     last,	  first,     birth,  exemptions,   start};

	if (db == NULL)
		return OK; /* dry run: the member exists, only the draws matter */
	snprintf(rank_s, sizeof(rank_s), "%d", rank);
	return pg_exec_prepared(db, "seed_beneficiary", 10, v, NULL, NULL, NULL);
}

static int insert_family(struct pg *db, struct rng *r, const struct member_plan *m,
			 const char *contract_id, const char *member_id)
{
	const char *exempt = rng_below(r, 100) < 3 ? "{C2S}" : "{}";
	char birth[DATE_STR_LEN], nir[16];
	int rank = 1, children = rng_below(r, 4);

	if (insert_beneficiary(db, contract_id, member_id, rank++, "subscriber", m->last, m->first,
			       m->birth, m->nir, exempt, m->start) != OK)
		return ERR;
	if (rng_below(r, 2) == 0) {
		random_date(r, 1950, 2004, birth);
		random_nir(r, birth, 1 + rng_below(r, 2), nir);
		if (insert_beneficiary(db, contract_id, NULL, rank++, "spouse", m->last,
				       PICK(r, first_names), birth, nir, exempt, m->start) != OK)
			return ERR;
	}
	for (int c = 0; c < children; c++) {
		random_date(r, 2008, 2024, birth);
		random_nir(r, birth, 1 + rng_below(r, 2), nir);
		if (insert_beneficiary(db, contract_id, NULL, rank++, "child", m->last,
				       PICK(r, first_names), birth, nir, exempt, m->start) != OK)
			return ERR;
	}
	return OK;
}

static void plan_member(struct rng *r, long index, struct member_plan *m)
{
	membership_number_of(index, m->number);
	m->last = PICK(r, last_names);
	m->first = PICK(r, first_names);
	random_date(r, 1945, 2004, m->birth);
	random_nir(r, m->birth, 1 + rng_below(r, 2), m->nir);
	m->formula = pick_formula(r);
	random_date(r, 2023, 2025, m->start);
	/* About one contract in 25 was terminated (résiliation) mid-2026. */
	m->status = rng_below(r, 25) == 0 ? "terminated" : "active";
	m->end = strcmp(m->status, "terminated") == 0 ? "2026-07-01" : NULL;
}

static int load_member(struct pg *db, struct rng *r, long index, int *created)
{
	struct member_plan m;
	char member_id[24], contract_id[24], *email;
	PGresult *res;
	int status;

	plan_member(r, index, &m);
	email = xasprintf("%s.%s.%ld@example.org", m.first, m.last, index);
	{
		const char *v[6] = {m.number, m.nir, m.last, m.first, m.birth, email};

		status = pg_exec_prepared(db, "seed_member", 6, v, NULL, NULL, &res);
	}
	free(email);
	if (status != OK)
		return ERR;
	*created = PQntuples(res) > 0;
	if (!*created) {
		/* Already seeded: draw the family anyway so that the members after
		 * this one come out the same as in the first run. */
		PQclear(res);
		return insert_family(NULL, r, &m, NULL, NULL);
	}
	snprintf(member_id, sizeof(member_id), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	{
		const char *v[6] = {member_id, m.formula, SEED_AMC_NUMBER,
				    m.status,  m.start,	  m.end};

		if (pg_exec_prepared(db, "seed_contract", 6, v, NULL, NULL, &res) != OK)
			return ERR;
	}
	snprintf(contract_id, sizeof(contract_id), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return insert_family(db, r, &m, contract_id, member_id);
}

/* ---- statements and command -------------------------------------------------- */

static int prepare_statements(struct pg *db)
{
	static const struct {
		const char *name, *sql;
		int n;
	} stmts[] = {
		{"seed_formula",
		 "INSERT INTO formulas (formula_code, label, responsible) VALUES ($1, $2, $3)"
		 " ON CONFLICT DO NOTHING",
		 3},
		{"seed_formula_version",
		 "INSERT INTO formula_versions (formula_code, version, effective_from, "
		 "effective_to)"
		 " VALUES ($1, $2, $3, $4) ON CONFLICT (formula_code, version) DO NOTHING"
		 " RETURNING version",
		 4},
		{"seed_guarantee",
		 "INSERT INTO guarantees (formula_code, version, category, spec)"
		 " VALUES ($1, $2, $3, $4)",
		 4},
		{"seed_professional",
		 "INSERT INTO professionals (id_kind, id_value, name, profession, tp_agreement)"
		 " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
		 5},
		{"seed_member",
		 "INSERT INTO members (membership_number, nir, last_name, first_name, birth_date,"
		 " email) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
		 " RETURNING member_id",
		 6},
		{"seed_contract",
		 "INSERT INTO contracts (member_id, formula_code, amc_number, status, start_date,"
		 " end_date, termination_reason) VALUES ($1, $2, $3, $4, $5, $6,"
		 " CASE WHEN $6::date IS NULL THEN NULL ELSE 'resiliation a echeance' END)"
		 " RETURNING contract_id",
		 6},
		{"seed_beneficiary",
		 "INSERT INTO beneficiaries (contract_id, member_id, rank, relationship, nir,"
		 " last_name, first_name, birth_date, exemptions, start_date)"
		 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		 10},
	};

	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
		if (pg_prepare(db, stmts[i].name, stmts[i].sql, stmts[i].n) != OK)
			return ERR;
	return OK;
}

static int seed_all(struct pg *db, const char *formulas_dir, long members, uint64_t seed)
{
	struct rng r = {seed};
	int formulas, created, added = 0;

	if (prepare_statements(db) != OK || pg_begin(db) != OK)
		return ERR;
	if (load_formulas(db, formulas_dir, &formulas) != OK || load_professionals(db, &r) != OK)
		goto fail;
	for (long i = 1; i <= members; i++) {
		if (load_member(db, &r, i, &created) != OK)
			goto fail;
		added += created;
	}
	if (pg_commit(db) != OK)
		goto fail;
	printf("seeded: %d formulas, %d professionals, %d new members (of %ld)\n", formulas,
	       professional_count(), added, members);
	return OK;
fail:
	pg_rollback(db);
	return ERR;
}

static int seed_usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
		"Usage: claimctl seed [--members N] [--seed S] [--formulas DIR]\n\n"
		"Loads formulas (DIR, default deploy/formulas), 60 professionals and N members\n"
		"(default 1000) drawn from a generator seeded with S (default 42).\n"
		"Member i has membership number 1 + i on 8 digits + Luhn key.\n"
		"  CLAIMS_PG_DSN        database [" CLAIMCTL_PG_DSN "]\n"
		"  CLAIMS_RULES_PARAMS  dated parameters the formulas are checked against\n"
		"                       [" PARAMS_DEFAULT_PATH "]\n");
	return status;
}

int cmd_seed(int argc, char **argv)
{
	const char *dsn = claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), *dir = "deploy/formulas";
	long members = 1000;
	uint64_t seed = 42;
	struct pg *db;
	int status;

	for (int i = 1; i < argc; i++) {
		char *end = NULL;

		if (strcmp(argv[i], "--members") == 0 && i + 1 < argc) {
			members = strtol(argv[++i], &end, 10);
			if (end == argv[i] || *end != '\0')
				return seed_usage(EXIT_USAGE);
		} else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
			seed = strtoull(argv[++i], &end, 10);
			if (end == argv[i] || *end != '\0' || argv[i][0] == '-')
				return seed_usage(EXIT_USAGE);
		} else if (strcmp(argv[i], "--formulas") == 0 && i + 1 < argc)
			dir = argv[++i];
		else
			return seed_usage(claimctl_is_help(argv[i]) ? 0 : EXIT_USAGE);
	}
	if (members < 0 || members > 10000000) {
		fprintf(stderr, "claimctl seed: --members must be between 0 and 10000000\n");
		return EXIT_USAGE;
	}
	if (pg_open(dsn, &db) != OK)
		return 1;
	status = seed_all(db, dir, members, seed);
	pg_close(db);
	return status == OK ? 0 : 1;
}
