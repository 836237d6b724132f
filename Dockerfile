# culex broker in a container. Build: docker build -t culex .   Run: docker run -p 1883:1883 -v culex-data:/data culex
# The image is built from this checkout: the first stage builds and packs the package, the second installs that
# tarball as a user would (npm install, production dependencies only), so nothing but the npm registry is reached.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# npm ci refuses lockfiles with platform-specific optional packages; the build needs no install scripts.
RUN npm install --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build && npm pack && mv culex-*.tgz /culex.tgz

FROM node:20-bookworm-slim
COPY --from=build /culex.tgz /tmp/culex.tgz
RUN npm install --global --omit=dev --no-audit --no-fund /tmp/culex.tgz \
  && rm /tmp/culex.tgz && npm cache clean --force \
  && mkdir /data && chown node:node /data
USER node
WORKDIR /data
VOLUME /data
EXPOSE 1883
# The broker stops cleanly on SIGTERM (docker stop) and re-reads its password, ACL and certificate files on SIGHUP
# (docker kill -s HUP). Off loopback it refuses anonymous clients: give a configuration file with users
# (-c /etc/culex/culex.json, mounted) or, for a trial, --allow-anonymous.
ENTRYPOINT ["culex", "broker"]
CMD ["--host", "0.0.0.0", "--data-dir", "/data"]
