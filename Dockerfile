# syntax=docker/dockerfile:1
# One image for every process; the command chooses which one runs:
#   python -m gateway | python -m services.ingest | python -m services.metrics
#   python -m services.contacts | xobito migrate
# It runs as a non-root user on a read-only root filesystem: nothing is
# written outside /tmp, which the Kubernetes manifests mount as an emptyDir.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# The generated gRPC code is committed under xobito/, so proto/ and the
# dev tools are not needed; README.md is the package's readme.
COPY pyproject.toml README.md ./
COPY xobito ./xobito
COPY services ./services
COPY gateway ./gateway
# A regular (not editable) install without the dev extras; pip compiles
# the bytecode now, since the running container cannot write it.
RUN /opt/venv/bin/pip install --compile .

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 xobito \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin xobito
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    BIND_HOST=0.0.0.0 \
    LOG_FORMAT=json \
    MIGRATE_ON_START=false
# An empty directory: `python -m` puts the working directory on sys.path,
# and `xobito migrate` looks for a dev.env under it (and finds none).
WORKDIR /app
USER 10001:10001
EXPOSE 8000 8080 50051 50052 50053
CMD ["python", "-m", "gateway"]
