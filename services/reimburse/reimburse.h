/*
 * NAME
 *	reimburse.h - internals of the reimbursement daemon
 *
 * DESCRIPTION
 *	reimburse.c          main, configuration table, the loop's callbacks
 *	reimburse_formulas.c formula versions and their guarantees, parsed once
 *	                     and kept in memory (they are immutable once
 *	                     published; new versions are picked up on reload)
 *	reimburse_claim.c    one claim: lock, history, engine, decision,
 *	                     counters, payment and event in one transaction
 */
#ifndef REIMBURSE_H
#define REIMBURSE_H

#include "common/pg.h"
#include "common/status.h"
#include "proto/claims.pb-c.h"
#include "rules/rules.h"

struct formula_version {
	char code[64];
	int version;
	rules_date_t from, to; /* to exclusive; 0 when open */
	struct rules_contract contract;
};

struct formula_cache {
	struct formula_version *v;
	int count;
	int64_t loaded_at_us;
};

int formulas_load(struct pg *db, struct formula_cache *cache) MUST_CHECK;
/* The version of `code` in force on `date`, or NULL. */
const struct formula_version *formulas_find(const struct formula_cache *cache, const char *code,
					    rules_date_t date);
void formulas_free(struct formula_cache *cache);

struct reimburse_ctx {
	const struct rules_params *params;
	struct formula_cache formulas;
};

int reimburse_prepare(struct pg *db) MUST_CHECK;
/* Decide one accepted claim inside the caller's transaction; a claim
 * already decided is left alone (redelivery). ERR is a database failure;
 * a message that can never be decided returns OK with `poison` set to
 * the reason, for the caller to dead-letter. */
int reimburse_claim(struct reimburse_ctx *ctx, struct pg *db, const Claims__ClaimAccepted *a,
		    const char *trace_id, char *poison, size_t poison_len) MUST_CHECK;

#endif
