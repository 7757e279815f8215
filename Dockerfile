# Image for the destination-claude-batch Airbyte connector.
# Build:  docker build -t airbyte/destination-claude-batch:0.1.0 .
# Run:    docker run --rm airbyte/destination-claude-batch:0.1.0 spec

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build stage: compile TypeScript, then drop dev dependencies ----
FROM ${NODE_IMAGE} AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY spec/ ./spec/
COPY connector/ ./connector/
# The emulator ships in the image on purpose: base_url "emulator" lets a platform user try a connection
# offline, for free.
COPY emulator/ ./emulator/
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime stage ----
FROM ${NODE_IMAGE}
# --max-old-space-size: see connector/common/heap.ts (RECOMMENDED_HEAP_MB): it shapes garbage collection, not what fits.
ENV NODE_ENV=production \
    AIRBYTE_ENTRYPOINT="node --max-old-space-size=768 /airbyte/integration_code/dist/connector/cli.js"
WORKDIR /airbyte/integration_code

COPY --from=build --chown=node:node /build/package.json ./package.json
COPY --from=build --chown=node:node /build/node_modules/ ./node_modules/
COPY --from=build --chown=node:node /build/dist/ ./dist/
COPY --from=build --chown=node:node /build/spec/ ./spec/

# The platform mounts a volume at /local for file output; make it writable for the non-root user.
RUN mkdir -p /local && chown node:node /local
VOLUME /local

LABEL io.airbyte.name=airbyte/destination-claude-batch \
      io.airbyte.version=0.1.0

USER node
ENTRYPOINT ["node", "--max-old-space-size=768", "/airbyte/integration_code/dist/connector/cli.js"]
