"""Allow ``python -m runner_agent``."""

from runner_agent.cli.main import main

if __name__ == "__main__":
    main()
