"""The pieces benchmark times decide() on its own path, whatever piece it stands in for."""

from bench.core_pieces import PIECES, lifecycle_commands, outcomes, replaced, variants


def test_every_variant_applies_every_command_to_the_same_states() -> None:
    commands = lifecycle_commands(20)
    made = outcomes(commands)
    assert {o.kind for o in made} == {"applied"}
    for label, pieces in variants(commands).items():
        with replaced(pieces):
            ablated = outcomes(commands)
        assert [o.kind for o in ablated] == ["applied"] * len(commands), label
        # The same transitions, states and seqs: only the replaced values differ.
        assert [o.transition for o in ablated] == [o.transition for o in made], label
        assert [
            (o.complaint.state, o.complaint.seq, sorted(o.complaint.clocks))
            for o in ablated
            if o.complaint is not None
        ] == [
            (o.complaint.state, o.complaint.seq, sorted(o.complaint.clocks))
            for o in made
            if o.complaint is not None
        ], label


def test_each_piece_is_put_back() -> None:
    originals = {name: getattr(module, attr) for name, (module, attr) in PIECES.items()}
    commands = lifecycle_commands(2)
    with replaced(variants(commands)["without every piece"]):
        assert all(getattr(m, a) is not originals[n] for n, (m, a) in PIECES.items())
    assert {name: getattr(module, attr) for name, (module, attr) in PIECES.items()} == originals
