# dailystats: docker build -t dailystats . && docker run --env-file dailystats.env dailystats
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOG_FORMAT=json \
    HEALTH_PORT=8080

RUN useradd --system --create-home --home-dir /app dailystats
WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY daemon/__init__.py daemon/__init__.py
RUN pip install --no-compile . && pip uninstall -y dailystats

COPY daemon daemon
COPY migrations migrations
RUN pip install --no-deps --editable . && chown -R dailystats /app

USER dailystats
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)" || exit 1
# Migrations are safe to run on every start (advisory lock, each file once).
# exec: the daemon is PID 1's only child, so `docker kill -s HUP` and `docker stop` reach it.
CMD ["sh", "-c", "dailystats migrate && exec dailystats run"]
