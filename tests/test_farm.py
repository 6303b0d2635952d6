"""Render farm with real components: redis-server on a loopback port, Celery workers as
subprocesses (``aist farm worker``), the real pyrender renderer, SIGKILL and Redis restarts."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aist_app.dataset import Dataset
from aist_app.dataset.consistency import check_dataset
from aist_app.render.pipeline import RenderConfig
from aist_app.scene.meshes import discover
from aist_farm.broker import free_port, start_redis
from aist_farm.job import Job, JobError, redact

from .conftest import AIRPLANE, CHAIR, MESHES, require_shared

AIST = str(Path(sys.executable).with_name("aist"))
OPTS = ["--views", "6", "--size", "96", "--seed", "3", "--points", "20000"]
#: A real Redis server and Celery workers: slow (the fast loop leaves them out).
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not any(
    (Path(p) / "redis-server").exists() for p in os.environ["PATH"].split(":")),
    reason="redis-server not installed (scripts/bootstrap.sh installs it)")]


def _collection(root: Path, *, broken: bool = False) -> Path:
    """Six objects from the three shared meshes (ids differ, so seeds and views differ)."""
    require_shared()
    for synset, src in (("02691156", AIRPLANE), ("03001627", CHAIR)):
        for k in ("a", "b"):
            (root / synset).mkdir(parents=True, exist_ok=True)
            (root / synset / f"{src.name[:8]}{k}").symlink_to(src)
    (root / "cars").mkdir()
    for k in ("car_a", "car_b"):
        (root / "cars" / f"{k}.glb").symlink_to(MESHES / "toycar" / "ToyCar.glb")
    if broken:
        (root / "cars" / "broken.obj").write_text("v 0 0 0\nv 1 0 0\nf 1 2 9\n")
    return root


def _aist(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYOPENGL_PLATFORM": "egl"}
    p = subprocess.run([AIST, *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"aist {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


class Farm:
    """A Redis broker and Celery workers for one test; everything is stopped afterwards."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.redis = start_redis(self.port, tmp / "redis")
        self.workers: list[subprocess.Popen] = []

    def restart_redis(self, down_s: float) -> None:
        self.redis.terminate()  # SIGTERM: Redis flushes its append-only file and exits
        self.redis.wait(10)
        time.sleep(down_s)
        self.redis = start_redis(self.port, self.tmp / "redis")

    def worker(self, name: str, *extra: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        env = {**os.environ, "PYOPENGL_PLATFORM": "egl"}
        proc = subprocess.Popen(
            [AIST, "farm", "worker", "--broker", self.url, "--name", f"{name}@%h",
             "--threads", "1", "--loglevel", "INFO", *extra],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.workers.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()

    def stop(self) -> None:
        for w in self.workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)
            w.wait(10)
        self.redis.kill()
        self.redis.wait(10)


@pytest.fixture
def farm(tmp_path):
    f = Farm(tmp_path)
    yield f
    f.stop()


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    return _collection(tmp_path_factory.mktemp("farm") / "meshes")


@pytest.fixture(scope="module")
def local_reference(collection, tmp_path_factory) -> Path:
    """The same job on the local pool (the embedded default)."""
    out = tmp_path_factory.mktemp("farm-local") / "ds"
    p = _aist("render", str(collection), str(out), "--workers", "2", *OPTS)
    assert p.stdout.strip().splitlines()[-1] == "done=6 running=0 pending=0 failed=0"
    return out


def _files(ds: Path) -> dict[str, bytes]:
    root = ds / "objects"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _wait_for_claim(out: Path, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    running = out / ".farm" / "running"
    while time.monotonic() < deadline:
        for p in running.glob("*.json") if running.is_dir() else []:
            try:
                return {**json.loads(p.read_text()), "object_id": p.stem}
            except (json.JSONDecodeError, FileNotFoundError):
                pass
        time.sleep(0.01)
    raise AssertionError("no task started rendering")


def _assert_exactly_once(out: Path, expected: set[str]) -> None:
    entries = {p.name for p in (out / "objects").iterdir()}
    assert entries == expected, entries ^ expected  # no temp folders, no duplicates


# -- the local pool -----------------------------------------------------------------------------
def test_local_pool_matches_single_process(collection, local_reference, tmp_path):
    single = tmp_path / "single"
    _aist("render", str(collection), str(single), *OPTS)
    assert _files(single) == _files(local_reference)
    ds = Dataset.open(local_reference)
    assert len(ds.object_ids()) == 6
    assert check_dataset(ds)["min_iou"] >= 0.9
    # Re-running the job resumes: nothing left to do, nothing rewritten.
    before = {p: p.stat().st_mtime_ns for p in (local_reference / "objects").rglob("*")}
    p = _aist("render", str(collection), str(local_reference), "--workers", "2", *OPTS)
    assert p.stdout.strip().splitlines()[-1] == "done=6 running=0 pending=0 failed=0"
    assert before == {p: p.stat().st_mtime_ns for p in (local_reference / "objects").rglob("*")}


# -- Celery + Redis -------------------------------------------------------------------------------
def test_farm_two_workers_same_bytes_as_local(farm, collection, local_reference, tmp_path,
                                              monkeypatch):
    from tests.helpers.recording_plugin import install, records

    # The workers have a third-party plugin installed: the one that completes the dataset
    # announces it (aist_dataset_written), once.
    hooks = tmp_path / "hooks.jsonl"
    with monkeypatch.context() as m:
        for k, v in install(tmp_path / "site", hooks).items():
            m.setenv(k, v)
        farm.worker("w1")
        farm.worker("w2")
    out = tmp_path / "ds"
    p = _aist("farm", "submit", str(collection), str(out), "--broker", farm.url, *OPTS)
    assert "6 tasks queued on aist.render.pyrender" in p.stdout
    manifest = json.loads((out / ".farm" / "job.json").read_text())
    assert [o["object_id"] for o in manifest["objects"]] == sorted(
        o["object_id"] for o in manifest["objects"])
    assert all(o["seed"][0] == 3 for o in manifest["objects"])
    p = _aist("farm", "status", str(out), "--wait", "--timeout", "180")
    assert p.stdout.strip().splitlines()[-1] == "done=6 running=0 pending=0 failed=0"
    assert _files(out) == _files(local_reference)
    assert check_dataset(Dataset.open(out))["min_iou"] >= 0.9
    logs = farm.log("w1") + farm.log("w2")
    assert logs.count("succeeded") == 6
    assert "w1@" in logs and "w2@" in logs
    worker_pids = {w.pid for w in farm.workers}
    calls = records(hooks)
    assert [(Path(c["path"]), c["kind"], c["summary"]["written"]) for c in calls] == [
        (out, "synthetic", 6)]
    assert calls[0]["pid"] not in worker_pids | {os.getpid()}  # a worker's pool process
    # Submitting the same job again is harmless: every task finds its object on disk.
    _aist("farm", "submit", str(collection), str(out), "--broker", farm.url, *OPTS)
    assert _aist("farm", "status", str(out)).stdout.strip().endswith(
        "done=6 running=0 pending=0 failed=0")


def test_pool_process_killed_mid_task_loses_nothing(farm, collection, local_reference,
                                                    tmp_path):
    farm.worker("w1")
    farm.worker("w2")
    out = tmp_path / "ds"
    _aist("farm", "submit", str(collection), str(out), "--broker", farm.url, *OPTS)
    claim = _wait_for_claim(out)
    os.kill(claim["pid"], signal.SIGKILL)  # the process that is rendering
    p = _aist("farm", "status", str(out), "--wait", "--timeout", "180")
    assert p.stdout.strip().splitlines()[-1] == "done=6 running=0 pending=0 failed=0"
    _assert_exactly_once(out, set(Dataset.open(local_reference).object_ids()))
    assert _files(out) == _files(local_reference)
    attempts = (out / ".farm" / "attempts" / f"{claim['object_id']}.jsonl").read_text()
    assert "worker-lost" in attempts


def test_whole_worker_killed_task_comes_back_by_itself(farm, collection, local_reference,
                                                       tmp_path):
    """A worker killed with SIGKILL mid-task (main process and pool: its message stays
    unacked for the broker's 6-hour visibility timeout): the task comes back without `farm
    retry`, counted as an attempt, and `status --wait` waits for it."""
    w1 = farm.worker("w1")
    out = tmp_path / "ds"
    _aist("farm", "submit", str(collection), str(out), "--broker", farm.url, *OPTS)
    claim = _wait_for_claim(out)
    os.killpg(w1.pid, signal.SIGKILL)
    w1.wait(10)
    farm.worker("w2")
    p = _aist("farm", "status", str(out), "--wait", "--no-requeue-lost", "--timeout", "240")
    assert p.stdout.strip().splitlines()[-1] == "done=6 running=0 pending=0 failed=0"
    _assert_exactly_once(out, set(Dataset.open(local_reference).object_ids()))
    assert _files(out) == _files(local_reference)
    attempts = (out / ".farm" / "attempts" / f"{claim['object_id']}.jsonl").read_text()
    assert attempts.count("worker-lost") == 1, attempts


def test_status_wait_requeues_a_lost_task(farm, collection, tmp_path):
    """No live worker has seen the job: `status --wait` takes the dead claim over itself."""
    w1 = farm.worker("w1")
    out = tmp_path / "ds"
    _aist("farm", "submit", str(collection), str(out), "--broker", farm.url, *OPTS)
    _wait_for_claim(out)
    os.killpg(w1.pid, signal.SIGKILL)
    w1.wait(10)
    status = subprocess.Popen([AIST, "farm", "status", str(out), "--wait", "--timeout", "240"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYOPENGL_PLATFORM": "egl"})
    time.sleep(2)
    farm.worker("w2")
    stdout, stderr = status.communicate(timeout=300)
    assert status.returncode == 0, stderr
    assert stdout.strip().splitlines()[-1] == "done=6 running=0 pending=0 failed=0"
    assert "re-queued" in stderr


def test_worker_in_another_folder_completes_a_relative_submit(farm, collection, tmp_path):
    """Submitted with relative paths from one folder, rendered by a worker started in
    another: the job records absolute paths."""
    here = tmp_path / "submitter"
    here.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    rel = os.path.relpath(collection, here)
    env = {**os.environ, "PYOPENGL_PLATFORM": "egl"}
    subprocess.run([AIST, "farm", "submit", rel, "ds", "--broker", farm.url, *OPTS], cwd=here,
                   check=True, capture_output=True, env=env, timeout=120)
    manifest = json.loads((here / "ds" / ".farm" / "job.json").read_text())
    assert Path(manifest["meshes"]).is_absolute()
    assert all(Path(o["path"]).is_absolute() for o in manifest["objects"])
    log = open(tmp_path / "w.log", "w")  # noqa: SIM115 - closed with the process
    farm.workers.append(subprocess.Popen(
        [AIST, "farm", "worker", "--broker", farm.url, "--name", "wx@%h", "--threads", "1"],
        cwd=elsewhere, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True))
    p = _aist("farm", "status", str(here / "ds"), "--wait", "--timeout", "240")
    assert p.stdout.strip().splitlines()[-1] == "done=6 running=0 pending=0 failed=0"


def test_redis_restart_mid_job(farm, collection, local_reference, tmp_path):
    farm.worker("w1")
    out = tmp_path / "ds"
    _aist("farm", "submit", str(collection), str(out), "--broker", farm.url, *OPTS)
    _wait_for_claim(out)
    farm.restart_redis(down_s=2.0)
    p = _aist("farm", "status", str(out), "--wait", "--timeout", "240")
    assert p.stdout.strip().splitlines()[-1] == "done=6 running=0 pending=0 failed=0"
    assert "Connection to broker lost" in farm.log("w1")  # it did lose it, and came back
    _assert_exactly_once(out, set(Dataset.open(local_reference).object_ids()))
    assert _files(out) == _files(local_reference)


def test_corrupt_mesh_is_one_failed_task(farm, tmp_path):
    meshes = _collection(tmp_path / "meshes", broken=True)
    farm.worker("w1", "--concurrency", "2")
    out = tmp_path / "ds"
    _aist("farm", "submit", str(meshes), str(out), "--broker", farm.url, *OPTS)
    p = _aist("farm", "status", str(out), "--wait", "--timeout", "180", check=False)
    assert p.returncode == 1
    lines = p.stdout.strip().splitlines()
    assert lines[-1] == "done=6 running=0 pending=0 failed=1"
    assert any(re.fullmatch(r"failed broken \[[a-z-]+\]: .+", line) for line in lines[:-1])
    meta = json.loads((out / "dataset.json").read_text())
    assert [f["object_id"] for f in meta["source"]["failures"]] == ["broken"]
    assert "broken" not in Dataset.open(out).object_ids()
    assert len(Dataset.open(out).object_ids()) == 6


def test_submit_without_broker_runs_locally(collection, local_reference, tmp_path):
    out = tmp_path / "ds"
    env_broker = os.environ.pop("AIST_BROKER", None)
    try:
        p = _aist("farm", "submit", str(collection), str(out), "--workers", "2", *OPTS)
    finally:
        if env_broker is not None:
            os.environ["AIST_BROKER"] = env_broker
    assert "local process pool" in p.stderr
    assert _files(out) == _files(local_reference)


# -- job state and failure accounting (no broker) -----------------------------------------------
def _job(tmp_path: Path, collection: Path) -> Job:
    cfg = RenderConfig(views=2, image_size=(64, 64), points=1000, device="cpu")
    return Job.create(tmp_path / "ds", discover(collection), cfg, collection)


def test_job_refuses_a_different_render_in_the_same_folder(tmp_path, collection):
    job = _job(tmp_path, collection)
    again = _job(tmp_path, collection)
    assert again.job_id == job.job_id  # same request: resume the same job
    other = RenderConfig(views=3, image_size=(64, 64), points=1000, device="cpu")
    with pytest.raises(JobError, match="different render job"):
        Job.create(tmp_path / "ds", discover(collection), other, collection)
    (tmp_path / "ds" / ".farm" / "job.json").write_text("{not json")
    with pytest.raises(JobError, match=r"job\.json"):
        Job.load(tmp_path / "ds")


def test_three_failed_attempts_fail_the_task_and_block_the_worker(tmp_path, collection,
                                                                  monkeypatch):
    from aist_farm import tasks

    class Exploding:
        def render(self, mesh, views):
            raise RuntimeError("GPU fell off the bus")
            yield

        def close(self):
            pass

    monkeypatch.setattr(tasks, "_renderer", lambda job, device, threads: Exploding())
    job = _job(tmp_path, collection)
    oid = job.items[0].object_id
    for n in (1, 2):
        with pytest.raises(tasks.RetryTask, match=f"attempt {n} of 3"):
            tasks.run_task(job.root, oid, worker="w9", block_workers=True)
    assert tasks.run_task(job.root, oid, worker="w9", block_workers=True) == "failed"
    fail = job.failure(oid)
    assert fail["category"] == "render-error" and "GPU fell off the bus" in fail["reason"]
    assert len(fail["attempts"]) == 3
    assert not (job.root / "objects" / oid).exists()
    assert not list((job.root / ".farm" / "running").glob("*"))
    # That worker failed one task three times: three distinct failed tasks block it.
    assert not job.worker_blocked("w9")
    for other in job.items[1:3]:
        with pytest.raises(tasks.RetryTask):
            tasks.run_task(job.root, other.object_id, worker="w9", block_workers=True)
    assert job.worker_blocked("w9")
    with pytest.raises(tasks.WorkerBlocked):
        tasks.run_task(job.root, job.items[3].object_id, worker="w9", block_workers=True)
    assert job.status().line() == "done=0 running=0 pending=5 failed=1"
    # `farm retry` semantics: reset clears the failure and its attempts.
    job.reset(oid)
    job.unblock_workers()
    assert job.failure(oid) is None and not job.attempts(oid)
    assert not job.worker_blocked("w9")


def test_dead_claim_is_lost_and_counts_as_an_attempt(tmp_path, collection):
    from aist_farm import tasks

    job = _job(tmp_path, collection)
    oid = job.items[0].object_id
    dead = subprocess.Popen(["true"])
    dead.wait()
    claim = job.farm_dir / "running" / f"{oid}.json"
    claim.parent.mkdir(parents=True)
    claim.write_text(json.dumps({"worker": "w0", "host": os.uname().nodename,
                                 "pid": dead.pid, "started": 0}))
    st = job.status()
    assert st.lost == [oid] and oid in st.pending and not st.running
    assert tasks.run_task(job.root, oid, worker="w1", threads=1) == "rendered"
    assert [a["category"] for a in job.attempts(oid)] == ["worker-lost"]
    assert job.is_done(oid)


def test_broker_password_never_written(tmp_path, collection):
    assert redact("redis://:s3cret@farm:6379/0") == "redis://:***@farm:6379/0"
    assert redact("redis://user:s3cret@farm:6379/0") == "redis://user:***@farm:6379/0"
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    cfg = RenderConfig(views=2, image_size=(64, 64), points=1000)
    Job.create(tmp_path / "ds", discover(collection), cfg, collection,
               broker="rediss://:s3cret@farm:6380/0")
    assert "s3cret" not in (tmp_path / "ds" / ".farm" / "job.json").read_text()


def test_broker_loopback_and_password(tmp_path):
    import redis

    port = free_port()
    secret = 'pa"ss\\word'
    proc = start_redis(port, tmp_path / "r", password=secret)
    try:
        assert secret not in " ".join(proc.args)  # not visible in the process list
        assert "--bind" in proc.args and proc.args[proc.args.index("--bind") + 1] == "127.0.0.1"
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=port).ping()
        assert redis.Redis(port=port, password=secret).ping()
    finally:
        proc.kill()
        proc.wait(10)
    p = _aist("farm", "broker", "--bind", "0.0.0.0", "--port", str(port), check=False)
    assert p.returncode != 0 and "password" in p.stderr


def test_a_missing_mesh_fails_naming_the_absolute_path(tmp_path):
    """Submitted with a relative path from another folder; the mesh is gone when the task
    runs: the failure names the absolute path it looked for, not just "file is missing"."""
    from aist_farm import tasks

    src = tmp_path / "meshes" / "cars"
    src.mkdir(parents=True)
    (src / "car.glb").symlink_to(MESHES / "toycar" / "ToyCar.glb")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        job = Job.create("ds", discover("meshes"), RenderConfig(views=1, image_size=(32, 32),
                                                                points=100, device="cpu"),
                         "meshes")
    finally:
        os.chdir(cwd)
    assert job.root.is_absolute() and Path(job.meshes).is_absolute()
    (src / "car.glb").unlink()
    oid = job.items[0].object_id
    assert tasks.run_task(tmp_path / "ds", oid, worker="w1", threads=1) == "failed"
    reason = job.failure(oid)["reason"]
    assert reason == f"{src / 'car.glb'}: file is missing", reason


def _sha(paths: list[Path]) -> dict[str, str | None]:
    import hashlib

    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None
            for p in paths}


def _crafted_job(tmp_path: Path, collection: Path, **change) -> tuple[Path, list[Path]]:
    """A real job whose job.json an attacker edited (``object_id`` / ``path`` of its first
    object), and the victim files outside it that a careless farm would touch."""
    out = tmp_path / "jobs" / "ds"
    cfg = RenderConfig(views=1, image_size=(32, 32), points=100, device="cpu")
    Job.create(out, discover(collection), cfg, collection)
    victims = [tmp_path / "victim.json", tmp_path / "victim.jsonl", tmp_path / "secret.obj"]
    for v in victims:
        v.write_text("keep me\n")
    manifest = out / ".farm" / "job.json"
    meta = json.loads(manifest.read_text())
    meta["objects"][0].update(change)
    manifest.write_text(json.dumps(meta))
    return out, victims


HOSTILE = Path(__file__).parent / "data" / "hostile"


@pytest.mark.parametrize("change", ["job-escape-id.json", "job-outside-mesh.json",
                                    {"object_id": "/abs/victim"}, {"object_id": ".."}])
def test_a_crafted_job_manifest_touches_nothing_outside(tmp_path, collection, change):
    """Ids and mesh paths read from job.json (tests/data/hostile and more) are validated
    when it is read: `farm retry` refuses before it deletes anything, a worker's task
    refuses before it joins the id into a path; the files outside are byte for byte as
    before."""
    from aist_farm import tasks

    if isinstance(change, str):  # the corpus; its mesh lies outside the job's meshes
        change = json.loads((HOSTILE / change).read_text().replace("{OUTSIDE}",
                                                                   str(tmp_path)))
    out, victims = _crafted_job(tmp_path, collection, **change)
    before = _sha(victims)
    p = _aist("farm", "retry", str(out), "--all-pending", "--broker",
              "redis://127.0.0.1:9/0", check=False)
    assert p.returncode != 0
    assert ("invalid object id" in p.stderr or "outside the job's meshes" in p.stderr), \
        p.stderr
    with pytest.raises(JobError):
        tasks.run_task(out, change.get("object_id", "x"), worker="w1", threads=1)
    assert _sha(victims) == before
    assert not list((out / "objects").glob("*")) if (out / "objects").exists() else True


def test_a_task_message_naming_another_object_is_refused(tmp_path, collection):
    """A task message carries an id that is not the job's (crafted, or of another job): the
    task refuses it before any path is made from it."""
    from aist_farm import tasks

    out, victims = _crafted_job(tmp_path, collection)
    before = _sha(victims)
    for oid in ("../../victim", "victim", "", "a/b"):
        with pytest.raises(JobError, match="no object"):
            tasks.run_task(out, oid, worker="w1", threads=1)
    assert _sha(victims) == before
    assert not (out / ".farm" / "failed").exists() or not list(
        (out / ".farm" / "failed").iterdir())


def test_workers_and_submit_refuse_a_remote_broker_without_a_password(tmp_path, collection):
    """As `farm broker` refuses to listen beyond loopback without a password, the commands
    that take tasks or send them refuse such a broker unless --insecure."""
    for args in (["farm", "worker", "--broker", "redis://10.11.12.13:6379/0"],
                 ["farm", "submit", str(collection), str(tmp_path / "o"), "--broker",
                  "redis://farm-host:6379/0"]):
        p = _aist(*args, check=False, timeout=60)
        assert p.returncode != 0 and "needs a password" in p.stderr, p.stderr
        assert "--insecure" in p.stderr
    assert not (tmp_path / "o").exists()  # refused before anything was written
