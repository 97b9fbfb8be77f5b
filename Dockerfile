# Kairos API image: slim, non-root, migrates then serves.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KAIROS_VAR_DIR=/srv/kairos/var

RUN useradd --create-home --uid 10001 kairos
WORKDIR /srv/kairos

COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
RUN pip install . && mkdir -p var && chown kairos:kairos var
# The embedded database and the generated signing secret live here: keep them on a volume
# (a new one starts owned by kairos, as the directory is).
VOLUME ["/srv/kairos/var"]

USER kairos
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"

# Migrations first, then the server on all interfaces (the container is the boundary).
CMD ["sh", "-c", "kairos migrate && exec kairos serve --host 0.0.0.0 --port 8000"]
