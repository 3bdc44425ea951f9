# Rendered by hostctl for a Python app ({{ manifest }}). Commit your own Dockerfile to replace it.
{%- import "dockerfiles/kept.j2" as kept %}
{%- import "dockerfiles/uv.j2" as uv %}
{%- set venv = "/opt/app-venv" %}
{%- set uv_dir = "/opt/hostctl-uv" %}
{%- set uv_installs = buildkit and installer == "uv" %}
{%- if uv_installs %}
# uv installs the requirements. It comes from PyPI, pinned by hash, into a stage of its own:
# kept in the engine's build cache for every app on this Python image, never in the app's
# image.
FROM {{ base }} AS hostctl-uv
RUN echo '{{ uv.requirement }}' > /tmp/uv.txt \
    && python -m pip install --no-cache-dir --disable-pip-version-check --no-deps --only-binary :all: \
        --require-hashes --target {{ uv_dir }} -r /tmp/uv.txt  # {{ mark }}
{% endif %}
FROM {{ base }}
ENV PYTHONUNBUFFERED=1 PORT={{ port }} VIRTUAL_ENV={{ venv }} PATH={{ venv }}/bin:$PATH
{%- if buildkit %}
# The installer's downloads, and the app's installed dependencies (the virtualenv of its last
# build, per Python image), stay in BuildKit cache mounts of the app's own, not in the image.
{%- set saved = cache_dir ~ "/venv/last" %}
{%- set pip_mount = "--mount=type=cache,id=" ~ cache_id ~ "-pip,target=" ~ cache_dir ~ "/pip " %}
{%- set pip = venv ~ "/bin/python -m pip --cache-dir " ~ cache_dir ~ "/pip" %}
{%- set venv_mount = "--mount=type=cache,id=" ~ cache_id ~ "-venv-" ~ base | replace(":", "-") | replace("/", "-") ~ ",sharing=locked,target=" ~ cache_dir ~ "/venv " %}
{%- if uv_installs %}
{%- set uv_bin = cache_dir ~ "/uv-bin" %}
{%- set mount = "--mount=type=bind,from=hostctl-uv,source=" ~ uv_dir ~ "/bin,target=" ~ uv_bin ~ " --mount=type=cache,id=" ~ cache_id ~ "-uv,target=" ~ cache_dir ~ "/uv " ~ venv_mount %}
{%- set uv_pip = uv_bin ~ "/uv pip --no-config --cache-dir " ~ cache_dir ~ "/uv" %}
{%- set add = uv_pip ~ " install --python " ~ venv ~ "/bin/python --link-mode copy --compile-bytecode" %}
{%- set remove = uv_pip ~ " uninstall --python " ~ venv ~ "/bin/python" %}
{%- else %}
{%- set mount = pip_mount ~ venv_mount %}
{%- set add = pip ~ " install" %}
{%- set remove = pip ~ " uninstall -y" %}
{%- endif %}
{%- else %}
{%- set pip_mount = "" %}
{%- set mount = "" %}
{%- set pip = venv ~ "/bin/python -m pip --no-cache-dir" %}
{%- endif %}
{#- The image's pip (its site packages are visible) installs into the virtualenv. #}
{#- Installs the requirements file `req` into the virtualenv: with `add`, uv's or pip's
    (plan.py chooses). Under BuildKit the install starts from the virtualenv of the app's
    last build when every line that changed (comments and blank lines aside) names a
    package from the index: a package no line names any more is uninstalled first, and
    the installer runs only when a line was added or an installed package still requires
    one that was removed (it puts it back). Any other change (a URL, a VCS ref, a path,
    an option), or a saved virtualenv made over a week ago, starts afresh. A changed
    result is saved for the next build (kept.j2). #}
{#- Fails when an installed package requires a removed one (or when it cannot tell). #}
{% set still_required = "import sys, re, importlib.metadata as m; key = lambda name: re.sub('[-_.]+', '-', name).lower(); gone = {key(line.strip()) for line in open(sys.argv[1]) if line.strip()}; required = {key(re.match('[A-Za-z0-9._-]*', r).group()) for d in m.distributions() for r in (d.requires or [])}; sys.exit(1 if gone & required else 0)" %}
{% macro install(req) -%}
{% if buildkit -%}
norm() { sed -e '1s/^\xef\xbb\xbf//' -e 's/\r$//' -e 's/^[[:space:]]*//' -e 's/^#.*//' -e 's/[[:space:]]#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$1" | sort -u; }; \
    names() { sed -E -e 's/^([A-Za-z0-9][A-Za-z0-9._-]*).*/\1/' -e 'y/ABCDEFGHIJKLMNOPQRSTUVWXYZ/abcdefghijklmnopqrstuvwxyz/' -e 's/[-_.]+/-/g' "$1" | sort -u; }; \
    reuse=no; \
    if [ -x {{ saved }}/bin/python ] && [ -f {{ saved }}/hostctl-requirements.txt ] \
        && {{ kept.is_fresh(saved) }}; then \
        norm {{ saved }}/hostctl-requirements.txt > /tmp/old.txt; norm {{ req }} > /tmp/new.txt; \
        if ! comm -3 /tmp/old.txt /tmp/new.txt | sed 's/^\t//' | grep -qvE '^[A-Za-z0-9][^@:]*$'; then reuse=yes; fi; \
    fi; \
    install=yes; changed=yes; \
    if [ $reuse = yes ]; then \
        cp -a {{ saved }}/. {{ venv }}/; \
        comm -23 /tmp/old.txt /tmp/new.txt > /tmp/gone.txt; : > /tmp/removed.txt; \
        if [ -s /tmp/gone.txt ]; then \
            names /tmp/gone.txt > /tmp/gone-names.txt; names /tmp/new.txt > /tmp/new-names.txt; \
            comm -23 /tmp/gone-names.txt /tmp/new-names.txt > /tmp/removed.txt; \
        fi; \
        if [ -z "$(comm -13 /tmp/old.txt /tmp/new.txt)" ]; then install=no; fi; \
        if [ -s /tmp/removed.txt ]; then \
            {{ remove }} -r /tmp/removed.txt; \
            if ! {{ venv }}/bin/python -c "{{ still_required }}" /tmp/removed.txt; then install=yes; fi; \
        elif [ $install = no ]; then changed=no; fi; \
    else \
        touch {{ venv }}/hostctl-created; \
    fi; \
    if [ $install = yes ]; then {{ add }} -r {{ req }}; fi; \
    cp {{ req }} {{ venv }}/hostctl-requirements.txt; \
    rm -f /tmp/old.txt /tmp/new.txt /tmp/gone*.txt /tmp/new-names.txt /tmp/removed.txt; \
    if [ $changed = yes ]; then {{ kept.save(saved, venv ~ "/.") }}; fi
{%- else -%}
{{ pip }} install -r {{ req }}
{%- endif %}
{%- endmacro %}
WORKDIR /app
# An unprivileged user to run as; hostctl makes /data (the app's volume) theirs.
# Official Python images ship without .pyc files: the standard library and pip are
# compiled here, once per image (this layer is shared), not by every install and every
# start of the app (which may not write them).
# `{{ mark }}` marks the build cache from this step on as hostctl's, which it prunes.
RUN echo 'app:x:10001:10001::/home/app:/bin/sh' >> /etc/passwd \
    && echo 'app:x:10001:' >> /etc/group \
    && mkdir -p /home/app /data && chown 10001:10001 /home/app /data \
    && { python -m compileall -q -j0 $(python -c "import sysconfig; print(sysconfig.get_path('stdlib'), sysconfig.get_path('purelib'))") >/dev/null || true; } \
    && python -m venv --without-pip --system-site-packages {{ venv }}  # {{ mark }}
# Metadata before the source, so a source-only change rebuilds only the COPY layer.
EXPOSE {{ port }}
{% if manifest == "requirements.txt" %}
COPY requirements.txt ./
RUN {{ mount }}set -e; {{ install("requirements.txt") }}
COPY . .
{% elif manifest == "Pipfile" %}
COPY Pipfile Pipfile.lock ./
RUN {{ mount }}set -e; pip {{ "--cache-dir " ~ cache_dir ~ "/pip" if buildkit else "--no-cache-dir" }} install pipenv; \
    pipenv requirements > /tmp/requirements.txt; pip uninstall -y pipenv; \
    {{ install("/tmp/requirements.txt") }}
COPY . .
{% elif not has_tomllib %}
# Python before 3.11 has no tomllib to read the dependencies apart: one layer.
COPY . .
RUN {{ pip_mount }}{{ pip }} install .
{% else %}
COPY pyproject.toml ./
# Dependencies first, in their own cached layer; the app itself after the source copy.
RUN {{ mount }}set -e; python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb')).get('project', {}).get('dependencies', [])))" > /tmp/requirements.txt; \
    {{ install("/tmp/requirements.txt") }}
COPY . .
RUN {{ pip_mount }}{{ pip }} install --no-deps .
{% endif %}
USER 10001:10001
