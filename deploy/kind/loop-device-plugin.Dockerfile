# syntax=docker/dockerfile:1
# Demo only: the kind quick start's loop device plugin (loop-device-plugin.ts).
#   docker build -f deploy/kind/loop-device-plugin.Dockerfile -t device-mounter-loop-device-plugin:dev .
FROM docker.io/library/node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY deploy/kind/loop-device-plugin.ts ./
RUN node_modules/.bin/bun build --compile loop-device-plugin.ts --outfile loop-device-plugin

FROM gcr.io/distroless/cc-debian12
COPY --from=build --chmod=0755 /src/loop-device-plugin /loop-device-plugin
ENTRYPOINT ["/loop-device-plugin"]
