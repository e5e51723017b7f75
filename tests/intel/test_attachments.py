"""Files of attachment and malware-sample attributes: decoding, limits, MISP's sample zip."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile

import pytest

from shieldwall.intel import attachments
from shieldwall.intel.errors import InvalidInput, TooLarge

CONTENT = b"MZ" + bytes(range(256)) * 4
MD5 = hashlib.md5(CONTENT).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_sample_is_packed_as_misp_packs_it() -> None:
    got = attachments.incoming(
        "malware-sample", "C:\\temp\\evil.exe", b64(CONTENT), encrypt=False, field="a"
    )
    assert got.value == f"C:\\temp\\evil.exe|{MD5}"
    with zipfile.ZipFile(io.BytesIO(got.data)) as z:
        assert sorted(z.namelist()) == [MD5, f"{MD5}.filename.txt"]
        assert all(i.flag_bits & 0x1 for i in z.infolist())  # encrypted
        with pytest.raises(RuntimeError):
            z.read(MD5)  # not without the password
        assert z.read(MD5, pwd=b"infected") == CONTENT
    assert attachments.sample_contents(got.data) == ("C:\\temp\\evil.exe", MD5)


def test_a_sample_zip_from_elsewhere_is_kept_and_encrypt_packs_again() -> None:
    packed, md5 = attachments.pack_sample("x.bin", CONTENT)
    kept = attachments.incoming("malware-sample", "x.bin", b64(packed), encrypt=False, field="a")
    assert kept.data == packed and kept.value == f"x.bin|{md5}"
    # encrypt: the data is the file itself, whatever it looks like.
    again = attachments.incoming("malware-sample", "x.zip", b64(packed), encrypt=True, field="a")
    assert again.data != packed
    assert again.value == f"x.zip|{hashlib.md5(packed).hexdigest()}"
    # A plain zip is not a sample zip: it is packed like any file.
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("readme.txt", "hello")
    assert attachments.sample_contents(plain.getvalue()) is None
    got = attachments.incoming(
        "malware-sample", "a.zip", b64(plain.getvalue()), encrypt=False, field="a"
    )
    assert attachments.sample_contents(got.data) == (
        "a.zip",
        hashlib.md5(plain.getvalue()).hexdigest(),
    )


def test_attachments_are_kept_as_sent() -> None:
    got = attachments.incoming("attachment", "r.pdf", b64(b"%PDF"), encrypt=True, field="a")
    assert (got.value, got.data) == ("r.pdf", b"%PDF")


@pytest.mark.parametrize("text", ["not base64!", "aGk", "aGk=x", "-_-_"])
def test_bad_base64_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        attachments.incoming("attachment", "f", text, encrypt=False, field="attributes[3]")
    assert exc.value.field == "attributes[3].data"


def test_wrapped_base64_is_accepted() -> None:
    wrapped = "\n".join(b64(CONTENT)[i : i + 76] for i in range(0, len(b64(CONTENT)), 76))
    got = attachments.incoming("attachment", "f", wrapped, encrypt=False, field="a")
    assert got.data == CONTENT


def test_size_limit_and_types() -> None:
    limit = 1024
    ok = attachments.incoming(
        "attachment", "f", b64(b"x" * limit), encrypt=False, field="a", limit=limit
    )
    assert len(ok.data) == limit
    with pytest.raises(TooLarge) as exc:
        attachments.incoming(
            "attachment", "f", b64(b"x" * (limit + 1)), encrypt=False, field="a", limit=limit
        )
    assert exc.value.status == 413 and exc.value.field == "a.data"
    with pytest.raises(InvalidInput) as bad_type:
        attachments.incoming("md5", MD5, b64(b"x"), encrypt=False, field="a")
    assert bad_type.value.field == "a.data"
    with pytest.raises(InvalidInput) as nameless:
        attachments.incoming("malware-sample", "", b64(b"x"), encrypt=False, field="a")
    assert nameless.value.field == "a.value"
