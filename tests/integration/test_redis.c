/*
 * NAME
 *	test_redis.c - the Redis connection against the real server
 *
 * DESCRIPTION
 *	Binary-safe values through printf-like formatting (each argument its
 *	own bulk string: no injection), error replies turned into ERR, a
 *	connection killed by the server re-established on the next command,
 *	the URL's database number and user, and a PING answered by an error
 *	taken for a server down.
 */
#include <stdlib.h>
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

	REQUIRE(redis_open(itest_redis(), 0, &r) == OK);
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

	REQUIRE(redis_open(itest_redis(), 0, &r) == OK);
	CHECK(redis_command(r, NULL, "SET %s %s EX %d", "test:text", "abc", 60) == OK);
	CHECK(redis_command(r, NULL, "INCR %s", "test:text") == ERR);
	CHECK(redis_command(r, NULL, "PING") == OK); /* the connection is still good */
	redis_close(r);
}

/* The server's id of r's connection (CLIENT ID, new for each
 * connection), -1 when it cannot be had. */
static long long client_id(struct redis_conn *r)
{
	redisReply *reply = NULL;
	long long id = -1;

	if (redis_command(r, &reply, "CLIENT ID") == OK && reply->type == REDIS_REPLY_INTEGER)
		id = reply->integer;
	freeReplyObject(reply);
	return id;
}

/* The server drops r's connection (an outage, seen from here): CLIENT
 * KILL of every normal client, this one too (SKIPME no). Redis answers
 * with the number killed, then closes, and the next command finds the
 * connection closed and fails; should the answer be lost with the
 * connection, the kill itself fails. Either way the command after must
 * connect again. Returns the id of the connection killed, for the caller
 * to compare with the new one's: redis_command() says ERR for an error
 * reply too (no one killed, the connection kept), which only the same
 * id tells apart. */
static long long kill_connection(struct redis_conn *r)
{
	redisReply *reply = NULL;
	long long id = client_id(r);

	CHECK(id >= 0);
	if (redis_command(r, &reply, "CLIENT KILL TYPE normal SKIPME no") == OK) {
		CHECK(reply->type == REDIS_REPLY_INTEGER && reply->integer >= 1);
		freeReplyObject(reply);
		CHECK(redis_command(r, NULL, "PING") == ERR);
	}
	return id;
}

static void test_reconnect_after_kill(void)
{
	struct redis_conn *r;
	redisReply *reply;
	long long killed, now;

	REQUIRE(redis_open(itest_redis(), 0, &r) == OK);
	killed = kill_connection(r);
	REQUIRE(redis_command(r, &reply, "PING") == OK);
	CHECK(reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0);
	freeReplyObject(reply);
	now = client_id(r);
	CHECK(now >= 0 && now != killed); /* a new connection answered */
	redis_close(r);
}

static void test_bad_url(void)
{
	static const char *const bad[] = {
		"redis://127.0.0.1",	    "redis://127.0.0.1:",
		"redis://127.0.0.1:+1",	    "redis://127.0.0.1:1x",
		"redis://127.0.0.1:6379/x", "redis://127.0.0.1:6379/-1",
		"redis://user@127.0.0.1:1", "redis://user:@127.0.0.1:1",
	};
	struct redis_conn *r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(redis_open(bad[i], 0, &r) == ERR);
	CHECK(redis_open("redis://127.0.0.1:1", 0, &r) == ERR); /* nothing listens there */
}

/* A second, plain connection to the test server, for what the tests
 * check or change behind the connection under test. */
static redisContext *side_connection(void)
{
	const char *url = itest_redis(), *colon = strrchr(url, ':');
	char host[64];
	redisContext *c;

	snprintf(host, sizeof(host), "%.*s", (int)(colon - url - 8), url + 8);
	c = redisConnect(host, atoi(colon + 1));
	if (c == NULL || c->err)
		abort();
	return c;
}

/* 1 when a side command succeeded; frees its reply. */
static int side_ok(redisReply *reply)
{
	int ok = reply != NULL && reply->type != REDIS_REPLY_ERROR;

	freeReplyObject(reply);
	return ok;
}

/* The database number of the URL is where the keys go, after a
 * reconnect too; a user and password are given to the server. */
static void test_url_database_and_user(void)
{
	redisContext *side = side_connection();
	struct redis_conn *r;
	redisReply *reply;
	char url[256], key[64], id[UUID_STR_LEN];
	long long killed, now;

	uuid_v7(id);
	snprintf(key, sizeof(key), "test:db:%s", id);
	snprintf(url, sizeof(url), "%s/3", itest_redis());
	REQUIRE(redis_open(url, 0, &r) == OK);
	CHECK(redis_command(r, NULL, "SET %s %s EX %d", key, "three", 60) == OK);
	killed = kill_connection(r);
	CHECK(redis_command(r, NULL, "SET %s:again %s EX %d", key, "three", 60) == OK);
	now = client_id(r);
	CHECK(now >= 0 && now != killed); /* :again went through a new connection */
	redis_close(r);
	redisFree(side); /* killed with the others */
	side = side_connection();
	reply = redisCommand(side, "EXISTS %s %s:again", key, key);
	CHECK(reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0);
	freeReplyObject(reply);
	REQUIRE(side_ok(redisCommand(side, "SELECT 3")));
	reply = redisCommand(side, "EXISTS %s %s:again", key, key);
	CHECK(reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 2);
	freeReplyObject(reply);

	REQUIRE(side_ok(redisCommand(side, "ACL SETUSER claims_test on >s3cret ~test:* +@all")));
	snprintf(url, sizeof(url), "redis://claims_test:s3cret@%s", itest_redis() + 8);
	REQUIRE(redis_open(url, 0, &r) == OK);
	reply = NULL;
	CHECK(redis_command(r, &reply, "ACL WHOAMI") == OK && reply != NULL &&
	      reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "claims_test") == 0);
	freeReplyObject(reply);
	CHECK(redis_command(r, NULL, "SET %s %s", "other:key", "x") == ERR); /* its ACL */
	redis_close(r);
	snprintf(url, sizeof(url), "redis://claims_test:wrong@%s", itest_redis() + 8);
	CHECK(redis_open(url, 0, &r) == ERR);
	/* A generated password holds '/' and '@': as it is, or %XX-escaped. */
	REQUIRE(side_ok(redisCommand(side, "ACL SETUSER claims_test resetpass >%s", "a/b@c")));
	snprintf(url, sizeof(url), "redis://claims_test:a/b@c@%s/2", itest_redis() + 8);
	CHECK(redis_open(url, 0, &r) == OK);
	redis_close(r);
	snprintf(url, sizeof(url), "redis://claims_test:a%%2Fb%%40c@%s", itest_redis() + 8);
	CHECK(redis_open(url, 0, &r) == OK);
	redis_close(r);
	snprintf(url, sizeof(url), "redis://claims_test:a%%2@%s", itest_redis() + 8);
	CHECK(redis_open(url, 0, &r) == ERR); /* a malformed escape */
	CHECK(side_ok(redisCommand(side, "ACL DELUSER claims_test")));
	redisFree(side);
}

/* A server that answers the ping with an error (loading its data, a
 * user denied the command) is down for /health, though connected; up
 * again once it answers. ROLE denied is not that: PING is asked. */
static void test_ping_error_reply_is_down(void)
{
	redisContext *side = side_connection();
	struct redis_conn *r;

	REQUIRE(redis_open(itest_redis(), 0, &r) == OK);
	CHECK(redis_ping(r) == OK);
	CHECK(redis_up(r));
	/* ROLE denied (a user without @admin): PING says up, from then on. */
	REQUIRE(side_ok(redisCommand(side, "ACL SETUSER default -role")));
	CHECK(redis_ping(r) == OK);
	CHECK(redis_up(r));
	REQUIRE(side_ok(redisCommand(side, "ACL SETUSER default -ping")));
	CHECK(redis_ping(r) == ERR);
	CHECK(!redis_up(r));
	CHECK(side_ok(redisCommand(side, "ACL SETUSER default +ping +role")));
	CHECK(redis_ping(r) == OK);
	CHECK(redis_up(r));
	redis_close(r);
	redisFree(side);
}

/* ROLE denied, a probe key set: the ping writes it, and a replica (which
 * answers PING) refuses the write: down until it is a primary again.
 * The replica's primary is a port nobody listens on: it keeps its data
 * and refuses writes, as a demoted primary does during a failover. */
static void test_replica_seen_without_role(void)
{
	redisContext *side = side_connection();
	struct redis_conn *r;
	redisReply *reply;

	REQUIRE(redis_open(itest_redis(), 0, &r) == OK);
	redis_set_probe_key(r, "test_redis:probe");
	REQUIRE(side_ok(redisCommand(side, "ACL SETUSER default -role")));
	CHECK(redis_ping(r) == OK);
	CHECK(redis_up(r));
	reply = redisCommand(side, "PTTL test_redis:probe");
	CHECK(reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0 &&
	      reply->integer <= 10000);
	if (reply != NULL)
		freeReplyObject(reply);
	if (side_ok(redisCommand(side, "REPLICAOF 127.0.0.1 9"))) {
		CHECK(redis_ping(r) == ERR);
		CHECK(!redis_up(r));
		CHECK(redis_ping(r) == ERR); /* connected again: still a replica */
		CHECK(!redis_up(r));
	} else {
		CHECK(!"REPLICAOF refused");
	}
	CHECK(side_ok(redisCommand(side, "REPLICAOF NO ONE")));
	CHECK(redis_ping(r) == OK);
	CHECK(redis_up(r));
	CHECK(side_ok(redisCommand(side, "ACL SETUSER default +role")));
	CHECK(side_ok(redisCommand(side, "DEL test_redis:probe")));
	redis_close(r);
	redisFree(side);
}

/* A failover leaves the old primary running as a replica: a connection
 * kept to it would be refused every write for good, while the address
 * leads new connections to the new primary. Both the ping that finds a
 * replica and a pipelined write refused READONLY close it. */
static void test_demoted_connection_renewed(void)
{
	redisContext *side = side_connection();
	struct redis_conn *r;
	redisReply *reply = NULL;
	const char *set[] = {"SET", "test_redis:demoted", "1"};
	long long before, after_ping, after_write;

	REQUIRE(redis_open(itest_redis(), 0, &r) == OK);
	before = client_id(r);
	CHECK(before > 0);
	if (!side_ok(redisCommand(side, "REPLICAOF 127.0.0.1 9"))) {
		CHECK(!"REPLICAOF refused");
	} else {
		CHECK(redis_ping(r) == ERR);
		CHECK(!redis_up(r));
		after_ping = client_id(r);
		CHECK(after_ping > 0 && after_ping != before);
		CHECK(redis_append(r, 3, set, NULL) == OK);
		CHECK(redis_next_reply(r, &reply) == OK);
		CHECK(reply != NULL && reply->type == REDIS_REPLY_ERROR &&
		      strncmp(reply->str, "READONLY", 8) == 0);
		if (reply != NULL)
			freeReplyObject(reply);
		after_write = client_id(r);
		CHECK(after_write > 0 && after_write != after_ping);
	}
	CHECK(side_ok(redisCommand(side, "REPLICAOF NO ONE")));
	CHECK(redis_ping(r) == OK);
	CHECK(redis_up(r));
	redis_close(r);
	redisFree(side);
}

/* ROLE denied and the probe key outside the user's key pattern: PING,
 * up (not down for good, nor flapping with the requests' traffic). */
static void test_probe_key_denied(void)
{
	redisContext *side = side_connection();
	struct redis_conn *r;
	char url[300];

	REQUIRE(side_ok(
		redisCommand(side, "ACL SETUSER claims_probe on >s3cret ~test:* +@all -role")));
	snprintf(url, sizeof(url), "redis://claims_probe:s3cret@%s", itest_redis() + 8);
	REQUIRE(redis_open(url, 0, &r) == OK);
	redis_set_probe_key(r, "elsewhere:probe");
	CHECK(redis_ping(r) == OK);
	CHECK(redis_up(r));
	CHECK(redis_ping(r) == OK);
	CHECK(redis_up(r));
	redis_close(r);
	CHECK(side_ok(redisCommand(side, "ACL DELUSER claims_probe")));
	redisFree(side);
}

int main(void)
{
	if (log_init("test_redis") != OK)
		return 2;
	RUN(test_set_get_binary);
	RUN(test_error_reply);
	RUN(test_reconnect_after_kill);
	RUN(test_bad_url);
	RUN(test_url_database_and_user);
	RUN(test_ping_error_reply_is_down);
	RUN(test_replica_seen_without_role);
	RUN(test_demoted_connection_renewed);
	RUN(test_probe_key_denied);
	return test_report();
}
