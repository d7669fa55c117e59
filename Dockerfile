# spark-scheduler extender image. Build: docker build -t spark-scheduler .
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY tsconfig.json ./
COPY src ./src
COPY gen ./gen
COPY examples ./examples
USER node
EXPOSE 8483
ENTRYPOINT ["node", "--import", "tsx", "src/main.ts"]
