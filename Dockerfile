# syntax=docker/dockerfile:1
# CustomersDot for Slack, HTTP mode: gunicorn on $PORT (default 8000), as a non-root user.
#   docker build -t customersdot-slack .
#   docker run --env-file .env -p 8000:8000 customersdot-slack
#   docker run --env-file .env customersdot-slack python -m bot db upgrade   # release step

# The Python that CI tests (.python-version). In your own build, pin the base image by digest
# (python:3.11-slim@sha256:…) so a rebuild gets the same interpreter and system libraries.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
WORKDIR /src
# Dependencies first, in a layer of their own, exactly as locked (versions and hashes): a code
# change does not reinstall them.
COPY requirements.txt ./
RUN pip install --require-hashes -r requirements.txt
# Then the code, without resolving anything again.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
RUN pip install --no-deps .

FROM python:${PYTHON_VERSION}-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:$PATH" \
    HOST=0.0.0.0 \
    PORT=8000 \
    LOG_FORMAT=json
RUN groupadd --system app && useradd --system --gid app --home-dir /app --no-create-home app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root gunicorn.conf.py ./
USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz\", timeout=2)"]
CMD ["gunicorn", "bot.asgi:app", "--config", "gunicorn.conf.py"]
