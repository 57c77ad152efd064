# ConvLab container image: one Streamlit server on port 8501, models and digits inside the image.
#
# Two variants from this file, chosen with a build argument:
#   docker build -t convlab:full .                                         # every page; CPU PyTorch for Train
#   docker build -t convlab:inference --build-arg VARIANT=inference .     # no torch: every page but Train
#   docker run --rm -p 8501:8501 convlab:full                              # then open http://localhost:8501
# docs/deploy.md has the sizes, the settings (environment variables) and the Kubernetes manifests.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

# full: requirements.txt with torch's CPU build (0.2 GB download, 0.8 GB installed; PyPI's torch is the
#       CUDA build, several GB).
# inference: requirements-inference.txt (streamlit, onnxruntime, numpy, plotly, pillow); Train says what to install.
ARG VARIANT=full
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Dependencies first: this layer is rebuilt only when a requirements file changes, not on every code edit.
COPY requirements.txt requirements-inference.txt /tmp/requirements/
RUN set -eu; \
    python -m venv /opt/venv; \
    case "$VARIANT" in \
      full) \
        pip install --index-url "$TORCH_INDEX_URL" "torch==2.13.0"; \
        pip install -r /tmp/requirements/requirements.txt ;; \
      inference) \
        pip install -r /tmp/requirements/requirements-inference.txt ;; \
      *) echo "VARIANT must be 'full' or 'inference', not '$VARIANT'" >&2; exit 1 ;; \
    esac; \
    pip check; \
    rm -rf /tmp/requirements

# A fixed numeric id, so Kubernetes' runAsNonRoot can check it. The code stays owned by root (read-only
# to the server); the server writes only under /tmp (students' exported models) and its home (caches).
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin convlab

WORKDIR /app
COPY .streamlit/ .streamlit/
COPY streamlit_app.py ./
COPY core/ core/
COPY ui/ ui/
COPY pages/ pages/
COPY exported_models/ exported_models/
COPY data/ data/

LABEL org.opencontainers.image.title="ConvLab" \
      org.opencontainers.image.description="Streamlit app that teaches CNNs" \
      convlab.variant=$VARIANT
USER 10001
EXPOSE 8501

# Streamlit's own health endpoint; the slim image has no curl, so Python asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]

CMD ["streamlit", "run", "streamlit_app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
