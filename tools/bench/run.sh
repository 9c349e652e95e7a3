#!/usr/bin/env bash
# run.sh - the benchmarks of `make bench`, each next to the raw limit of
# the same infrastructure measured in the same run
#
#   1. the rules engine alone (lines/s on one core)
#   2. the claims pipeline: Kafka produce rate and PostgreSQL COPY rate for
#      the same messages and rows, then end-to-end claims/s and latency
#      through intake and reimburse (submit -> decision committed and
#      announced)
#   3. the notification stage: Kafka produce and PostgreSQL COPY rates
#      for its events and rows, then events told per second and their
#      latency through notify (event sent -> notification written),
#      unpaced and paced (bench_notify), and its CPU per event
#   4. the tiers-payant front door: ELIGIBILITY and QUOTE latency for
#      professionals at a given request rate through tpgate (with intake
#      and reimburse behind it), next to a raw ZeroMQ echo with the same
#      frames, CURVE and message sizes and a plain TCP echo with the same
#      sizes (bench_tp), and the CPU per request of tpgate, reimburse,
#      Redis and PostgreSQL
#
# `run.sh pipeline` runs the second alone, `run.sh notify` the third
# alone (about the claims an earlier run of the pipeline left in the
# database), `run.sh tp` the fourth alone; without an argument, all
# four run.
#
# BENCH_CLAIMS (default 20000) sets the number of claims; BENCH_RUNS
# (default 3) the unpaced end-to-end runs, whose median is printed
# last; BENCH_RATE (default 1000) the pace of the paced run; BENCH_BATCH
# (default 500) the daemons' messages per transaction;
# BENCH_REIMBURSE_WORKERS (default 1) the reimburse replicas; BENCH_BIN
# (default build/bin, relative to the repository's top) where the
# programs are, to compare two builds on the same infrastructure: the
# programs only, the schema is deploy/sql's of this checkout (an A/B of
# a migration puts the old schema back by hand). Timing is reported,
# never asserted.
#
# Notifications: BENCH_NOTIFY_EVENTS (default 20000) events, and half as
# many paced at BENCH_NOTIFY_RATE (default 1000) events/s;
# BENCH_NOTIFY_METRICS_ADDR (default 127.0.0.1:9126) notify's metrics,
# read to know it has caught up before measuring.
#
# Tiers payant: BENCH_TP_RATE (default 5000) requests/s in all,
# BENCH_TP_CLIENTS (default 50) professionals, BENCH_TP_SECONDS (default
# 10) measured, BENCH_TP_MIX (default 0.5) the fraction of QUOTEs,
# BENCH_TP_WORKERS (default 2) the reimburse replicas computing quotes,
# BENCH_TP_MEMBERS (default 1000) the members seeded and asked about,
# BENCH_TP_ECHO_ENDPOINT (default tcp://127.0.0.1:5709) the echo's socket,
# BENCH_TP_METRICS_ADDR (default empty: off) tpgate's metrics. The
# daemons take CLAIMS_TP_ENDPOINT, CLAIMS_TP_QUOTE_ENDPOINT,
# CLAIMS_INTAKE_ENDPOINT, CLAIMS_TP_RATE_LIMIT, CLAIMS_INTAKE_GROUP,
# CLAIMS_REIMBURSE_GROUP and CLAIMS_TP_GROUP from the environment (the
# daemons' own defaults otherwise), so the benchmark can run next to
# other daemons on other ports and consumer groups.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BENCH_BIN:-build/bin}
LOGS=.infra/bench
mkdir -p "$LOGS"
CLAIMS=${BENCH_CLAIMS:-20000}
WORKERS=${BENCH_REIMBURSE_WORKERS:-1}
WHAT=${1:-all}
case $WHAT in
all | pipeline | notify | tp) ;;
*)
	echo "usage: tools/bench/run.sh [pipeline | notify | tp]" >&2
	exit 2
	;;
esac
pids=()

tools/infra/infra.sh up >/dev/null
eval "$(tools/infra/infra.sh env)"
export CLAIMS_LOG_LEVEL=warn

# ---- CPU per claim, per request ------------------------------------------
# Where the machine's time goes, per claim, during an end-to-end run:
# the daemons' PostgreSQL backends (found by application_name), the
# broker's JVM, and the daemons themselves, from /proc (user + system).
# Steadier than claims/s on a shared host, so A/B runs compare well. The
# tiers-payant run reports the same per request, for its own processes.
CPU_GROUPS=(postgres broker intake reimburse)
declare -A cpu_at

cpu_pids() { # GROUP -> its pids
	case $1 in
	postgres)
		# "unknown" when psql fails: backends not found are not 0 µs.
		psql -X -At "$CLAIMS_PG_DSN" -c "SELECT pid FROM pg_stat_activity
			WHERE application_name IN ('intake', 'reimburse', 'tpgate', 'notify')" 2>/dev/null ||
			echo unknown
		;;
	broker) cat .infra/kafka/kafka.pid 2>/dev/null || true ;;
	redis) cat .infra/redis/redis.pid 2>/dev/null || true ;;
	*) pgrep -x "$1" || true ;;
	esac
}

pid_ticks() { # PID -> user + system clock ticks ("" when it is gone)
	local f
	{ read -r -a f <"/proc/$1/stat"; } 2>/dev/null || return 0
	echo $((f[13] + f[14]))
}

# Ticks are kept per process: one started during the run counts from its
# start; one gone before the end is left out (its last ticks are lost).
cpu_start() {
	local g p
	cpu_at=()
	for g in "${CPU_GROUPS[@]}"; do
		for p in $(cpu_pids "$g"); do
			[[ $p == unknown ]] || cpu_at[$g:$p]=$(pid_ticks "$p")
		done
	done
}

cpu_report() { # COUNT [WHAT, default claim]
	local g p t now line="CPU per ${2:-claim}, µs:" hz unknown
	if (($1 <= 0)); then
		echo "CPU per ${2:-claim}: not measured (none counted)"
		return 0
	fi
	hz=$(getconf CLK_TCK)
	for g in "${CPU_GROUPS[@]}"; do
		t=0 unknown=0
		for p in $(cpu_pids "$g"); do
			if [[ $p == unknown ]]; then
				unknown=1
				continue
			fi
			now=$(pid_ticks "$p")
			[[ -n $now ]] && t=$((t + now - ${cpu_at[$g:$p]:-0}))
		done
		if ((unknown)); then
			line+=" $g unknown"
		else
			line+=" $g $((t * 1000000 / hz / $1))"
		fi
	done
	echo "$line"
}

# ---- 3. the notification stage (after the pipeline, or alone) --------------
# notify in its own group, as the daemons run: once in its group (a
# group new to the broker starts at the topics' end, pinned then), it
# first catches up with what the pipeline's runs decided since its last
# run (not measured: its messages counter stands still for 2 s), then
# bench_notify sends its own events.
notify_metric() { # NAME prefix: its value (0 when absent)
	curl -s "http://${BENCH_NOTIFY_METRICS_ADDR:-127.0.0.1:9126}/metrics" |
		awk -v m="$1" 'index($1, m) == 1 { n = $2 } END { print n + 0 }'
}
notify_messages() { notify_metric worker_messages_total; }

notify_bench() {
	local events=${BENCH_NOTIFY_EVENTS:-20000} before now still=0
	echo "== notification stage (notify)"
	tp_stop # the pipeline's daemons, if any: the machine is notify's now
	trap tp_stop EXIT
	"$BIN"/claimctl migrate >/dev/null
	CLAIMS_METRICS_ADDR=${BENCH_NOTIFY_METRICS_ADDR:-127.0.0.1:9126} \
		"$BIN"/notify >>"$LOGS/notify.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 60); do
		(($(notify_metric worker_partitions_assigned) > 0)) && break
		sleep 0.5
	done
	if (($(notify_metric worker_partitions_assigned) == 0)); then
		echo "notify not in its consumer group after 30 s: see $LOGS/notify.log" >&2
		return 1
	fi
	before=$(notify_messages)
	while ((still < 2)); do
		sleep 1
		kill -0 "${pids[-1]}" 2>/dev/null || {
			echo "notify stopped: see $LOGS/notify.log" >&2
			return 1
		}
		now=$(notify_messages)
		if [[ $now == "$before" ]]; then still=$((still + 1)); else still=0; fi
		before=$now
	done
	echo "notify caught up ($before events read since its start, not measured)"
	"$BIN"/bench_notify --events "$events" --batch "${BENCH_BATCH:-500}" --skip-notify
	CPU_GROUPS=(notify postgres broker)
	cpu_start
	"$BIN"/bench_notify --events "$events" --skip-raw | tail -n +2
	cpu_report "$events" event
	echo "-- paced at ${BENCH_NOTIFY_RATE:-1000} events/s (latency below saturation)"
	"$BIN"/bench_notify --events $((events / 2)) --rate "${BENCH_NOTIFY_RATE:-1000}" --skip-raw
	tp_stop
	CPU_GROUPS=(postgres broker intake reimburse)
}

# ---- 4. the tiers-payant front door (run last, or alone with `tp') -------
tp_stop() {
	((${#pids[@]})) || return 0
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
	pids=()
}

# The value of NAME in `claimctl tp keygen` output (quoted or not).
tp_key() {
	sed -n "s/^$1='*\([^']*\)'*\$/\1/p"
}

tp_bench() {
	local front=${CLAIMS_TP_ENDPOINT:-tcp://127.0.0.1:5702}
	local quotes=${CLAIMS_TP_QUOTE_ENDPOINT:-tcp://127.0.0.1:5703}
	local intake=${CLAIMS_INTAKE_ENDPOINT:-tcp://127.0.0.1:5701}
	local members=${BENCH_TP_MEMBERS:-1000} keys public secret p

	echo "== tiers-payant front door, ${BENCH_TP_RATE:-5000} requests/s" \
		"from ${BENCH_TP_CLIENTS:-50} professionals"
	tp_stop # the pipeline's daemons, if any: ports and groups are ours now
	trap tp_stop EXIT
	"$BIN"/claimctl migrate >/dev/null
	"$BIN"/claimctl seed --members "$members" >/dev/null
	keys=$("$BIN"/claimctl tp keygen)
	public=$(tp_key PUBLIC_KEY <<<"$keys")
	secret=$(tp_key SECRET_KEY <<<"$keys")
	CLAIMS_METRICS_ADDR='' CLAIMS_INTAKE_ENDPOINT=$intake \
		"$BIN"/intake >>"$LOGS/tp-intake.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 "${BENCH_TP_WORKERS:-2}"); do
		CLAIMS_METRICS_ADDR='' CLAIMS_QUOTE_CONNECT=$quotes \
			"$BIN"/reimburse >>"$LOGS/tp-reimburse.log" 2>&1 &
		pids+=($!)
	done
	CLAIMS_METRICS_ADDR=${BENCH_TP_METRICS_ADDR:-} CLAIMS_TP_ENDPOINT=$front \
		CLAIMS_TP_SERVER_SECRET=$secret CLAIMS_TP_QUOTE_ENDPOINT=$quotes \
		CLAIMS_TP_INTAKE_ENDPOINT=$intake "$BIN"/tpgate >>"$LOGS/tp-tpgate.log" 2>&1 &
	pids+=($!)
	sleep 3 # let the workers connect and the consumer groups settle
	for p in "${pids[@]}"; do
		if ! kill -0 "$p" 2>/dev/null; then
			echo "a daemon stopped at start: see $LOGS/tp-*.log" >&2
			return 1
		fi
	done
	# The front door's requests: warm-up (1 s) and measured seconds at the
	# rate, then bench_tp's 2,000 one at a time. Its echo runs in
	# bench_tp itself, so the daemons' CPU is the front door's.
	CPU_GROUPS=(tpgate reimburse redis postgres)
	cpu_start
	CLAIMS_TP_SERVER_KEY=$public CLAIMS_TP_ENDPOINT=$front "$BIN"/bench_tp \
		--clients "${BENCH_TP_CLIENTS:-50}" --rate "${BENCH_TP_RATE:-5000}" \
		--seconds "${BENCH_TP_SECONDS:-10}" --mix "${BENCH_TP_MIX:-0.5}" \
		--members "$members" --echo-endpoint "${BENCH_TP_ECHO_ENDPOINT:-tcp://127.0.0.1:5709}"
	cpu_report $((${BENCH_TP_RATE:-5000} * (${BENCH_TP_SECONDS:-10} + 1) + 2000)) \
		"front-door request (all kinds)"
	tp_stop
}

if [[ $WHAT == tp ]]; then
	tp_bench
	exit 0
fi
if [[ $WHAT == notify ]]; then
	notify_bench
	exit 0
fi

if [[ $WHAT == all ]]; then
	echo "== rules engine (one core)"
	"$BIN"/claimctl bench-engine --requests 100000 --runs 5
	echo
fi

echo "== claims pipeline"
"$BIN"/claimctl migrate >/dev/null
"$BIN"/claimctl seed --members 1000 >/dev/null
pids=()
# The daemons' own consumer groups (intake, reimburse; CLAIMS_*_GROUP
# from the environment otherwise): a group of the benchmark's own would
# start at the topics' earliest offsets, and later find every claim the
# tests and the demo sent since its last run, and replay them while
# measuring. So no other intake or reimburse may run on the machine
# meanwhile: it would share the partitions. No metrics port and no
# intake socket: nothing reads them here, and a port taken by another
# daemon would stop these at start.
CLAIMS_METRICS_ADDR='' \
	CLAIMS_INTAKE_ENDPOINT='' CLAIMS_INTAKE_BATCH=${BENCH_BATCH:-500} \
	"$BIN"/intake >>"$LOGS/intake.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 "$WORKERS"); do
	CLAIMS_METRICS_ADDR='' \
		CLAIMS_REIMBURSE_BATCH=${BENCH_BATCH:-500} "$BIN"/reimburse >>"$LOGS/reimburse.log" 2>&1 &
	pids+=($!)
done
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null' EXIT
sleep 3 # let the consumer groups settle
for p in "${pids[@]}"; do
	if ! kill -0 "$p" 2>/dev/null; then
		echo "a daemon stopped at start: see $LOGS/intake.log, $LOGS/reimburse.log" >&2
		exit 1
	fi
done
"$BIN"/bench_pipeline --claims "$CLAIMS" --members 1000 --batch "${BENCH_BATCH:-500}" --skip-e2e
# Unpaced, BENCH_RUNS times (default 3): one run on a shared host can be
# off by a third either way, so the median is the figure to quote.
rates=()
for _ in $(seq 1 "${BENCH_RUNS:-3}"); do
	cpu_start
	# Its output is printed before failing: a failed run's is the one to read.
	if ! out=$("$BIN"/bench_pipeline --claims "$CLAIMS" --members 1000 --skip-raw); then
		echo "$out"
		echo "end-to-end run failed" >&2
		exit 1
	fi
	echo "$out"
	cpu_report "$CLAIMS"
	rates+=("$(sed -n 's/^end to end  *\([0-9][0-9]*\) claims\/s.*/\1/p' <<<"$out")")
done
if ((${#rates[@]} > 1)); then
	mapfile -t rates < <(printf '%s\n' "${rates[@]}" | sort -n)
	echo "end to end over ${#rates[@]} runs: median ${rates[$((${#rates[@]} / 2))]} claims/s" \
		"(min ${rates[0]}, max ${rates[-1]})"
fi
echo
echo "== claims pipeline, paced at ${BENCH_RATE:-1000} claims/s (latency below saturation)"
cpu_start
"$BIN"/bench_pipeline --claims $((CLAIMS / 2)) --members 1000 --rate "${BENCH_RATE:-1000}" --skip-raw
cpu_report $((CLAIMS / 2))

[[ $WHAT == pipeline ]] && exit 0
echo
notify_bench
echo
tp_bench
