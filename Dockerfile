# handoff: one static-ish binary with every browser asset embedded.
#
#   docker build -t handoff .
#   docker run -p 8080:8080 -v handoff-data:/data \
#       -e HANDOFF_PUBLIC_URL=https://handoff.example.com handoff
#
# Run it behind a TLS reverse proxy (see README.md). With PostgreSQL, set
# DATABASE_URL=postgres://... and the /data volume stays unused.

FROM node:20-bookworm-slim AS node

FROM rust:1.95-bookworm AS build
# Node.js 20 and npm: build.rs bundles the npm age-encryption library with esbuild.
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs package.json package-lock.json openapi.json ./
COPY migrations migrations
COPY src src
COPY static static
COPY templates templates
COPY integrations integrations
# The same steps as CI and build.rs: the lockfile's npm packages, then a locked release build.
RUN npm ci --no-audit --no-fund
RUN cargo build --release --locked \
 && install -D -m 0755 target/release/handoff /out/usr/local/bin/handoff \
 && install -d -o 65532 -g 65532 -m 0700 /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/usr/local/bin/handoff /usr/local/bin/handoff
# Owned by the nonroot user (65532), so a fresh named volume is writable.
COPY --from=build --chown=65532:65532 /out/data /data
VOLUME /data
WORKDIR /data
ENV DATABASE_URL=sqlite:///data/handoff.db \
    HANDOFF_LISTEN=0.0.0.0:8080
EXPOSE 8080
USER nonroot
ENTRYPOINT ["handoff"]
CMD ["serve"]
