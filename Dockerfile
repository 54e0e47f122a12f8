# Multi-stage build of the `rdv` binary; the runtime image is small and runs
# as a non-root user.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin rdv

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/rdv rdv && mkdir -p /var/lib/rdv && chown rdv /var/lib/rdv
COPY --from=build /src/target/release/rdv /usr/local/bin/rdv
USER rdv
WORKDIR /var/lib/rdv
ENV RDV_DATA_DIR=/var/lib/rdv RDV_LISTEN=0.0.0.0:8080 RDV_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["rdv"]
CMD ["serve"]
