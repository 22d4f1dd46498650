# syntax=docker/dockerfile:1
# The swell image: `swell operator` and `swell virtual-node` on Node 24, production dependencies only, as a
# non-root user. Build: docker build -t swell:$(node -p "require('./package.json').version") .
# Without a registry or Docker engine, `swell dev images` builds it with buildah on a locally assembled base
# (Debian bookworm + the same Node.js major), passed in as NODE_IMAGE.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Scripts off: `prepare` would compile before the sources are copied.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json tsconfig.image.json ./
COPY src ./src
COPY scalers ./scalers
# Product code only: the sandbox, the demo and test fakes stay in the repository (see tsconfig.image.json).
RUN npm run build:image

FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
# A numeric user so runAsNonRoot can verify it without reading /etc/passwd; the files stay root-owned and
# read-only to it.
USER 10001:10001
EXPOSE 6443 8080 8081 9443
# A young generation of a fixed 16 MiB per semi-space instead of V8's 1 MiB start that grows only when much
# survives: serving a thousand metric requests a second allocates ~16 MB/s of short-lived objects (TLS records,
# HTTP parser, headers), which a small young generation collects four times a second, each collection a pause
# the next requests wait behind. 16 MiB makes it about one a second for ~20 MiB more RSS (bench/metrics-api.ts
# reads these flags from here). Flags on the command line, not NODE_OPTIONS: that refuses --min-semi-space-size.
ENTRYPOINT ["node", "--min-semi-space-size=16", "--max-semi-space-size=16", "dist/src/cli/main.js"]
CMD ["operator"]
