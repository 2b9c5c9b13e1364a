"""Runs the simulator: `python -m pipulate.sim --port 5002 [--token T] [--job-seconds S]`."""

import argparse
import logging

import uvicorn

from . import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipulate.sim",
                                     description="A local stand-in for the Botify API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5002)
    parser.add_argument("--token", default=None,
                        help="accept only this token (default: accept any token)")
    parser.add_argument("--job-seconds", type=float, default=3.0,
                        help="how long an export job takes to finish (default: 3)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_app(token=args.token, job_seconds=args.job_seconds)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
