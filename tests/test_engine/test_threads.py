"""``threads``: the intra-op thread count from the settings, the usable cores, the load and the work."""
import pytest

from jedi_repro.engine import threads as th
from jedi_repro.engine.threads import ENV, ThreadChoice, cgroup_cpu_limit, check_threads, choose_threads
from jedi_repro.errors import JediError


@pytest.mark.parametrize('setting, env, want', [
    ('auto', {ENV: '3', 'OMP_NUM_THREADS': '2'}, ThreadChoice(3, ENV)),          # env wins over all
    (4, {ENV: '3'}, ThreadChoice(3, ENV)),
    (4, {'OMP_NUM_THREADS': '2'}, ThreadChoice(4, 'config threads')),            # explicit config: as said
    ('auto', {'OMP_NUM_THREADS': '2'}, ThreadChoice(2, 'OMP_NUM_THREADS')),     # auto respects OMP
    (4, {ENV: 'auto', 'OMP_NUM_THREADS': '1'}, ThreadChoice(1, 'OMP_NUM_THREADS')),  # env auto beats config
])
def test_precedence(setting, env, want):
    assert choose_threads(setting, env, cpus=8, load=0.0) == want


@pytest.mark.parametrize('cpus, load, flop, want', [
    (2, 0.1, None, 2),      # idle: every usable core
    (2, 1.0, None, 1),      # one other busy job
    (2, 5.5, None, 1),      # a loaded shared machine: never below 1
    (8, 3.2, None, 5),
    (8, 0.0, 5e8, 2),       # little work per step: capped by MIN_FLOP_PER_THREAD
    (8, 0.0, 1e7, 1),
    (2, 0.0, 1e12, 2),      # big work: the cores decide
])
def test_auto_from_cores_load_and_work(cpus, load, flop, want):
    got = choose_threads('auto', {}, cpus=cpus, load=load, step_flop=flop)
    assert got.threads == want and got.reason.startswith('auto:')


def test_malformed_omp_is_ignored_like_torch_does():
    assert choose_threads('auto', {'OMP_NUM_THREADS': 'lots'}, cpus=2, load=0.0).threads == 2


@pytest.mark.parametrize('value', [0, -1, 'two', 1.5, True, None])
def test_bad_settings_are_named(value):
    with pytest.raises(JediError, match='threads'):
        check_threads(value)
    with pytest.raises(JediError, match=ENV):
        choose_threads('auto', {ENV: str(value)}, cpus=2, load=0.0)


def test_cgroup_quota_v2_v1_and_unlimited(tmp_path):
    (tmp_path / 'cpu.max').write_text('150000 100000\n')
    assert cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / 'cpu.max').write_text('max 100000\n')
    assert cgroup_cpu_limit(tmp_path) is None
    v1 = tmp_path / 'v1'
    (v1 / 'cpu').mkdir(parents=True)
    (v1 / 'cpu' / 'cpu.cfs_quota_us').write_text('300000')
    (v1 / 'cpu' / 'cpu.cfs_period_us').write_text('100000')
    assert cgroup_cpu_limit(v1) == 3.0
    (v1 / 'cpu' / 'cpu.cfs_quota_us').write_text('-1')
    assert cgroup_cpu_limit(v1) is None
    assert cgroup_cpu_limit(tmp_path / 'nowhere') is None


def test_usable_cpus_is_affinity_capped_by_quota(monkeypatch):
    monkeypatch.setattr(th.os, 'sched_getaffinity', lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(th, 'cgroup_cpu_limit', lambda: None)
    assert th.usable_cpus() == 4
    monkeypatch.setattr(th, 'cgroup_cpu_limit', lambda: 2.5)
    assert th.usable_cpus() == 2
    monkeypatch.setattr(th, 'cgroup_cpu_limit', lambda: 0.5)
    assert th.usable_cpus() == 1


def test_step_flop_counts_linear_weights():
    import torch
    model = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 5))
    assert th.step_flop(model, rows=4) == 6 * (200 + 100) * 4


def test_apply_threads_sets_torch(monkeypatch):
    import torch
    before = torch.get_num_threads()
    monkeypatch.setenv(ENV, '1')
    try:
        assert th.apply_threads('auto') == ThreadChoice(1, ENV)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_study_workers_share_the_usable_cores(monkeypatch):
    from jedi_repro.studies.runner import worker_env
    monkeypatch.setattr(th, 'usable_cpus', lambda: 6)
    assert worker_env(2, environ={})['OMP_NUM_THREADS'] == '3'
    assert worker_env(2, environ={'OMP_NUM_THREADS': '1'})['OMP_NUM_THREADS'] == '1'
    assert 'OMP_NUM_THREADS' not in worker_env(2, environ={ENV: '2'})  # the jedi setting decides there


def test_current_load_sees_a_job_the_average_has_not_caught_up_with(monkeypatch, tmp_path):
    monkeypatch.setattr(th.os, 'getloadavg', lambda: (0.2, 0.1, 0.1))
    real = th.Path

    class FakeLoadavg:
        def __init__(self, p):
            self.p = p

        def read_text(self):
            return '0.20 0.10 0.10 3/200 12345\n' if self.p == '/proc/loadavg' else real(self.p).read_text()
    monkeypatch.setattr(th, 'Path', FakeLoadavg)
    assert th.current_load(samples=2, interval_s=0) == 2.0  # 3 runnable, this process excluded
    monkeypatch.setattr(th.os, 'getloadavg', lambda: (5.5, 5.0, 4.0))
    assert th.current_load(samples=2, interval_s=0) == 5.5
