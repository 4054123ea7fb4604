# The images of compose.yaml, built from source. Targets:
#   backend  the service (vault-mcp-bridge serve), as nobody, nothing else in the image
#   tools    the compose stack's one-shot setup and provisioning (python3 and the CLI) and its
#            JWKS server
#   ratelimit  the rate-limit service (vault-mcp-ratelimit), as nobody
#   envoy    Envoy with the filter (.wasm); its configuration is rendered by `tools` at `up`
#   oauth    the dev authorization server (local-oauth/server.mjs, npm oidc-provider)
# Official base images; scripts/compose-standins makes local ones under the same names for a
# machine that reaches no image registry.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
# The workspace only (not docs, tests or scripts): an edit elsewhere keeps the build cached.
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
COPY filter filter
COPY backend backend
COPY ratelimit ratelimit
COPY bench/noop-filter bench/noop-filter
# rust-toolchain.toml names the toolchain (1.95.0); the filter's target is added explicitly, not
# left to rustup's implicit install.
RUN rustup target add wasm32-wasip1 \
 && cargo build --locked --release -p vault-mcp-bridge -p vault-mcp-ratelimit \
 && cargo build --locked -p vault-mcp-filter --target wasm32-wasip1 --profile wasm \
 && strip target/release/vault-mcp-bridge target/release/vault-mcp-ratelimit

FROM debian:bookworm-slim AS backend
# ca-certificates: an https VAULT_ADDR or authorization server is checked against them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY --from=build /src/target/release/vault-mcp-bridge /usr/local/bin/vault-mcp-bridge
USER 65534:65534
ENTRYPOINT ["vault-mcp-bridge"]
CMD ["serve"]

FROM debian:bookworm-slim AS ratelimit
COPY --from=build /src/target/release/vault-mcp-ratelimit /usr/local/bin/vault-mcp-ratelimit
USER 65534:65534
ENTRYPOINT ["vault-mcp-ratelimit"]

FROM backend AS tools
USER root
# Debian's Python and the three libraries scripts/stack uses (no pip, no network at run time).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-yaml python3-jwt python3-cryptography \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/stack /opt/vault-mcp-bridge/scripts/stack
COPY local-vault /opt/vault-mcp-bridge/local-vault
COPY envoy/envoy.yaml /opt/vault-mcp-bridge/envoy/envoy.yaml
WORKDIR /opt/vault-mcp-bridge
ENV PYTHONPATH=/opt/vault-mcp-bridge/scripts PYTHONDONTWRITEBYTECODE=1
ENTRYPOINT []
CMD ["python3", "-m", "stack"]

FROM envoyproxy/envoy:v1.40.0 AS envoy
COPY --from=build /src/target/wasm32-wasip1/wasm/vault_mcp_filter.wasm /etc/envoy/vault_mcp_filter.wasm

FROM node:22-bookworm-slim AS oauth
WORKDIR /opt/local-oauth
COPY package.json package-lock.json ./
# The authorization server's one dependency (oidc-provider and what it needs), as locked.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
COPY local-oauth ./local-oauth
USER 65534:65534
