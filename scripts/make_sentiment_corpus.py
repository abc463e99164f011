#!/usr/bin/env python3
"""Writes data/sentiment/sentences.tsv, the small sentiment corpus written for tapegrad.

Every sentence here was written for this project. Half of the corpus is hand-written whole
sentences; the other half is composed from hand-written parts (a subject, a predicate, an
optional closing clause) in a fixed frame. The frames and subjects are shared by both labels,
so no template word gives the label away: only the predicates and the hand-written sentences
carry sentiment, and many of them hinge on a negation ("not bad at all", "would not buy it
again").

Deterministic: the same script always writes the same file (a fixed seed, no set iteration).
Usage: python3 scripts/make_sentiment_corpus.py [output_path]
"""
import collections
import random
import re
import sys
from pathlib import Path

SEED = 20240517
COMPOSED_PER_DOMAIN_AND_LABEL = 20

# ---------------------------------------------------------------- hand-written sentences
# HANDWRITTEN[domain][label] -> sentences; label 1 = positive, 0 = negative.
HANDWRITTEN = {
    "film": {
        1: [
            "The story was simple, but the performances made it unforgettable.",
            "I laughed so hard during the wedding scene that I cried.",
            "Not a single wasted minute in over two hours.",
            "The final twist caught me completely off guard, and I loved it.",
            "A warm, funny film that the whole family enjoyed.",
            "I expected a dull remake, yet it turned out to be brilliant.",
            "The two leads have wonderful chemistry together.",
            "Every frame looks like a painting; I want to see it again on a big screen.",
            "It is not perfect, but I was smiling all the way home.",
            "The score swells at exactly the right moments.",
            "Quiet, patient and deeply moving.",
            "My kids begged to watch it a second time.",
            "This documentary taught me more than a semester of lectures.",
            "The villain was genuinely scary without being cartoonish.",
            "I did not expect a cartoon about a snail to move me to tears.",
            "Clever writing, sharp editing and a cast clearly having fun.",
            "The best thriller I have seen in years.",
            "I never once checked my phone, which says a lot.",
            "Even the small side characters feel like real people.",
            "It is the kind of comedy that gets funnier on a second viewing.",
        ],
        0: [
            "I walked out halfway through and did not regret it.",
            "The jokes fell flat and the audience stayed silent.",
            "Two hours of loud explosions and no story at all.",
            "The ending made no sense, even after my friend explained it.",
            "I did not enjoy it, despite all the glowing reviews.",
            "The lead actor mumbled every line as if he were bored.",
            "A lazy sequel that simply repeats the first film.",
            "The trailer showed every good moment, so the film had nothing left.",
            "I kept waiting for something to happen, and nothing did.",
            "The dialogue sounded like it was written by a committee.",
            "Far too long, far too loud and far too pleased with itself.",
            "The shaky camera gave me a headache within ten minutes.",
            "Not even the talented cast could rescue this script.",
            "It wants to be deep but only manages to be dull.",
            "I fell asleep twice and missed nothing important.",
            "The romance felt forced and the twist was obvious from the start.",
            "A gorgeous poster for a very ugly film.",
            "Half the scenes seem to belong to a different movie.",
            "I would not recommend this movie to anyone I like.",
            "The plot holes were big enough to drive a bus through.",
        ],
    },
    "book": {
        1: [
            "I stayed up until three in the morning to finish it.",
            "The characters felt like old friends by the last chapter.",
            "Her prose is clear, precise and often very funny.",
            "A gripping mystery with a solution I never saw coming.",
            "I have already bought copies for my sister and my neighbour.",
            "The chapters are short, so it is easy to read on the train.",
            "This cookbook actually explains why each step matters.",
            "It is not an easy read, but it rewards every page.",
            "The author makes a dry subject surprisingly exciting.",
            "I was sad when it ended because I wanted more.",
            "The translation reads naturally and keeps the original humour.",
            "Beautifully written, with an ending that feels earned.",
            "My book club argued about it for hours, in a good way.",
            "The poems are short but each one lingers.",
            "A clear and practical guide that I keep returning to.",
            "I did not expect a history book to be this gripping.",
            "The illustrations alone are worth the price.",
            "Funny, wise and never preachy.",
            "Each story in the collection surprised me in a different way.",
            "I would happily read anything else this writer publishes.",
        ],
        0: [
            "I gave up after fifty pages of endless description.",
            "The main character is so smug that I stopped caring about her.",
            "The mystery was solved by a coincidence, which felt like cheating.",
            "Too many typos for a book at this price.",
            "The self help advice boils down to trying harder.",
            "I did not finish it, and I rarely abandon a book.",
            "Every chapter repeats the point of the previous one.",
            "The dialogue is stiff and nobody talks like that.",
            "It promised a thriller and delivered a very slow romance.",
            "The recipes in this cookbook simply do not work as written.",
            "The ending was rushed, as if the author had run out of time.",
            "A dull textbook that even our lecturer seemed to dislike.",
            "The paper is thin and the binding fell apart within a week.",
            "I found the narrator irritating from the very first line.",
            "The jokes have aged badly and some are just unkind.",
            "Hundreds of pages and almost nothing happens.",
            "Not as clever as it thinks it is.",
            "The sequel undoes everything I liked about the first book.",
            "I kept confusing the characters because they all sound the same.",
            "The audiobook narrator reads in a flat, sleepy voice.",
        ],
    },
    "restaurant": {
        1: [
            "The soup was rich and the bread came out warm.",
            "Our waiter remembered every order without writing anything down.",
            "Best pizza crust I have had in a very long time.",
            "The portions were generous and the prices were fair.",
            "We booked again for next week before we even left.",
            "The dessert was not too sweet, which I really appreciated.",
            "A cosy little place with friendly staff and great coffee.",
            "The curry had real heat and a lot of flavour.",
            "They happily adapted the menu for my nut allergy.",
            "The fish was perfectly cooked, with crisp skin and a tender inside.",
            "I was not expecting much, but the noodles were excellent.",
            "Service was quick even though every table was full.",
            "The vegetarian options were creative rather than an afterthought.",
            "Fresh ingredients, simple cooking and a lovely view of the harbour.",
            "The owner came over to chat and sent us free biscuits.",
            "My steak arrived exactly as I ordered it.",
            "Quiet enough to hold a conversation, which is rare these days.",
            "The breakfast menu alone is worth the trip across town.",
            "Every dish we shared was better than the last.",
            "I cannot remember a better meal this year.",
        ],
        0: [
            "We waited forty minutes for cold pasta.",
            "The waiter rolled his eyes when we asked for tap water.",
            "My salad had more wilted leaves than fresh ones.",
            "The music was so loud we had to shout across the table.",
            "They charged us for bread we never ordered.",
            "The chicken was dry and the sauce tasted of nothing.",
            "I did not enjoy a single dish, and neither did my partner.",
            "Sticky tables, dirty cutlery and a rude manager.",
            "The burger was burnt on the outside and raw in the middle.",
            "Tiny portions at very high prices.",
            "We found a hair in the soup and got no apology.",
            "The coffee tasted burnt and the milk was sour.",
            "Our booking was lost and we stood by the door for half an hour.",
            "The chips were soggy and far too salty.",
            "Not a place I would take anyone I wanted to impress.",
            "The menu promised homemade desserts, but the cake came straight from a packet.",
            "The staff seemed annoyed that we had turned up at all.",
            "Everything on the plate was swimming in oil.",
            "I got food poisoning after the seafood platter.",
            "Overpriced, slow and strangely unfriendly.",
        ],
    },
    "gadget": {
        1: [
            "The battery easily lasts two full days.",
            "Setting it up took less than five minutes.",
            "These headphones block out the noise of the whole train.",
            "The screen is bright enough to read in direct sunlight.",
            "It is not cheap, but it feels built to last.",
            "My old laptop took ages to start; this one is ready in seconds.",
            "The camera takes sharp photos even in dim light.",
            "This kettle boils water quickly and switches off quietly.",
            "The keyboard is comfortable for long typing sessions.",
            "I dropped the phone twice and it still works perfectly.",
            "The smartwatch tracks my runs accurately and syncs without fuss.",
            "Small, light and surprisingly loud for its size.",
            "Customer support replaced the faulty charger within a day.",
            "The app is simple and does exactly what it should.",
            "Not bad at all for the price.",
            "My robot vacuum finally reaches under the sofa.",
            "The printer has worked every single time, which feels like a miracle.",
            "Charging is fast and the cable is nice and long.",
            "The speaker pairs instantly with every device in the house.",
            "Easily the best purchase I have made this year.",
        ],
        0: [
            "The battery barely lasts until lunchtime.",
            "It stopped charging a week after the warranty ended.",
            "The touchscreen ignores half of my taps.",
            "The fan is so loud that I cannot hear my own music.",
            "Setting it up required three apps and two accounts.",
            "The case cracked the first time I dropped it.",
            "My earbuds keep disconnecting from the phone.",
            "The camera turns every indoor photo into a blurry mess.",
            "I did not expect a new laptop to be this slow.",
            "The buttons feel cheap and rattle when you shake it.",
            "The smart plug loses its connection every night.",
            "Customer support sent me the same useless link four times.",
            "It overheats after ten minutes of gaming.",
            "The instructions were missing and the website was no help.",
            "The blender leaks from the bottom whenever it is full.",
            "Not worth the money, even on sale.",
            "The update made the whole thing slower than before.",
            "The speaker crackles at any volume above half.",
            "The charger got worryingly hot on the first day.",
            "I returned it after a week and bought the older model instead.",
        ],
    },
    "trip": {
        1: [
            "The hotel staff upgraded our room without us asking.",
            "Our guide knew every hidden corner of the old town.",
            "The beach was clean, quiet and only a short walk away.",
            "The train ride through the mountains was breathtaking.",
            "We did not want to leave on the last day.",
            "Breakfast on the terrace was the highlight of every morning.",
            "The flight left on time and the crew were lovely.",
            "Our cabin by the lake was cosy and spotless.",
            "The walking tour was cheap and packed with good stories.",
            "I was worried about the ferry crossing, but it was smooth and pleasant.",
            "The locals were welcoming and happy to give directions.",
            "A relaxing week that felt much longer in the best way.",
            "The campsite had hot showers and a stunning view of the valley.",
            "Everything was well organised from the airport pickup onwards.",
            "The snorkelling trip showed us turtles and bright coral.",
            "Our little apartment had everything we needed and more.",
            "It rained every day, and we still had a wonderful time.",
            "The museum pass saved us money and hours of queueing.",
            "I have never slept better than in that mountain hut.",
            "We are already planning to go back next summer.",
        ],
        0: [
            "The hotel room smelled of smoke and the window would not open.",
            "Our flight was cancelled and nobody told us why.",
            "The beach in the photos turned out to be a building site.",
            "The tour guide read from his phone the entire time.",
            "We spent more time in queues than actually sightseeing.",
            "The bus broke down twice on the way to the coast.",
            "Our luggage arrived three days after we did.",
            "The resort was crowded, noisy and badly run.",
            "I did not enjoy the cruise; the cabin was tiny and airless.",
            "The hostel was not as clean as the reviews claimed.",
            "Every restaurant near the hotel was a tourist trap.",
            "The hike was far harder than the website suggested, and poorly marked.",
            "We were charged a cleaning fee for a room that was never cleaned.",
            "The train was so crowded that we stood for four hours.",
            "Nothing about the trip matched the brochure.",
            "The pool was closed for the whole week without warning.",
            "Our guide rushed us through the ruins to reach a gift shop.",
            "The air conditioning failed on the hottest night of the year.",
            "A stressful holiday that left us more tired than before.",
            "I would not book with that agency again.",
        ],
    },
}

# ---------------------------------------------------------------- parts for composed sentences
# A subject is (text, plural). "{be}" in a predicate becomes "was" or "were".
ASPECTS = {
    "film": [("the plot", False), ("the acting", False), ("the soundtrack", False),
             ("the ending", False), ("the dialogue", False), ("the pacing", False),
             ("the script", False), ("the camera work", False), ("the lead performance", False),
             ("the visual effects", True), ("the jokes", True), ("the costumes", True)],
    "book": [("the plot", False), ("the writing", False), ("the main character", False),
             ("the ending", False), ("the dialogue", False), ("the pacing", False),
             ("the translation", False), ("the research", False), ("the characters", True),
             ("the descriptions", True)],
    "restaurant": [("the soup", False), ("the service", False), ("the wine list", False),
                   ("the dessert", False), ("the pasta", False), ("the atmosphere", False),
                   ("the coffee", False), ("the staff", True), ("the starters", True),
                   ("the fries", True)],
    "gadget": [("the battery", False), ("the screen", False), ("the sound quality", False),
               ("the build quality", False), ("the camera", False), ("the keyboard", False),
               ("the companion app", False), ("the charger", False), ("the speakers", True),
               ("the controls", True)],
    "trip": [("the hotel", False), ("the food", False), ("the guide", False),
             ("the flight", False), ("the itinerary", False), ("the room", False),
             ("the beach", False), ("the transfers", True), ("the excursions", True)],
}

# Evaluations that fit any aspect of any domain.
ASPECT_PREDICATES = {
    1: ["{be} excellent", "{be} superb", "{be} outstanding", "{be} a pleasant surprise",
        "{be} not bad at all", "{be} better than I expected", "{be} a real highlight",
        "{be} hard to fault"],
    0: ["{be} terrible", "{be} disappointing", "{be} mediocre at best", "{be} a real letdown",
        "{be} not good at all", "{be} worse than I expected", "{be} the weakest part",
        "{be} nothing special"],
}

ITEMS = {
    "film": [("this film", False), ("the movie", False), ("the sequel", False),
             ("the documentary", False), ("the new thriller", False), ("this comedy", False)],
    "book": [("this novel", False), ("the book", False), ("the sequel", False),
             ("her memoir", False), ("this collection of stories", False),
             ("the new biography", False)],
    "restaurant": [("this restaurant", False), ("the new bistro", False),
                   ("the cafe on the corner", False), ("the noodle bar", False),
                   ("the hotel restaurant", False), ("this pizzeria", False)],
    "gadget": [("this phone", False), ("the laptop", False), ("the new tablet", False),
               ("these headphones", True), ("the smartwatch", False), ("this camera", False),
               ("the coffee machine", False)],
    "trip": [("the trip", False), ("our holiday", False), ("the cruise", False),
             ("the weekend away", False), ("the guided tour", False), ("our stay by the sea", False)],
}

# Whole-item verdicts, in the past tense, per domain.
ITEM_PREDICATES = {
    "film": {
        1: ["kept me on the edge of my seat", "made me laugh out loud more than once",
            "stayed with me for days afterwards", "{be} worth every minute",
            "had me hooked from the first scene", "surprised me in the best possible way",
            "{be} far better than the trailer suggested", "{be} not boring for a single moment"],
        0: ["dragged on far too long", "put half the audience to sleep",
            "never decided what it wanted to be", "wasted a very talented cast",
            "felt like a cheap copy of better movies", "lost me after twenty minutes",
            "{be} not worth the ticket price", "never gave me a reason to care"],
    },
    "book": {
        1: ["kept me reading late into the night", "made a long flight fly by",
            "{be} a pleasure from the first page", "had me laughing out loud on the bus",
            "deserves every prize it has won", "{be} much more gripping than I feared",
            "left me wanting to start it again", "changed how I see my own family"],
        0: ["took forever to get going", "never made me care about anyone in it",
            "felt padded to reach a page count", "{be} a chore to finish",
            "put me to sleep every evening", "did not live up to the hype",
            "ended on a confusing and flat note", "left me wishing I had chosen something else"],
    },
    "restaurant": {
        1: ["served the best meal of our holiday", "made us feel welcome from the moment we arrived",
            "deserves to be fully booked every night", "got every little detail right",
            "turned a birthday dinner into a real celebration",
            "{be} worth the long wait for a table", "exceeded what we expected",
            "did not disappoint us once"],
        0: ["got our order wrong twice", "served food that was barely warm",
            "felt rushed and chaotic all evening", "charged far too much for what it served",
            "ruined our anniversary dinner", "{be} not worth the long wait for a table",
            "left us hungry and annoyed", "never once checked on our table"],
    },
    "gadget": {
        1: ["worked flawlessly from day one", "made my daily routine much easier",
            "survived a fall onto concrete without a scratch", "{be} worth every penny",
            "impressed me more than the expensive brands",
            "arrived early and worked straight out of the box",
            "{be} not bad at all for the money", "did everything the advert promised"],
        0: ["broke within a month", "froze several times a day", "{be} a waste of money",
            "felt flimsy from the moment I unboxed it", "arrived scratched and missing a cable",
            "never worked the way the advert promised", "needed charging twice a day",
            "{be} not worth half the price"],
    },
    "trip": {
        1: ["gave us memories we will treasure", "went smoothly from start to finish",
            "{be} worth every penny we saved", "exceeded all of our expectations",
            "felt like a proper break from work", "{be} relaxing and beautifully organised",
            "turned out far better than I feared", "left us rested and happy"],
        0: ["went wrong from the very first day", "felt like one long queue",
            "{be} a waste of our savings", "left us exhausted and out of pocket",
            "fell far short of the brochure", "{be} badly organised from start to finish",
            "turned into a stressful mess", "{be} not the relaxing break we had hoped for"],
    },
}

# Optional closing clauses; the pairs differ only by a negation on purpose.
TAILS = {
    "film": {1: "and I would gladly watch it again", 0: "and I want my evening back"},
    "book": {1: "and I will happily read it again", 0: "and I will not read the sequel"},
    "restaurant": {1: "and we will definitely return", 0: "and we will not return"},
    "gadget": {1: "and I would buy {it} again", 0: "and I would not buy {it} again"},
    "trip": {1: "and we would go again tomorrow", 0: "and we would never go again"},
}

# Frames shared by both labels, so they carry no sentiment.
FRAMES = ["{s}", "Honestly, {s}", "I have to say that {s}", "Overall, {s}", "In short, {s}",
          "Frankly, {s}", "I think {s}", "To sum up, {s}"]

MIN_WORDS, MAX_WORDS = 4, 20


def realise(subject, plural, predicate):
    return subject + " " + predicate.replace("{be}", "were" if plural else "was")


def finish(frame, clause, tail, plural_item):
    text = frame.replace("{s}", clause)
    if tail:
        text += ", " + tail.replace("{it}", "them" if plural_item else "it")
    return text[0].upper() + text[1:] + "."


def compose(domain, label, rng, taken):
    """COMPOSED_PER_DOMAIN_AND_LABEL sentences; half whole-item verdicts, half aspect verdicts.

    Subjects, predicates, frames and tails are drawn from the seeded rng; a (subject, predicate)
    pair is used once, so no two sentences differ only by their frame or tail.
    """
    out = []
    used_cores = set()
    kinds = [("item", ITEMS[domain], ITEM_PREDICATES[domain][label]),
             ("aspect", ASPECTS[domain], ASPECT_PREDICATES[label])]
    for index in range(COMPOSED_PER_DOMAIN_AND_LABEL):
        kind, subjects, predicates = kinds[index % 2]
        for _ in range(1000):
            subject, plural = rng.choice(subjects)
            predicate = rng.choice(predicates)
            if (subject, predicate) in used_cores:
                continue
            frame = rng.choice(FRAMES)
            tail = TAILS[domain][label] if rng.random() < 0.3 else None
            # A closing "buy it again" refers to the item: "these headphones ... buy them".
            plural_item = kind == "item" and plural
            sentence = finish(frame, realise(subject, plural, predicate), tail, plural_item)
            if sentence.lower() in taken or not MIN_WORDS <= len(sentence.split()) <= MAX_WORDS:
                continue
            used_cores.add((subject, predicate))
            taken.add(sentence.lower())
            out.append(sentence)
            break
        else:
            raise RuntimeError(f"could not compose a new sentence for {domain}/{label}")
    return out


def check(rows):
    labels = collections.Counter(label for label, _ in rows)
    assert labels[0] == labels[1], labels
    seen = set()
    for label, sentence in rows:
        assert sentence.isascii() and "\t" not in sentence and "\n" not in sentence, sentence
        assert sentence == sentence.strip() and "  " not in sentence, sentence
        assert MIN_WORDS <= len(sentence.split()) <= MAX_WORDS, sentence
        assert sentence.lower() not in seen, "duplicate: " + sentence
        seen.add(sentence.lower())
    # No frequent word may (nearly) decide the label on its own: a word in 20 or more sentences
    # must appear at least 10% of the time with the other label.
    by_word = collections.defaultdict(collections.Counter)
    for label, sentence in rows:
        for word in set(re.findall(r"[a-z']+", sentence.lower())):
            by_word[word][label] += 1
    for word, counts in sorted(by_word.items()):
        total = counts[0] + counts[1]
        if total >= 20:
            assert min(counts[0], counts[1]) >= 0.1 * total, (word, dict(counts))


def build():
    rng = random.Random(SEED)
    rows = []
    taken = set()
    for domain in HANDWRITTEN:
        for label in (1, 0):
            for sentence in HANDWRITTEN[domain][label]:
                assert sentence.lower() not in taken, "duplicate: " + sentence
                taken.add(sentence.lower())
                rows.append((label, sentence))
    for domain in HANDWRITTEN:
        for label in (1, 0):
            rows.extend((label, s) for s in compose(domain, label, rng, taken))
    rng.shuffle(rows)  # interleave labels and domains, so any contiguous split is mixed
    check(rows)
    return rows


def main():
    root = Path(__file__).resolve().parent.parent
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "data" / "sentiment" / "sentences.tsv"
    rows = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="ascii", newline="\n") as out:
        out.write("label\tsentence\n")
        for label, sentence in rows:
            out.write(f"{label}\t{sentence}\n")
    counts = collections.Counter(label for label, _ in rows)
    print(f"wrote {len(rows)} sentences ({counts[1]} positive, {counts[0]} negative) to {path}")


if __name__ == "__main__":
    main()
