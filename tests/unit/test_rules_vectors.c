/*
 * NAME
 *	test_rules_vectors.c - golden files of the rules engine
 *
 * DESCRIPTION
 *	Runs every tests/vectors/NAME.in.json through the JSON entry point
 *	(rules_json_simulate, what claimctl simulate does) with the
 *	parameters of deploy/params/parameters.json, and compares with
 *	NAME.expected.json: every member the expected file gives for each
 *	line (numbers, the id, and the `rules` list where given) and every
 *	total must be equal. An expected file of the form {"error":
 *	{"field": PATH}} says the request must be refused naming PATH.
 *	The 22 vectors of the domain reference (01 to 22) are copies that
 *	must never drift from it: tests/vectors/SHA256SUMS (sha256sum's
 *	format) holds the sha256 of each of their 44 files, checked here.
 *	Runs from the repository root.
 */
#include <glob.h>
#include <sodium.h>
#include <stdlib.h>

#include "rules/rules_json.h"
#include "common/params.h"
#include "common/util.h"
#include "test.h"

static struct rules_params params;
static const char
	*vector; /* The parameters every program reads (common/params.c), from the repo root. */
static void load_params(void)
{
	REQUIRE(params_load(PARAMS_DEFAULT_PATH, &params) == OK);
}

/* Compares every member of want (a line or the totals) with got. */
static void compare_object(json_t *want, json_t *got, const char *where)
{
	const char *key;
	json_t *w;

	json_object_foreach (want, key, w) {
		json_t *g = json_object_get(got, key);
		int same = g != NULL && json_equal(w, g);

		if (!same) {
			char *ws = json_dumps(w, JSON_ENCODE_ANY | JSON_COMPACT);
			char *gs = g != NULL ? json_dumps(g, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;

			printf("  %s %s.%s = %s, want %s\n", vector, where, key,
			       gs != NULL ? gs : "(missing)", ws != NULL ? ws : "?");
			free(ws);
			free(gs);
		}
		CHECK(same);
	}
}

static void compare_result(json_t *want, json_t *got)
{
	json_t *wl = json_object_get(want, "lines"), *gl = json_object_get(got, "lines");
	char where[32];

	REQUIRE(json_is_array(wl) && json_is_array(gl));
	CHECK_EQ_I64(json_array_size(gl), json_array_size(wl));
	for (size_t i = 0; i < json_array_size(wl) && i < json_array_size(gl); i++) {
		snprintf(where, sizeof where, "lines[%zu]", i);
		compare_object(json_array_get(wl, i), json_array_get(gl, i), where);
	}
	REQUIRE(json_is_object(json_object_get(want, "totals")));
	compare_object(json_object_get(want, "totals"), json_object_get(got, "totals"), "totals");
}

static void check_error(json_t *want, int rc, const struct rules_error *err)
{
	const char *field = json_string_value(json_object_get(want, "field"));

	CHECK(rc == RULES_ERR);
	if (rc == RULES_ERR)
		CHECK_EQ_STR(err->field, field);
}

static void test_vector(void)
{
	char expected_path[512];
	size_t len;
	char *in, *out = NULL;
	json_t *want, *got;
	struct rules_error err = {"", "", -1};
	int rc;

	snprintf(expected_path, sizeof expected_path, "%.*s.expected.json",
		 (int)(strlen(vector) - strlen(".in.json")), vector);
	if (read_file(vector, 1u << 20, &in, &len) != OK)
		in = NULL;
	REQUIRE(in != NULL);
	want = json_load_file(expected_path, 0, NULL);
	rc = rules_json_simulate(&params, in, len, &out, &err);
	free(in);
	if (want == NULL) {
		printf("  %s: cannot read\n", expected_path);
		CHECK(want != NULL);
	} else if (json_object_get(want, "error") != NULL) {
		check_error(json_object_get(want, "error"), rc, &err);
	} else {
		if (rc != RULES_OK)
			printf("  %s: %s: %s\n", vector, err.field, err.reason);
		CHECK(rc == RULES_OK);
		got = out != NULL ? json_loads(out, 0, NULL) : NULL;
		/* Accepted with no result, or one that is not JSON, is a
		 * failure: nothing could be compared. */
		if (rc == RULES_OK && got == NULL)
			printf("  %s: result %s\n", vector,
			       out == NULL ? "missing" : "is not JSON");
		CHECK(got != NULL);
		if (got != NULL)
			compare_result(want, got);
		json_decref(got);
	}
	json_decref(want);
	free(out);
}

/* The golden files of the domain reference are all there. */
static void test_vector_count(void)
{
	glob_t g;

	REQUIRE(glob("tests/vectors/*.in.json", 0, NULL, &g) == 0);
	CHECK(g.gl_pathc >= 22);
	globfree(&g);
}

/* ---- the reference vectors are unchanged ------------------------------- */

#define SUMS		"tests/vectors/SHA256SUMS"
#define REFERENCE_FILES 44 /* 01 to 22, .in.json and .expected.json */
#define HEX_LEN		(2 * crypto_hash_sha256_BYTES)

static bool reference_name(const char *name)
{
	if (name[0] < '0' || name[0] > '9' || name[1] < '0' || name[1] > '9' || name[2] != '_')
		return false;
	return (name[0] - '0') * 10 + (name[1] - '0') >= 1 &&
	       (name[0] - '0') * 10 + (name[1] - '0') <= 22;
}

/* The file's sha256 against the manifest's; false when unreadable. */
static bool same_sha256(const char *name, const char *want_hex)
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	char path[512], hex[HEX_LEN + 1];
	char *text;
	size_t len;

	snprintf(path, sizeof path, "tests/vectors/%s", name);
	if (read_file(path, 1u << 20, &text, &len) != OK)
		return false;
	crypto_hash_sha256(digest, (const unsigned char *)text, len);
	free(text);
	sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
	if (strcmp(hex, want_hex) != 0)
		printf("  %s: sha256 %s, want %s\n", path, hex, want_hex);
	return strcmp(hex, want_hex) == 0;
}

/* Each line "HEX  NAME" of the manifest: the file still has that sum,
 * and every reference file is listed. */
static void test_reference_vectors_unchanged(void)
{
	char *text, *line, *save = NULL;
	size_t len, n = 0;
	glob_t g;

	REQUIRE(sodium_init() >= 0);
	REQUIRE(read_file(SUMS, 1u << 16, &text, &len) == OK);
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *name = line + HEX_LEN + 2;

		CHECK(strlen(line) > HEX_LEN + 2 && line[HEX_LEN] == ' ');
		if (strlen(line) <= HEX_LEN + 2 || line[HEX_LEN] != ' ')
			continue;
		line[HEX_LEN] = '\0';
		CHECK(reference_name(name) && strchr(name, '/') == NULL);
		CHECK(same_sha256(name, line));
		n++;
	}
	free(text);
	CHECK_EQ_I64(n, REFERENCE_FILES);
	/* None left out of the manifest: as many reference files as sums. */
	REQUIRE(glob("tests/vectors/[0-2][0-9]_*.json", 0, NULL, &g) == 0);
	n = 0;
	for (size_t i = 0; i < g.gl_pathc; i++)
		n += reference_name(g.gl_pathv[i] + strlen("tests/vectors/"));
	globfree(&g);
	CHECK_EQ_I64(n, REFERENCE_FILES);
}

int main(void)
{
	glob_t g;

	RUN(load_params);
	RUN(test_vector_count);
	RUN(test_reference_vectors_unchanged);
	if (glob("tests/vectors/*.in.json", 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			vector = g.gl_pathv[i];
			printf("# %s\n", vector);
			RUN(test_vector);
		}
		globfree(&g);
	}
	return test_report();
}
