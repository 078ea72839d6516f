"""The import report: what was imported, what was skipped and why, what looked odd.

Real captures are messy, so an import never stops at a bad file: each problem becomes
one entry here (the file, a stable reason code, a sentence for a person), the report is
written as JSON beside the dataset and summarised on the terminal.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path


class Skip(Exception):
    """Raised by a decode or check step: this one frame is left out, the import goes on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Reason codes (stable: scripts and tests match on them; the message says the details).
UNREADABLE = "unreadable"  # the decoder failed: corrupt, truncated, not an image
CHANNELS = "channels"  # channel layout that is not RGB radiance
NON_FINITE = "non_finite"  # NaN or Inf values
NEGATIVE = "negative"  # negative radiance
SIZE_MISMATCH = "size_mismatch"  # frame size differs from the rest of its sequence
ASPECT = "aspect"  # an equirect frame that is neither 2:1 nor 4:1
DUPLICATE_TIME = "duplicate_time"  # same timestamp as the frame kept before it
OUT_OF_ORDER = "out_of_order"  # timestamp earlier than the frame kept before it
NO_TIMESTAMP = "no_timestamp"  # no time in the file name or EXIF
MISSING_FILE = "missing_file"  # a capture folder without its image
SHORT_SEQUENCE = "short_sequence"  # a sequence with fewer than --min-frames frames


@dataclass
class Skipped:
    """One input (file, video frame, or dropped sequence) left out of the dataset."""

    path: str
    """The file, 'video.mp4 frame 12', or the first file of a dropped sequence."""
    code: str
    """One of the reason codes above."""
    reason: str
    """What was wrong, for a person."""


@dataclass
class Note:
    """Something imported but worth a look (e.g. a capture gap far from the sequence's step)."""

    path: str
    """The frame it concerns."""
    message: str
    """What looked odd."""


@dataclass
class SequenceSummary:
    """One sequence handed to the dataset store."""

    source: str
    """The input PATH it came from."""
    first: str
    """Label (file or video frame) of its first frame."""
    last: str
    """Label of its last frame."""
    frames: int
    """Number of frames."""
    step_seconds: float
    """Sky time between frames: the median capture gap."""


@dataclass
class ImportReport:
    """Everything an import run did, written as JSON and printed as a summary."""

    kind: str
    """laval, images or video."""
    inputs: list[str]
    """The PATHs given on the command line."""
    options: dict
    """The import options, as given."""
    sequences: list[SequenceSummary] = field(default_factory=list)
    """Sequences written, in order."""
    skipped: list[Skipped] = field(default_factory=list)
    """Inputs left out, with reasons."""
    notes: list[Note] = field(default_factory=list)
    """Imported but irregular (capture gaps far from the step)."""

    def skip(self, path: str, code: str, reason: str) -> None:
        self.skipped.append(Skipped(str(path), code, reason))

    def note(self, path: str, message: str) -> None:
        self.notes.append(Note(str(path), message))

    @property
    def imported(self) -> int:
        return sum(s.frames for s in self.sequences)

    def to_json(self) -> dict:
        skipped_by_code = Counter(s.code for s in self.skipped)
        return {
            "kind": self.kind,
            "inputs": self.inputs,
            "options": self.options,
            "counts": {
                "imported": self.imported,
                "sequences": len(self.sequences),
                "skipped": dict(sorted(skipped_by_code.items())),
                "notes": len(self.notes),
            },
            "sequences": [asdict(s) for s in self.sequences],
            "skipped": [asdict(s) for s in self.skipped],
            "notes": [asdict(n) for n in self.notes],
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def summary(self, max_lines: int = 10) -> str:
        """A few lines for the terminal: counts, then the first skips and notes."""
        lines = [
            f"imported {self.imported} frames into {len(self.sequences)} sequence(s),"
            f" skipped {len(self.skipped)} input(s), {len(self.notes)} note(s)",
        ]
        for code, n in sorted(Counter(s.code for s in self.skipped).items()):
            lines.append(f"  skipped {n:5d} x {code}")
        for s in self.skipped[:max_lines]:
            lines.append(f"  skip {s.path}: {s.reason}")
        for n in self.notes[:max_lines]:
            lines.append(f"  note {n.path}: {n.message}")
        hidden = max(0, len(self.skipped) - max_lines) + max(0, len(self.notes) - max_lines)
        if hidden:
            lines.append(f"  ... {hidden} more in the report")
        return "\n".join(lines)
