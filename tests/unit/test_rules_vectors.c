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
 *	Runs from the repository root.
 */
#include <glob.h>
#include <stdlib.h>

#include "rules/rules_json.h"
#include "test.h"

static struct rules_params params;
static const char *vector; /* the .in.json of the current test */

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf != NULL) {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

static void load_params(void)
{
	size_t len;
	char *text = read_file("deploy/params/parameters.json", &len);
	struct rules_error err;

	REQUIRE(text != NULL);
	if (rules_params_from_string(text, len, &params, &err) != RULES_OK)
		printf("  params: %s: %s\n", err.field, err.reason);
	free(text);
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
	struct rules_error err = {"", ""};
	int rc;

	snprintf(expected_path, sizeof expected_path, "%.*s.expected.json",
		 (int)(strlen(vector) - strlen(".in.json")), vector);
	in = read_file(vector, &len);
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

int main(void)
{
	glob_t g;

	RUN(load_params);
	RUN(test_vector_count);
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
