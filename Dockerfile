# syntax=docker/dockerfile:1
# Chatalot server image: multi-stage, slim, non-root. The build stage resolves the
# dependencies into a virtual environment; the final stage holds that environment and the
# source (the migrations ship beside the code), no compiler and no pip cache.

FROM python:3.12-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/chatalot
COPY pyproject.toml README.md ./
COPY event_store ./event_store
COPY projections ./projections
COPY chatalot ./chatalot
# Install the project for its dependencies, then drop the installed copy: the code runs
# from /app, where migrations/ sits next to it (chatalot/db.py finds them there).
RUN /opt/chatalot/bin/pip install . \
 && /opt/chatalot/bin/pip uninstall -y chatalot \
 && /opt/chatalot/bin/pip uninstall -y pip setuptools \
 && printf '#!/bin/sh\nexec /opt/chatalot/bin/python -m chatalot.cli.main "$@"\n' \
      > /opt/chatalot/bin/chatalot \
 && chmod 0755 /opt/chatalot/bin/chatalot

FROM python:3.12-slim-bookworm
LABEL org.opencontainers.image.title="chatalot" \
      org.opencontainers.image.description="Self-hosted end-to-end-encrypted chat server"
RUN groupadd --system --gid 10001 chatalot \
 && useradd --system --uid 10001 --gid chatalot --home-dir /var/lib/chatalot \
      --shell /usr/sbin/nologin chatalot \
 && mkdir -p /var/lib/chatalot \
 && chown chatalot:chatalot /var/lib/chatalot
COPY --from=build /opt/chatalot /opt/chatalot
WORKDIR /app
COPY event_store ./event_store
COPY projections ./projections
COPY chatalot ./chatalot
COPY migrations ./migrations
ENV PATH=/opt/chatalot/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CHATALOT_DATA_DIR=/var/lib/chatalot \
    HOST=0.0.0.0 \
    PORT=8080 \
    CHATALOT_LOG_FORMAT=json
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/health' % os.environ.get('PORT', '8080'), timeout=2)"]
ENTRYPOINT ["chatalot"]
CMD ["serve"]
