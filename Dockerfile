# Production image: web (gunicorn), Celery worker and Celery beat all run from it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=fundapp.settings

WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin jkfund

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
# Static files are collected at build time and served by WhiteNoise from var/static.
# Attachments live in var/private (a volume in docker-compose.yml), outside the web root;
# the audit checkpoint key in var/audit-key, its public half and log in var/audit (§12).
RUN python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p var/private var/audit var/audit-key \
    && chmod 0700 var/audit-key \
    && chown -R jkfund:jkfund var

USER jkfund
EXPOSE 8000
CMD ["gunicorn", "fundapp.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--access-logfile", "-", "--no-control-socket"]
