# Carbon Ledger build. One GNU Makefile for the whole tree.
#
#   make            build libraries and binaries into bin/
#   make test       install missing packages, build, run the fast suite (CI)
#   make test-asan  the unit and simulation tests under ASan + UBSan
#   make sim SEED=N [SCENARIO=lock]  replay one simulator seed
#   make check-full the long runs (soak, long fuzzing, node soak, Valgrind)
#
# Every folder of a module is globbed: a new .c file needs no Makefile edit.
# A file named main.c is the entry point of the folder's binary; every other
# .c goes into the folder's static library.

CC      ?= cc
CFLAGS  ?= -O2 -g
BUILD   ?= build
V       ?= 0
WERROR  ?= -Werror

# The flags of the dependencies come from pkg-config, which a fresh machine
# has only after scripts/deps.sh installed it: the stamp below runs deps.sh
# and records the flags in $(BUILD)/deps.mk, which make then reads (GNU
# make rebuilds an included makefile first and restarts).
DEPS_PKGS := libsodium lmdb libevent libevent_pthreads msgpack jansson

override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow $(WERROR) \
	-MMD -MP -I. $(PKG_CFLAGS)
LDLIBS += $(PKG_LIBS) -lpthread -lm

ifeq ($(V),0)
Q := @
say = @printf '  %-6s %s\n' $(1) $(2);
else
Q :=
say :=
endif

# Library modules in link order (a module may use the ones after it).
LIBMODS := wallet node ledger consensus crypto common
define lib_srcs
$(filter-out $(1)/main.c,$(wildcard $(1)/*.c))
endef
LIBS := $(foreach m,$(LIBMODS),$(if $(call lib_srcs,$(m)),$(BUILD)/lib$(m).a))

BINS := $(foreach m,genesis node wallet,$(if $(wildcard $(m)/main.c),bin/carbon-$(m)))
SIM_SRCS := $(wildcard tests/sim/*.c)
SIM := $(if $(SIM_SRCS),$(BUILD)/carbon-sim)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

STAMP := $(BUILD)/deps.mk

all: $(STAMP) $(LIBS) $(BINS) $(SIM)

$(STAMP): scripts/deps.sh
	$(Q)./scripts/deps.sh
	$(Q)mkdir -p $(BUILD)
	$(Q){ echo "PKG_CFLAGS := $$(pkg-config --cflags $(DEPS_PKGS))"; \
	      echo "PKG_LIBS := $$(pkg-config --libs $(DEPS_PKGS))"; \
	      echo "CRIT_LIBS := $$(pkg-config --libs criterion)"; } > $@.tmp
	$(Q)mv $@.tmp $@

ifeq ($(filter clean,$(MAKECMDGOALS)),)
include $(STAMP)
endif

$(BUILD)/%.o: %.c | $(STAMP)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

define lib_rule
$(BUILD)/lib$(1).a: $(patsubst %.c,$(BUILD)/%.o,$(call lib_srcs,$(1)))
	$$(call say,AR,$$@)
	$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach m,$(LIBMODS),$(if $(call lib_srcs,$(m)),$(eval $(call lib_rule,$(m)))))

# What each module links against, in link order. A unit test named
# tests/unit/test_<module>[_more].c links only its module's closure, so a
# half-edited module elsewhere does not break its build.
LINK_common    := common
LINK_crypto    := crypto common
LINK_consensus := consensus crypto common
LINK_ledger    := ledger consensus crypto common
LINK_genesis   := ledger consensus crypto common
LINK_node      := node ledger consensus crypto common
LINK_wallet    := wallet node ledger consensus crypto common
mod_of = $(firstword $(subst _, ,$(patsubst bench_%,%,$(patsubst test_%,%,$(notdir $(1))))))
libs_of = $(foreach m,$(LINK_$(1)),$(if $(call lib_srcs,$(m)),$(BUILD)/lib$(m).a))

# After libs_of and LINK_*: prerequisites are expanded when the rule is read.
bin/carbon-genesis: $(BUILD)/genesis/main.o $(call libs_of,genesis)
bin/carbon-node: $(BUILD)/node/main.o $(call libs_of,node)
bin/carbon-wallet: $(BUILD)/wallet/main.o $(call libs_of,wallet)
bin/carbon-%:
	$(call say,LD,$@)
	$(Q)mkdir -p bin
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/carbon-sim: $(patsubst %.c,$(BUILD)/%.o,$(SIM_SRCS)) $(call libs_of,consensus)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

.SECONDEXPANSION:
$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $$(call libs_of,$$(call mod_of,$$*))
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS) $(CRIT_LIBS)

# tests/fuzz/fuzz_<name>.c links the node's closure unless FUZZ_MOD_<name>
# names another module (only the fuzz tree, built by `make fuzz`, uses it).
FUZZ_MOD_trips    := wallet
FUZZ_MOD_proposal := wallet
fuzz_mod = $(or $(FUZZ_MOD_$(1)),node)
$(BUILD)/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $$(call libs_of,$$(call fuzz_mod,$$*))
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDFLAGS) $(LDLIBS)

# The seed corpus generator (a normal program; make fuzz-corpus).
$(BUILD)/fuzz/gen_corpus: $(BUILD)/tests/fuzz/gen_corpus.o $(call libs_of,wallet)
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# bench/bench_<module>.c links its module's closure, as unit tests do.
$(BUILD)/bench/%: $(BUILD)/bench/%.o $$(call libs_of,$$(call mod_of,$$*))
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)


# ---- tests -----------------------------------------------------------------

SIM_SEEDS ?= 1000
SEED ?= 1

unit: all $(UNIT_BINS)
	$(Q)set -e; for t in $(UNIT_BINS); do \
		echo "== $$t"; $$t --jobs=2 $(UNIT_ARGS) || exit 1; done

# The random scenario, then the lock scenario (tests/sim/lock.c).
SIM_LOCK_SEEDS ?= 200
simtest: all simmutant
	$(Q)if [ -n "$(SIM)" ]; then $(SIM) --seeds $(SIM_SEEDS) && \
		$(SIM) --scenario lock --seeds $(SIM_LOCK_SEEDS); fi

# Mutation check: the consensus core built with one rule deliberately
# broken (-DCONS_MUTANT_<name>, listed in consensus/core.c) must make the
# simulator's lock scenario report an invariant violation in at least one
# of MUTANT_SEEDS seeds; the rate is printed. Only core.c is rebuilt.
MUTANTS ?= IGNORE_LOCK QUORUM SEND_BEFORE_PERSIST SKIP_POL_CHECK UNLOCK_ANY_VR \
	FORGET_LOCK LOCK_AFTER_PRECOMMIT NO_VERIFY
MUTANT_SEEDS ?= 20
MUTANT_LINK := $(patsubst %.c,$(BUILD)/%.o,$(SIM_SRCS) $(filter-out consensus/core.c,\
	$(wildcard consensus/*.c))) $(call libs_of,crypto)
define mutant_rule
$(BUILD)/mutant/core-$(1).o: consensus/core.c | $(STAMP)
	$$(call say,CC,$$@)
	$(Q)mkdir -p $$(dir $$@)
	$(Q)$(CC) $(CFLAGS) -DCONS_MUTANT_$(1) -c -o $$@ $$<
$(BUILD)/carbon-sim-$(1): $(BUILD)/mutant/core-$(1).o $(MUTANT_LINK)
	$$(call say,LD,$$@)
	$(Q)$(CC) $(CFLAGS) -o $$@ $$^ $(LDFLAGS) $(LDLIBS)
endef
$(foreach m,$(MUTANTS),$(eval $(call mutant_rule,$(m))))

simmutant: $(foreach m,$(MUTANTS),$(BUILD)/carbon-sim-$(m))
	$(Q)for m in $(MUTANTS); do \
		out=$$($(BUILD)/carbon-sim-$$m --scenario lock --seeds $(MUTANT_SEEDS) \
			--keep-going 2>&1); \
		n=$$(echo "$$out" | grep -c "INVARIANT VIOLATED"); \
		if [ "$$n" -gt 0 ]; then \
			echo "simmutant: $$m caught in $$n of $(MUTANT_SEEDS) seeds: $$(echo "$$out" | \
				grep -m1 INVARIANT | sed 's/.*VIOLATED: //')"; \
		else echo "simmutant: mutant $$m SURVIVED $(MUTANT_SEEDS) lock seeds"; exit 1; fi; \
	done

integration: all
	$(Q)set -e; for t in $(sort $(wildcard tests/integration/[0-9]*.sh)); do \
		echo "== $$t"; sh $$t || exit 1; done

# The one-command demo (scripts/demo.sh): a fresh four-validator devnet on
# 127.0.0.1, a city day through carbon-wallet, a report; it stops every node
# it started, also on Ctrl-C.
demo: all
	$(Q)sh scripts/demo.sh

# The demo's devnet, kept running in the foreground until Ctrl-C, with the
# wallet commands to try against it.
run: all
	$(Q)DEMO_RUN=1 sh scripts/demo.sh
.PHONY: demo run

# libFuzzer targets (tests/fuzz/README.md), built with clang into their
# own tree: module libraries with fuzzer coverage, ASan and UBSan. `fuzz`
# replays every regression input, then runs each target FUZZ_SECONDS on a
# temporary copy of its seed corpus (the committed corpus is never grown).
FUZZ_SECONDS ?= 8
FUZZ_LONG_SECONDS ?= 600
FUZZ_BUILD := build-fuzz
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_BINS := $(addprefix $(FUZZ_BUILD)/fuzz/fuzz_,$(FUZZ_NAMES))

fuzz-build:
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang \
		CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
		LDFLAGS="$(FUZZ_SAN)" fuzz-bins

fuzz-bins: $(FUZZ_BINS)
	@:

# Rewrites tests/fuzz/corpus/ from the generator (deterministic output).
fuzz-corpus: $(BUILD)/fuzz/gen_corpus
	$(Q)$(BUILD)/fuzz/gen_corpus tests/fuzz/corpus

fuzz: fuzz-build
	$(Q)sh tests/fuzz/run.sh $(FUZZ_BUILD)/fuzz $(FUZZ_SECONDS) $(FUZZ_NAMES)

test: unit simtest integration fuzz
	@echo "make test: all passed"

test-asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan CC=clang \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" \
		ASAN_OPTIONS=detect_leaks=1 SIM_SEEDS=300 unit simtest

sim: all
	$(SIM) --seed $(SEED) $(if $(SCENARIO),--scenario $(SCENARIO)) --verbose

soak: all
	$(SIM) --seeds 100000 --first-seed 1000000
	$(SIM) --scenario lock --seeds 20000 --first-seed 1000000

check-full: test test-asan
	$(Q)$(MAKE) --no-print-directory soak
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_LONG_SECONDS)
	$(Q)$(MAKE) --no-print-directory soak-node
	$(Q)$(MAKE) --no-print-directory valgrind

# The node soak (tests/soak/soak.sh: a four-validator devnet under load for
# SOAK_SECONDS, heap flat after warm-up) and Valgrind memcheck
# (tests/valgrind/run.sh: the unit tests, and a validator under load). They
# run bin/, which test-asan relinks with sanitizers (newer than $(BUILD)'s
# objects, so make would keep them): such binaries are relinked first.
SOAK_SECONDS ?= 300
native-bins: $(STAMP) $(LIBS)
	$(Q)if nm $(BINS) 2>/dev/null | grep -q '__[at]san_init\|__ubsan_handle'; then rm -f $(BINS); fi
	$(Q)$(MAKE) --no-print-directory $(BINS)
soak-node: native-bins
	$(Q)SOAK_SECONDS=$(SOAK_SECONDS) BUILD=$(BUILD) sh tests/soak/soak.sh
valgrind: native-bins $(UNIT_BINS)
	$(Q)BUILD=$(BUILD) sh tests/valgrind/run.sh $(BUILD)
.PHONY: native-bins soak-node valgrind

bench-ledger: all $(BENCH_BINS)
	$(Q)$(BUILD)/bench/bench_ledger

# The whole benchmark (bench/run.sh): machine limits, then real nodes.
# BENCH_SECONDS is each workload's measured window; the default run takes
# under ten minutes.
# The daemons it runs are linked from this tree's objects: bin/ is shared
# by every BUILD (test-asan relinks it with sanitizers), and the bench must
# measure the optimised build.
BENCH_SECONDS ?= 30
BENCH_NEEDS := $(filter $(addprefix $(BUILD)/bench/,bench_node_load bench_crypto bench_ledger bench_ledger_codec bench_consensus),\
	$(BENCH_BINS)) $(BUILD)/bench/carbon-node $(BUILD)/bench/carbon-genesis
$(BUILD)/bench/carbon-node: $(BUILD)/node/main.o $(call libs_of,node)
$(BUILD)/bench/carbon-genesis: $(BUILD)/genesis/main.o $(call libs_of,genesis)
$(BUILD)/bench/carbon-node $(BUILD)/bench/carbon-genesis:
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)
bench: $(STAMP) $(BENCH_NEEDS)
	$(Q)BENCH_SECONDS=$(BENCH_SECONDS) BUILD=$(BUILD) ./bench/run.sh
.PHONY: bench

clean:
	rm -rf build build-asan build-fuzz bin

.SECONDARY:
.PHONY: all test unit simtest simmutant integration test-asan sim soak check-full clean bench-ledger \
	fuzz fuzz-build fuzz-bins fuzz-corpus

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
