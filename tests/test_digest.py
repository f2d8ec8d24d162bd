from slimline._digest import directory_digest, file_sha256, json_digest


def test_digests_are_pinned(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"hello")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"\x00\x01")
    assert file_sha256(tmp_path / "a.txt") == (
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    # Pinned so an accidental change to how directories are hashed is caught.
    assert directory_digest(tmp_path)[:16] == "cf1abfdb412a3c71"
    assert json_digest({"b": 1, "a": [1, 2]}) == json_digest({"a": [1, 2], "b": 1})


def test_metadata_files_do_not_change_the_digest(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    before = directory_digest(tmp_path)
    (tmp_path / "slimline.json").write_text("{}")
    (tmp_path / "README.md").write_text("card")
    assert directory_digest(tmp_path) == before
    (tmp_path / "config.json").write_text("{}")
    assert directory_digest(tmp_path) != before


def test_known_hashes_are_reused(tmp_path):
    (tmp_path / "w.safetensors").write_bytes(b"abc")
    real = directory_digest(tmp_path)
    assert directory_digest(tmp_path, known={"w.safetensors": "fake"}) != real
    assert directory_digest(tmp_path, known={"w.safetensors": file_sha256(
        tmp_path / "w.safetensors")}) == real
