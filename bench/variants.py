"""Tuning experiments that need more than a constructor argument.

Selected with ``python -m bench --option endpointer=minstat``; the bench swaps
the backend's endpointer for the variant, so one run differs from the
product in exactly that piece. What each variant moved is in
bench/tuning_log.md; a variant that earns its place belongs in skill/,
owned there, not here.
"""

from __future__ import annotations

from array import array
from collections import deque

from skill.endpoint import FRAME, Endpointer, frame_db


class MinStatEndpointer(Endpointer):
    """The product's detector with a minimum-statistics noise floor.

    Why: the shipped floor only follows frames that are not loud, so a steady
    noise that starts above floor + onset (a tap, a fan; any noise beginning
    with the turn) is taken for speech that never ends. Here the floor is the
    minimum of a short moving average over the last ``window`` seconds,
    updated on every frame, in speech or not: a steady noise becomes the
    floor within the window, while the gaps between words keep it low during
    speech.
    """

    window = 1.0
    smooth = 3

    def reset(self) -> None:
        super().reset()
        self._levels: deque[float] = deque(maxlen=max(1, int(round(self.window / FRAME))))
        self._recent: deque[float] = deque(maxlen=self.smooth)

    def _update_floor(self, level: float) -> None:
        self._recent.append(level)
        self._levels.append(sum(self._recent) / len(self._recent))
        self._floor = max(min(self._levels), self.config.floor_min_db)

    def _level(self, samples: array, start: int, size: int) -> float:
        """Full-band level, as the detector measured it when this variant was tried."""
        return frame_db(samples, start, size)


ENDPOINTERS = {"minstat": MinStatEndpointer}


def apply(rec, name: str) -> None:
    """Swap the recognizer's endpointer for variant ``name`` (same configuration)."""
    old = rec._endpointer
    rec._endpointer = ENDPOINTERS[name](old.config, old.sample_rate)


def _preemph_frame_db(samples, start: int, size: int) -> float:
    """Frame level after first-order pre-emphasis (y[n] = x[n] - 0.95 x[n-1]).

    Every speech front end does this; for the endpointer it removes the
    rumble and sub-audio drift (brown noise, traffic, a running bath) that
    otherwise makes 10 ms frame levels swing by tens of dB.
    """
    import math
    if size <= 1 or start + size > len(samples):
        return -100.0
    prev = samples[start - 1] if start > 0 else samples[start]
    energy = 0.0
    for i in range(start, start + size):
        x = samples[i]
        y = x - 0.95 * prev
        energy += y * y
        prev = x
    energy /= size
    if energy <= 0:
        return -100.0
    return 10.0 * math.log10(energy / (32768.0 * 32768.0))


class PreEmphasisEndpointer(Endpointer):
    """The product's detector, measuring frame levels after pre-emphasis."""

    def feed(self, pcm: bytes) -> Update:
        import skill.endpoint as ep
        saved = ep.frame_db
        ep.frame_db = _preemph_frame_db
        try:
            return super().feed(pcm)
        finally:
            ep.frame_db = saved


ENDPOINTERS["preemph"] = PreEmphasisEndpointer


# A general-English filler loop offered beside the phrases: out-of-scope speech
# then decodes to filler words (which the matcher refuses) instead of being
# snapped onto the nearest phrase. Common words only, nothing from the corpus.
FILLER_WORDS = (
    "the be to of and a in that have it for on with he as you do at this but his by from they "
    "we say her she or an will my one all would there their what so up out if about who get which "
    "go me when make can like time just him know take people into year your good some could them see "
    "other than then now look only come its over think also back after use two how our work first well "
    "way even new want because any these give day most us is was are been has had were said did made "
    "find where long down more through little many before great old same tell boy follow came show "
    "around form three small set put end does another large turn here why ask went men read need land "
    "different home move try kind hand picture change off play spell air away animal house point page "
    "letter mother answer found study still learn should world high every near add food between own "
    "below country plant last school father keep tree never start city earth eye light thought head "
    "under story saw left few while along might close something seem next hard open example begin life "
    "always those both paper together got group often run important until children side feet car mile "
    "night walk white sea began grow took river four carry state once book hear stop without second late "
    "miss idea enough eat face watch far really almost let above girl sometimes mountain cut young talk "
    "soon list song being leave family body music color stand sun question fish area mark dog horse "
    "birds problem complete room knew since ever piece told usually friends easy heard order red door "
    "sure become top ship across today during short better best however low hours black products "
    "happened whole measure remember early waves reached listen wind rock space covered fast several "
    "hold himself toward five step morning passed vowel true hundred against pattern numeral table "
    "north slowly money map farm pulled draw voice seen cold cried plan notice south sing war ground "
    "fall king town unit figure certain field travel wood fire upon"
).split()


def _filler_jsgf(phrases):
    alts = " | ".join(f"( {p} )" for p in phrases)
    words = " | ".join(FILLER_WORDS)
    return (f"#JSGF V1.0;\ngrammar turn;\npublic <turn> = {alts} | <filler>+;\n"
            f"<filler> = {words};\n")


def apply_filler() -> None:
    """Patch the PocketSphinx backend's grammar builder (experiment only)."""
    import skill.recognizer_sphinx as rs
    rs.jsgf_for = _filler_jsgf
