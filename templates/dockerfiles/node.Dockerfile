# Rendered by hostctl for a Node app. Commit your own Dockerfile to replace it.
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
# npm keeps its cache in a BuildKit cache mount, not in the image.
RUN --mount=type=cache,id={{ cache_id }}-npm,target={{ cache_dir }}/npm \
    {% if lockfile %}npm ci --omit=dev{% else %}npm install --omit=dev{% endif %} --cache {{ cache_dir }}/npm --prefer-offline --no-audit --no-fund
{% else %}
RUN {% if lockfile %}npm ci --omit=dev{% else %}npm install --omit=dev{% endif %} --no-audit --no-fund
{% endif %}
COPY . .
USER 10001:10001
