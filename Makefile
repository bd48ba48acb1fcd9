# runnel — plain GNU make build.
#
#   make                 build/runnel and build/rnl (release, -O2)
#   make SAN=1           the same with ASan+UBSan into build-san/
#   make unit            build and run the C unit tests
#   make test            everything CI runs (see scripts/test.sh)
#   make fuzz            libFuzzer targets (clang) into build-fuzz/
#
# Why plain make: the tree is small, the layout is one folder per layer, and a
# glob over src/ keeps the build file free of per-file edits.
#
# Unit tests: tests/unit/test_<name>.c; its first line names the source
# folders it links, e.g. `// deps: src/util src/record`, so one module's tests
# build even while another module is being written.

SAN     ?= 0
ifeq ($(SAN),1)
BUILD   ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT     ?= -O1 -g
else
BUILD   ?= build
SANFLAGS =
OPT     ?= -O2 -g
endif

CC      ?= cc
PY      ?= /usr/bin/python3
WARN     = -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes
CFLAGS  += -std=c17 -D_GNU_SOURCE $(OPT) $(WARN) $(SANFLAGS) -pthread -Isrc -I$(BUILD)/gen -MMD -MP
LDFLAGS += $(SANFLAGS) -pthread
BROKER_LIBS = -lz -lzstd -llz4 -lsnappy
RNL_LIBS    = -lrdkafka

GEN_DEFS := $(sort $(wildcard src/protocol/defs/*.def))
GEN_C    := $(BUILD)/gen/proto_gen.c
GEN_H    := $(BUILD)/gen/proto_gen.h

CORE_SRC := $(sort $(filter-out src/main.c,$(wildcard src/*/*.c)))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/proto_gen.o
RNL_SRC  := $(sort $(wildcard tools/rnl/*.c))
RNL_OBJ  := $(RNL_SRC:%.c=$(BUILD)/obj/%.o)
# rnl's raw admin requests (tools/rnl/wire.c) use the broker's own codec.
RNL_CORE := $(BUILD)/obj/src/protocol/codec.o $(BUILD)/obj/src/util/buf.o \
            $(BUILD)/obj/src/util/err.o $(BUILD)/obj/gen/proto_gen.o
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all unit test fuzz clean
all: $(BUILD)/runnel $(BUILD)/rnl

$(GEN_C) $(GEN_H) &: src/protocol/gen.py $(GEN_DEFS)
	@mkdir -p $(BUILD)/gen
	$(PY) src/protocol/gen.py --out $(BUILD)/gen $(GEN_DEFS)

$(BUILD)/obj/gen/proto_gen.o: $(GEN_C) $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# Every core object may include the generated header.
$(BUILD)/obj/src/%.o: src/%.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/tools/%.o: tools/%.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/runnel: $(BUILD)/obj/src/main.o $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(BROKER_LIBS)

$(BUILD)/rnl: $(RNL_OBJ) $(RNL_CORE)
	$(CC) $(LDFLAGS) -o $@ $^ $(RNL_LIBS)

# A unit test links only the objects of the folders its first line names.
deps_of = $(shell sed -n '1s|^// deps:||p' $(1))
objs_of = $(foreach d,$(call deps_of,$(1)),$(if $(filter gen,$(d)),$(BUILD)/obj/gen/proto_gen.o,$(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out src/main.c,$(wildcard $(d)/*.c)))))

.SECONDEXPANSION:
$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $$(call objs_of,tests/unit/%.c) | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(call objs_of,$<) $(LDFLAGS) $(BROKER_LIBS)

unit: $(UNIT_BIN)
	@scripts/run-unit.sh $(UNIT_BIN)

test:
	scripts/test.sh

fuzz:
	scripts/build-fuzz.sh

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
