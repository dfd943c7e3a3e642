# The device agent alone, for a device that runs containers (a Raspberry Pi, an
# ARM or x86 server): HTTP only, no database libraries. Built for the machine's
# own architecture; for an aarch64 device without Docker, cross-build it
# instead (scripts/cross-build-aarch64).
#   docker build -f docker/agent.Dockerfile -t flashnas-agent .
#   docker run --rm flashnas-agent --server http://SERVER:8080 --token fnd_... --threads 4
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config git ca-certificates \
      libeigen3-dev liblbfgspp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libssl-dev libcpp-httplib-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DFLASHNAS_NATIVE=OFF -DFLASHNAS_AGENT_ONLY=ON \
    && cmake --build /build -j"$(nproc)" --target flashnas-agent

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcpp-httplib0.11 libspdlog1.10 libfmt9 libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system flashnas
COPY --from=build /build/agent/flashnas-agent /usr/local/bin/
USER flashnas
ENTRYPOINT ["flashnas-agent"]
