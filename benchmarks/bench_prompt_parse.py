"""Parse and schedule a 300-token prompt with 10 edits (issue 4's target: < 5 ms), then read the emphasis of every
step's text. Run: venv/bin/python benchmarks/bench_prompt_parse.py [repeats]"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webui.prompting.parser import parse_prompt, weighted_text_pieces  # noqa: E402
from webui.prompting.schedule import prompt_schedule  # noqa: E402

TARGET_MS = 5.0


def build_prompt() -> str:
    """About 300 CLIP tokens (100 words of two tokens, each with a comma), emphasis, and 10 edits of both kinds."""
    words = [f"(word{i}:1.1)" if i % 7 == 0 else f"word{i}" for i in range(100)]
    for i in range(10):
        words[i * 10 + 3] = f"[from{i}:to{i}:{i + 1}]" if i % 2 else f"[from{i} (glow):to{i}:0.{i + 1}]"
    return ", ".join(words)


def main(repeats: int = 200) -> None:
    prompt = build_prompt()
    parse_and_schedule, with_emphasis = [], []
    for _ in range(repeats):
        parse_prompt.cache_clear()  # measure a real parse, not the cache
        start = time.perf_counter()
        schedule = prompt_schedule(prompt, 30)
        middle = time.perf_counter()
        for _, text in schedule:
            weighted_text_pieces(text)
        end = time.perf_counter()
        parse_and_schedule.append((middle - start) * 1000)
        with_emphasis.append((end - start) * 1000)
    mean = statistics.mean(parse_and_schedule)
    print(f"prompt: {len(prompt)} characters, {len(schedule)} schedule entries, {repeats} runs")
    print(f"parse + schedule: mean {mean:.3f} ms, median {statistics.median(parse_and_schedule):.3f} ms")
    print(f"parse + schedule + emphasis of every step: mean {statistics.mean(with_emphasis):.3f} ms")
    print(f"target < {TARGET_MS} ms: {'met' if mean < TARGET_MS else 'NOT met'}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
