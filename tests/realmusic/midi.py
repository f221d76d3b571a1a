"""A known-tempo set that is not synthesised here: songs written as MIDI files (drums, bass,
chords and a melody; the tempo map is one tempo, the truth) and rendered by FluidSynth with
the FluidR3 General MIDI soundfont's recorded instrument samples (Debian ``fluidsynth`` and
``fluid-soundfont-gm``).

Styles as a band plays them, notated with the beat on the quarter note: rock (kick 1 and 3,
snare 2 and 4, eighth hi-hats), fast rock (the same at 180-200 BPM, hats on the quarters),
disco (kick on every beat, open hats off the beat), funk (sixteenth hats, syncopated kick),
shuffle (triplet-swung eighths), waltz (3/4: bass on 1, chord on 2 and 3) and ballad (60-80
BPM, sixteenth hats). Each song is 48 s with four bars of I-V-vi-IV in a key of its own.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
PPQ = 480
SONGS = (  # (style, BPM): the set, 32 songs over 60-200 BPM
    ("ballad", 60),
    ("ballad", 66),
    ("ballad", 72),
    ("ballad", 78),
    ("waltz", 84),
    ("waltz", 104),
    ("waltz", 138),
    ("waltz", 168),
    ("shuffle", 88),
    ("shuffle", 100),
    ("shuffle", 116),
    ("shuffle", 132),
    ("funk", 92),
    ("funk", 98),
    ("funk", 106),
    ("funk", 112),
    ("rock", 96),
    ("rock", 108),
    ("rock", 122),
    ("rock", 134),
    ("rock", 146),
    ("rock", 158),
    ("disco", 110),
    ("disco", 118),
    ("disco", 124),
    ("disco", 128),
    ("fast rock", 172),
    ("fast rock", 180),
    ("fast rock", 186),
    ("fast rock", 190),
    ("fast rock", 196),
    ("fast rock", 200),
)
KICK, SNARE, HAT, OPEN_HAT, CRASH = 36, 38, 42, 46, 49


def _drums(style: str, beats: int) -> list[tuple[float, int, int]]:
    """(beat position, note, velocity) of one bar of ``beats`` beats."""
    hits: list[tuple[float, int, int]] = []
    if style == "waltz":
        hits += [(0, KICK, 100), (1, HAT, 70), (2, HAT, 70), (1, SNARE, 60), (2, SNARE, 55)]
    elif style == "disco":
        for b in range(beats):
            hits += [(b, KICK, 110), (b + 0.5, OPEN_HAT, 80), (b, HAT, 60)]
        hits += [(1, SNARE, 100), (3, SNARE, 100)]
    elif style == "funk":
        hits += [(x / 4, HAT, 70 if x % 2 else 90) for x in range(16)]
        hits += [(0, KICK, 110), (0.75, KICK, 90), (2.5, KICK, 100), (1, SNARE, 110), (3, SNARE, 110)]
        hits += [(3.75, SNARE, 50)]
    elif style == "shuffle":
        hits += [(b + s, HAT, 80 if s == 0 else 60) for b in range(beats) for s in (0, 2 / 3)]
        hits += [(0, KICK, 110), (2, KICK, 100), (2 + 2 / 3, KICK, 80), (1, SNARE, 105), (3, SNARE, 105)]
    elif style == "ballad":
        hits += [(x / 4, HAT, 60 if x % 2 else 75) for x in range(16)]
        hits += [(0, KICK, 100), (2.5, KICK, 80), (1, SNARE, 95), (3, SNARE, 95)]
    elif style == "fast rock":
        hits += [(b, HAT, 85) for b in range(beats)]
        hits += [(0, KICK, 115), (2, KICK, 110), (2.5, KICK, 90), (1, SNARE, 115), (3, SNARE, 115)]
    else:  # rock
        hits += [(x / 2, HAT, 85 if x % 2 == 0 else 65) for x in range(8)]
        hits += [(0, KICK, 110), (2, KICK, 105), (2.5, KICK, 85), (1, SNARE, 110), (3, SNARE, 110)]
    return hits


def song_midi(style: str, bpm: float, seconds: float, seed: int) -> object:
    """The song as a ``mido.MidiFile`` whose tempo map is ``bpm`` throughout."""
    import mido

    rng = np.random.default_rng(seed)
    beats = 3 if style == "waltz" else 4
    key = int(rng.integers(0, 12))
    progression = (0, 7, 9, 5)  # I V vi IV (semitones above the key)
    bar_s = beats * 60.0 / bpm
    n_bars = max(4, int(seconds / bar_s))
    events: list[tuple[float, int, mido.Message]] = []  # (beat, order, message)

    def note(beat: float, length: float, ch: int, pitch: int, vel: int) -> None:
        human = rng.normal(0, 0.012) if ch == 9 else 0.0  # a drummer's few-ms timing spread
        on = max(0.0, beat + human)
        events.append((on, 1, mido.Message("note_on", channel=ch, note=pitch, velocity=int(vel))))
        events.append((on + length, 0, mido.Message("note_off", channel=ch, note=pitch, velocity=0)))

    for bar in range(n_bars):
        root = 40 + key + progression[bar % 4]
        major = progression[bar % 4] != 9
        chord = [root + 12, root + 12 + (4 if major else 3), root + 19]
        b0 = bar * beats
        for pos, pitch, vel in _drums(style, beats):
            note(b0 + pos, 0.1, 9, pitch, vel * rng.uniform(0.85, 1.0))
        if bar % 4 == 0:
            note(b0, 0.5, 9, CRASH, 90)
        if style == "waltz":
            note(b0, 0.9, 1, root, 95)
            for b in (1, 2):
                for p in chord:
                    note(b0 + b, 0.8, 2, p, 70)
        else:
            for b in range(beats):  # bass on the beats and the "and" of 4
                note(b0 + b, 0.45, 1, root if b % 2 == 0 else root + 7, 100)
            note(b0 + beats - 0.5, 0.4, 1, root + 12, 85)
            for p in chord:
                note(b0, beats - 0.1, 2, p, 65)
        scale = (0, 2, 4, 5, 7, 9, 11, 12)
        for b in range(beats):  # a melody on the beats, a note held now and then
            if rng.random() < 0.7:
                note(b0 + b, 0.9, 3, 64 + key + scale[int(rng.integers(0, 8))], 80)

    mid = mido.MidiFile(ticks_per_beat=PPQ)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=beats, denominator=4, time=0))
    for ch, program in (
        (1, 33),
        (2, 4 if style in ("ballad", "waltz") else 29),
        (3, 65 if style == "funk" else 56),
    ):
        track.append(mido.Message("program_change", channel=ch, program=program, time=0))
    tick = 0
    for beat, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        t = round(beat * PPQ)
        track.append(msg.copy(time=t - tick))
        tick = t
    return mid


def render(style: str, bpm: float, out: Path, seed: int, seconds: float = 48.0) -> Path:
    """Write the song's MIDI file next to ``out`` and render it to ``out`` (FLAC) with FluidSynth."""
    import soundfile as sf

    if not SOUNDFONT.exists():
        raise SystemExit(f"{SOUNDFONT} missing: apt-get install fluidsynth fluid-soundfont-gm")
    midi = out.with_suffix(".mid")
    song_midi(style, bpm, seconds, seed).save(str(midi))
    wav = out.with_suffix(".part.wav")
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", "44100", "-F", str(wav), str(SOUNDFONT), str(midi)],
        check=True,
        capture_output=True,
    )
    pcm, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    sf.write(str(out), pcm, sr, subtype="PCM_16")
    wav.unlink()
    return out


def midi_set(cache: Path) -> list[tuple[Path, float, str]]:
    """Every song of :data:`SONGS`, rendered once into ``cache/midi``: (path, BPM, style)."""
    folder = cache / "midi"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (style, bpm) in enumerate(SONGS):
        path = folder / f"{i:02d}-{style.replace(' ', '')}-{bpm}.flac"
        if not path.exists():
            render(style, bpm, path, seed=1000 + i)
        out.append((path, float(bpm), style))
    return out
