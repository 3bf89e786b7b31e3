# labdaq - plain GNU make.  `make help` lists the targets.
#
#   make            build lib/liblabdaq.so, liblabdaq.a and the labdaq tool
#   make run        install what is missing, build, stream the simulated camera
#   make check      install what is missing, build, run every test
#   make install    PREFIX=/usr/local DESTDIR= (uninstall undoes it)
#   V=1             show the full commands

# The version has one source, lib/include/labdaq.h; SOVERSION is the ABI's
# (lib/labdaq.map says which symbols belong to which node).
version_part = $(shell sed -n 's/^\#define LABDAQ_VERSION_$(1) \([0-9]*\)$$/\1/p' lib/include/labdaq.h)
VERSION := $(call version_part,MAJOR).$(call version_part,MINOR).$(call version_part,PATCH)
SOVERSION := 1

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
# Where bash-completion looks for a command's completion (it searches
# $XDG_DATA_DIRS, /usr/local/share and /usr/share by default).
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSTEMDUSERDIR ?= $(PREFIX)/lib/systemd/user
SYSTEMDSYSTEMDIR ?= $(PREFIX)/lib/systemd/system
LIBEXECDIR ?= $(PREFIX)/lib/labdaq
UDEVRULESDIR ?= /etc/udev/rules.d
KDIR ?= /lib/modules/$(shell uname -r)/build

CC ?= cc
CFLAGS ?= -O2 -g
PYTHON ?= /usr/bin/python3
# The Python package goes where Debian's python3 finds it: /usr/lib/python3/
# dist-packages for PREFIX=/usr, PREFIX/lib/python3.X/dist-packages otherwise
# (/usr/local/lib/python3.11/dist-packages is on Debian 12's sys.path).
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PYTHONDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(PYVER)/dist-packages)
PY_SRCS := $(wildcard python/labdaq/*.py) python/labdaq/py.typed

B := build
WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter -Wno-missing-field-initializers
BASE_CFLAGS := -std=gnu11 -pthread $(WARN) -D_GNU_SOURCE -Ilib/include -Ilib -MMD -MP
LIB_CFLAGS := $(BASE_CFLAGS) -fPIC -fvisibility=hidden
LIBS = -ljansson -lpthread -lm $(LIBS_BACKENDS)

# Backends: one word each, in the order labdaq lists them (lib/device.c
# builds its table from the list).  BACKENDS are always built;
# OPTIONAL_BACKENDS are NAME:PKG, built when WITH_NAME (upper case) is yes,
# or auto (the default) and pkg-config knows PKG.  A new backend is
# lib/backends/NAME.c and one word here.
BACKENDS := sim v4l2
OPTIONAL_BACKENDS := iio:libiio comedi:comedilib usb:libusb-1.0

have_pkg = $(shell pkg-config --exists $(1) 2>/dev/null && echo yes)
upper = $(shell echo '$(1)' | tr a-z A-Z)
BUILT_BACKENDS := $(BACKENDS)
BACKEND_PKGS :=
define optional_backend
WITH_$(2) ?= auto
ifeq ($$(WITH_$(2)),auto)
override WITH_$(2) := $$(if $$(call have_pkg,$(3)),yes,no)
endif
ifeq ($$(WITH_$(2)),yes)
BUILT_BACKENDS += $(1)
BACKEND_PKGS += $(3)
endif
endef
$(foreach b,$(OPTIONAL_BACKENDS),$(eval $(call optional_backend,$(word 1,$(subst :, ,$(b))),$(call upper,$(word 1,$(subst :, ,$(b)))),$(word 2,$(subst :, ,$(b))))))

LIB_SRCS := $(wildcard lib/*.c) $(BUILT_BACKENDS:%=lib/backends/%.c)
BACKEND_DEFS := -DLDQ_BACKEND_LIST='$(foreach b,$(BUILT_BACKENDS),X($(b)))' \
	$(if $(BACKEND_PKGS),$(shell pkg-config --cflags $(BACKEND_PKGS)))
# The backends' libraries are not linked: lib/backends/iio.c, comedi.c and
# usb.c load theirs at the first use (iio_dl.h, comedi_dl.h, usb_dl.h: with
# their dependencies they cost every program's start ~2 ms for libiio, ~0.2
# ms for comedilib, libusb and libudev).  A backend added later links its
# own unless it is listed here.
DLOPEN_PKGS := libiio comedilib libusb-1.0
LINKED_PKGS := $(filter-out $(DLOPEN_PKGS),$(BACKEND_PKGS))
LIBS_BACKENDS := $(if $(LINKED_PKGS),$(shell pkg-config --libs $(LINKED_PKGS)))

ifeq ($(V),1)
Q :=
quiet = @true
else
Q := @
quiet = @printf '  %-7s %s\n' $(1) $(2)
endif

LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
TOOL_SRCS := $(wildcard tools/*.c)
TOOL_OBJS := $(TOOL_SRCS:%.c=$(B)/%.o)

SO := $(B)/liblabdaq.so.$(VERSION)
SONAME := liblabdaq.so.$(SOVERSION)
AR_LIB := $(B)/liblabdaq.a
TOOL := $(B)/labdaq

.PHONY: all run check check-unit check-cli check-vm bench deps install uninstall \
	install-udev uninstall-udev clean modules checkpatch help
all: $(SO) $(B)/liblabdaq.so $(AR_LIB) $(TOOL) $(B)/labdaq.pc

help:
	@sed -n '1,10p' Makefile

deps:
	$(Q)scripts/install-deps.sh

# The backend list and the flags are part of every object: a tree built
# before a backend was added (or with other CFLAGS) is rebuilt, not linked
# stale.  $(B)/build.flags changes only when they do.
FLAGS_STAMP := $(B)/build.flags
FLAGS_NOW := $(CC) $(CFLAGS) $(CPPFLAGS) $(BACKEND_DEFS)
ifneq ($(file < $(FLAGS_STAMP)),$(FLAGS_NOW))
$(shell mkdir -p $(B))
$(file > $(FLAGS_STAMP),$(FLAGS_NOW))
endif

$(B)/%.o: %.c $(FLAGS_STAMP)
	$(call quiet,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) $(BACKEND_DEFS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(SO): $(LIB_OBJS) lib/labdaq.map
	$(call quiet,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=lib/labdaq.map \
		-Wl,-z,defs $(LDFLAGS) -o $@ $(LIB_OBJS) $(LIBS)

$(B)/liblabdaq.so: $(SO)
	$(Q)ln -sf liblabdaq.so.$(VERSION) $(B)/$(SONAME)
	$(Q)ln -sfn liblabdaq.so.$(VERSION) $@

$(AR_LIB): $(LIB_OBJS)
	$(call quiet,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# The tool links the shared library, like any user's program, and uses only
# labdaq.h (tests/cli/test_layout.sh checks both).  Its run path finds the
# library beside it (the build tree) or in ../lib (an installed PREFIX).
TOOL_LIBS := -L$(B) -llabdaq -ljansson -lm
$(TOOL): $(TOOL_OBJS) $(B)/liblabdaq.so
	$(call quiet,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -pthread -Wl,-rpath,'$$ORIGIN:$$ORIGIN/../lib' -o $@.tmp \
		$(TOOL_OBJS) $(TOOL_LIBS) && mv -f $@.tmp $@

# Rewritten when PREFIX, LIBDIR, INCLUDEDIR or the backends change: the
# values are kept in a stamp that make compares on every run.
PC_VARS := $(PREFIX)|$(LIBDIR)|$(INCLUDEDIR)|$(VERSION)|$(LIBS_BACKENDS)
PC_STAMP := $(B)/.pc-vars
ifneq ($(PC_VARS),$(shell cat $(PC_STAMP) 2>/dev/null))
.PHONY: $(PC_STAMP)
endif
$(PC_STAMP):
	@mkdir -p $(B)
	@echo '$(PC_VARS)' > $@

$(B)/labdaq.pc: lib/labdaq.pc.in $(PC_STAMP)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|@LIBS_PRIVATE@|$(LIBS_BACKENDS)|' \
		-e 's|@REQUIRES_PRIVATE@|$(strip $(LINKED_PKGS))|' $< > $@

# ---- tests -----------------------------------------------------------------
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# -Wno-tsan: the ring's seq_cst fences (its fallback when membarrier() is
# missing) are not modelled by TSan; every access they order is atomic.
TSAN_FLAGS := -fsanitize=thread -Wno-tsan
ASAN_UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/asan/tests/%)
TEST_LIBS := $(LIBS) -lcmocka
ASAN_LIB_OBJS := $(LIB_SRCS:%.c=$(B)/asan/%.o)
TSAN_LIB_OBJS := $(LIB_SRCS:%.c=$(B)/tsan/%.o)

$(B)/tests/%: tests/unit/%.c $(AR_LIB)
	$(call quiet,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(AR_LIB) $(TEST_LIBS)

$(B)/asan/%.o: %.c $(FLAGS_STAMP)
	$(call quiet,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(BACKEND_DEFS) $(ASAN_FLAGS) -O1 -g -c -o $@ $<

$(B)/asan/tests/%: tests/unit/%.c $(ASAN_LIB_OBJS)
	$(call quiet,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(ASAN_FLAGS) -O1 -g -o $@ $< $(ASAN_LIB_OBJS) $(TEST_LIBS)

$(B)/tsan/%.o: %.c $(FLAGS_STAMP)
	$(call quiet,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(BACKEND_DEFS) $(TSAN_FLAGS) -O1 -g -c -o $@ $<

# The ring's two-thread validator and the run tests under ThreadSanitizer.
TSAN_BINS := $(B)/tsan/tests/test_ring $(B)/tsan/tests/test_ring_ahead $(B)/tsan/tests/test_run
$(B)/tsan/tests/%: tests/unit/%.c $(TSAN_LIB_OBJS)
	$(call quiet,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(TSAN_FLAGS) -O1 -g -o $@ $< $(TSAN_LIB_OBJS) $(TEST_LIBS)

# The sanitizer builds' library objects are not intermediates to delete.
.SECONDARY: $(ASAN_LIB_OBJS) $(TSAN_LIB_OBJS)

TEST_BINS := $(UNIT_BINS) $(ASAN_UNIT_BINS) $(filter $(TSAN_BINS),$(UNIT_SRCS:tests/unit/%.c=$(B)/tsan/tests/%))

# The USB device the usb backend's VM tests play with FunctionFS (libc and
# pthreads only; tests/usb/README.md).
USB_GADGET := $(B)/usb/fx2gadget
$(USB_GADGET): tests/usb/fx2gadget.c
	$(call quiet,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -pthread $(WARN) $(CFLAGS) -o $@ $<

check: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory $(TEST_BINS) $(USB_GADGET)
	$(Q)PYTHON=$(PYTHON) tests/run-tests.sh $(TEST_BINS) $(wildcard tests/cli/test_*.sh) \
		$(wildcard tests/kernel/test_*.sh) tests/python/run.sh \
		$(if $(wildcard tests/vm/run.sh),tests/vm/run.sh)

check-vm: deps all $(USB_GADGET)
	$(Q)PYTHON=$(PYTHON) tests/run-tests.sh tests/vm/run.sh

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh

bench: all $(USB_GADGET)
	$(Q)scripts/install-deps.sh bench
	$(Q)$(MAKE) --no-print-directory -C bench

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# ---- install ---------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(PKGCONFIGDIR)
	install -m 0755 $(TOOL) $(DESTDIR)$(BINDIR)/labdaq
	install -m 0755 $(SO) $(DESTDIR)$(LIBDIR)/
	ln -sf liblabdaq.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/liblabdaq.so
	install -m 0644 $(AR_LIB) $(DESTDIR)$(LIBDIR)/
	install -m 0644 lib/include/labdaq.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 0644 $(B)/labdaq.pc $(DESTDIR)$(PKGCONFIGDIR)/
	install -m 0644 man/labdaq.1 $(DESTDIR)$(MANDIR)/man1/
	install -d $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 completion/labdaq $(DESTDIR)$(BASHCOMPDIR)/labdaq
	install -d $(DESTDIR)$(SYSTEMDUSERDIR) $(DESTDIR)$(SYSTEMDSYSTEMDIR)
	sed 's|@BINDIR@|$(BINDIR)|' systemd/labdaq-queue.service \
		> $(DESTDIR)$(SYSTEMDUSERDIR)/labdaq-queue.service
	sed 's|@BINDIR@|$(BINDIR)|' systemd/labdaq-queue@.service \
		> $(DESTDIR)$(SYSTEMDSYSTEMDIR)/labdaq-queue@.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUSERDIR)/labdaq-queue.service \
		$(DESTDIR)$(SYSTEMDSYSTEMDIR)/labdaq-queue@.service
	install -d $(DESTDIR)$(PYTHONDIR)/labdaq
	install -m 0644 $(PY_SRCS) $(DESTDIR)$(PYTHONDIR)/labdaq/
	printf '# written by make install: the library this package was installed with\nLIBRARY = "%s"\n' \
		'$(LIBDIR)/$(SONAME)' > $(DESTDIR)$(PYTHONDIR)/labdaq/_libpath.py

# The udev rules and their hook (as root; not part of install: they change
# who may use the lab's devices).
install-udev:
	install -d $(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(LIBEXECDIR)
	install -m 0644 udev/60-labdaq.rules $(DESTDIR)$(UDEVRULESDIR)/
	sed 's|@LIBEXECDIR@|$(LIBEXECDIR)|' udev/61-labdaq-group.rules.in \
		> $(DESTDIR)$(UDEVRULESDIR)/61-labdaq-group.rules
	install -m 0755 udev/labdaq-udev-setup $(DESTDIR)$(LIBEXECDIR)/
	sed 's|@LIBEXECDIR@|$(LIBEXECDIR)|' udev/62-labdaq-usb.rules.in \
		> $(DESTDIR)$(UDEVRULESDIR)/62-labdaq-usb.rules
	sed 's|@BINDIR@|$(BINDIR)|' udev/labdaq-usb-firmware.in \
		> $(DESTDIR)$(LIBEXECDIR)/labdaq-usb-firmware
	chmod 0755 $(DESTDIR)$(LIBEXECDIR)/labdaq-usb-firmware
	@if [ -z "$(DESTDIR)" ]; then \
		getent group labdaq >/dev/null || groupadd --system labdaq; \
		udevadm control --reload 2>/dev/null || true; \
		echo "add users with: usermod -aG labdaq USER"; \
	fi

uninstall-udev:
	rm -f $(DESTDIR)$(UDEVRULESDIR)/60-labdaq.rules \
		$(DESTDIR)$(UDEVRULESDIR)/61-labdaq-group.rules \
		$(DESTDIR)$(LIBEXECDIR)/labdaq-udev-setup \
		$(DESTDIR)$(UDEVRULESDIR)/62-labdaq-usb.rules \
		$(DESTDIR)$(LIBEXECDIR)/labdaq-usb-firmware

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/labdaq $(DESTDIR)$(LIBDIR)/liblabdaq.so.$(VERSION) \
		$(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/liblabdaq.so \
		$(DESTDIR)$(LIBDIR)/liblabdaq.a $(DESTDIR)$(INCLUDEDIR)/labdaq.h \
		$(DESTDIR)$(PKGCONFIGDIR)/labdaq.pc $(DESTDIR)$(MANDIR)/man1/labdaq.1 \
		$(DESTDIR)$(BASHCOMPDIR)/labdaq \
		$(DESTDIR)$(SYSTEMDUSERDIR)/labdaq-queue.service \
		$(DESTDIR)$(SYSTEMDSYSTEMDIR)/labdaq-queue@.service
	rm -rf $(DESTDIR)$(PYTHONDIR)/labdaq
	rmdir -p $(DESTDIR)$(PYTHONDIR) 2>/dev/null || true

clean:
	rm -rf $(B)
	rm -f *.ko *.mod *.mod.c *.mod.o *.o modules.order Module.symvers .*.cmd driver/*.o \
		driver/.*.cmd driver/*.mod driver/*.mod.c driver/*.ko driver/modules.order

checkpatch:
	scripts/checkpatch.sh

-include $(LIB_OBJS:.o=.d) $(TOOL_OBJS:.o=.d) $(ASAN_LIB_OBJS:.o=.d) $(TSAN_LIB_OBJS:.o=.d)
