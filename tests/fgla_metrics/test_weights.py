import hashlib
import io
import re

import pytest
import torch
from fault_server import FaultServer
from torch import nn

from fgla_model.metrics import FIDInceptionV3
from fgla_model.metrics.weights import MissingWeights, WeightsMismatch, download_state_dict, load_into, read_state_dict


def small_network():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def test_an_absent_file_is_missing_weights_naming_it(tmp_path):
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    with pytest.raises(MissingWeights, match="pt_inception-2015-12-05-6726825d.pth") as caught:
        read_state_dict(path)
    assert caught.value.source == str(path)
    assert isinstance(caught.value, FileNotFoundError)


def test_a_failed_download_is_missing_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(MissingWeights, match="download failed"):
        download_state_dict((tmp_path / "absent.pth").as_uri())


def test_download_reads_through_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.save({"weight": torch.arange(3.0)}, tmp_path / "served.pth")
    state = download_state_dict((tmp_path / "served.pth").as_uri())
    assert torch.equal(state["weight"], torch.arange(3.0))
    assert (tmp_path / "torch" / "hub" / "checkpoints" / "served.pth").is_file()
    (tmp_path / "page.pth").write_text("<html>not a checkpoint</html>")
    with pytest.raises(WeightsMismatch, match="page.pth: not a state dict"):
        download_state_dict((tmp_path / "page.pth").as_uri())


def test_a_download_with_the_wrong_sha256_is_missing_weights_and_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    buffer = io.BytesIO()
    torch.save({"weight": torch.arange(3.0)}, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    wrong = "00000000"
    assert not digest.startswith(wrong)
    files = {f"served-{wrong}.pth": data, f"served-{digest[:8]}.pth": data,
             "pt_inception-2015-12-05-6726825d.pth": data}
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    with FaultServer(files) as server:
        url = f"{server.url}/ok/served-{wrong}.pth"
        with pytest.raises(MissingWeights, match=rf"{re.escape(url)} \(sha256 of the download does not match") as caught:
            download_state_dict(url, check_hash=True)
        assert caught.value.source == url
        assert digest in str(caught.value)
        assert not any(cache.iterdir())  # the bad download is not kept
        # the scores' loaders check the hash and say so too
        url = f"{server.url}/ok/pt_inception-2015-12-05-6726825d.pth"
        with pytest.raises(MissingWeights, match="pt_inception-2015-12-05-6726825d.pth .*sha256"):
            FIDInceptionV3.from_hub(url)
        # the right prefix passes, and the file stays in the cache
        state = download_state_dict(f"{server.url}/ok/served-{digest[:8]}.pth", check_hash=True)
    assert torch.equal(state["weight"], torch.arange(3.0))
    assert sorted(path.name for path in cache.iterdir()) == [f"served-{digest[:8]}.pth"]


def test_a_file_that_is_not_a_state_dict_is_a_mismatch(tmp_path):
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(WeightsMismatch, match="list.pth: holds a list"):
        read_state_dict(tmp_path / "list.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(WeightsMismatch, match="text.pth"):
        read_state_dict(tmp_path / "text.pth")


def test_load_into_copies_every_tensor_and_tolerates_old_batch_norm_files():
    source, target = small_network(), small_network()
    with torch.no_grad():
        for tensor in source.state_dict().values():
            if tensor.is_floating_point():
                tensor.uniform_(0.5, 1.5)
    state = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    state["classifier.weight"] = torch.zeros(2)
    load_into(target, state, "old.pth", ignore=("classifier.",))
    for key, value in state.items():
        if not key.startswith("classifier."):
            assert torch.equal(target.state_dict()[key], value), key


def test_load_into_names_the_file_and_the_keys():
    state = small_network().state_dict()
    renamed = {("0.kernel" if k == "0.weight" else k): v for k, v in state.items()}
    with pytest.raises(WeightsMismatch, match=r"renamed.pth: .*missing \['0.weight'\].*unexpected \['0.kernel'\]"):
        load_into(small_network(), renamed, "renamed.pth")
    reshaped = {**state, "1.bias": torch.zeros(5)}
    with pytest.raises(WeightsMismatch, match=r"reshaped.pth: .*1.bias \(5,\) != \(4,\)"):
        load_into(small_network(), reshaped, "reshaped.pth")
