#!/usr/bin/env bash
# infra.sh - the local infrastructure of the claims backend: PostgreSQL,
# Redis and a single-node Apache Kafka broker (KRaft), on loopback only, on
# non-default ports, with every bit of state under .infra/ at the repo root.
#
#   tools/infra/infra.sh up       start what is not running, wait until ready,
#                                 create the database and the Kafka topics
#   tools/infra/infra.sh down     stop everything, check no process is left
#   tools/infra/infra.sh status   one line per service; exit 3 if one is stopped
#   tools/infra/infra.sh env      export lines: eval "$(tools/infra/infra.sh env)"
#   tools/infra/infra.sh reset    down, then delete .infra/ (data and logs)
#   tools/infra/infra.sh topic NAME PARTITIONS [KEY=VALUE...]
#                                 create a topic outside deploy/topics.txt,
#                                 with topic settings (tests, experiments)
#
# up and down are idempotent. Prerequisites: tools/infra/deps.sh (make deps).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
INFRA="$ROOT/.infra"

HOST=127.0.0.1
PG_PORT=55432
REDIS_PORT=56379
KAFKA_PORT=59092
KAFKA_CONTROLLER_PORT=59093

PG_DSN="postgresql://claims@$HOST:$PG_PORT/claims"
REDIS_URL="redis://$HOST:$REDIS_PORT"
KAFKA_BROKERS="$HOST:$KAFKA_PORT"

PG_DIR="$INFRA/pg"
PG_DATA="$PG_DIR/data"
PG_RUN="$PG_DIR/run"
PG_LOG="$PG_DIR/postgres.log"

REDIS_DIR="$INFRA/redis"
REDIS_CONF="$REDIS_DIR/redis.conf"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"

KAFKA_DIR="$INFRA/kafka"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_LOG="$KAFKA_DIR/kafka.log"
KAFKA_CLUSTER_ID="$KAFKA_DIR/cluster.id"
KAFKA_LIB="$ROOT/tools/kafka/lib"
KAFKA_LOG4J="$ROOT/tools/kafka/log4j2.xml"
KAFKA_CREATE_TOPICS="$ROOT/tools/kafka/CreateTopics.java"
TOPICS_FILE="$ROOT/deploy/topics.txt"

# Time limits, in seconds.
PG_TIMEOUT=60
REDIS_TIMEOUT=15
KAFKA_TIMEOUT=60
KAFKA_STOP_TIMEOUT=30

# Client JVMs (storage format, topic creation) are short-lived: favour startup.
JAVA_TOOL=(java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx256m
    -Djava.net.preferIPv4Stack=true
    -Dlog4j2.configurationFile="$KAFKA_LOG4J" -Dkafka.root.loglevel=WARN
    -cp "$KAFKA_LIB/*")

# Services started by the current `up`, stopped again if it fails.
STARTED=()
UP_ACTIVE=0

say() { printf 'infra: %s\n' "$*"; }
warn() { printf 'infra: %s\n' "$*" >&2; }
die() {
    printf 'infra: error: %s\n' "$*" >&2
    exit 1
}

# show_log FILE: the tail of a service log, after a failure.
show_log() {
    local f=$1 n=${2:-40}
    if [[ -s $f ]]; then
        printf -- '--- last %d lines of %s ---\n' "$n" "${f#"$ROOT"/}" >&2
        tail -n "$n" "$f" >&2
        printf -- '---\n' >&2
    fi
}

usec() { echo "${EPOCHREALTIME/[.,]/}"; }
# since START_USEC: seconds elapsed, one decimal.
since() {
    local d=$((($(usec) - $1) / 100000))
    printf '%d.%d s' $((d / 10)) $((d % 10))
}

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
    local st=""
    [[ -n ${1:-} ]] || return 1
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
    [[ ${st##*) } != Z* ]]
}
dead() { ! alive "$1"; }

cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }

read_pid() {
    local p=""
    if [[ -r $1 ]]; then read -r p <"$1" || true; fi
    [[ $p =~ ^[0-9]+$ ]] && echo "$p"
    return 0
}

listening() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

need_port_free() {
    local svc=$1 port=$2
    if listening "$port"; then
        die "$svc: port $port is already taken by another process: $(ss -Hltnp "sport = :$port" | tr -s ' ' | head -n 3)"
    fi
}

need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || die "$c not found: run tools/infra/deps.sh (make deps)"
    done
}

# wait_for SECONDS CHECK... : polls CHECK every 0.25 s until it succeeds.
wait_for() {
    local limit=$1
    shift
    local deadline=$((SECONDS + limit))
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.25
    done
}

# ---------------------------------------------------------------- PostgreSQL

PG_BIN=""
PG_USER=""

pg_setup_env() {
    [[ -n $PG_BIN ]] && return 0
    local d
    d=$(pg_config --bindir 2>/dev/null || true)
    if [[ -z $d || ! -x $d/pg_ctl ]]; then
        d=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/pg_ctl' 2>/dev/null |
            sort -V | tail -n 1 || true)
        d=${d%/pg_ctl}
    fi
    [[ -n $d && -x $d/pg_ctl ]] || die "postgres: server binaries not found: run tools/infra/deps.sh (make deps)"
    PG_BIN=$d
    # PostgreSQL refuses to run as root: use the postgres system user (made
    # by Debian's package), or a dedicated one if there is none.
    if (($(id -u) == 0)); then
        PG_USER=postgres
        id "$PG_USER" >/dev/null 2>&1 || PG_USER=claims-pg
    else
        PG_USER=$(id -un)
    fi
    pg_place_state
}

# PostgreSQL's files belong to $PG_USER, who must reach them through every
# parent directory. A repository where that user cannot go (a private
# home such as /root) keeps its database under /var/tmp instead, in a
# directory named after the repository's path; .infra/pg links to it.
# Without that link, such a directory is stale (pg_drop_stale_outside).
pg_place_state() {
    local outside
    [[ $PG_USER == "$(id -un)" ]] && return 0
    outside="/var/tmp/claims-infra-$(printf '%s' "$ROOT" | md5sum | cut -c1-12)/pg"
    if [[ -L $INFRA/pg ]]; then
        PG_DIR=$outside
    elif [[ ! -d $INFRA/pg ]] && id "$PG_USER" >/dev/null 2>&1 &&
        ! runuser -u "$PG_USER" -- test -x "$ROOT" 2>/dev/null; then
        PG_DIR=$outside
    else
        return 0
    fi
    PG_DATA="$PG_DIR/data"
    PG_RUN="$PG_DIR/run"
    PG_LOG="$PG_DIR/postgres.log"
}

pg_ensure_user() {
    id "$PG_USER" >/dev/null 2>&1 ||
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$PG_USER"
}

# as_pg CMD...: run CMD as the database's system user, from the state dir.
as_pg() {
    if [[ $PG_USER == "$(id -un)" ]]; then
        (cd "$PG_DIR" && "$@")
    else
        (cd "$PG_DIR" && runuser -u "$PG_USER" -- "$@")
    fi
}

# pg_pid: the postmaster of our data directory: the pid of postmaster.pid,
# if that process is a postgres started with -D $PG_DATA. After an unclean
# stop the file stays, and its pid may since belong to another process.
pg_pid() {
    local p
    p=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)
    [[ $p =~ ^[0-9]+$ ]] && alive "$p" && [[ $(cmdline "$p") == *postgres*" -D $PG_DATA "* ]] && echo "$p"
    return 0
}

pg_psql() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PG_PORT" -U postgres -d postgres
}

# The database user must reach .infra/pg through every parent directory.
pg_check_access() {
    [[ $PG_USER == "$(id -un)" ]] && return 0
    runuser -u "$PG_USER" -- test -w "$PG_DIR" -a -x "$PG_DIR" && return 0
    # The first directory from / down that the user cannot enter.
    local d="" part blocked=$PG_DIR
    local -a parts
    IFS=/ read -ra parts <<<"${PG_DIR#/}"
    for part in "${parts[@]}"; do
        d+=/$part
        if ! runuser -u "$PG_USER" -- test -x "$d"; then
            blocked=$d
            break
        fi
    done
    die "postgres: the '$PG_USER' system user, which runs PostgreSQL, cannot reach" \
        "$PG_DIR: it may not enter $blocked ($(stat -c '%A %U:%G' "$blocked"))." \
        "Allow it (chmod o+x $blocked) or put the repository elsewhere."
}

pg_write_config() {
    local sockdir=$PG_RUN
    # A Unix socket path must fit in 107 bytes; without one, TCP still works.
    if ((${#PG_RUN} + 20 > 107)); then
        warn "postgres: repository path too long for a Unix socket, TCP only"
        sockdir=""
    fi
    # shared_buffers from the machine's memory, or the container's limit
    # when lower
    local shared_mb mem_kb limit
    mem_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
    limit=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || echo max)
    [[ $limit =~ ^[0-9]+$ ]] && ((limit / 1024 < mem_kb)) && mem_kb=$((limit / 1024))
    shared_mb=$((mem_kb / 1024 / 8))
    ((shared_mb < 128)) && shared_mb=128
    ((shared_mb > 1024)) && shared_mb=1024
    cat >"$PG_DATA/claims.conf" <<EOF
# Written by tools/infra/infra.sh on every start: edit the script, not this.
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = '$sockdir'
unix_socket_permissions = 0700
max_connections = 200
# Intake locks each key of a batch, reimburse each beneficiary (advisory
# locks, up to a batch's size, 500): the shared lock table holds this
# times max_connections, room for the replicas' batches at once.
max_locks_per_transaction = 256
# An eighth of the memory, 128 MB to 1 GB: the default 128 MB made the
# indexes of a few million claims go back and forth to the OS cache.
shared_buffers = ${shared_mb}MB
# Test database, but durable: a crash must not lose committed claims.
fsync = on
synchronous_commit = on
full_page_writes = on
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
EOF
    cat >"$PG_DATA/pg_hba.conf" <<EOF
# Written by tools/infra/infra.sh on every start: edit the script, not this.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 peer
host    all       all   $HOST/32  trust
EOF
    grep -qx "include = 'claims.conf'" "$PG_DATA/postgresql.conf" ||
        echo "include = 'claims.conf'" >>"$PG_DATA/postgresql.conf"
    if [[ $PG_USER != "$(id -un)" ]]; then
        chown "$PG_USER:" "$PG_DATA/claims.conf" "$PG_DATA/pg_hba.conf"
    fi
}

pg_init() {
    local locale=(--no-locale) have
    have=$(locale -a 2>/dev/null || true)
    if grep -qix 'c\.utf-\?8' <<<"$have"; then locale=(--locale=C.UTF-8); fi
    say "postgres: initdb in .infra/pg/data"
    if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --encoding=UTF8 "${locale[@]}" \
        --auth-local=peer --auth-host=reject >"$PG_DIR/initdb.log" 2>&1; then
        show_log "$PG_DIR/initdb.log"
        die "postgres: initdb failed"
    fi
}

pg_provision() {
    pg_psql <<'SQL' || die "postgres: could not create the claims role and database"
SELECT 'CREATE ROLE claims LOGIN SUPERUSER'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'claims') \gexec
SELECT 'CREATE DATABASE claims OWNER claims'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'claims') \gexec
SQL
}

# pg_dir_users: pids of the postgres processes working in the data
# directory: a postmaster and its backends chdir there, whatever their
# command line shows.
pg_dir_users() {
    [[ -d $PG_DATA ]] || return 0
    local d p comm
    find -L /proc/[0-9]*/cwd -maxdepth 0 -samefile "$PG_DATA" 2>/dev/null |
        while read -r d; do
            p=${d#/proc/}
            p=${p%/cwd}
            { read -r comm <"/proc/$p/comm"; } 2>/dev/null || continue
            [[ $comm == postgres ]] && echo "$p"
        done || true
}
no_pg_dir_users() { [[ -z $(pg_dir_users) ]]; }

# pg_clear_stale: called with no postmaster of ours running (pg_pid empty).
# The lock files an unclean stop leaves (postmaster.pid, and the socket's)
# name a pid that may now be an unrelated process, or a zombie not yet
# reaped, which PostgreSQL would take for a server still running: remove
# them. Not while postgres processes still work in the data directory (a
# backend the dead postmaster left behind, or a server started some other
# way): PostgreSQL's own check must then stop a second server.
pg_clear_stale() {
    local f locks=()
    for f in "$PG_DATA/postmaster.pid" "$PG_RUN/.s.PGSQL.$PG_PORT.lock"; do
        if [[ -f $f ]]; then locks+=("$f"); fi
    done
    ((${#locks[@]} > 0)) || return 0
    # Backends exit by themselves soon after their postmaster's death.
    if ! wait_for 10 no_pg_dir_users; then
        die "postgres: no server of ours runs, but postgres processes still work in" \
            "$PG_DATA (pid $(pg_dir_users | tr '\n' ' ')): stop them, then run up again"
    fi
    say "postgres: removing the lock files of a server that is gone (pid" \
        "$(head -n 1 "${locks[0]}" 2>/dev/null || true)): ${locks[*]##*/}"
    rm -f "${locks[@]}"
}

# pg_drop_stale_outside: a database kept under /var/tmp (pg_place_state)
# while .infra/pg, the link to it, is gone was left by an earlier checkout
# at this path, or by a .infra/ deleted by hand. The broker's topics and
# offsets went with .infra/kafka: start afresh (initdb) rather than pair
# that old database with an empty broker.
pg_drop_stale_outside() {
    [[ $PG_DIR == /var/tmp/claims-infra-*/pg && ! -L $INFRA/pg && -e $PG_DIR ]] || return 0
    local pid
    pid=$(pg_pid)
    if [[ -n $pid ]] || ! no_pg_dir_users; then
        die "postgres: a server left by an earlier checkout at this path still runs on" \
            "$PG_DATA (pid ${pid:-$(pg_dir_users | tr '\n' ' ')}): stop it (tools/infra/infra.sh down), then up again"
    fi
    say "postgres: removing ${PG_DIR%/pg}, the database of an earlier checkout at this path (.infra/pg is gone)"
    rm -rf "${PG_DIR%/pg}"
}

pg_up() {
    local t0 pid
    t0=$(usec)
    pg_setup_env
    pg_drop_stale_outside
    pid=$(pg_pid)
    if [[ -n $pid ]]; then
        "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -t "$PG_TIMEOUT" ||
            die "postgres: running (pid $pid) but not answering on $HOST:$PG_PORT"
        pg_provision
        say "postgres: already running on $HOST:$PG_PORT (pid $pid)"
        return 0
    fi
    need_port_free postgres "$PG_PORT"
    pg_ensure_user
    # Outside the repository, its parent is made enterable by $PG_USER
    # whatever the umask (077 would leave it root's alone).
    [[ $PG_DIR == "$INFRA/pg" ]] || install -d -m 0711 "${PG_DIR%/pg}"
    mkdir -p "$PG_DIR" "$PG_RUN"
    if [[ $PG_DIR != "$INFRA/pg" && ! -L $INFRA/pg ]]; then
        ln -s "$PG_DIR" "$INFRA/pg"
        say "postgres: '$PG_USER' cannot enter $ROOT: database state in $PG_DIR (.infra/pg links to it)"
    fi
    if [[ $PG_USER != "$(id -un)" ]]; then
        [[ $(stat -c %U "$PG_DIR") == "$PG_USER" && $(stat -c %U "$PG_RUN") == "$PG_USER" ]] ||
            chown -R "$PG_USER:" "$PG_DIR"
    fi
    chmod 700 "$PG_RUN"
    pg_check_access
    [[ -f $PG_DATA/PG_VERSION ]] || pg_init
    pg_clear_stale
    pg_write_config
    [[ -f $PG_LOG ]] && mv -f "$PG_LOG" "$PG_LOG.1"
    STARTED+=(postgres)
    if ! as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t "$PG_TIMEOUT" -s {LOCK_FD}>&-; then
        show_log "$PG_LOG"
        die "postgres: did not start within ${PG_TIMEOUT} s"
    fi
    pg_provision
    say "postgres: started on $HOST:$PG_PORT ($(since "$t0"))"
}

pg_down() {
    pg_setup_env
    local pid
    pid=$(pg_pid)
    if [[ -z $pid ]]; then
        say "postgres: not running"
        return 0
    fi
    if ! as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 -s; then
        show_log "$PG_LOG"
        warn "postgres: fast shutdown failed, trying immediate"
        as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w -t 30 -s || true
    fi
    say "postgres: stopped"
}

# --------------------------------------------------------------------- Redis

redis_pid() {
    local p
    p=$(read_pid "$REDIS_PID")
    [[ -n $p ]] && alive "$p" && [[ $(cmdline "$p") == *redis-server*":$REDIS_PORT"* ]] && echo "$p"
    return 0
}

redis_ping() { [[ $(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

redis_up() {
    local t0 pid
    t0=$(usec)
    need_cmd redis-server redis-cli
    pid=$(redis_pid)
    if [[ -n $pid ]]; then
        wait_for "$REDIS_TIMEOUT" redis_ping || die "redis: running (pid $pid) but no PONG on $HOST:$REDIS_PORT"
        say "redis: already running on $HOST:$REDIS_PORT (pid $pid)"
        return 0
    fi
    need_port_free redis "$REDIS_PORT"
    mkdir -p "$REDIS_DIR"
    cat >"$REDIS_CONF" <<EOF
# Written by tools/infra/infra.sh on every start: edit the script, not this.
# Redis is a cache and session store here: no persistence at all.
bind $HOST
port $REDIS_PORT
protected-mode yes
daemonize yes
pidfile "$REDIS_PID"
logfile "$REDIS_LOG"
dir "$REDIS_DIR"
appendonly no
save ""
always-show-logo no
EOF
    [[ -f $REDIS_LOG ]] && mv -f "$REDIS_LOG" "$REDIS_LOG.1"
    rm -f "$REDIS_PID"
    STARTED+=(redis)
    if ! redis-server "$REDIS_CONF" >/dev/null 2>>"$REDIS_LOG" {LOCK_FD}>&- || ! wait_for "$REDIS_TIMEOUT" redis_ping; then
        show_log "$REDIS_LOG"
        die "redis: did not answer PING within ${REDIS_TIMEOUT} s"
    fi
    say "redis: started on $HOST:$REDIS_PORT ($(since "$t0"))"
}

redis_down() {
    local pid
    pid=$(redis_pid)
    if [[ -z $pid ]]; then
        rm -f "$REDIS_PID"
        say "redis: not running"
        return 0
    fi
    timeout 10 redis-cli -h "$HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 ||
        kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for 10 dead "$pid"; then
        warn "redis: still running after 10 s, killing pid $pid"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$REDIS_PID"
    say "redis: stopped"
}

# --------------------------------------------------------------------- Kafka

kafka_pid() {
    local p
    p=$(read_pid "$KAFKA_PID")
    [[ -n $p ]] && alive "$p" && [[ $(cmdline "$p") == *"$KAFKA_PROPS"* ]] && echo "$p"
    return 0
}

kafka_ready() { kcat -b "$KAFKA_BROKERS" -L -m 2 -t __no_such_topic >/dev/null 2>&1; }

# A cluster id is 16 random bytes in URL-safe base64 without padding (what
# `kafka-storage random-uuid` prints), not starting with '-'.
new_cluster_id() {
    local id=-
    while [[ $id == -* ]]; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    done
    echo "$id"
}

kafka_write_config() {
    cat >"$KAFKA_PROPS" <<EOF
# Written by tools/infra/infra.sh on every start: edit the script, not this.
# Single-node KRaft broker, combined mode, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA
# Topics come from deploy/topics.txt only; a typo must not create one.
auto.create.topics.enable=false
num.partitions=12
default.replication.factor=1
min.insync.replicas=1
# One broker: internal topics with one replica, few partitions (quick to create).
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# The default 3 s delay would slow every consumer group join in tests.
group.initial.rebalance.delay.ms=0
EOF
}

kafka_format() {
    local id=""
    if [[ -f $KAFKA_DATA/meta.properties ]]; then
        if [[ ! -s $KAFKA_CLUSTER_ID ]]; then
            sed -n 's/^cluster\.id=//p' "$KAFKA_DATA/meta.properties" >"$KAFKA_CLUSTER_ID"
        fi
        return 0
    fi
    [[ -s $KAFKA_CLUSTER_ID ]] && id=$(<"$KAFKA_CLUSTER_ID")
    if [[ -z $id ]]; then
        id=$(new_cluster_id)
        echo "$id" >"$KAFKA_CLUSTER_ID"
    fi
    say "kafka: formatting .infra/kafka/data (cluster id $id)"
    if ! "${JAVA_TOOL[@]}" kafka.tools.StorageTool format --ignore-formatted \
        -t "$id" -c "$KAFKA_PROPS" >"$KAFKA_DIR/format.log" 2>&1; then
        show_log "$KAFKA_DIR/format.log"
        die "kafka: storage format failed"
    fi
}

# kafka_launch: starts the broker in the background, without waiting.
kafka_launch() {
    local pid
    pid=$(kafka_pid)
    if [[ -n $pid ]]; then
        KAFKA_WAS_RUNNING=$pid
        return 0
    fi
    KAFKA_WAS_RUNNING=""
    need_cmd java kcat
    compgen -G "$KAFKA_LIB/kafka_2.13-*.jar" >/dev/null ||
        die "kafka: no broker jars in tools/kafka/lib: run tools/infra/deps.sh (make deps)"
    need_port_free kafka "$KAFKA_PORT"
    need_port_free kafka "$KAFKA_CONTROLLER_PORT"
    mkdir -p "$KAFKA_DIR"
    kafka_write_config
    kafka_format
    [[ -f $KAFKA_LOG ]] && mv -f "$KAFKA_LOG" "$KAFKA_LOG.1"
    STARTED+=(kafka)
    # setsid: own session, so the terminal's signals do not reach it; the
    # pid of the background job is the JVM's own (nohup and setsid exec).
    nohup setsid java -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true \
        -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
        -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_PROPS" >>"$KAFKA_LOG" 2>&1 </dev/null {LOCK_FD}>&- &
    echo "$!" >"$KAFKA_PID"
}

kafka_wait() {
    local t0=$1 pid deadline=$((SECONDS + KAFKA_TIMEOUT))
    pid=$(read_pid "$KAFKA_PID")
    until kafka_ready; do
        if ! alive "$pid"; then
            show_log "$KAFKA_LOG"
            die "kafka: the broker exited during startup"
        fi
        if ((SECONDS >= deadline)); then
            show_log "$KAFKA_LOG"
            die "kafka: no metadata from $KAFKA_BROKERS within ${KAFKA_TIMEOUT} s"
        fi
        sleep 0.25
    done
    if [[ -n $KAFKA_WAS_RUNNING ]]; then
        say "kafka: already running on $KAFKA_BROKERS (pid $pid)"
    else
        say "kafka: started on $KAFKA_BROKERS, controller $HOST:$KAFKA_CONTROLLER_PORT ($(since "$t0"))"
    fi
}

# wanted_topics: "name partitions" lines of deploy/topics.txt.
wanted_topics() {
    [[ -f $TOPICS_FILE ]] || return 0
    local name parts _
    while read -r name parts _; do
        [[ -z $name || $name == \#* ]] && continue
        [[ $parts =~ ^[1-9][0-9]*$ ]] || die "kafka: deploy/topics.txt: bad partition count for $name: '$parts'"
        echo "$name $parts"
    done <"$TOPICS_FILE"
}

# broker_topics: "name partitions state" for every topic of the broker, state
# being ok when every partition has a leader.
broker_topics() {
    local md
    md=$(kcat -b "$KAFKA_BROKERS" -L -m 5 2>/dev/null) || return 1
    awk '
        $1 == "topic"     { t = $2; gsub(/"/, "", t); n[t] = $4; bad[t] = ($0 ~ /: /) }
        $1 == "partition" { if ($4 == "-1," || $0 ~ /Broker:/) bad[t] = 1 }
        END               { for (t in n) print t, n[t], (bad[t] ? "notready" : "ok") }
    ' <<<"$md"
}

# topics_check WANTED: prints the wanted topics ("name partitions" lines)
# missing or without leaders, and "! name actual wanted" for a topic that
# exists with another partition count; fails without metadata.
topics_check() {
    local have
    have=$(broker_topics) || return 1
    awk -v have="$have" '
        BEGIN {
            k = split(have, l, "\n")
            for (i = 1; i <= k; i++) { split(l[i], f, " "); n[f[1]] = f[2]; s[f[1]] = f[3] }
        }
        NF == 2 {
            if (($1 in n) && n[$1] != $2) print "!", $1, n[$1], $2
            else if (!($1 in n) || s[$1] != "ok") print $1, $2
        }
    ' <<<"$1"
}

topics_ready() {
    local out
    out=$(topics_check "$1") && [[ -z $out ]]
}

kafka_topics() {
    local t0 wanted out missing args=() name parts
    t0=$(usec)
    wanted=$(wanted_topics)
    [[ -n $wanted ]] || return 0
    out=$(topics_check "$wanted") || die "kafka: no metadata from $KAFKA_BROKERS"
    [[ -n $out ]] || return 0
    if grep -q '^! ' <<<"$out"; then
        die "kafka: partition counts differ from deploy/topics.txt (name actual wanted):" \
            "$(sed -n 's/^! //p' <<<"$out" | tr '\n' ';') tools/infra/infra.sh reset starts afresh"
    fi
    missing=$out
    while read -r name parts; do args+=("$name" "$parts"); done <<<"$missing"
    local modules
    modules=$(java --list-modules 2>/dev/null || true)
    if [[ $modules == *jdk.compiler@* && -z ${INFRA_NO_JDK:-} ]]; then
        # A JDK is here: one JVM creates them all.
        "${JAVA_TOOL[@]}" "$KAFKA_CREATE_TOPICS" "$KAFKA_BROKERS" 1 "${args[@]}" >/dev/null ||
            die "kafka: topic creation failed"
    else
        # A bare JRE cannot run a source file: one kafka-topics JVM per topic.
        while read -r name parts; do
            "${JAVA_TOOL[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" \
                --create --if-not-exists --topic "$name" --partitions "$parts" \
                --replication-factor 1 >/dev/null || die "kafka: could not create topic $name"
        done <<<"$missing"
    fi
    wait_for 30 topics_ready "$wanted" ||
        die "kafka: topics not ready after 30 s: $(topics_check "$wanted" | tr '\n' ' ')"
    say "kafka: $(wc -l <<<"$missing") topic(s) created from deploy/topics.txt ($(since "$t0"))"
}

kafka_down() {
    local pid
    pid=$(kafka_pid)
    if [[ -z $pid ]]; then
        rm -f "$KAFKA_PID"
        say "kafka: not running"
        return 0
    fi
    # SIGTERM: the broker's shutdown hook closes the logs cleanly.
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for "$KAFKA_STOP_TIMEOUT" dead "$pid"; then
        warn "kafka: still running after ${KAFKA_STOP_TIMEOUT} s, killing pid $pid"
        kill -KILL "$pid" 2>/dev/null || true
        wait_for 5 dead "$pid" || true
    fi
    rm -f "$KAFKA_PID"
    say "kafka: stopped"
}

# ------------------------------------------------------------------ commands

# re_escape STRING: STRING as an extended regular expression matching itself.
re_escape() { printf '%s\n' "$1" | sed 's/[][\.*^$+?(){}|]/\\&/g'; }

# leftovers: processes of this project's infrastructure still alive.
leftovers() {
    local kpat dpat
    kpat=$(re_escape "$KAFKA_PROPS")
    dpat=$(re_escape "$PG_DATA")
    {
        pgrep -f -- "$kpat" || true
        pgrep -f -- "-D $dpat( |\$)" || true
        read_pid "$KAFKA_PID"
        read_pid "$REDIS_PID"
        pg_pid
    } | sort -u | while read -r p; do
        [[ $p =~ ^[0-9]+$ ]] && alive "$p" && echo "$p $(cmdline "$p")"
    done
    return 0
}

# need_own_state: .infra/ left by a run as another user (as root, then
# without sudo) can be neither changed nor locked by this one: say what to
# do rather than fail on a bare "Operation not permitted".
need_own_state() {
    (($(id -u) == 0)) && return 0
    [[ -e $INFRA ]] || return 0
    local other
    other=$(find "$INFRA" -maxdepth 2 ! -user "$(id -u)" -print -quit 2>/dev/null || true)
    [[ -z $other ]] && return 0
    die "${other#"$ROOT"/} belongs to $(stat -c %U "$other"), not to $(id -un): .infra/ was made" \
        "by a run as that user. Run this script as that user again (sudo tools/infra/infra.sh ...)," \
        "or start afresh, deleting the data: sudo tools/infra/infra.sh reset"
}

# lock: one infra.sh at a time. The daemons are started with the lock's fd
# closed ({LOCK_FD}>&-), or they would hold it for as long as they run.
lock() {
    need_own_state
    mkdir -p "$INFRA"
    chmod 755 "$INFRA" # the database user must traverse it
    exec {LOCK_FD}>"$INFRA/.lock"
    flock -w 120 "$LOCK_FD" || die "another infra.sh holds .infra/.lock"
}

on_exit() {
    local rc=$?
    if ((rc != 0 && UP_ACTIVE)) && ((${#STARTED[@]} > 0)); then
        warn "up failed: stopping what it started (${STARTED[*]})"
        UP_ACTIVE=0
        local s
        for s in "${STARTED[@]}"; do
            case $s in
            kafka) kafka_down ;;
            redis) redis_down ;;
            postgres) pg_down ;;
            esac
        done >&2 || true
    fi
    exit "$rc"
}

cmd_up() {
    local t0 tk
    t0=$(usec)
    need_cmd ss
    lock
    UP_ACTIVE=1
    trap on_exit EXIT
    # The broker boots in the background while the others start.
    tk=$(usec)
    kafka_launch
    pg_up
    redis_up
    kafka_wait "$tk"
    kafka_topics
    UP_ACTIVE=0
    say "up in $(since "$t0"): postgres $HOST:$PG_PORT, redis $HOST:$REDIS_PORT, kafka $KAFKA_BROKERS"
}

cmd_down() {
    local t0 left
    t0=$(usec)
    lock
    kafka_down
    redis_down
    pg_down
    left=$(leftovers)
    if [[ -n $left ]]; then
        warn "processes still running:"
        printf '  %s\n' "$left" >&2
        exit 1
    fi
    say "down in $(since "$t0")"
}

status_line() {
    local svc=$1 addr=$2 pid=$3
    if [[ -n $pid ]]; then
        printf '%-9s running  %-16s pid %s\n' "$svc" "$addr" "$pid"
    else
        printf '%-9s stopped  %s\n' "$svc" "$addr"
        STOPPED=1
    fi
}

cmd_status() {
    STOPPED=0
    pg_setup_env
    status_line postgres "$HOST:$PG_PORT" "$(pg_pid)"
    status_line redis "$HOST:$REDIS_PORT" "$(redis_pid)"
    status_line kafka "$KAFKA_BROKERS" "$(kafka_pid)"
    ((STOPPED == 0)) || exit 3
}

cmd_env() {
    printf "export CLAIMS_PG_DSN='%s'\n" "$PG_DSN"
    printf "export CLAIMS_REDIS_URL='%s'\n" "$REDIS_URL"
    printf "export CLAIMS_KAFKA_BROKERS='%s'\n" "$KAFKA_BROKERS"
}

cmd_reset() {
    cmd_down
    # A database kept outside the repository (see pg_place_state) goes too,
    # linked from .infra/pg or left by an earlier checkout at this path.
    if [[ $PG_DIR == /var/tmp/claims-infra-*/pg ]]; then
        rm -rf "${PG_DIR%/pg}"
    fi
    [[ $INFRA == "$ROOT/.infra" && -d $INFRA ]] && rm -rf "$INFRA"
    say "reset: .infra/ removed"
}

# cmd_topic NAME PARTITIONS [KEY=VALUE...]: one topic with its settings,
# e.g. a small max.message.bytes to see how the relay meets a refusal.
cmd_topic() {
    local name=${1:-} parts=${2:-} args=()
    [[ $name =~ ^[A-Za-z0-9._-]+$ && $parts =~ ^[1-9][0-9]*$ ]] ||
        die "usage: $0 topic NAME PARTITIONS [KEY=VALUE...]"
    shift 2
    for kv in "$@"; do args+=(--config "$kv"); done
    "${JAVA_TOOL[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" \
        --create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1 \
        "${args[@]}" >/dev/null || die "kafka: could not create topic $name"
    wait_for 30 topics_ready "$name $parts" || die "kafka: topic $name not ready after 30 s"
    say "kafka: topic $name created"
}

main() {
    case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    reset) cmd_reset ;;
    topic)
        shift
        cmd_topic "$@"
        ;;
    *)
        echo "usage: $0 up|down|status|env|reset|topic" >&2
        exit 2
        ;;
    esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
