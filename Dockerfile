# syntax=docker/dockerfile:1
# Relay image: docker build -t gcr.io/materi/relay:TAG .
# test/deploy/dockerfile.test.ts parses this file and runs its build steps without Docker.
#
# Node 20 on Debian 12 (glibc 2.36), the runtime the tests use. Node 20 is past its end of
# life (April 2026); moving to Node 22 or 24 needs a uWebSockets.js build for that ABI, and the
# newer builds need glibc >= 2.38, i.e. a Debian 13 (trixie) base: see docs/operations.md.
ARG NODE_IMAGE=node:20-bookworm-slim

# Dependencies in their own layer: rebuilt only when package.json or the lock file change.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
COPY harness ./harness
COPY examples ./examples
# The demo bundle (development only) and the client package are built by its build.mjs.
COPY packages/client ./packages/client
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
# The spec's defaults, translated: RUST_LOG -> LOG_LEVEL, RUST_BACKTRACE -> LOG_ERROR_STACKS,
# TOKIO_WORKER_THREADS -> UV_THREADPOOL_SIZE.
ENV NODE_ENV=production \
    LOG_LEVEL=info \
    LOG_ERROR_STACKS=1 \
    UV_THREADPOOL_SIZE=4 \
    BIND_ADDRESS=0.0.0.0:8081 \
    METRICS_PORT=9090
WORKDIR /app
# Owned by root and not writable by the relay's user: the image works with a read-only root
# filesystem (the relay writes nothing outside /tmp in production).
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY migrations ./migrations
# uid 1000 is the base image's unprivileged `node` user, the uid the Kubernetes manifests run as.
USER 1000:1000
# No curl in the slim image; Node's fetch does the same. The port follows BIND_ADDRESS.
HEALTHCHECK --interval=30s --timeout=10s --start-period=5s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.BIND_ADDRESS||'0.0.0.0:8081').split(':').pop()+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
EXPOSE 8081 9090
# Exec form: node is PID 1 and receives SIGTERM itself (no shell or npm in between). The
# migration job runs `node dist/src/store/migrate-cli.js` (what `npm run migrate` runs after building).
ENTRYPOINT ["node", "dist/src/main.js"]
