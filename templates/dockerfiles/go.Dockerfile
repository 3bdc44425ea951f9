# Rendered by hostctl for a Go app. Commit your own Dockerfile to replace it.
FROM {{ base }} AS build
WORKDIR /src
{% if has_go_mod %}
COPY go.mod go.sum* ./
RUN go mod download
COPY . .
{% else %}
COPY . .
RUN go mod init app
{% endif %}
# Every main package, each binary named as Go names it (cmd/web -> web), as on Heroku.
RUN mkdir -p /out && CGO_ENABLED=0 GOBIN=/out go install ./...

FROM {{ images.debian }}
ENV PORT={{ port }}
# An unprivileged user to run as; hostctl makes /data (the app's volume) theirs.
RUN echo 'app:x:10001:10001::/home/app:/bin/sh' >> /etc/passwd \
    && echo 'app:x:10001:' >> /etc/group \
    && mkdir -p /home/app /data && chown 10001:10001 /home/app /data
EXPOSE {{ port }}
{% if binary %}
CMD ["{{ binary }}"]
{% endif %}
COPY --from=build /out/ /usr/local/bin/
USER 10001:10001
