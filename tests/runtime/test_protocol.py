"""The tag grammar of docs/protocols.md §1: parsing, leniency, resume rendering."""

from hypothesis import given
from hypothesis import strategies as st

from mplm_bench.runtime.protocol import (
    Recv,
    Spawn,
    Stop,
    parse_ids,
    parse_response,
    resume_segments,
    spawn_prompt,
    thread_sort_key,
)


def test_fork_join_master_step():
    s = parse_response("<spawn [1,2,3]>{ (0,0): {1} }</spawn>\n<recv [1,2,3]>")
    assert s.spawns == [Spawn(("1", "2", "3"), "{ (0,0): {1} }")]
    assert s.terminal == Recv(("1", "2", "3"))
    assert s.kept.endswith("<recv [1,2,3]>")
    assert s.summary() == "spawn[1..3(3)] recv[1..3(3)]"


def test_worker_send_then_bare_stop():
    s = parse_response("My id is 5.\n<send [0,2,9]>{ From 5: 3 }</send><stop>")
    assert s.sends[0].ids == ("0", "2", "9") and s.sends[0].payload == "{ From 5: 3 }"
    assert s.terminal == Stop(None)


def test_stop_with_body_is_the_answer():
    s = parse_response("<stop>\n[[1, 2], [2, 1]]\n</stop>")
    assert s.terminal == Stop("[[1, 2], [2, 1]]")


def test_lenient_spacing_case_and_echoed_closing_ids():
    s = parse_response("<SEND [0, 5] >hi</send [0, 5]> <Spawn[0.0 , 0.1]>f</SPAWN><RECV>")
    assert s.sends[0].ids == ("0", "5")
    assert s.spawns[0].ids == ("0.0", "0.1")
    assert s.terminal == Recv(None)


def test_sat_style_ids_and_text_after_terminal_is_ignored():
    s = parse_response("Branch on x1.\n<spawn [0.0]>\nF\n</spawn>\n<recv [0.0, 0.1]> trailing <send [0]>x</send>")
    assert s.terminal == Recv(("0.0", "0.1"))
    assert s.sends == []  # directives after the terminal one do not count
    assert s.kept.endswith("<recv [0.0, 0.1]>")


def test_no_terminal_directive():
    s = parse_response("I think the answer is 4")
    assert s.terminal is None and s.kept == "I think the answer is 4"


def test_bad_ids_are_reported_not_used():
    ids, errors = parse_ids("1, ../etc, 2, 2")
    assert ids == ("1", "2") and errors


def test_resume_rule_renders_exactly():
    prev = "Your id is: 3.\n{ (0,0): {1} }"
    grown = prev + "".join(resume_segments("x\n<recv>", ["{ From 1: 2 }", "{ From 4: 3 }"]))
    assert grown == prev + "\nx\n<recv>\n{ From 1: 2 }\n{ From 4: 3 }\n</recv>"
    assert "".join(spawn_prompt("7", "BODY")) == "Your id is: 7.\nBODY"


def test_natural_id_order():
    ids = ["10", "2", "0.1", "0.0", "0.1.0", "1"]
    assert sorted(ids, key=thread_sort_key) == ["0.0", "0.1", "0.1.0", "1", "2", "10"]


@given(st.text())
def test_parser_never_crashes(text):
    s = parse_response(text)
    assert s.kept == text[: len(s.kept)]


tags = st.sampled_from(["<spawn [1,2]>", "</spawn>", "<send [0]>", "</send>", "<recv>", "<recv [1]>",
                        "<stop>", "</stop>", "<", ">", "[", "]", ",", "x", "\n", "<spawn [", "<recv [0,"])


@given(st.lists(tags, max_size=30))
def test_parser_never_crashes_on_tag_soup(parts):
    parse_response("".join(parts))


def test_prompt_pieces_read_back_what_the_runtime_writes() -> None:
    from mplm_bench.runtime.protocol import (
        is_resumed,
        last_recv,
        read_worker_id,
        received_blocks,
        render_recv,
        render_send,
        render_spawn,
        render_stop,
        resume_segments,
        spawn_prompt,
        worker_header,
    )

    prompt = "".join(spawn_prompt("0.1", "\nF\n"))
    assert prompt == worker_header("0.1") + "F" == "Your id is: 0.1.\nF"
    assert read_worker_id(prompt) == ("0.1", len("Your id is: 0.1.\n"))
    assert read_worker_id("Solve this Sudoku:\n{ }") == (None, 0)
    response = render_spawn(["1", "2"], "x") + render_send(["0"], "hi") + "\n" + render_recv(["1", "2"], ", ")
    assert response == "<spawn [1,2]>x</spawn><send [0]>hi</send>\n<recv [1, 2]>"
    assert not is_resumed(prompt + response)
    resumed = prompt + "".join(resume_segments(response, ["a", "b"]))
    assert is_resumed(resumed) and received_blocks(resumed) == ["a\nb"]
    ids, at = last_recv(resumed)
    assert ids == ("1", "2") and resumed[at:].startswith("<recv [1, 2]>")
    assert last_recv("<recv>\nm\n</recv>") == (None, 0) and last_recv("none") == (None, -1)
    assert render_recv() == "<recv>" and render_stop() == "<stop>" and render_stop("4") == "<stop>4</stop>"
