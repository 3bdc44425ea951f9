# Rendered by hostctl for a static site. Commit your own Dockerfile to replace it.
FROM {{ images.static }}
ENV PORT={{ port }}
# An unprivileged user to run as; hostctl makes /data (the app's volume) theirs.
RUN echo 'app:x:10001:10001::/home/app:/bin/sh' >> /etc/passwd \
    && echo 'app:x:10001:' >> /etc/group \
    && mkdir -p /home/app /data /config && chown 10001:10001 /home/app /data /config
EXPOSE {{ port }}
CMD ["sh", "-c", "exec caddy file-server --listen :${PORT} --root /srv"]
COPY . /srv
USER 10001:10001
