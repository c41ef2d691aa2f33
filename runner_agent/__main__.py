"""Allow ``python -m runner_agent``."""

from runner_agent.cli.app import main

if __name__ == "__main__":
    main()
