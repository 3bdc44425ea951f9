# Rendered by hostctl for a Python app ({{ manifest }}). Commit your own Dockerfile to replace it.
FROM {{ base }}
{% set venv = "/opt/app-venv" %}
ENV PYTHONUNBUFFERED=1 PORT={{ port }} VIRTUAL_ENV={{ venv }} PATH={{ venv }}/bin:$PATH
{% if buildkit %}
# pip's downloads, and the app's installed dependencies (the virtualenv of its last build,
# per Python image), stay in BuildKit cache mounts of the app's own, not in the image.
{% set saved = cache_dir ~ "/venv/last" %}
{% set mount = "--mount=type=cache,id=" ~ cache_id ~ "-pip,target=" ~ cache_dir ~ "/pip --mount=type=cache,id=" ~ cache_id ~ "-venv-" ~ base | replace(":", "-") | replace("/", "-") ~ ",sharing=locked,target=" ~ cache_dir ~ "/venv " %}
{% set cache = "--cache-dir " ~ cache_dir ~ "/pip" %}
{% else %}
{% set mount = "" %}
{% set cache = "--no-cache-dir" %}
{% endif %}
{#- The image's pip (system site packages: pip, setuptools) installs into the virtualenv. #}
{% set pip = venv ~ "/bin/python -m pip " ~ cache %}
{#- Installs the requirements file `req` into the virtualenv. Under BuildKit it starts from
    the virtualenv of the app's last build, so a change installs only what changed: what
    the last build required and this one does not is uninstalled first (pip then puts back
    what another requirement still needs), and the result is saved for the next build. #}
{% macro install(req) -%}
{% if buildkit -%}
set -e; if [ -x {{ saved }}/bin/python ]; then cp -a {{ saved }}/. {{ venv }}/; fi \
    && if [ -f {{ venv }}/hostctl-requirements.txt ]; then grep -vxF -f {{ req }} {{ venv }}/hostctl-requirements.txt | sed -n 's/^\([A-Za-z0-9][A-Za-z0-9._-]*\)[[:space:]]*\([=<>!~;@[].*\)\{0,1\}$/\1/p' > /tmp/removed.txt; fi \
    && if [ -s /tmp/removed.txt ]; then {{ pip }} uninstall -y -r /tmp/removed.txt; fi \
    && {{ pip }} install -r {{ req }} && cp {{ req }} {{ venv }}/hostctl-requirements.txt \
    && rm -rf {{ saved }}.new && cp -a {{ venv }} {{ saved }}.new && rm -rf {{ saved }} && mv {{ saved }}.new {{ saved }}
{%- else -%}
{{ pip }} install -r {{ req }}
{%- endif %}
{%- endmacro %}
WORKDIR /app
# An unprivileged user to run as; hostctl makes /data (the app's volume) theirs.
# `{{ mark }}` marks the build cache from this step on as hostctl's, which it prunes.
RUN echo 'app:x:10001:10001::/home/app:/bin/sh' >> /etc/passwd \
    && echo 'app:x:10001:' >> /etc/group \
    && mkdir -p /home/app /data && chown 10001:10001 /home/app /data \
    && python -m venv --without-pip --system-site-packages {{ venv }}  # {{ mark }}
# Metadata before the source, so a source-only change rebuilds only the COPY layer.
EXPOSE {{ port }}
{% if manifest == "requirements.txt" %}
COPY requirements.txt ./
RUN {{ mount }}{{ install("requirements.txt") }}
COPY . .
{% elif manifest == "Pipfile" %}
COPY Pipfile Pipfile.lock* ./
RUN {{ mount }}pip {{ cache }} install pipenv && pipenv requirements > /tmp/requirements.txt \
    && pip uninstall -y pipenv && {{ install("/tmp/requirements.txt") }}
COPY . .
{% elif not has_tomllib %}
# Python before 3.11 has no tomllib to read the dependencies apart: one layer.
COPY . .
RUN {{ mount }}{{ pip }} install .
{% else %}
COPY pyproject.toml ./
# Dependencies first, in their own cached layer; the app itself after the source copy.
RUN {{ mount }}python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb')).get('project', {}).get('dependencies', [])))" > /tmp/requirements.txt \
    && {{ install("/tmp/requirements.txt") }}
COPY . .
RUN {{ venv }}/bin/python -m pip --no-cache-dir install --no-deps .
{% endif %}
USER 10001:10001
