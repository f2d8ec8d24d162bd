from slimline.data.corpus import HELDOUT_DOC_SHARE, PHRASINGS, build_corpus

# Pinned: any change to the generator changes the text every default model is trained on,
# so it must be a deliberate change that updates this digest.
CORPUS_DIGEST = "8f4734a9d0a6026b"


def test_corpus_bytes_are_pinned():
    assert build_corpus().digest()[:16] == CORPUS_DIGEST


def test_corpus_size_and_heldout_share():
    corpus = build_corpus()
    size = sum(len(d.encode()) for d in corpus.train + corpus.heldout)
    assert 1_800_000 < size < 2_300_000
    share = len(corpus.heldout) / (len(corpus.train) + len(corpus.heldout))
    assert abs(share - HELDOUT_DOC_SHARE) < 0.005
    assert not set(corpus.train) & set(corpus.heldout) or len(set(corpus.heldout)) < len(
        corpus.heldout)


def test_heldout_phrasing_never_appears_in_documents():
    corpus = build_corpus()
    text = "\n".join(corpus.train + corpus.heldout)
    assert len(corpus.facts) == 360
    for fact in corpus.facts[::7]:
        prompt, answer = fact.probe()
        assert prompt + answer not in text, fact
        trained = [i for i in range(len(PHRASINGS[fact.kind])) if i != fact.heldout_phrasing]
        assert any(fact.render(i) in text for i in trained), fact


def test_probes_are_five_way_with_one_gold():
    probes = build_corpus().probes(num_choices=5, seed=3)
    assert len(probes) == 360
    for p in probes:
        assert len(set(p["choices"])) == 5
        assert p["choices"][p["gold"]] == p["answer"]
    assert probes == build_corpus().probes(num_choices=5, seed=3)
