# The two commands of README.md:
#   make demo   install what is missing, build, and serve the embedded demo model on port 8080
#   make test   install what is missing, build everything, run the whole test suite (what CI runs)
JOBS ?= $(shell nproc)
# Let ccache share objects between clones of the tree (paths are hashed relative to the checkout).
export CCACHE_BASEDIR := $(CURDIR)
PORT ?= 8080

.PHONY: demo test build deps test-deps fuzz clean

deps:
	bash scripts/install-deps.sh

test-deps:
	bash scripts/install-deps.sh --test

build: deps
	cmake --preset release
	cmake --build build/release -j $(JOBS) --target realizar

demo: build
	./build/release/realizar serve --demo --port $(PORT)

test: test-deps
	if [ -f scripts/install-test-extras.sh ]; then bash scripts/install-test-extras.sh; fi
	cmake --preset ci
	cmake --build build/ci -j $(JOBS)
	cd build/ci && ctest --output-on-failure -j $(JOBS) --timeout 900
	bash scripts/run-fuzzers.sh

fuzz: test-deps
	bash scripts/run-fuzzers.sh

clean:
	rm -rf build
