# pve-gpu-reset — see README.md. `make demo` and `make check` set themselves up (tools/deps.sh).
VERSION    := 0.1.0
PREFIX     ?= /usr
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
DATADIR    ?= $(PREFIX)/share
CATALOGDIR ?= $(PREFIX)/lib/systemd/catalog
UDEVRULESDIR ?= $(PREFIX)/lib/udev/rules.d
DESTDIR    ?=
BUILDDIR   ?= build
WERROR     ?= 1

CC         ?= cc
PKG_CONFIG ?= pkg-config
PKGS       := libpci json-c libsystemd libkmod

# Appended, never overwritten, so Debian's hardening flags (dpkg-buildflags) still apply.
WARNINGS := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
            -Wwrite-strings -Wundef -Wvla -Wcast-qual -Wnull-dereference -Wimplicit-fallthrough=5 -fno-common
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif
CFLAGS   ?= -O2 -g
override CFLAGS   += -std=gnu11 $(WARNINGS) -D_FORTIFY_SOURCE=2 -DPGR_VERSION='"$(VERSION)"' \
                     $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null) -Ilib
# libkmod: headers only; lib/kernel/kmodinfo.c dlopens it (only doctor needs it; linked, it slowed every hook start).
override LDLIBS   += $(shell $(PKG_CONFIG) --libs $(filter-out libkmod,$(PKGS)) 2>/dev/null) -ldl

LIB_SRC  := $(sort $(wildcard lib/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILDDIR)/%.o)
LIB_A    := $(BUILDDIR)/libpgr.a
CLI_SRC  := $(sort $(wildcard src/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILDDIR)/%.o)
BIN      := $(BUILDDIR)/pve-gpu-reset
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILDDIR)/tests/%)
UNIT_HELPER_SRC := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
UNIT_HELPER_OBJ := $(UNIT_HELPER_SRC:%.c=$(BUILDDIR)/%.o)

.PHONY: all deps check check-unit check-asan check-journal check-e2e check-hardening \
        check-package check-cli check-fuzz check-layers demo install clean bench fuzz deb unit fixtures
.DELETE_ON_ERROR:

all: $(BIN)

$(BUILDDIR)/%.o: %.c $(wildcard lib/*/*.h) $(wildcard src/*.h) $(wildcard tests/unit/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB_A)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILDDIR)/tests/%: $(BUILDDIR)/tests/unit/%.o $(UNIT_HELPER_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell $(PKG_CONFIG) --libs cmocka)

unit: $(UNIT_BIN)

# Every Debian package any target needs: one list, in tools/deps.sh.
deps:
	@tools/deps.sh

# Fixture sysfs trees built from the real lspci dumps in tests/fixtures/real.
fixtures: $(BUILDDIR)/fixtures.stamp
$(BUILDDIR)/fixtures.stamp: tests/fixtures/mktree $(wildcard tests/fixtures/hosts/*.host)
	@mkdir -p $(BUILDDIR)
	tests/fixtures/mktree --all $(BUILDDIR)/fixtures
	@touch $@

# Every suite runs even when one fails; the summary names the failed ones. The suites run one after
# another, each one's build on every CPU (CHECK_JOBS) unless make already has a -j of its own.
CHECK_SUITES := check-layers check-unit check-asan check-cli check-hardening check-journal check-package check-fuzz check-e2e
CHECK_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
check: deps
	@failed=""; for s in $(CHECK_SUITES); do \
	  echo "=== $$s"; t0=$$(date +%s); \
	  $(MAKE) --no-print-directory $(if $(findstring -j,$(MAKEFLAGS)),,-j$(CHECK_JOBS)) $$s || failed="$$failed $$s"; \
	  echo "=== $$s: $$(( $$(date +%s) - t0 )) s"; \
	done; \
	if [ -n "$$failed" ]; then echo "check: FAILED:$$failed"; exit 1; fi; echo "check: every suite passed"

# lib/'s layers: every include goes down (tools/check-layers.sh), and the check catches a wrong one.
check-layers:
	tests/layers/run.sh

check-unit: unit fixtures
	tests/run-unit.sh $(BUILDDIR)

# The fixture trees do not depend on the compiler: the sanitizer pass runs on the ones of $(BUILDDIR).
check-asan: fixtures
	$(MAKE) BUILDDIR=build/asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	        LDFLAGS="-fsanitize=address,undefined" unit
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	        tests/run-unit.sh build/asan $(BUILDDIR)/fixtures

check-cli: all fixtures
	tests/cli/run.sh $(BUILDDIR)

check-journal: all fixtures
	tests/journal/run.sh $(BUILDDIR)

check-hardening: all fixtures
	tests/hardening/run.sh $(BUILDDIR)

check-package: all
	tests/package/run.sh $(BUILDDIR)

check-fuzz:
	tests/fuzz/run.sh --smoke

FUZZ_SECONDS ?= 60
fuzz: deps
	tests/fuzz/run.sh $(FUZZ_SECONDS)

bench: deps
	$(MAKE) --no-print-directory all fixtures
	tests/bench/run.sh $(BUILDDIR)

deb: deps
	tools/mkdeb.sh

check-e2e: all
	tests/e2e/run.sh $(BUILDDIR)

demo: deps all
	tests/e2e/demo.sh $(BUILDDIR)

install: all
	install -D -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/pve-gpu-reset
	install -D -m 0644 conf/pve-gpu-reset.json $(DESTDIR)$(SYSCONFDIR)/pve-gpu-reset.json
	if [ -f conf/pve-gpu-reset.catalog ]; then \
	  install -D -m 0644 conf/pve-gpu-reset.catalog $(DESTDIR)$(CATALOGDIR)/pve-gpu-reset.catalog; fi
	install -D -m 0644 conf/udev/70-pve-gpu-reset.rules $(DESTDIR)$(UDEVRULESDIR)/70-pve-gpu-reset.rules

clean:
	rm -rf build
