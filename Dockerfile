# Image for the API, the worker and the setup job (docker-compose.yml picks the command).
FROM node:20-slim

WORKDIR /app

# Dependencies first, for layer caching. All of them: tsx (a dependency) runs the
# TypeScript directly, so there is no separate build stage.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force

COPY . .

# Set after `npm ci`, which would otherwise skip devDependencies.
ENV NODE_ENV=production
# The node image's unprivileged user; the code stays root-owned and read-only to it.
USER node

EXPOSE 8080
CMD ["npx", "tsx", "src/server.ts"]
