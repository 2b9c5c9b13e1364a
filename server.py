"""Run Pipulate: `python server.py [--host H] [--port P]`."""

import argparse
import logging
import os

import uvicorn

from pipulate.app import create_app
from pipulate.config import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve Pipulate on this machine.")
    parser.add_argument("--host", help="address to bind (PIPULATE_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (PIPULATE_PORT, default 5001)")
    args = parser.parse_args()

    overrides = {name: value for name, value in vars(args).items() if value is not None}
    settings = Settings(**overrides)
    logging.basicConfig(
        level=os.environ.get("PIPULATE_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    log = logging.getLogger("pipulate.server")

    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("Serving on %s: other machines may reach this app, which has no login.",
                    settings.host)
    app = create_app(settings)
    log.info("Pipulate is serving at http://%s:%d", settings.host, settings.port)
    print(f"Open http://{settings.host}:{settings.port} in your browser.", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
