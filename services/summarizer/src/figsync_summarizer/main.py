"""Entry point of the summarizer service: wire and run, nothing else."""

from figsync_runtime import load_settings, run
from figsync_summarizer.bootstrap import build
from figsync_summarizer.settings import SummarizerSettings


def main() -> None:
    run("summarizer", load_settings(SummarizerSettings), build)


if __name__ == "__main__":
    main()
