# syntax=docker/dockerfile:1
# Build: docker build -t arbx .   Run: docker run -p 8000:8000 -e ARBX_PROFILE=server \
#   -e ARBX_DATABASE_URL=postgresql://user@db:5432/arbx arbx
FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv
WORKDIR /app
# dependencies first (cached layer), from the lock file only
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY src ./src
RUN uv sync --locked --no-dev --no-editable

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 arbx
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY config ./config
COPY data/samples ./data/samples
RUN mkdir -p /app/var && chown arbx:arbx /app/var
USER arbx
ENV PATH="/app/.venv/bin:$PATH" ARBX_CONFIG_DIR=/app/config ARBX_DATA_DIR=/app/var \
    ARBX_HTTP__HOST=0.0.0.0 PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)" || exit 1
CMD ["arbx", "serve"]
