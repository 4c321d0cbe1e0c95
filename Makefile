# Convenience entry points; the build itself is CMake.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps build test demo clean

all: build

deps:
	bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && OMP_WAIT_POLICY=PASSIVE ctest --output-on-failure -j1

demo: build
	OMP_WAIT_POLICY=PASSIVE ./$(BUILD)/anomem demo

clean:
	rm -rf $(BUILD)
