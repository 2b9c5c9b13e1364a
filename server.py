"""Run Pipulate: `python server.py [--host H] [--port P]`."""

import argparse
import logging
import sys

import uvicorn
from pydantic import ValidationError

from pipulate.app import create_app, url_host
from pipulate.config import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve Pipulate on this machine.")
    parser.add_argument("--host", help="address to bind (PIPULATE_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (PIPULATE_PORT, default 5001)")
    args = parser.parse_args()

    overrides = {name: value for name, value in vars(args).items() if value is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        sys.exit(f"Pipulate cannot start, a setting is wrong: {problems}.")

    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "multipart", "hpack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    log = logging.getLogger("pipulate.server")

    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("Serving on %s: other machines may reach this app, which has no login.",
                    settings.host)
    try:
        app = create_app(settings)
    except ValueError as error:
        log.error("Pipulate cannot start: %s", error)
        sys.exit(1)

    address = f"http://{url_host(settings.host)}:{settings.port}"
    log.info("Starting Pipulate at %s", address)
    print(f"Open {address} in your browser.", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
