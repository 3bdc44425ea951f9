# Rendered by hostctl for a static site. Commit your own Dockerfile to replace it.
FROM {{ images.static }}
ENV PORT={{ port }}
EXPOSE {{ port }}
CMD ["sh", "-c", "exec caddy file-server --listen :${PORT} --root /srv"]
COPY . /srv
