# The filter as an OCI image holding only plugin.wasm, the layout Istio's WasmPlugin and Envoy Gateway's
# EnvoyExtensionPolicy pull (oci://…). The module is compiled in the build stage, never committed.
# Build from the repository root: docker build -f infra/docker/wasm.Dockerfile -t wakegate-wasm .

FROM node:24-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The AssemblyScript compiler is a dev dependency; nothing from this stage ships but the .wasm.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY wasm-filter ./wasm-filter
RUN npm run build

FROM scratch
COPY --from=build /src/wasm-filter/build/wakegate.wasm /plugin.wasm
