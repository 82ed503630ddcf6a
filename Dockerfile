# syntax=docker/dockerfile:1.7
# The streamhub image: one static binary (CGO_ENABLED=0) on distroless, run as non-root.
#   docker build -t streamhub .                          # streamhub (default target)
#   docker build --target lambda -t streamhub-lambda .   # the Lambda function (provided.al2023)
# docker-compose.yml builds the default target for every role.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so a code change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
# -trimpath and -s -w: reproducible paths, no symbol tables (smaller image, nothing lost
# that a stack trace needs).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o /out/streamhub ./cmd/streamhub && \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o /out/healthcheck ./deploy/healthcheck
# The processors' local state lives here; created in the build stage because the final
# image has no shell, and owned by distroless's nonroot user (65532) so that named volumes
# mounted on it start out writable.
RUN mkdir -p /out/var/lib/streamhub/state

# streamhub: the CLI and every role (bridge, process, serve, collect, emit, run, dev).
FROM gcr.io/distroless/static-debian12:nonroot AS streamhub
COPY --from=build /out/streamhub /usr/local/bin/streamhub
COPY --from=build /out/healthcheck /usr/local/bin/healthcheck
COPY --from=build --chown=65532:65532 /out/var/lib/streamhub /var/lib/streamhub
WORKDIR /var/lib/streamhub
USER 65532:65532
# 8080 view API, 8081 collector, 9091 ops endpoints (--ops-listen) of bridge, process, emit, collect.
EXPOSE 8080 8081 9091
ENTRYPOINT ["/usr/local/bin/streamhub"]
CMD ["help"]

# A stage of its own, so BuildKit compiles the Lambda binary only for --target lambda.
FROM build AS build-lambda
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -tags lambda.norpc -o /out/bootstrap ./cmd/streamhub-lambda

# lambda: streamhub-lambda as a custom-runtime function (bootstrap), the layout
# provided.al2023 expects when the image is deployed as a Lambda container image.
FROM gcr.io/distroless/static-debian12:nonroot AS lambda
COPY --from=build-lambda /out/bootstrap /var/runtime/bootstrap
USER 65532:65532
ENTRYPOINT ["/var/runtime/bootstrap"]

# The last stage is what a plain `docker build .` produces.
FROM streamhub
