"""Progress on stderr, and -q: no bar, spinner or library log line, clinrag's or its libraries'."""

from __future__ import annotations

import numpy as np
import pytest

from clinrag import progress
from clinrag.progress import progress_bar, quiet, quiet_active, working


def test_a_bar_draws_on_stderr_unless_disabled_or_quiet(capsys):
    assert list(progress_bar(range(3), desc="step")) == [0, 1, 2]
    assert "step" in capsys.readouterr().err
    assert list(progress_bar(range(3), enabled=False, desc="step")) == [0, 1, 2]
    with quiet():
        assert list(progress_bar(range(3), desc="step")) == [0, 1, 2]
        bar = progress_bar(total=2, desc="by hand")
        bar.update(2)
        bar.close()
    assert capsys.readouterr().err == ""


def test_working_prints_one_line_off_a_terminal_and_nothing_when_quiet(capsys):
    with working("building something"):
        pass
    assert capsys.readouterr().err == "building something…\n"
    with quiet(), working("building something"):
        pass
    with working("building something", enabled=False):
        pass
    assert capsys.readouterr().err == ""


def test_quiet_silences_the_libraries_and_restores_them():
    import huggingface_hub.utils as hub
    import transformers.utils.logging as transformers_logging

    before = (transformers_logging.get_verbosity(), transformers_logging.is_progress_bar_enabled())
    hub_before = hub.are_progress_bars_disabled()
    assert not quiet_active()
    with quiet():
        assert quiet_active()
        assert transformers_logging.get_verbosity() == transformers_logging.ERROR
        assert not transformers_logging.is_progress_bar_enabled()
        assert hub.are_progress_bars_disabled()
        with quiet():  # nested: the outer block restores
            pass
        assert quiet_active() and not transformers_logging.is_progress_bar_enabled()
    assert not quiet_active()
    assert (transformers_logging.get_verbosity(), transformers_logging.is_progress_bar_enabled()) == before
    assert hub.are_progress_bars_disabled() == hub_before
    with quiet(False):
        assert not quiet_active()


def test_quiet_is_closed_by_an_exception():
    with pytest.raises(RuntimeError), quiet():
        raise RuntimeError("boom")
    assert not quiet_active()


class _Encoder:
    """Records how sentence-transformers' encode is called."""

    max_seq_length = 8

    def __init__(self):
        self.calls = []

    def encode(self, texts, **kwargs):
        self.calls.append(kwargs)
        return np.ones((len(texts), 2), dtype=np.float32)


def test_the_sentence_transformers_batches_bar_is_off_when_quiet():
    from clinrag.retrieval.encoders import encode_texts

    model = _Encoder()
    encode_texts(model, ["a", "b"], cache=False, progress=True)
    with quiet():
        encode_texts(model, ["a", "b"], cache=False, progress=True)
    encode_texts(model, ["a", "b"], cache=False, progress=False)
    assert [call["show_progress_bar"] for call in model.calls] == [True, False, False]


@pytest.mark.parametrize("flags, expected", [([], (False, True)), (["-q"], (True, False))])
def test_a_command_q_opens_quiet_and_passes_progress_false(
    flags, expected, synth_cohort_dir, tmp_path, run_cli, monkeypatch
):
    """`clinrag annotate -q`: the library runs inside quiet() with progress=False; quiet is closed after."""
    import clinrag.text.entities as entities

    seen = []

    def fake_annotate_cohort(cohort, config=None, progress=None):
        seen.append((quiet_active(), progress))
        return []

    monkeypatch.setattr(entities, "annotate_cohort", fake_annotate_cohort)
    result = run_cli("annotate", "--cohort", synth_cohort_dir, "--out", tmp_path / "out", *flags)
    assert result.code == 0, result.stderr
    assert seen == [expected]
    assert not progress.quiet_active()
