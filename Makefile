# TokenPool: `make run` serves on an embedded Redis, `make test` runs every test.
# Both install what is missing first (Debian/Ubuntu: apt; elsewhere they say what to install).

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := libhiredis-dev redis-server redis-tools pkg-config

.PHONY: deps build run test clean

deps:
	@if command -v dpkg >/dev/null 2>&1; then \
		missing=""; \
		for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
		if [ -n "$$missing" ]; then \
			echo "Installing:$$missing"; \
			$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
		fi; \
	else \
		command -v redis-server >/dev/null || { echo "Install redis-server and hiredis (macOS: brew install redis hiredis)"; exit 1; }; \
	fi

build: deps
	$(SWIFT) build -c release --product tokenpool

run: build
	.build/release/tokenpool serve

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

clean:
	rm -rf .build
