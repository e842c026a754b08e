"""Entry point of the notion service: wire and run, nothing else."""

from figsync_notion.bootstrap import build
from figsync_notion.settings import NotionSettings
from figsync_runtime import load_settings, run


def main() -> None:
    run("notion", load_settings(NotionSettings), build)


if __name__ == "__main__":
    main()
