# Makefile - builds every daemon, the operator command, the tests and the
# tools of the claims backend; drives the local infrastructure.
#
#   make              build everything into build/ (bin/, tests/)
#   make demo         install what is missing, start the infrastructure,
#                     migrate, seed and run the pipeline on sample data
#   make test         install, build, start the infrastructure, run every
#                     test (unit, vectors, integration), stop it, then
#                     run each fuzz target briefly (test-fuzz)
#   make test-fuzz    each libFuzzer target for FUZZ_SECONDS (default 8)
#   make asan         the same build with ASan+UBSan into build-asan/
#   make fuzz         build the libFuzzer targets (clang) and run each briefly
#   make bench        the benchmarks, next to the raw infrastructure limits
#   make deps         install Debian packages and the Kafka broker jars
#   make infra-up / infra-down / infra-status
#   make lint         clang-format check
#
# Layout: services/rules (pure engine) <- services/common (transport) <-
# services/<daemon> and services/claimctl. Each folder of services/ other
# than common/ and rules/ is one program named after the folder.

BUILD     ?= build
CC        ?= cc
OPT       ?= -O2 -g
SANITIZE  ?=
PKGS      := librdkafka libzmq libprotobuf-c libpq hiredis jansson libsodium libmicrohttpd

WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat=2 -Wno-format-nonliteral
CPPFLAGS  += -D_GNU_SOURCE -Iservices -I$(BUILD)/gen -Itests -I$(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
CFLAGS    ?= $(OPT)
CFLAGS    += -std=c11 $(WARN) $(SANITIZE) -MMD -MP
LDFLAGS   += $(SANITIZE)
LDLIBS    := -lrdkafka -lzmq -lprotobuf-c -lpq -lhiredis -ljansson -lsodium -lmicrohttpd \
             -lpthread -lm

PROTOS    := $(wildcard proto/*.proto)
PROTO_C   := $(patsubst proto/%.proto,$(BUILD)/gen/proto/%.pb-c.c,$(PROTOS))
PROTO_H   := $(PROTO_C:.c=.h)
PROTO_O   := $(patsubst $(BUILD)/gen/%.c,$(BUILD)/obj/gen/%.o,$(PROTO_C))

RULES_SRC  := $(wildcard services/rules/*.c)
COMMON_SRC := $(wildcard services/common/*.c)
RULES_O    := $(RULES_SRC:%.c=$(BUILD)/obj/%.o)
COMMON_O   := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)

LIBRULES  := $(BUILD)/lib/librules.a
LIBCOMMON := $(BUILD)/lib/libcommon.a
LIBPROTO  := $(BUILD)/lib/libproto.a
LIBS      := $(LIBCOMMON) $(LIBPROTO) $(LIBRULES)

PROGRAMS  := $(filter-out common rules,$(notdir $(patsubst %/,%,$(wildcard services/*/))))
BINS      := $(PROGRAMS:%=$(BUILD)/bin/%)

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/%.c=$(BUILD)/tests/%)
INTEG_BIN := $(INTEG_SRC:tests/%.c=$(BUILD)/tests/%)
# Helper programs of the shell tests (not run on their own).
PROBE_SRC := $(wildcard tests/integration/probe_*.c)
PROBE_BIN := $(PROBE_SRC:tests/%.c=$(BUILD)/tests/%)

TOOL_SRC  := $(wildcard tools/bench/*.c)
TOOL_BIN  := $(TOOL_SRC:tools/bench/%.c=$(BUILD)/bin/%)

.PHONY: all build tests demo test test-unit test-integration test-fuzz asan valgrind fuzz bench \
        deps infra-up infra-down infra-status lint format clean
.SECONDARY: $(PROTO_C) $(PROTO_H)

all: build
build: $(BINS) $(UNIT_BIN) $(INTEG_BIN) $(PROBE_BIN) $(TOOL_BIN)

# --- generated protobuf code (never committed) ---------------------------
$(BUILD)/gen/proto/%.pb-c.c $(BUILD)/gen/proto/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen/proto
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen/proto $<

# Generated sources do not pass the project's strictest warnings.
$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -I$(BUILD)/gen/proto -std=c11 $(OPT) $(SANITIZE) -Wall -Werror -MMD -MP -c -o $@ $<

# Every project object may include generated headers: build them first.
$(BUILD)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBRULES): $(RULES_O)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(LIBCOMMON): $(COMMON_O)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(LIBPROTO): $(PROTO_O)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# --- programs: one per folder of services/ ------------------------------
define program_rule
$(BUILD)/bin/$(1): $$(patsubst %.c,$(BUILD)/obj/%.o,$$(wildcard services/$(1)/*.c)) $$(LIBS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $$(filter %.a,$$^) $$(LDLIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call program_rule,$(p))))
# The front door judges a quote's lines with intake's own line checks
# (pure code): a quote and the invoice that follows are judged alike.
$(BUILD)/bin/tpgate: $(BUILD)/obj/services/intake/intake_check.o

$(BUILD)/bin/%: $(BUILD)/obj/tools/bench/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# --- tests -------------------------------------------------------------------
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

test-unit: build
	BUILD=$(BUILD) tests/run.sh unit

test-integration: build
	BUILD=$(BUILD) tests/run.sh integration

# The README's test command: everything, from a fresh machine. The fuzz
# targets come last, with no server: a few seconds each on their seeds
# catch a decoder or a check that a change broke.
test: deps
	$(MAKE) build
	tools/infra/infra.sh up
	BUILD=$(BUILD) tests/run.sh all; rc=$$?; \
	    tools/infra/infra.sh down || [ $$rc -ne 0 ] || rc=1; exit $$rc
	$(MAKE) test-fuzz

# Every fuzz target briefly: with its build, some 16 s a target (about
# 2 minutes for the seven of today on two cores), which make test can afford.
test-fuzz: | $(PROTO_H)
	FUZZ_SECONDS=$${FUZZ_SECONDS:-8} tests/fuzz/run.sh

demo: deps
	$(MAKE) build
	CLAIMS_BIN=$(BUILD)/bin tools/demo.sh

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	        SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all" build

valgrind: build
	BUILD=$(BUILD) tests/run.sh valgrind

fuzz: | $(PROTO_H)
	tests/fuzz/run.sh

bench: deps
	$(MAKE) build
	BENCH_BIN=$(BUILD)/bin tools/bench/run.sh

deps:
	tools/infra/deps.sh

infra-up:
	tools/infra/infra.sh up
infra-down:
	tools/infra/infra.sh down
infra-status:
	tools/infra/infra.sh status

FORMAT_SRC = $(shell git ls-files 'services/*.[ch]' 'tests/*.[ch]' 'tools/*.[ch]')
lint:
	clang-format --dry-run --Werror $(FORMAT_SRC)
format:
	clang-format -i $(FORMAT_SRC)

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
