# Rendered by hostctl for a Node app. Commit your own Dockerfile to replace it.
FROM {{ images.node }}
ENV NODE_ENV=production PORT={{ port }}
WORKDIR /app
# Metadata before the source, so a source-only change rebuilds only the COPY layer.
EXPOSE {{ port }}
CMD ["npm", "start"]
COPY package.json {{ lockfile or "" }} ./
RUN {% if lockfile %}npm ci --omit=dev{% else %}npm install --omit=dev{% endif %} --no-audit --no-fund
COPY . .
