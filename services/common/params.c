/*
 * NAME
 *	params.c - load the rules engine's dated parameters file
 */
#include "common/params.h"

#include <stdlib.h>

#include "common/log.h"
#include "common/util.h"
#include "rules/rules_json.h"

#define PARAMS_MAX_BYTES (16u << 20)

int params_load(const char *path, struct rules_params *out)
{
	struct rules_error err;
	char *text;
	size_t len;
	int status;

	if (path == NULL || path[0] == '\0')
		path = getenv("CLAIMS_RULES_PARAMS");
	if (path == NULL || path[0] == '\0')
		path = PARAMS_DEFAULT_PATH;
	if (read_file(path, PARAMS_MAX_BYTES, &text, &len) != OK)
		return ERR;
	status = rules_params_from_string(text, len, out, &err) == RULES_OK ? OK : ERR;
	if (status != OK)
		log_error("rules parameters %s: %s: %s", path, err.field, err.reason);
	free(text);
	return status;
}
