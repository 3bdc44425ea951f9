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
EXPOSE {{ port }}
CMD ["app"]
COPY --from=build /out/app /usr/local/bin/app
