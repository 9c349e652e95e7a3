/*
 * NAME
 *	bench_util.h - what the benchmark programs share: latency
 *	percentiles, their raw Kafka topic, and COPY's start and end
 *
 * DESCRIPTION
 *	Header-only (each program of tools/bench is one file, built on its
 *	own): static inline functions, included where used.
 */
#ifndef TOOLS_BENCH_BENCH_UTIL_H
#define TOOLS_BENCH_BENCH_UTIL_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "common/log.h"
#include "common/status.h"

static inline int compare_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The p-th quantile (0 to 1) of n sorted microseconds, in milliseconds. */
static inline double percentile_ms(const int64_t *sorted, long n, double p)
{
	long k = (long)(p * (double)(n - 1) + 0.5);

	return (double)sorted[k] / 1000.0;
}

/* The topic of 12 partitions the raw produce rates are measured on,
 * made when missing (deploy/topics.txt does not hold it: the broker
 * does not create topics on its own). */
static inline int bench_ensure_topic(const char *brokers, const char *topic)
{
	char errstr[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_NewTopic_t *nt;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	int status = OK;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		return ERR;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		log_error("admin client: %s", errstr);
		rd_kafka_conf_destroy(conf);
		return ERR;
	}
	nt = rd_kafka_NewTopic_new(topic, 12, 1, errstr, sizeof(errstr));
	q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	ev = rd_kafka_queue_poll(q, 15000);
	if (ev == NULL) {
		status = ERR;
	} else {
		const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
		size_t n;
		const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);

		if (n == 1 && rd_kafka_topic_result_error(tr[0]) &&
		    rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
			log_error("create %s: %s", topic,
				  rd_kafka_topic_result_error_string(tr[0]));
			status = ERR;
		}
		rd_kafka_event_destroy(ev);
	}
	rd_kafka_NewTopic_destroy(nt);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
	return status;
}

/* COPY ... FROM STDIN started: the rows follow (PQputCopyData). */
static inline int bench_copy_start(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	int status = PQresultStatus(res) == PGRES_COPY_IN ? OK : ERR;

	if (status != OK)
		log_error("COPY: %s", PQresultErrorMessage(res));
	PQclear(res);
	return status;
}

/* One row sent; ERR (logged) when it could not be. */
static inline int bench_copy_row(PGconn *conn, const char *row, int len)
{
	if (PQputCopyData(conn, row, len) == 1)
		return OK;
	log_error("COPY data: %s", PQerrorMessage(conn));
	return ERR;
}

/* The COPY ended, also after a failure (status ERR: it is abandoned),
 * so that the session leaves COPY mode and can go on (drop its tables). */
static inline int bench_copy_finish(PGconn *conn, int status)
{
	PGresult *res;

	if (PQputCopyEnd(conn, status == OK ? NULL : "a row was not sent") != 1) {
		log_error("COPY end: %s", PQerrorMessage(conn));
		status = ERR;
	}
	while ((res = PQgetResult(conn)) != NULL) {
		if (status == OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
			log_error("COPY end: %s", PQresultErrorMessage(res));
			status = ERR;
		}
		PQclear(res);
	}
	return status;
}

#endif
