# The `updraft` image: `updraft operator` by default (deploy/operator, deploy/helm/updraft), and
# every other subcommand (validate, simulate, run) with `docker run IMAGE <subcommand> ...`.
#   docker build -t updraft:latest .
# Build stage: Debian 12 with the packages scripts/setup.sh installs for a build (no test tools),
# the same scripts/build.sh as a developer's machine, Release, without tests and benchmarks.
FROM debian:12 AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN UPDRAFT_SETUP_BUILD_ONLY=1 scripts/setup.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN BUILD_DIR=/build BUILD_TYPE=Release scripts/build.sh \
      -DUPDRAFT_BUILD_TESTS=OFF -DUPDRAFT_BUILD_BENCH=OFF \
 && strip --strip-unneeded -o /updraft /build/app/updraft

# Runtime stage: only the shared libraries the binary links (ldd below proves none is missing),
# CA certificates for the scalers' TLS, tzdata for cron triggers, and a non-root user.
FROM debian:12-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      ca-certificates tzdata \
      libcurl4 libssl3 libluajit2-5.1-2 libyaml-cpp0.7 libspdlog1.10 libfmt9 librdkafka1 \
      libtinyxml2-9 libprometheus-cpp-core1.0 libcpp-httplib0.11 libdate-tz3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 updraft \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin updraft
COPY --from=build /updraft /usr/local/bin/updraft
RUN if ldd /usr/local/bin/updraft | grep 'not found'; then exit 1; fi \
 && /usr/local/bin/updraft --version
USER 65532:65532
# 6443 external metrics API, 9443 admission webhooks, 8081 /healthz /readyz, 8080 /metrics.
EXPOSE 6443 9443 8081 8080
ENTRYPOINT ["/usr/local/bin/updraft"]
CMD ["operator"]
