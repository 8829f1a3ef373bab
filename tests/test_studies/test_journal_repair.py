"""A study journal cut at any byte of its last record is repaired: the study goes on from the last complete
record, the torn bytes are kept aside, and later appends and reads work (issue 27)."""
import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage

from jedi_repro.studies.journal_repair import first_bad_offset, repair_journal

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _journal(path, n_trials=3):
    study = optuna.create_study(study_name='s', storage=JournalStorage(JournalFileBackend(str(path))))
    study.optimize(lambda t: t.suggest_float('x', 0, 1), n_trials=n_trials)
    return path.read_bytes()


def _n_complete(path):
    study = optuna.load_study(study_name='s', storage=JournalStorage(JournalFileBackend(str(path))))
    return study, len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE])


def test_truncated_at_every_byte_of_the_last_record(tmp_path):
    path = tmp_path / 's.journal'
    full = _journal(path)
    lines = full.splitlines(keepends=True)
    head, last = b''.join(lines[:-1]), lines[-1]
    _, n_before = _n_complete(path)  # the last record closes the third trial
    assert n_before == 3
    warnings = []
    for k in range(len(last)):  # every cut, from the record's first byte up to (not incl.) its newline
        path.write_bytes(head + last[:k])
        aside = repair_journal(path, warn=warnings.append)
        if k == 0:  # cut exactly at a record boundary: nothing torn
            assert aside is None and path.read_bytes() == head
            continue
        assert aside is not None and aside.read_bytes() == last[:k], k
        assert path.read_bytes() == head, k
        assert str(path) in warnings[-1] and str(aside) in warnings[-1] and 'half-written' in warnings[-1]
        study, n = _n_complete(path)
        assert n == 2, k  # the third trial's closing record was cut: it is not counted complete
        aside.unlink()
    # the study goes on: appends after a repair are read back
    path.write_bytes(head + last[:len(last) // 2])
    repair_journal(path, warn=warnings.append)
    study, _ = _n_complete(path)
    study.optimize(lambda t: t.suggest_float('x', 0, 1), n_trials=1)
    assert first_bad_offset(path.read_bytes()) is None
    assert _n_complete(path)[1] == 3


def test_torn_record_with_appends_after_it_is_set_aside(tmp_path):
    """Today's failure: an append glued to the torn record makes every later read raise JSONDecodeError."""
    path = tmp_path / 's.journal'
    full = _journal(path, n_trials=2)
    good = full[:full.rfind(b'\n', 0, len(full) - 1) + 1]
    tail = full[len(good):]
    path.write_bytes(good + b'{"op_code": 6, "work' + tail + tail)  # torn, glued to a record, one more
    with pytest.raises(ValueError):
        _n_complete(path)
    aside = repair_journal(path, warn=lambda t: None)
    assert path.read_bytes() == good and aside.read_bytes().startswith(b'{"op_code": 6, "work')
    assert _n_complete(path)[1] == 1


def test_complete_journal_is_untouched(tmp_path):
    path = tmp_path / 's.journal'
    full = _journal(path, n_trials=1)
    assert repair_journal(path, warn=pytest.fail) is None and path.read_bytes() == full
    assert repair_journal(tmp_path / 'absent.journal') is None
