# Rendered by hostctl for a Node app. Commit your own Dockerfile to replace it.
{%- import "dockerfiles/kept.j2" as kept %}
FROM {{ base }}
ENV NODE_ENV=production PORT={{ port }}
WORKDIR /app
# An unprivileged user to run as; hostctl makes /data (the app's volume) theirs.
# `{{ mark }}` marks the build cache from this step on as hostctl's, which it prunes.
RUN echo 'app:x:10001:10001::/home/app:/bin/sh' >> /etc/passwd \
    && echo 'app:x:10001:' >> /etc/group \
    && mkdir -p /home/app /data && chown 10001:10001 /home/app /data  # {{ mark }}
# Metadata before the source, so a source-only change rebuilds only the COPY layer.
EXPOSE {{ port }}
CMD ["npm", "start"]
COPY package.json {{ lockfile or "" }} ./
{% if buildkit %}
{% set flags = "--omit=dev --cache " ~ cache_dir ~ "/npm --prefer-offline --no-audit --no-fund" %}
{% set fresh = ("npm ci " if lockfile else "npm install ") ~ flags %}
{% set saved = cache_dir ~ "/modules/last" %}
{#- The app's node_modules of its last build (under a week old) is the start: npm then
    adds, replaces and removes only what the lockfile changed, where `npm ci` reinstalls
    everything. npm rewrites the lockfile only when it is out of step with package.json
    (or older than this npm): then, as when that install fails, the step starts afresh
    with `npm ci`, which refuses an out of step lockfile as it always did. The result is
    saved for the next build (kept.j2). #}
# npm's cache, and the app's installed modules (node_modules of its last build, per Node
# image), stay in BuildKit cache mounts of the app's own, not in the image.
RUN --mount=type=cache,id={{ cache_id }}-npm,target={{ cache_dir }}/npm \
    --mount=type=cache,id={{ cache_id }}-modules-{{ base | replace(":", "-") | replace("/", "-") }},sharing=locked,target={{ cache_dir }}/modules \
    set -e; \
    if [ -d {{ saved }}/node_modules ] && {{ kept.is_fresh(saved) }}; then \
        cp -a {{ saved }}/node_modules ./; cp -p {{ saved }}/hostctl-created /tmp/hostctl-created; \
{%- if lockfile %}
        cp {{ lockfile }} /tmp/lockfile; \
        if ! npm install {{ flags }} || ! cmp -s {{ lockfile }} /tmp/lockfile; then \
            rm -rf node_modules; cp /tmp/lockfile {{ lockfile }}; touch /tmp/hostctl-created; {{ fresh }}; \
        fi; \
{%- else %}
        if ! npm install {{ flags }}; then \
            rm -rf node_modules package-lock.json; touch /tmp/hostctl-created; {{ fresh }}; \
        fi; \
{%- endif %}
    else \
        touch /tmp/hostctl-created; {{ fresh }}; \
    fi; \
    mkdir -p node_modules; {{ kept.save(saved, "node_modules /tmp/hostctl-created") }}; \
    rm -f /tmp/lockfile /tmp/hostctl-created
{% else %}
RUN {% if lockfile %}npm ci --omit=dev{% else %}npm install --omit=dev{% endif %} --no-audit --no-fund
{% endif %}
COPY . .
USER 10001:10001
