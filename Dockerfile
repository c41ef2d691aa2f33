# syntax=docker/dockerfile:1
#
# The runner-agent sidecar image. Build from the repository root:
#
#   docker build -t runner-agent .
#
# The root file system can be read-only: the identity lives in the
# /var/lib/runner-agent volume and temporary files in /tmp, which should be
# a tmpfs (docker run --read-only --tmpfs /tmp). See the README's "Run as a
# sidecar container" and deploy/kubernetes/runner-agent-sidecar.yaml.

FROM python:3.12-slim-bookworm AS builder

WORKDIR /src
COPY pyproject.toml README.md ./
COPY runner_agent ./runner_agent

# The agent's wheel and those of its runtime dependencies, nothing else.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .


FROM python:3.12-slim-bookworm

LABEL org.opencontainers.image.title="runner-agent" \
      org.opencontainers.image.description="Health, metrics and lifecycle agent for self-hosted Daytona runner hosts" \
      org.opencontainers.image.licenses="Apache-2.0"

# tini runs as PID 1: it hands SIGTERM to the agent and reaps the orphans
# that check and hook commands may leave, which a Python PID 1 would not.
# The Debian release of the base image fixes its version.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels \
        /wheels/runner_agent-*.whl

# A fixed numeric id, so that Kubernetes can check runAsNonRoot and a host
# directory can be prepared for it.
RUN groupadd --system --gid 10001 runner-agent \
    && useradd --system --uid 10001 --gid runner-agent \
        --home-dir /var/lib/runner-agent --no-create-home \
        --shell /usr/sbin/nologin runner-agent \
    && install -d -o runner-agent -g runner-agent -m 0700 /var/lib/runner-agent

# Nothing is compiled or cached at run time (the root may be read-only);
# HOME points at the tmpfs for tools that check or hook commands start.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp

VOLUME ["/var/lib/runner-agent"]
USER 10001:10001

# Asks the agent's own /healthz, at RUNNER_AGENT_LISTEN when it is set.
HEALTHCHECK --interval=30s --timeout=5s --start-period=2m --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; h, _, p = os.environ.get('RUNNER_AGENT_LISTEN', '127.0.0.1:9713').rpartition(':'); h = {'0.0.0.0': '127.0.0.1', '::': '::1', '[::]': '::1'}.get(h, h).strip('[]'); h = f'[{h}]' if ':' in h else h; r.urlopen(f'http://{h}:{p}/healthz', timeout=4)"]

ENTRYPOINT ["/usr/bin/tini", "--", "runner-agent"]
CMD ["run"]
