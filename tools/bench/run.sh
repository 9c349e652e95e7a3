#!/usr/bin/env bash
# run.sh - the benchmarks of `make bench`, each next to the raw limit of
# the same infrastructure measured in the same run
#
#   1. the rules engine alone (lines/s on one core)
#   2. the claims pipeline: Kafka produce rate and PostgreSQL COPY rate for
#      the same messages and rows, then end-to-end claims/s and latency
#      through intake and reimburse (submit -> decision committed and
#      announced)
#
# BENCH_CLAIMS (default 20000) sets the number of claims; BENCH_RATE
# (default 1000) the pace of the second, paced run; BENCH_BATCH (default
# 500) the daemons' messages per transaction;
# BENCH_REIMBURSE_WORKERS (default 1) the reimburse replicas. Timing is
# reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=build/bin
LOGS=.infra/bench
mkdir -p "$LOGS"
CLAIMS=${BENCH_CLAIMS:-20000}
WORKERS=${BENCH_REIMBURSE_WORKERS:-1}

tools/infra/infra.sh up >/dev/null
eval "$(tools/infra/infra.sh env)"
export CLAIMS_LOG_LEVEL=warn

echo "== rules engine (one core)"
$BIN/claimctl bench-engine --requests 100000 --runs 5

echo
echo "== claims pipeline"
$BIN/claimctl migrate >/dev/null
$BIN/claimctl seed --members 1000 >/dev/null
pids=()
CLAIMS_INTAKE_BATCH=${BENCH_BATCH:-500} $BIN/intake >>"$LOGS/intake.log" 2>&1 &
pids+=($!)
for w in $(seq 1 "$WORKERS"); do
	CLAIMS_METRICS_ADDR=127.0.0.1:$((9300 + w)) CLAIMS_REIMBURSE_BATCH=${BENCH_BATCH:-500} \
		$BIN/reimburse >>"$LOGS/reimburse.log" 2>&1 &
	pids+=($!)
done
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null' EXIT
sleep 3 # let the consumer groups settle
$BIN/bench_pipeline --claims "$CLAIMS" --members 1000
echo
echo "== claims pipeline, paced at ${BENCH_RATE:-1000} claims/s (latency below saturation)"
$BIN/bench_pipeline --claims $((CLAIMS / 2)) --members 1000 --rate "${BENCH_RATE:-1000}" --skip-raw
