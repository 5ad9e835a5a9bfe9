# Smart Support's image: the web UI built with Node, then the package on a slim Python, run as a
# user without privileges. docs/deploy.md describes the layout; docker-compose.yml runs it with
# PostgreSQL. Linted by hadolint in `make check` (tests/test_deploy.py).

# 1. The web UI (customer chat and operator console), from the lockfile. Vite writes it to
#    ../src/smart_support/server/static, where the wheel picks it up.
FROM node:20-bookworm-slim AS web
WORKDIR /build/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN npm run build

# 2. The wheel, with the built UI inside it (pyproject.toml ships server/static as artifacts).
FROM python:3.11-slim-bookworm AS wheel
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src/ src/
COPY --from=web /build/src/smart_support/server/static/ src/smart_support/server/static/
RUN pip wheel --no-deps --wheel-dir /wheels .

# 3. The runtime: the installed package and its dependencies, no build tools, no dev extras.
FROM python:3.11-slim-bookworm
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=wheel /wheels/ /wheels/
RUN pip install /wheels/smart_support-*.whl \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 smart-support \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --create-home smart-support
# The working directory holds ./data (SQLite, when DATABASE_URL is not PostgreSQL) and an
# optional .env: both belong to the app's user, named by number so that a runtime can check it
# is not root (Kubernetes' runAsNonRoot) without reading /etc/passwd.
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# /healthz answers 200 when the store answers, 503 when it does not (urlopen raises on 503).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["smart-support", "serve", "--host", "0.0.0.0", "--port", "8000"]
