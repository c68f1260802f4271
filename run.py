#!/usr/bin/env python3
"""Run the gateway: ``python run.py`` serves on 127.0.0.1:8080; ``python run.py --help`` for the rest."""
import sys

from gateway.cli import main

if __name__ == "__main__":
    sys.exit(main())
