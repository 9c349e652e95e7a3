#!/usr/bin/env bash
# deps.sh - install what building, testing and running the claims backend
# locally needs: Debian packages (apt-get) and the Apache Kafka broker jars
# (Maven Central, through tools/kafka/pom.xml into tools/kafka/lib/).
#
#   tools/infra/deps.sh           install what is missing (quick no-op otherwise)
#   tools/infra/deps.sh --check   only report what is missing; exit 1 if anything is
#
# Idempotent: it asks dpkg what is installed and runs `apt-get update` and
# `apt-get install` only when a package is missing; the jars are fetched only
# when tools/kafka/lib/ lacks the kafka jar of the version pinned in the pom
# (or the pom changed since the last fetch).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KAFKA_TOOLS="$ROOT/tools/kafka"
KAFKA_LIB="$KAFKA_TOOLS/lib"

# Debian packages, whatever the machine already has. openjdk and maven are
# added below only when no suitable java / mvn is found on PATH; the libFuzzer
# runtime (libclang-rt-<N>-dev, only recommended by clang) is derived from the
# clang version.
PACKAGES=(
    ca-certificates
    build-essential pkg-config
    clang clang-format valgrind
    protobuf-c-compiler libprotobuf-c-dev
    librdkafka-dev libzmq3-dev libpq-dev libhiredis-dev libjansson-dev
    libsodium-dev libmicrohttpd-dev
    postgresql postgresql-client redis-server kcat
    jq curl socat
    iproute2 procps
)

log() { printf 'deps: %s\n' "$*"; }
die() {
    printf 'deps: error: %s\n' "$*" >&2
    exit 1
}

# missing_packages PKG... : prints the packages dpkg does not report installed.
missing_packages() {
    local installed
    installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null || true)
    local p
    for p in "$@"; do
        # dpkg-query prints multi-arch packages without their :arch suffix.
        if ! grep -qx "${p%%:*} installed" <<<"$installed"; then
            printf '%s\n' "$p"
        fi
    done
}

# java_major: major version of the java on PATH (0 when there is none).
java_major() {
    local v
    command -v java >/dev/null 2>&1 || {
        echo 0
        return
    }
    v=$(java -version 2>&1 || true)
    if [[ $v =~ version\ \"(1\.)?([0-9]+) ]]; then # "1.8.0_x" -> 8, "17.0.15" -> 17
        echo "${BASH_REMATCH[2]}"
    else
        echo 0
    fi
}

# clang_rt_package: libclang-rt-<N>-dev matching the clang package, from the
# installed clang or else the apt candidate; empty if unknown.
clang_rt_package() {
    local deps
    deps=$(dpkg-query -W -f='${Depends}' clang 2>/dev/null ||
        apt-cache depends clang 2>/dev/null || true)
    local v
    v=$(grep -o 'clang-[0-9][0-9]*' <<<"$deps" | head -n 1 || true)
    [[ -n $v ]] && printf 'libclang-rt-%s-dev\n' "${v#clang-}"
    return 0
}

wanted_packages() {
    printf '%s\n' "${PACKAGES[@]}"
    if (($(java_major) < 17)); then echo openjdk-17-jre-headless; fi
    command -v mvn >/dev/null 2>&1 || echo maven
    clang_rt_package
}

kafka_version() {
    sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_TOOLS/pom.xml"
}

pom_sum() { sha256sum "$KAFKA_TOOLS/pom.xml" | cut -d' ' -f1; }

# jars_ok: lib/ holds the pinned kafka jar, fetched completely from this pom.
jars_ok() {
    local v
    v=$(kafka_version)
    [[ -f "$KAFKA_LIB/kafka_2.13-$v.jar" && -f "$KAFKA_LIB/.complete" ]] &&
        [[ $(cat "$KAFKA_LIB/.complete") == "$(pom_sum)" ]]
}

as_root() {
    if (($(id -u) == 0)); then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "not root and no sudo: run tools/infra/deps.sh as root (e.g. su -c tools/infra/deps.sh), it has to run: $*"
    fi
}

# java_problem: why the java on PATH cannot run Kafka 4.1, which needs 17 or
# later; empty when it can. openjdk-17 may be installed while PATH (or the
# java alternative) still picks an older one: checked on every run.
java_problem() {
    local v
    v=$(java_major)
    ((v >= 17)) && return 0
    if ((v == 0)); then
        echo "no usable java on PATH (Kafka 4.1 needs java 17 or later)"
    else
        echo "the java on PATH ($(command -v java)) is version $v; Kafka 4.1 needs 17 or later:" \
            "put a newer one first on PATH or choose it with: update-alternatives --config java" \
            "(openjdk-17 is in /usr/lib/jvm/java-17-openjdk-*/bin once installed)"
    fi
}

install_packages() {
    local -a missing
    local -a wanted
    local problem
    mapfile -t wanted < <(wanted_packages)
    mapfile -t missing < <(missing_packages "${wanted[@]}")
    if ((${#missing[@]} == 0)); then
        problem=$(java_problem)
        [[ -z $problem ]] || die "$problem"
        return 0
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # clang's libFuzzer runtime can only be named once apt knows clang.
    local rt
    rt=$(clang_rt_package)
    if [[ -n $rt && " ${missing[*]} " != *" $rt "* && -n $(missing_packages "$rt") ]]; then
        missing+=("$rt")
    fi
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
    local still
    still=$(missing_packages "${missing[@]}")
    [[ -z $still ]] || die "still missing after apt-get install: $still"
    problem=$(java_problem)
    [[ -z $problem ]] || die "$problem"
}

fetch_jars() {
    jars_ok && return 0
    command -v mvn >/dev/null 2>&1 || die "mvn not found"
    local v tmp out
    v=$(kafka_version)
    [[ -n $v ]] || die "no <kafka.version> in $KAFKA_TOOLS/pom.xml"
    log "fetching Kafka $v broker jars from Maven Central into tools/kafka/lib/"
    # Copy into a fresh directory and swap it in, so that an interrupted
    # fetch or an older version never leaves mixed jars on the classpath.
    tmp="$KAFKA_TOOLS/target/lib.tmp" # target/ is gitignored too
    rm -rf "$tmp"
    mkdir -p "$KAFKA_TOOLS/target"
    out="$KAFKA_TOOLS/target/mvn.log"
    if ! mvn -B -q -Dstyle.color=never -f "$KAFKA_TOOLS/pom.xml" \
        -Dkafka.lib.dir="$tmp" dependency:copy-dependencies >"$out" 2>&1; then
        sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -v '^\s*$' | tail -n 40 >&2 || true
        rm -rf "$tmp"
        die "maven could not fetch the Kafka jars (full output: tools/kafka/target/mvn.log)"
    fi
    [[ -f "$tmp/kafka_2.13-$v.jar" ]] || die "maven ran but kafka_2.13-$v.jar is not in $tmp"
    pom_sum >"$tmp/.complete"
    rm -rf "$KAFKA_LIB"
    mv "$tmp" "$KAFKA_LIB"
    log "$(find "$KAFKA_LIB" -name '*.jar' | wc -l) jars in tools/kafka/lib/"
}

check_only() {
    local rc=0
    local -a wanted missing
    mapfile -t wanted < <(wanted_packages)
    mapfile -t missing < <(missing_packages "${wanted[@]}")
    if ((${#missing[@]} > 0)); then
        log "missing Debian packages: ${missing[*]}"
        rc=1
    else
        log "Debian packages: all installed"
    fi
    local problem
    problem=$(java_problem)
    if [[ -n $problem ]]; then
        log "java: $problem"
        rc=1
    fi
    if jars_ok; then
        log "Kafka $(kafka_version) jars: present"
    else
        log "Kafka $(kafka_version) jars: missing (tools/kafka/lib/)"
        rc=1
    fi
    return "$rc"
}

main() {
    case "${1:-}" in
    --check | --dry-run)
        check_only
        ;;
    "")
        install_packages
        fetch_jars
        ;;
    *)
        echo "usage: $0 [--check]" >&2
        exit 2
        ;;
    esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
