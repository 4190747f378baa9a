"""The host's saved copy of an image (registry:2 and its base): how a new node
loads it. The node's engine is faked here; tests/lab/test_app.py's warm
lab.up checks the real manager."""
from types import SimpleNamespace

from lab import build
from lab.images import BASE_IMAGE, SLIM_IMAGE


class FakeNode:
    """Answers the commands load_kept sends, and records them."""

    def __init__(self, sees_size, labels):
        self.sees_size = sees_size   # what `stat -c %s` prints, or None: no such file
        self.labels = labels         # image -> inputs label, after the load
        self.loaded = False
        self.commands = []
        self.streams = []

    def sh(self, node, command, in_stream=None, **kw):
        self.commands.append(command)
        if in_stream is not None:
            self.streams.append(in_stream.read())
        if command.startswith("stat -c %s"):
            ok = self.sees_size is not None
            return SimpleNamespace(ok=ok, out=str(self.sees_size or ""), stdout="")
        if command.startswith("docker load"):
            self.loaded = True
            return SimpleNamespace(ok=True, out="Loaded image: registry:2", stdout="")
        if command.startswith("docker image inspect"):
            image = command.split()[-1]
            label = self.labels.get(image) if self.loaded else None
            return SimpleNamespace(ok=label is not None, out=label or "", stdout="")
        if command.startswith("docker tag"):
            _, _, src, dst = command.split()
            self.labels[dst] = self.labels[src]
            return SimpleNamespace(ok=True, out="", stdout="")
        raise AssertionError(f"unexpected command {command}")


def ctx_for(node, tmp_path):
    run = SimpleNamespace(show_command=lambda *a: None, log=lambda *a: None)
    return SimpleNamespace(sh=node.sh, run=run, state_dir=tmp_path)


def kept_copy(tmp_path, data=b"saved image and base"):
    kept = build.kept_path(SimpleNamespace(state_dir=tmp_path), "abc")
    kept.parent.mkdir(parents=True)
    kept.write_bytes(data)
    return kept


def test_a_node_that_sees_the_copy_loads_it_from_its_own_disk(tmp_path):
    kept = kept_copy(tmp_path)
    node = FakeNode(kept.stat().st_size, {"registry:2": "abc", SLIM_IMAGE: "base-label"})
    assert build.load_kept(ctx_for(node, tmp_path), "manager", "registry:2", kept, "abc")
    assert f"docker load -i {build.NODE_KEPT_DIR}/{kept.name}" in node.commands
    assert node.streams == []
    # The base came with it, under the name the Dockerfiles build from.
    assert f"docker tag {SLIM_IMAGE} {BASE_IMAGE}" in node.commands
    assert node.labels[BASE_IMAGE] == "base-label"


def test_a_node_that_sees_another_size_or_nothing_gets_the_copy_over_ssh(tmp_path):
    kept = kept_copy(tmp_path)
    for sees in (kept.stat().st_size - 1, None):
        node = FakeNode(sees, {"registry:2": "abc", SLIM_IMAGE: "base-label"})
        assert build.load_kept(ctx_for(node, tmp_path), "manager", "registry:2", kept, "abc")
        assert "docker load" in node.commands
        assert not any(c.startswith("docker load -i") for c in node.commands)
        assert node.streams == [b"saved image and base"]


def test_a_base_the_node_already_has_is_not_tagged_again(tmp_path):
    kept = kept_copy(tmp_path)
    node = FakeNode(kept.stat().st_size, {"registry:2": "abc", SLIM_IMAGE: "new", BASE_IMAGE: "older"})
    assert build.load_kept(ctx_for(node, tmp_path), "manager", "registry:2", kept, "abc")
    assert not any(c.startswith("docker tag") for c in node.commands)


def test_a_copy_with_other_inputs_is_dropped_and_the_image_built(tmp_path):
    kept = kept_copy(tmp_path)
    node = FakeNode(kept.stat().st_size, {"registry:2": "other", SLIM_IMAGE: "base-label"})
    assert not build.load_kept(ctx_for(node, tmp_path), "manager", "registry:2", kept, "abc")
    assert not kept.exists()


def test_copies_saved_before_they_held_the_base_are_not_used(tmp_path):
    assert build.kept_path(SimpleNamespace(state_dir=tmp_path), "abc").name == "abc+base.tar"
