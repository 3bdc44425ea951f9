# Rendered by hostctl for a Go app. Commit your own Dockerfile to replace it.
FROM {{ images.golang }} AS build
WORKDIR /src
{% if has_go_mod %}
COPY go.mod go.sum* ./
RUN go mod download
COPY . .
{% else %}
COPY . .
RUN go mod init app
{% endif %}
RUN CGO_ENABLED=0 go build -o /out/app .

FROM {{ images.debian }}
ENV PORT={{ port }}
# An unprivileged user to run as; hostctl makes /data (the app's volume) theirs.
RUN echo 'app:x:10001:10001::/home/app:/bin/sh' >> /etc/passwd \
    && echo 'app:x:10001:' >> /etc/group \
    && mkdir -p /home/app /data && chown 10001:10001 /home/app /data
EXPOSE {{ port }}
CMD ["app"]
COPY --from=build /out/app /usr/local/bin/app
USER 10001:10001
