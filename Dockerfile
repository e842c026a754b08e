# syntax=docker/dockerfile:1
#
# One file, one slim non-root image per figsync process. Pick the image with --target:
#
#   docker build --target service --build-arg SERVICE=ingest -t figsync-ingest .
#       SERVICE: ingest, projector, figma, summarizer, notion, notifier (runs figsync-<SERVICE>)
#   docker build --target relay   -t figsync-relay .    store -> JetStream relay (libs/runtime)
#   docker build --target cli     -t figsync-cli .      `figsync migrate` / `figsync replay` Jobs
#   docker build --target sandbox -t figsync-sandbox .  local Figma/Notion/Anthropic APIs (dev)
#
# Each image holds one virtualenv, /opt/figsync, with only what its package needs: pinned
# third-party packages from constraints.txt and the figsync packages it requires, from
# their folders (local-packages.txt pins every libs/, services/ and tools/ package to its
# folder; uv installs only the ones required). tests/deploy/test_images.py runs this file's `uv` commands in throwaway
# virtualenvs, so keep every install step a RUN line of a build-* stage.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --------------------------------------------------------------------------- build stages
FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /src
COPY constraints.txt ./
COPY libs libs
COPY services services
COPY tools tools
# Every figsync package pinned to its folder: a build stage installs one package and uv
# takes only the figsync packages it requires, from here, never from an index.
RUN python -c "import pathlib, tomllib; found = sorted(p.parent for p in pathlib.Path('.').glob('*/*/pyproject.toml')); print(*(tomllib.loads((p / 'pyproject.toml').read_text())['project']['name'] + ' @ ' + p.resolve().as_uri() for p in found), sep=chr(10))" > local-packages.txt

FROM builder AS build-service
ARG SERVICE
RUN test -f "services/${SERVICE}/pyproject.toml" || { echo "set --build-arg SERVICE=<a folder of services/>" >&2; exit 1; }
RUN uv venv /opt/figsync \
 && uv pip install --python /opt/figsync/bin/python -c constraints.txt -c local-packages.txt ./services/${SERVICE} \
 && ln -s figsync-${SERVICE} /opt/figsync/bin/figsync-service

FROM builder AS build-relay
RUN uv venv /opt/figsync \
 && uv pip install --python /opt/figsync/bin/python -c constraints.txt -c local-packages.txt ./libs/runtime

# The CLI's dev-only dependencies (testkit: embedded Postgres and NATS; the sandbox) serve
# `figsync dev` and stay out of the operations image.
FROM builder AS build-cli
RUN printf 'figsync-testkit\nfigsync-sandbox\n' > dev-only.txt \
 && uv venv /opt/figsync \
 && uv pip install --python /opt/figsync/bin/python -c constraints.txt -c local-packages.txt --excludes dev-only.txt ./tools/cli

FROM builder AS build-sandbox
RUN uv venv /opt/figsync \
 && uv pip install --python /opt/figsync/bin/python -c constraints.txt -c local-packages.txt ./libs/sandbox

# --------------------------------------------------------------------------- runtime base
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="figsync" \
      org.opencontainers.image.description="Figma comments to Notion tasks, event-sourced" \
      org.opencontainers.image.version="${VERSION}"
# No pip/setuptools in the running image; a fixed unprivileged user (numeric, so Kubernetes
# can verify runAsNonRoot); nothing written to the image at run time (read-only root
# filesystem works: bytecode is compiled at build time, /tmp is the only scratch space).
RUN python -m pip uninstall --yes --quiet pip setuptools wheel 2>/dev/null; \
    groupadd --system --gid 10001 figsync \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin figsync
ENV PATH=/opt/figsync/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FIGSYNC_HTTP_HOST=0.0.0.0
USER 10001:10001

# --------------------------------------------------------------------------- images
FROM runtime AS service
COPY --from=build-service /opt/figsync /opt/figsync
CMD ["figsync-service"]

FROM runtime AS relay
COPY --from=build-relay /opt/figsync /opt/figsync
EXPOSE 8015
CMD ["python", "-m", "figsync_runtime.relay_main"]

FROM runtime AS cli
COPY --from=build-cli /opt/figsync /opt/figsync
ENTRYPOINT ["figsync"]
CMD ["--help"]

FROM runtime AS sandbox
COPY --from=build-sandbox /opt/figsync /opt/figsync
ENV FIGSYNC_SANDBOX_HOST=0.0.0.0 \
    FIGSYNC_SANDBOX_FIGMA_PORT=8101 \
    FIGSYNC_SANDBOX_NOTION_PORT=8102 \
    FIGSYNC_SANDBOX_ANTHROPIC_PORT=8103
EXPOSE 8101 8102 8103
CMD ["python", "-m", "figsync_sandbox"]
