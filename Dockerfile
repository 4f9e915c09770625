FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY finops finops
COPY apps apps
RUN pip install . gunicorn
COPY . .
RUN useradd --create-home finops && mkdir -p /app/var && chown -R finops /app/var
USER finops
EXPOSE 8000
CMD ["gunicorn", "finops.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
