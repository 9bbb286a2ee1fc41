# One image for every role: the Dagster webserver, the daemon, a code server, a run task
# (started by dagster-aws's EcsRunLauncher) and the read-only API. The role is the command:
#   dagster-webserver -h 0.0.0.0 -p 3000 -w workspace.yaml
#   dagster-daemon run -w workspace.yaml
#   dagster code-server start -h 0.0.0.0 -p 4000 -m community_metrics.definitions
#   community-metrics serve --host 0.0.0.0 --port 8000        (the default)
# No secret is baked in: they come from the environment (ECS task secrets or an env file).
# Linted by hadolint in the tests (assets_tests/test_deploy.py).

FROM python:3.11.7-slim-bookworm AS build
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
# Dependencies first: their layer survives a change of the code.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --extra production --no-install-project
COPY community_metrics ./community_metrics
COPY seed_data ./seed_data
COPY workspace.yaml dagster.yaml ./
RUN uv sync --locked --no-dev --extra production

FROM python:3.11.7-slim-bookworm
RUN groupadd --system --gid 10001 community-metrics \
    && useradd --system --uid 10001 --gid community-metrics --create-home \
       --home-dir /opt/dagster community-metrics
WORKDIR /app
COPY --from=build --chown=10001:10001 /app /app
COPY --chown=10001:10001 deploy/dagster.yaml /opt/dagster/home/dagster.yaml
ENV PATH="/app/.venv/bin:${PATH}" \
    DAGSTER_HOME=/opt/dagster/home \
    DAGSTER_EVENT_BATCH_SIZE=1000 \
    CM_SEED_DIR=/app/seed_data \
    PYTHONUNBUFFERED=1 \
    HEALTHCHECK_URL=http://127.0.0.1:8000/api/v1/health
USER 10001:10001
EXPOSE 3000 4000 8000
# The API's health by default; the webserver sets HEALTHCHECK_URL to
# http://127.0.0.1:3000/server_info, the daemon to "none" (ECS checks it by its heartbeat).
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as r; u = os.environ['HEALTHCHECK_URL']; sys.exit(0 if u == 'none' else (r.urlopen(u, timeout=4).status != 200))"]
CMD ["community-metrics", "serve", "--host", "0.0.0.0", "--port", "8000"]
