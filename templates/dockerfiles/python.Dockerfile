# Rendered by hostctl for a Python app ({{ manifest }}). Commit your own Dockerfile to replace it.
FROM {{ base }}
{% if buildkit %}
ENV PYTHONUNBUFFERED=1 PORT={{ port }}
# pip keeps downloads and wheels in a BuildKit cache mount, not in the image.
{% set mount = "--mount=type=cache,id=" ~ cache_id ~ "-pip,target=" ~ cache_dir ~ "/pip " %}
{% set pip = "pip --cache-dir " ~ cache_dir ~ "/pip" %}
{% else %}
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PORT={{ port }}
{% set mount = "" %}
{% set pip = "pip" %}
{% endif %}
WORKDIR /app
# An unprivileged user to run as; hostctl makes /data (the app's volume) theirs.
# `{{ mark }}` marks the build cache from this step on as hostctl's, which it prunes.
RUN echo 'app:x:10001:10001::/home/app:/bin/sh' >> /etc/passwd \
    && echo 'app:x:10001:' >> /etc/group \
    && mkdir -p /home/app /data && chown 10001:10001 /home/app /data  # {{ mark }}
# Metadata before the source, so a source-only change rebuilds only the COPY layer.
EXPOSE {{ port }}
{% if manifest == "requirements.txt" %}
COPY requirements.txt ./
RUN {{ mount }}{{ pip }} install -r requirements.txt
COPY . .
{% elif manifest == "Pipfile" %}
COPY Pipfile Pipfile.lock* ./
RUN {{ mount }}{{ pip }} install pipenv && pipenv requirements > /tmp/requirements.txt \
    && {{ pip }} install -r /tmp/requirements.txt && pip uninstall -y pipenv
COPY . .
{% elif not has_tomllib %}
# Python before 3.11 has no tomllib to read the dependencies apart: one layer.
COPY . .
RUN {{ mount }}{{ pip }} install .
{% else %}
COPY pyproject.toml ./
# Dependencies first, in their own cached layer; the app itself after the source copy.
RUN {{ mount }}python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb')).get('project', {}).get('dependencies', [])))" > /tmp/requirements.txt \
    && {{ pip }} install -r /tmp/requirements.txt
COPY . .
RUN pip install --no-deps .
{% endif %}
USER 10001:10001
