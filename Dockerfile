# Banter application image: one server process (uvicorn on uvloop; ASGI_SERVER=daphne for daphne) per container (scale by running more
# containers behind the proxy, see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files (admin, API docs) are baked into the image. DEBUG=1 only lets settings load
# without secrets at build time; no key or database is used or stored by collectstatic.
RUN DEBUG=1 python manage.py collectstatic --noinput \
    && useradd --system --uid 10001 --no-create-home --home-dir /app banter \
    && mkdir -p /srv/media \
    && chown -R banter /app/staticfiles /srv/media

USER banter
EXPOSE 8000

# --proxy-headers: take the client address from X-Forwarded-For, which the proxy in front
# (deploy/nginx.conf) overwrites; without it every client shares the proxy's address, so
# per-IP rate limits and logs would be meaningless. Only believed from the peers of
# FORWARDED_ALLOW_IPS (default loopback; docker-compose sets its networks).
CMD ["python", "manage.py", "serve", "--proxy-headers", "--host", "0.0.0.0", "--port", "8000"]
