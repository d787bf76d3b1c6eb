import pytest

from timelapse_d.keys import check_key, clip_key, external_id_part, source_key

HOSTILE = ["../x", "a.b", "x/y", "..", ".hidden", "Île de Ré 🌊", "雲の動き", "a b", "-rf", "x" * 300,
           "C:\\x", "a\x00b", "%2e%2e%2f"]


@pytest.mark.parametrize("raw", HOSTILE)
def test_hostile_external_ids_map_to_safe_keys(raw):
    key = source_key("urls", raw)
    assert check_key(key) == key
    assert "." not in key and "/" not in key and " " not in key and "\\" not in key
    assert key.startswith("urls-")


def test_mapping_is_deterministic_and_keeps_distinct_ids_apart():
    keys = [source_key("urls", raw) for raw in HOSTILE]
    assert keys == [source_key("urls", raw) for raw in HOSTILE]
    assert len(set(keys)) == len(HOSTILE)
    # ids that slug to the same text still differ by their digest
    assert source_key("urls", "a.b") != source_key("urls", "a/b") != source_key("urls", "a b")


def test_safe_ids_are_kept_readable():
    assert source_key("flickr", "53123456789") == "flickr-53123456789"
    assert external_id_part("my_video-01") == "my_video-01"


@pytest.mark.parametrize("raw", ["", "   ", None, 42])
def test_empty_or_non_string_ids_are_rejected(raw):
    with pytest.raises(ValueError, match="external id"):
        external_id_part(raw)


@pytest.mark.parametrize("key", ["", "a.b", "../x", "a/b", "a b", "-a", "é", "x" * 201])
def test_check_key_rejects_and_names_the_key(key):
    with pytest.raises(ValueError) as error:
        check_key(key, "clip key")
    assert "clip key" in str(error.value) and repr(key)[:20] in str(error.value)


def test_clip_key_is_derived_from_video_and_frame_range():
    assert clip_key("flickr-1", 0, 120) == "flickr-1_f000000-000120"
    assert clip_key("flickr-1", 0, 120) != clip_key("flickr-1", 0, 121)
    with pytest.raises(ValueError, match="frame range"):
        clip_key("flickr-1", 10, 10)
    with pytest.raises(ValueError, match="video key"):
        clip_key("../x", 0, 10)
