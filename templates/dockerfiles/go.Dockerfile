# Rendered by hostctl for a Go app. Commit your own Dockerfile to replace it.
FROM {{ base }} AS build
WORKDIR /src
{% if buildkit %}
# Modules and compiled packages stay in BuildKit cache mounts between builds.
ENV GOMODCACHE={{ cache_dir }}/go-mod GOCACHE={{ cache_dir }}/go-build
{% set go = "--mount=type=cache,id=" ~ cache_id ~ "-go-mod,target=" ~ cache_dir ~ "/go-mod --mount=type=cache,id=" ~ cache_id ~ "-go-build,target=" ~ cache_dir ~ "/go-build " %}
{% else %}
{% set go = "" %}
{% endif %}
# `{{ mark }}` marks the build cache from its step on as hostctl's, which it prunes.
{% if has_go_mod %}
COPY go.mod go.sum* ./
RUN {{ go }}go mod download  # {{ mark }}
COPY . .
{% else %}
COPY . .
RUN {{ go }}go mod init app  # {{ mark }}
{% endif %}
# Every main package, each binary named as Go names it (cmd/web -> web), as on Heroku.
RUN {{ go }}mkdir -p /out && CGO_ENABLED=0 GOBIN=/out go install ./...

FROM {{ images.debian }}
ENV PORT={{ port }}
# An unprivileged user to run as; hostctl makes /data (the app's volume) theirs.
# `{{ mark }}` marks the build cache from this step on as hostctl's, which it prunes.
RUN echo 'app:x:10001:10001::/home/app:/bin/sh' >> /etc/passwd \
    && echo 'app:x:10001:' >> /etc/group \
    && mkdir -p /home/app /data && chown 10001:10001 /home/app /data  # {{ mark }}
EXPOSE {{ port }}
{% if binary %}
CMD ["{{ binary }}"]
{% endif %}
COPY --from=build /out/ /usr/local/bin/
USER 10001:10001
