# dailystats: docker build -t dailystats . && docker run --env-file dailystats.env dailystats
# or `docker compose up -d` (compose.yaml). README.md, "Production setup: Docker".
#
# One Python for both deploys: 3.11, the version requirements/runtime.lock is made for
# (the systemd venv uses the same lock). Any python:3.11 image works as the base.
ARG BASE_IMAGE=python:3.11-slim

# Stage 1: the project as a wheel (build tools stay in this stage). The wheel carries
# the migrations (setup.py), so the daemon is installed normally, not editable.
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# The version `dailystats --version` reports. The context has no git metadata, so pass
# it (`--build-arg VERSION=1.4.0`); without it the wheel says 0.0.0.
ARG VERSION=
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY daemon daemon
COPY migrations migrations
RUN if [ -n "$VERSION" ]; then export SETUPTOOLS_SCM_PRETEND_VERSION_FOR_DAILYSTATS="$VERSION"; fi \
    && python -m pip wheel --no-deps --wheel-dir /wheels .

# Stage 2: the runtime. Everything under /opt/dailystats is root's; the daemon runs as
# an unprivileged user that can read it and write nothing of it.
FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/dailystats/venv/bin:$PATH \
    LOG_FORMAT=json \
    HEALTH_HOST=0.0.0.0 \
    HEALTH_PORT=8080

RUN python -m venv /opt/dailystats/venv \
    && useradd --system --user-group --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin dailystats

# Dependencies first (a code change does not reinstall them): exactly the locked
# versions, each checked against its hash.
COPY requirements/runtime.lock /opt/dailystats/runtime.lock
RUN pip install --require-hashes -r /opt/dailystats/runtime.lock

COPY --from=build /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl && rm -rf /tmp/wheels

USER dailystats
WORKDIR /opt/dailystats
EXPOSE 8080
# HEALTH_PORT from the environment (as the daemon reads it); 0 turns the server off,
# and this check with it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('HEALTH_PORT') or '8080'; port == '0' or urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
# SIGTERM: no new work, in-flight work finishes within SHUTDOWN_GRACE_SECONDS (30 s),
# exit 0. `docker stop` waits only 10 s: use `docker stop -t 45` (compose.yaml sets
# stop_grace_period: 45s).
STOPSIGNAL SIGTERM
# Migrations are safe on every start (advisory lock, each file once). exec: the daemon
# replaces the shell, so `docker kill -s HUP` (rescan yesterday) and `docker stop` reach it.
CMD ["sh", "-c", "dailystats migrate && exec dailystats run"]
