# The README's two commands: `make dev` runs the platform, `make test` runs every test.
GO ?= go

.PHONY: dev test vet unit e2e bench fuzz build

dev:
	$(GO) run ./cmd/streamhub dev

# vet, then every test (unit, fuzz seeds, e2e) under the race detector.
test: vet
	$(GO) test -race -timeout 30m ./...

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race ./state/... ./topology/... ./kafka/...

e2e:
	$(GO) test -race -v ./e2e/...

build:
	$(GO) build -o bin/streamhub ./cmd/streamhub

# every stage against its raw medium, one table; rewrites README.md's Performance table.
bench:
	$(GO) run ./cmd/streamhub bench --readme README.md

fuzz:
	$(GO) test ./state -run '^$$' -fuzz '^FuzzParseRecord$$' -fuzztime 60s
	$(GO) test ./state -run '^$$' -fuzz '^FuzzParseRecordHeader$$' -fuzztime 60s
	$(GO) test ./state -run '^$$' -fuzz '^FuzzParseChange$$' -fuzztime 60s
	$(GO) test ./state -run '^$$' -fuzz FuzzValueUnmarshal -fuzztime 60s
	$(GO) test ./sources/collector -run '^$$' -fuzz FuzzParseBody -fuzztime 60s
	$(GO) test ./sources/collector -run '^$$' -fuzz FuzzValidate -fuzztime 60s
