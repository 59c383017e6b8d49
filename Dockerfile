# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VAR_DIR=/var/lib/webhooks
WORKDIR /app
COPY pyproject.toml README.md ./
COPY webhooks_project ./webhooks_project
COPY hooks ./hooks
COPY deliveries ./deliveries
COPY console ./console
COPY manage.py ./
RUN pip install --no-cache-dir . \
    && useradd --system --home /app webhooks \
    && mkdir -p "$VAR_DIR/metrics" && chown -R webhooks "$VAR_DIR" \
    && python manage.py collectstatic --noinput
USER webhooks
EXPOSE 8000
CMD ["gunicorn", "-c", "python:webhooks_project.gunicorn_conf", "webhooks_project.wsgi", "--bind", "0.0.0.0:8000"]
