# effinfer — human entry points over CMake. `make demo` and `make test` are the two commands a
# newcomer runs; both install what they need (make deps) when run as root.
BUILD ?= build
PREFIX ?= /usr/local
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
BIN := $(BUILD)/bin
OUT ?= out

# Debian packages the build, the tests and the demo need.
DEB_PACKAGES := cmake make g++ pkg-config libcli11-dev libeigen3-dev libopenblas-dev libhdf5-dev \
  libyaml-cpp-dev doctest-dev zlib1g-dev libpng-dev hdf5-tools libxml2-utils groff-base jq \
  python3-skimage python3-h5py coinor-csdp dataset-fashion-mnist python3-sklearn

.PHONY: all deps configure build test demo demo-mrf demo-climbq demo-condconv bench man install clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: missing packages; run as root:"; echo "  apt-get update && apt-get install -y$$missing"; exit 1; fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --no-tests=error

# The main job on the shipped real data: the PsyTrack tutorial fit, the full fit with session
# boundaries and the tutorial's cross-validation on rat W053, each with its picture.
demo: build
	@mkdir -p $(OUT)
	$(BIN)/psytrack-fit fit -i data/psytrack/rat_W053.h5 -c configs/psytrack-fit/rat_tutorial.yaml -o $(OUT)/rat_tutorial.h5 --force
	$(BIN)/psytrack-fit plot -i $(OUT)/rat_tutorial.h5 -o $(OUT)/rat_tutorial.svg --force
	$(BIN)/psytrack-fit fit -i data/psytrack/rat_W053.h5 -c configs/psytrack-fit/rat_sessions.yaml -o $(OUT)/rat_sessions.h5 --force
	$(BIN)/psytrack-fit plot -i $(OUT)/rat_sessions.h5 -o $(OUT)/rat_sessions.svg --force
	$(BIN)/psytrack-fit xval -i data/psytrack/rat_W053.h5 -c configs/psytrack-fit/rat_tutorial_xval.yaml -o $(OUT)/rat_tutorial_xval.h5 --force
	@echo "demo: results in $(OUT)/: rat_tutorial.h5 rat_sessions.h5 rat_tutorial_xval.h5;" \
	  "pictures: $(OUT)/rat_tutorial.svg $(OUT)/rat_sessions.svg"
	$(MAKE) --no-print-directory demo-mrf
	$(MAKE) --no-print-directory demo-climbq
	$(MAKE) --no-print-directory demo-condconv

# mrf-cccp on its three applications: a generated 3x3 reconstruction set, shape from shading on
# the scikit-image motorcycle disparity, and denoising of scikit-image's camera.png (CCCP against
# L-BFGS, GD and ADMM on the same energy, with energy-time plots and images).
demo-mrf: build
	@mkdir -p $(OUT)/mrf
	$(BIN)/mrf-cccp gen recon3d --seed 1 -o $(OUT)/mrf/recon3d_set.h5 --force -q
	$(BIN)/mrf-cccp infer -i $(OUT)/mrf/recon3d_set.h5 --methods cccp,lbfgs,gd,admm --plot $(OUT)/mrf/recon3d.svg -o $(OUT)/mrf/recon3d_result.h5 --force
	$(BIN)/mrf-cccp gen sfs --seed 1 -o $(OUT)/mrf/sfs_motorcycle.h5 --force -q
	$(BIN)/mrf-cccp infer -i $(OUT)/mrf/sfs_motorcycle.h5 --plot $(OUT)/mrf/sfs.svg --png-prefix $(OUT)/mrf/sfs -o $(OUT)/mrf/sfs_result.h5 --force
	$(BIN)/mrf-cccp gen denoise --seed 1 -o $(OUT)/mrf/denoise_camera.h5 --force -q
	$(BIN)/mrf-cccp infer -i $(OUT)/mrf/denoise_camera.h5 --plot $(OUT)/mrf/denoise.svg --png-prefix $(OUT)/mrf/denoise -o $(OUT)/mrf/denoise_result.h5 --force
	@echo "demo-mrf: results, SVG plots and PNG images in $(OUT)/mrf/"

# quantize-climbq on Fashion-MNIST-LT (rho 100, Debian dataset-fashion-mnist): FP32 training, PTQ
# at 2/4/8 bits (uniform vs ClimbQ) with the per-class picture, 2-bit ClimbQ+HomoVar QAT, its
# integer export (verified against the fake-quantized model) evaluated by the int8 engine.
CQ := $(OUT)/climbq
demo-climbq: build
	@mkdir -p $(CQ)
	$(BIN)/quantize-climbq make-data --rho 100 -o $(CQ)/fmnist_lt.h5 --force -q
	$(BIN)/quantize-climbq train -i $(CQ)/fmnist_lt.h5 -o $(CQ)/fp32.h5 --force
	$(BIN)/quantize-climbq compare -i $(CQ)/fmnist_lt.h5 --model $(CQ)/fp32.h5 --bits 2,4,8 --svg $(CQ)/ptq_per_class.svg -o $(CQ)/ptq_compare.h5 --force
	$(BIN)/quantize-climbq qat -i $(CQ)/fmnist_lt.h5 --model $(CQ)/fp32.h5 --bits 2 -o $(CQ)/climbq_qat_w2a2.h5 --force
	$(BIN)/quantize-climbq eval -i $(CQ)/fmnist_lt.h5 --model $(CQ)/climbq_qat_w2a2.h5 --reference $(CQ)/fp32.h5 --svg $(CQ)/qat_per_class.svg --force
	$(BIN)/quantize-climbq export --model $(CQ)/climbq_qat_w2a2.h5 -i $(CQ)/fmnist_lt.h5 --verify -o $(CQ)/climbq_qat_w2a2_int.h5 --force
	$(BIN)/quantize-climbq eval -i $(CQ)/fmnist_lt.h5 --model $(CQ)/climbq_qat_w2a2_int.h5 --reference $(CQ)/fp32.h5 -o $(CQ)/int_eval.h5 --force
	$(BIN)/quantize-climbq inspect --model $(CQ)/climbq_qat_w2a2_int.h5 -o $(CQ)/int_inspect.h5 --force -q > /dev/null
	@echo "demo-climbq: data, models, the exported int model and results in $(CQ)/; pictures: $(CQ)/ptq_per_class.svg $(CQ)/qat_per_class.svg"

# condconv-bench: the exact counts of EfficientNet-B0 and CondConv-B0 (checked in the pipeline with
# --expect-madds), one CondConv layer verified against the float64 reference and the MoE form, a
# quick latency grid, and S vs C(8) vs S'(8) on Fashion-MNIST (Debian dataset-fashion-mnist).
CC := $(OUT)/condconv
demo-condconv: build
	@mkdir -p $(CC)
	$(BIN)/condconv-bench count --arch efficientnet-b0 --expect-madds 391341824 --expect-tol 0 -o $(CC)/count_b0.h5 --force
	$(BIN)/condconv-bench count --arch efficientnet-condconv-b0-8e --expect-madds 412799712 --expect-tol 0 -o $(CC)/count_b0_8e.h5 --force
	$(BIN)/condconv-bench gen --input camera -o $(CC)/layer_in.h5 --force -q
	$(BIN)/condconv-bench layer -i $(CC)/layer_in.h5 --verify -o $(CC)/layer_out.h5 --force
	$(BIN)/condconv-bench bench --quick -o $(CC)/bench_quick.h5 --force -q
	$(BIN)/condconv-bench plot -i $(CC)/bench_quick.h5 -o $(CC)/latency_vs_experts.svg --force
	$(BIN)/condconv-bench train -c configs/condconv-bench/fmnist-quick.yaml -o $(CC)/train_fmnist_quick.h5 --force
	$(BIN)/condconv-bench plot -i $(CC)/train_fmnist_quick.h5 -o $(CC)/accuracy_vs_macs.svg --force
	@echo "demo-condconv: results in $(CC)/; pictures: $(CC)/latency_vs_experts.svg $(CC)/accuracy_vs_macs.svg"

bench: deps
	cmake -S . -B $(BUILD)-bench -DCMAKE_BUILD_TYPE=Release -DEFFINFER_MARCH=native $(CMAKE_FLAGS)
	cmake --build $(BUILD)-bench -j $(JOBS)
	bash bench/run.sh $(BUILD)-bench/bin

man: build
	bash tests/cli/check_man.sh $(BIN) .

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)
	install -d $(PREFIX)/share/man/man1 $(PREFIX)/share/man/man7 $(PREFIX)/share/effinfer
	install -m 644 man/man1/*.1 $(PREFIX)/share/man/man1/
	install -m 644 man/man7/*.7 $(PREFIX)/share/man/man7/
	cp -r configs $(PREFIX)/share/effinfer/

clean:
	rm -rf $(BUILD) $(BUILD)-bench $(OUT)
