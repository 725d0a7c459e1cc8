# The chipscreen worker. Build context: the repository root.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY rules ./rules
COPY streams ./streams
RUN pip install --no-cache-dir ".[rocksdb,fast]"
ENV CHIPSCREEN_WEB_HOST=0.0.0.0 \
    CHIPSCREEN_DATA_DIR=/var/lib/chipscreen
VOLUME /var/lib/chipscreen
EXPOSE 6066
ENTRYPOINT ["chipscreen"]
CMD ["worker", "-l", "info"]
