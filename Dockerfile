# reel in a container, for running it as a sidecar or in container CI:
#   docker build --build-arg REEL_COMMIT=$(git rev-parse --short=12 HEAD) -t reel .
#   docker run --rm reel --version
# Details and figures: docs/install.md.

FROM rust:1-bookworm AS build
# pingora builds zlib-ng with cmake; the image has the C compiler already.
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# .git stays out of the build context (.dockerignore), so the commit that
# `reel --version` names comes from here.
ARG REEL_COMMIT=unknown
ENV REEL_COMMIT=${REEL_COMMIT}
RUN cargo build --release --locked -p reel --bin reel \
    && install -D target/release/reel /out/reel

# Debian slim rather than distroless: `reel test` starts the app (and
# `generate --verify --reset` its reset command) through `sh -c`.
# ca-certificates: recording an HTTPS upstream checks its certificate against
# the system's roots.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/reel /usr/local/bin/reel
WORKDIR /work
ENTRYPOINT ["reel"]
