# One image for every ShardLab service; the Kubernetes manifests (deploy/k8s) pick the service with
# the container command, e.g. `node --import tsx apps/gateway/src/main.ts`.
#   docker build -t shardlab:dev .
FROM node:20-bookworm-slim

WORKDIR /app

# The whole repository first: `npm ci` runs the postinstall code generation (proto/ -> libs/proto),
# which needs proto/ and tools/. Dev dependencies are kept: the services run TypeScript with tsx.
COPY . .
RUN npm ci --no-audit --no-fund && npm cache clean --force

# Run as the image's unprivileged `node` user (uid 1000); state shards write only to /data.
USER node
