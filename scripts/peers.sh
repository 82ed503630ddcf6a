#!/usr/bin/env bash
# peers.sh fetches the real peers streamhub is proven against (DESIGN.md, "Real peers")
# into a cache outside the work tree and prints where each one is:
#
#   scripts/peers.sh dynamodb-local   # prints the directory holding DynamoDBLocal.jar + DynamoDBLocal_lib/
#   scripts/peers.sh rie              # prints the path of aws-lambda-rie
#   scripts/peers.sh kcat             # prints the path of kcat, or how to install it
#   scripts/peers.sh minio            # prints the path of minio (built once: minutes, ~2 GB of RAM)
#
# Versions are pinned and what is downloaded is checked against a recorded sha256 (what
# go install builds, against the Go checksum database).
# Running it again only checks the cache. Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/streamhub/peers
# (the directory os.UserCacheDir gives Go tests). Only the path goes to stdout;
# progress and errors go to stderr.
set -euo pipefail

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/streamhub/peers"

# AWS DynamoDB Local 1.25.1, as shipped in the npm package amplify-dynamodb-simulator.
DDB_NPM_PACKAGE=amplify-dynamodb-simulator
DDB_NPM_VERSION=2.9.30
DDB_TARBALL_SHA256=3503ffac19f183407909fecdacf4db51ab1fdad1da7b2f177016670b2d80e4b9
DDB_JAR_SHA256=454305e9bc3e6ebcca5b62569869e31563b8d7e346474e94557b2600702146c7

# AWS Lambda Runtime Interface Emulator; keep equal to rieVersion in
# cmd/streamhub-lambda/rie_test.go.
RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d

# MinIO server. MinIO tags its releases RELEASE.<date>, which are not semantic versions,
# so the module proxy serves it only under pseudo-versions: this is its @latest
# (commit 7aac2a2c5b7c of 2026-02-12), which builds with Go 1.26.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

die() {
	echo "peers.sh: $*" >&2
	exit 1
}

sha256_of() {
	if command -v sha256sum >/dev/null; then
		sha256sum "$1" | cut -d' ' -f1
	else
		shasum -a 256 "$1" | cut -d' ' -f1
	fi
}

dynamodb_local() {
	local dir="$CACHE/dynamodb-local-$DDB_NPM_VERSION"
	if [[ -f "$dir/DynamoDBLocal.jar" && -d "$dir/DynamoDBLocal_lib" ]]; then
		[[ "$(sha256_of "$dir/DynamoDBLocal.jar")" == "$DDB_JAR_SHA256" ]] ||
			die "$dir/DynamoDBLocal.jar does not match its pinned sha256; remove $dir and run again"
		echo "$dir"
		return
	fi
	command -v npm >/dev/null || die "npm is needed to fetch $DDB_NPM_PACKAGE@$DDB_NPM_VERSION"
	mkdir -p "$CACHE"
	local tmp
	tmp="$(mktemp -d "$CACHE/.dynamodb-local.XXXXXX")"
	# shellcheck disable=SC2064 # expand tmp now
	trap "rm -rf '$tmp'" EXIT
	# npm pack downloads the tarball only: nothing is installed, no script runs.
	(cd "$tmp" && npm pack --ignore-scripts --loglevel=error --pack-destination "$tmp" \
		"$DDB_NPM_PACKAGE@$DDB_NPM_VERSION" >&2) ||
		die "npm pack $DDB_NPM_PACKAGE@$DDB_NPM_VERSION failed"
	local tgz="$tmp/$DDB_NPM_PACKAGE-$DDB_NPM_VERSION.tgz"
	[[ -f "$tgz" ]] || die "npm pack left no $tgz"
	local got
	got="$(sha256_of "$tgz")"
	[[ "$got" == "$DDB_TARBALL_SHA256" ]] ||
		die "$DDB_NPM_PACKAGE-$DDB_NPM_VERSION.tgz has sha256 $got, want $DDB_TARBALL_SHA256"
	tar -xzf "$tgz" -C "$tmp" package/emulator/DynamoDBLocal.jar package/emulator/DynamoDBLocal_lib
	got="$(sha256_of "$tmp/package/emulator/DynamoDBLocal.jar")"
	[[ "$got" == "$DDB_JAR_SHA256" ]] || die "DynamoDBLocal.jar has sha256 $got, want $DDB_JAR_SHA256"
	mkdir -p "$tmp/out"
	mv "$tmp/package/emulator/DynamoDBLocal.jar" "$tmp/package/emulator/DynamoDBLocal_lib" "$tmp/out/"
	# Another run may have won the race; either copy is the same.
	if ! mv -T "$tmp/out" "$dir" 2>/dev/null; then
		[[ -f "$dir/DynamoDBLocal.jar" ]] || die "cannot move DynamoDB Local into $dir"
	fi
	echo "$dir"
}

rie() {
	local dir="$CACHE/rie-$RIE_VERSION"
	local bin="$dir/aws-lambda-rie"
	if [[ ! -x "$bin" ]]; then
		command -v go >/dev/null || die "go is needed to build aws-lambda-rie"
		GOBIN="$dir" CGO_ENABLED=0 go install \
			"github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$RIE_VERSION" >&2 ||
			die "go install aws-lambda-rie@$RIE_VERSION failed"
	fi
	echo "$bin"
}

# A go install build is not byte-for-byte reproducible across toolchains and machines, so
# there is no sha256 of the binary to pin. What is pinned is the source: the module
# version above, whose go.sum-style hashes go install checks against the Go checksum
# database (sum.golang.org) together with those of every dependency it downloads.
minio() {
	local dir="$CACHE/minio-$MINIO_VERSION"
	local bin="$dir/minio"
	if [[ ! -x "$bin" ]]; then
		command -v go >/dev/null || die "go is needed to build minio"
		# -mod=mod: a GOFLAGS=-mod=vendor from the caller's environment makes go install
		# refuse ("cannot query module due to -mod=vendor").
		echo "peers.sh: building minio@$MINIO_VERSION into $dir (once; several minutes)" >&2
		GOBIN="$dir" CGO_ENABLED=0 GOFLAGS=-mod=mod go install \
			"github.com/minio/minio@$MINIO_VERSION" >&2 ||
			die "go install minio@$MINIO_VERSION failed"
	fi
	echo "$bin"
}

kcat_peer() {
	if command -v kcat >/dev/null; then
		command -v kcat
		return
	fi
	die "kcat is not installed; it is the Debian package kcat: sudo apt-get install -y kcat"
}

case "${1:-}" in
dynamodb-local) dynamodb_local ;;
rie) rie ;;
kcat) kcat_peer ;;
minio) minio ;;
*)
	echo "usage: $0 dynamodb-local|rie|kcat|minio" >&2
	exit 2
	;;
esac
