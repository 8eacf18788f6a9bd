# Thin wrapper around meson.  `make run` and `make check` do all the
# set-up on a fresh Debian 12 machine (as root: missing packages are
# installed with apt-get).

BUILD ?= build
# The developer build that the test suite also runs: ASan + UBSan.
SANBUILD ?= build-san
# libFuzzer targets (clang, ASan + UBSan).
FUZZBUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
# What `make check` gives each fuzz target.
CHECK_FUZZ_SECONDS ?= 5
IMAGE ?= $(BUILD)/demo.img

# Build dependencies.
DEPS_BUILD = meson ninja-build pkg-config gcc libc6-dev \
	libext2fs-dev libblkid-dev libdevmapper-dev ntfs-3g-dev \
	zlib1g-dev libzstd-dev libnbd-dev nbdkit-plugin-dev xz-utils
# What the tests use to build and check images.
DEPS_TEST = e2fsprogs fdisk gdisk xfsprogs btrfs-progs dosfstools mtools \
	exfatprogs exfat-fuse ntfs-3g cryptsetup-bin python3 jq \
	nbdkit libnbd-bin libguestfs-tools linux-image-amd64 clang \
	libclang-rt-dev \
	util-linux attr kmod time grub-pc-bin mdadm bmap-tools qemu-utils python3-libnbd \
	bzip2
DEPS = $(DEPS_BUILD)

.PHONY: all run check deps deps-test setup images oracle clean fuzz fuzz-campaign bench

all: setup
	ninja -C $(BUILD)

# Install whatever is missing (only as root; otherwise just report).
deps:
	@./tests/install-deps $(DEPS)

deps-test:
	@./tests/install-deps $(DEPS) $(DEPS_TEST)

setup: deps
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD)

# The bundled demo (a GPT disk with ext4), unpacked next to the build.
$(BUILD)/demo.img: tests/images/demo.img.xz setup
	xz -dc tests/images/demo.img.xz > $@.tmp && mv $@.tmp $@

run: all $(if $(filter $(BUILD)/demo.img,$(IMAGE)),$(BUILD)/demo.img)
	./$(BUILD)/bmapgen $(IMAGE)

$(SANBUILD)/build.ninja:
	meson setup $(SANBUILD) -Db_sanitize=address,undefined -Db_lundef=false

check: deps-test $(SANBUILD)/build.ninja
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD)
	ninja -C $(BUILD)
	ninja -C $(SANBUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C $(SANBUILD) --print-errorlogs --num-processes 2
	$(MAKE) fuzz FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS)

$(FUZZBUILD)/build.ninja:
	CC=clang meson setup $(FUZZBUILD) -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false

fuzz: deps-test $(FUZZBUILD)/build.ninja
	ninja -C $(FUZZBUILD)
	./tests/fuzz/run-fuzz.sh $(FUZZBUILD) $(FUZZ_SECONDS)

# Long campaigns with a CPU-time ledger (tests/fuzz/campaign.sh): every
# target until it has FUZZ_CPU_SECONDS of CPU in $(FUZZBUILD)/fuzz-ledger.tsv.
FUZZ_CPU_SECONDS ?= 3600
FUZZ_JOBS ?= 2
fuzz-campaign: deps-test $(FUZZBUILD)/build.ninja
	ninja -C $(FUZZBUILD)
	./tests/fuzz/campaign.sh $(FUZZBUILD) $(FUZZ_CPU_SECONDS) $(FUZZ_JOBS)

# Benchmarks (not part of check): see tests/bench/bench.py.
BENCH_ARGS ?= --callgrind --nbd
bench: deps-test all
	BMAPGEN=$(BUILD)/bmapgen ./tests/bench/bench.py $(BENCH_ARGS)

images:
	./tests/images/make-images

oracle: all $(if $(filter $(BUILD)/demo.img,$(IMAGE)),$(BUILD)/demo.img)
	./tests/oracle/run $(IMAGE)

clean:
	rm -rf $(BUILD) $(SANBUILD) $(FUZZBUILD)
