# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY templates ./templates
RUN pip install . && useradd --system --home /app newsletter && mkdir -p /app/var && chown newsletter /app/var
USER newsletter
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
CMD ["newsletter", "web", "--host", "0.0.0.0", "--port", "8000"]
