/*
 * NAME
 *	test_redis.c - the Redis connection against the real server
 *
 * DESCRIPTION
 *	Binary-safe values through printf-like formatting (each argument its
 *	own bulk string: no injection), error replies turned into ERR, and a
 *	connection killed by the server re-established on the next command.
 */
#include <string.h>

#include "common/log.h"
#include "common/redis_conn.h"
#include "common/util.h"
#include "itest.h"
#include "test.h"

static void test_set_get_binary(void)
{
	struct redis_conn *r;
	redisReply *reply;
	char key[64], id[UUID_STR_LEN];
	const char value[] = "a\0b \"quoted\" SET x y";

	REQUIRE(redis_open(itest_redis(), &r) == OK);
	uuid_v7(id);
	snprintf(key, sizeof(key), "test:%s", id);
	CHECK(redis_command(r, NULL, "SET %s %b EX %d", key, value, sizeof(value), 60) == OK);
	REQUIRE(redis_command(r, &reply, "GET %s", key) == OK);
	CHECK(reply->type == REDIS_REPLY_STRING && reply->len == sizeof(value) &&
	      memcmp(reply->str, value, sizeof(value)) == 0);
	freeReplyObject(reply);
	redis_close(r);
}

static void test_error_reply(void)
{
	struct redis_conn *r;

	REQUIRE(redis_open(itest_redis(), &r) == OK);
	CHECK(redis_command(r, NULL, "SET %s %s EX %d", "test:text", "abc", 60) == OK);
	CHECK(redis_command(r, NULL, "INCR %s", "test:text") == ERR);
	CHECK(redis_command(r, NULL, "PING") == OK); /* the connection is still good */
	redis_close(r);
}

static void test_reconnect_after_kill(void)
{
	struct redis_conn *r;
	redisReply *reply;

	REQUIRE(redis_open(itest_redis(), &r) == OK);
	/* The server drops this very connection (an outage, seen from here). */
	CHECK(redis_command(r, NULL, "CLIENT KILL TYPE normal SKIPME no") == ERR ||
	      redis_command(r, NULL, "PING") == ERR);
	REQUIRE(redis_command(r, &reply, "PING") == OK);
	CHECK(reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0);
	freeReplyObject(reply);
	redis_close(r);
}

static void test_bad_url(void)
{
	struct redis_conn *r;

	CHECK(redis_open("redis://127.0.0.1", &r) == ERR);
	CHECK(redis_open("redis://127.0.0.1:1", &r) == ERR); /* nothing listens there */
}

int main(void)
{
	if (log_init("test_redis") != OK)
		return 2;
	RUN(test_set_get_binary);
	RUN(test_error_reply);
	RUN(test_reconnect_after_kill);
	RUN(test_bad_url);
	return test_report();
}
