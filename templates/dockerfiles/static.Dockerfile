# Rendered by hostctl for a static site. Commit your own Dockerfile to replace it.
FROM {{ images.static }}
ENV PORT={{ port }}
# An unprivileged user to run as; hostctl makes /data (the app's volume) theirs.
# `{{ mark }}` marks the build cache from this step on as hostctl's, which it prunes.
RUN echo 'app:x:10001:10001::/home/app:/bin/sh' >> /etc/passwd \
    && echo 'app:x:10001:' >> /etc/group \
    && mkdir -p /home/app /data /config && chown 10001:10001 /home/app /data /config  # {{ mark }}
EXPOSE {{ port }}
# Never served: dotfiles (.env, .git/…) and the files hostctl reads to deploy the site.
RUN mkdir -p /etc/caddy && printf '%s\n' \
    '{' '	admin off' '}' \
    ':{$PORT}' \
    'root * /srv' \
    'file_server {' \
    '	hide .* /srv/Dockerfile /srv/Procfile /srv/app.json /srv/hostctl.yml /srv/hostctl.yaml' \
    '}' > /etc/caddy/Caddyfile
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
COPY . /srv
USER 10001:10001
