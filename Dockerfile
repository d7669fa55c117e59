# spark-scheduler extender image. Build: docker build -t spark-scheduler .
#
# Three stages: `build` compiles src/ and gen/ to dist/ (tsc, with source maps); `deps` installs the production
# dependencies only (no tsx, esbuild, TypeScript, vitest or the `node` runtime package); the final image holds
# node_modules, dist/ and package.json, runs as the unprivileged `node` user (uid 1000) and writes nothing to
# its filesystem, so `readOnlyRootFilesystem: true` works. No examples/: inside Kubernetes the service uses the
# API server; for a local demo on the embedded cluster, mount a cluster file and pass --embedded-cluster.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` dev dependency's install script would download a second Node runtime; the base
# image already is Node 24, and tsc needs no install scripts.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY gen ./gen
COPY web/index.html ./web/index.html
COPY web/dist ./web/dist
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json && mkdir -p dist/web && cp -r web/index.html web/dist dist/web/

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Type declarations are for the compiler only (34 MB of the 99 MB, mostly @kubernetes/client-node's).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force \
 && find node_modules \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
# Heap cap: V8's old space may take half the container's memory limit (Node reads the cgroup limit; the
# flag needs Node >= 24.8). Without a cap V8 grows its heap lazily, far past what the state needs, and a
# container OOM kill comes before a collection would have. Young generation: this Node is built without
# pointer compression, so V8 lets each semi-space grow to 64 MB while the informers list the cluster, and
# the garbage of the list pages fills it: --max-semi-space-size=2 (MB) keeps the peak RSS at 50,000 pods
# ~170 MB lower and the settled RSS ~30 MB lower (README "Memory"). Override in the Deployment, e.g.
# NODE_OPTIONS="--max-old-space-size=384 --max-semi-space-size=2" (MB, fixed cap). Give the container a
# memory limit: without one the percentage is of the node's memory.
ENV NODE_OPTIONS="--max-old-space-size-percentage=50 --max-semi-space-size=2"
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
USER 1000:1000
EXPOSE 8483
ENTRYPOINT ["node", "--enable-source-maps", "dist/src/main.js"]
