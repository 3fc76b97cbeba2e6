# Build on the official Swift image, run on a slim Debian with libhiredis.
ARG SWIFT_VERSION=6.3.1
FROM swift:${SWIFT_VERSION}-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libhiredis-dev pkg-config && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Plugins ./Plugins
COPY Scripts ./Scripts
COPY Tests ./Tests
# As `make build`: no run-time exclusivity checks in release (the tests run debug builds, with
# them), optimised across modules.
RUN swift build -c release --product tokenpool --static-swift-stdlib -Xswiftc -enforce-exclusivity=unchecked -Xswiftc -cross-module-optimization \
    && cp "$(swift build -c release --show-bin-path)/tokenpool" /tokenpool

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libhiredis0.14 ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /tokenpool /usr/local/bin/tokenpool
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
USER nobody
ENTRYPOINT ["tokenpool"]
CMD ["serve"]
