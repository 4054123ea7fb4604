# Images for local-vault/docker-compose.yml (not used by the tests, which run the real binaries
# directly). Targets: `backend` (service + provisioning script) and `envoy` (Envoy + the filter).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN rustup target add wasm32-wasip1 \
 && cargo build --release -p vault-mcp-bridge \
 && cargo build -p vault-mcp-filter --target wasm32-wasip1 --profile wasm

FROM debian:bookworm-slim AS backend
# python3 runs local-vault/provision.py (standard library only) in the provisioning container.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/vault-mcp-bridge /usr/local/bin/vault-mcp-bridge
COPY local-vault /opt/vault-mcp-bridge/local-vault
USER 65534:65534
ENTRYPOINT ["vault-mcp-bridge"]
CMD ["serve"]

FROM envoyproxy/envoy:v1.40.0 AS envoy
COPY --from=build /src/target/wasm32-wasip1/wasm/vault_mcp_filter.wasm /etc/envoy/vault_mcp_filter.wasm
COPY local-vault/envoy.compose.yaml /etc/envoy/envoy.yaml
CMD ["envoy", "-c", "/etc/envoy/envoy.yaml"]
