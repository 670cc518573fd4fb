"""Voice prompts of our own, synthesised in French with espeak-ng and converted by sox.

Prompts are made from the configured texts at start-up; a prompt whose text has not
changed is not made again (the text is kept beside the sound). The prompts that do not depend on the
configuration (:func:`fixed_texts`: waiting information) are made along with them.
"""
from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

# 8 kHz, mono, 16-bit: Asterisk's native .wav format, no transcoding at play time.
_SOX_OUT = ["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"]


def fixed_texts() -> dict[str, str]:
    """Prompts of our own that do not depend on the configuration, by name: what waiting callers are
    told about their wait (ccpros_agi.waiting, played by the entry handler and by app_queue)."""
    from ccpros_agi.waiting import PROMPTS

    return dict(PROMPTS)


def synthesize(texts: Mapping[str, str], out_dir: Path, *, voice: str = "fr", speed: int = 155,
               fixed: bool = True) -> list[str]:
    """Write ``<name>.wav`` for every text, and for every :func:`fixed_texts` one unless ``fixed`` is
    False (``texts`` win on a shared name); returns the names that were (re)made."""
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for name, text in ({**fixed_texts(), **texts} if fixed else dict(texts)).items():
        wav, stamp = out_dir / f"{name}.wav", out_dir / f"{name}.txt"
        if wav.exists() and stamp.exists() and stamp.read_text() == text:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), "--", text],
                           check=True, capture_output=True)
            subprocess.run(["sox", str(raw), *_SOX_OUT, str(wav), "gain", "-n", "-3"],
                           check=True, capture_output=True)
        stamp.write_text(text)
        made.append(name)
    return made


def hold_music(out_dir: Path) -> Path:
    """A soft, looping melody for callers waiting in queue (no music files ship with Asterisk)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    wav = out_dir / "ccpros-attente.wav"
    if wav.exists():
        return wav
    notes = ["C4", "E4", "G4", "E4", "F4", "A4", "C5", "A4", "G4", "E4", "D4", "G4"]
    with tempfile.TemporaryDirectory() as tmp:
        parts = []
        for i, note in enumerate(notes):
            part = Path(tmp) / f"{i:02d}.wav"
            subprocess.run(["sox", "-n", *_SOX_OUT, str(part), "synth", "0.6", "pluck", note,
                            "fade", "0", "0.6", "0.3", "vol", "0.4"], check=True, capture_output=True)
            parts.append(str(part))
        subprocess.run(["sox", *parts, *_SOX_OUT, str(wav), "repeat", "3"], check=True, capture_output=True)
    return wav
