"""JSON log lines for everything the server process logs: uvicorn's own lines, the app's, and
third-party loggers and warnings, one object per line. uvicorn reads CONFIG_FILE (--log-config,
set by the entrypoint); a message that is already a JSON object is merged in, not quoted."""

import json
import logging
from pathlib import Path

CONFIG_FILE = Path(__file__).parent / "log_config.json"


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        try:
            body = json.loads(message)
        except ValueError:
            body = None
        line = {"level": record.levelname.lower(), "logger": record.name}
        line.update(body if isinstance(body, dict) else {"message": message})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)
