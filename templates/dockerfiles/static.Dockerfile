# Rendered by hostctl for a static site. Commit your own Dockerfile to replace it.
FROM {{ images.static }}
ENV PORT={{ port }}
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
