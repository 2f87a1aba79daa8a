"""The voice server's UDP side: IP discovery and the RTP receiver.

Decryption follows the voice docs' ``*_rtpsize`` modes as discord.py 2.7 produces them: the
unencrypted part is the RTP header with its CSRCs and, when the X bit is set, the 4-byte
extension preamble (the extension body is encrypted and stripped after decryption); it is
the AEAD's additional data. A 32-bit big-endian nonce counter trails the packet and is
zero-padded to the cipher's nonce (24 bytes for XChaCha20-Poly1305, 12 for AES-256-GCM).
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import nacl.bindings
import nacl.exceptions

from .voice import CHANNELS, IpDiscovery, VoiceFrame, VoiceRecords

if TYPE_CHECKING:
    import numpy as np

XCHACHA = "aead_xchacha20_poly1305_rtpsize"
AES_GCM = "aead_aes256_gcm_rtpsize"
#: What ready (op 2) advertises, Discord's current order (the deprecated xsalsa20 modes went
#: away in November 2024).
MODES = [AES_GCM, XCHACHA]
DISCOVERY_LENGTH = 74
RTP_PAYLOAD_TYPE = 0x78


@dataclass
class UdpSession:
    """What the UDP side needs of a voice session: where frames belong and the key."""

    guild_id: int
    channel_id: int
    user_id: int
    ssrc: int
    mode: str | None = None
    secret_key: bytes | None = None
    last_nonce: int = -1
    last_sequence: int = 0


class VoiceUdp(asyncio.DatagramProtocol):
    def __init__(self, records: VoiceRecords, notify: Callable[[], None]) -> None:
        self.address: tuple[str, int] = ("127.0.0.1", 0)
        self._records = records
        self._notify = notify
        self._by_ssrc: dict[int, UdpSession] = {}
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self, host: str) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, 0))
        self._transport = transport
        self.address = transport.get_extra_info("sockname")[:2]

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def register(self, session: UdpSession) -> None:
        self._by_ssrc[session.ssrc] = session

    def forget(self, ssrc: int) -> None:
        self._by_ssrc.pop(ssrc, None)

    def send_receiver_report(self, session: UdpSession, address: tuple[str, int]) -> None:
        """Send the client an RTCP receiver report (RFC 3550, PT 201) about its stream."""
        assert self._transport is not None
        packet = struct.pack(
            ">BBHI" + "IIIIII",
            0x81,  # V=2, one report block
            201,
            7,  # length in 32-bit words minus one
            0,  # the server's own ssrc
            session.ssrc,
            0,  # fraction lost and cumulative lost
            session.last_sequence & 0xFFFF,
            0,  # interarrival jitter
            0,  # last SR
            0,  # delay since last SR
        )
        self._transport.sendto(packet, address)

    # -- datagrams --------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        if len(data) == DISCOVERY_LENGTH and data[:2] == b"\x00\x01":
            self._discover(data, addr)
        elif len(data) >= 12 and data[0] >> 6 == 2 and data[1] & 0x7F == RTP_PAYLOAD_TYPE:
            self._rtp(data)
        else:
            self._violate(f"unrecognized {len(data)}-byte datagram from {addr}")

    def _discover(self, data: bytes, addr: tuple[str, int]) -> None:
        length, ssrc = struct.unpack_from(">HI", data, 2)
        if length != 70:
            self._violate(f"IP discovery with length {length} (must be 70)")
            return
        if ssrc not in self._by_ssrc:
            self._violate(f"IP discovery for unknown ssrc {ssrc}")
            return
        host, port = addr[0], addr[1]
        response = bytearray(DISCOVERY_LENGTH)
        struct.pack_into(">HHI", response, 0, 2, 70, ssrc)
        response[8 : 8 + len(host)] = host.encode("ascii")
        struct.pack_into(">H", response, DISCOVERY_LENGTH - 2, port)
        assert self._transport is not None
        self._transport.sendto(bytes(response), addr)
        self._records.ip_discoveries.append(IpDiscovery(ssrc, host, port, time.monotonic()))
        self._notify()

    def _rtp(self, data: bytes) -> None:
        at = time.monotonic()
        sequence, timestamp, ssrc = struct.unpack_from(">HII", data, 2)
        session = self._by_ssrc.get(ssrc)
        if session is None:
            self._violate(f"RTP packet for unknown ssrc {ssrc}")
            return
        if session.secret_key is None or session.mode is None:
            self._violate(f"RTP packet (ssrc {ssrc}) before the session description")
            return
        try:
            opus, nonce = decrypt_rtpsize(data, session.mode, session.secret_key)
        except ValueError as error:
            self._violate(f"RTP packet (ssrc {ssrc}, sequence {sequence}) {error}")
            return
        if nonce <= session.last_nonce:
            self._violate(f"RTP nonce {nonce} reused (ssrc {ssrc}; last {session.last_nonce})")
        session.last_nonce = nonce
        session.last_sequence = sequence
        self._records.frames.append(
            VoiceFrame(
                guild_id=session.guild_id,
                channel_id=session.channel_id,
                user_id=session.user_id,
                ssrc=ssrc,
                sequence=sequence,
                timestamp=timestamp,
                opus=opus,
                at=at,
                mode=session.mode,
            )
        )
        self._notify()

    def _violate(self, problem: str) -> None:
        self._records.violations.append(f"UDP: {problem}")
        self._notify()


def decrypt_rtpsize(packet: bytes, mode: str, key: bytes) -> tuple[bytes, int]:
    """The Opus payload of an ``*_rtpsize`` packet and its nonce counter; ValueError if the
    packet is malformed or does not authenticate."""
    csrc_count = packet[0] & 0x0F
    has_extension = bool(packet[0] & 0x10)
    header_length = 12 + 4 * csrc_count + (4 if has_extension else 0)
    if len(packet) < header_length + 4 + 16:
        raise ValueError("is too short")
    header = packet[:header_length]
    counter = packet[-4:]
    ciphertext = packet[header_length:-4]
    try:
        if mode == XCHACHA:
            plain = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                ciphertext, header, counter + bytes(20), key
            )
        elif mode == AES_GCM:
            from cryptography.exceptions import InvalidTag
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            try:
                plain = AESGCM(key).decrypt(counter + bytes(8), ciphertext, header)
            except InvalidTag:
                raise nacl.exceptions.CryptoError("AES-GCM tag mismatch") from None
        else:
            raise ValueError(f"uses unknown mode {mode!r}")
    except nacl.exceptions.CryptoError:
        raise ValueError(f"does not decrypt with the session key ({mode})") from None
    if has_extension:
        (words,) = struct.unpack_from(">H", header, header_length - 2)
        plain = plain[4 * words :]
    return plain, struct.unpack(">I", counter)[0]


def encrypt_rtpsize(header: bytes, opus: bytes, mode: str, key: bytes, nonce: int) -> bytes:
    """The inverse of :func:`decrypt_rtpsize` (for the double's own tests)."""
    counter = struct.pack(">I", nonce)
    if mode == XCHACHA:
        sealed = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
            opus, header, counter + bytes(20), key
        )
    else:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        sealed = AESGCM(key).encrypt(counter + bytes(8), opus, header)
    return header + sealed + counter


def decode_opus(frames: list[VoiceFrame]) -> np.ndarray:
    """Decode frames in order (one libopus decoder per ssrc) to int16 ``(n, 2)`` PCM."""
    import discord.opus
    import numpy as np

    if not discord.opus.is_loaded() and not discord.opus._load_default():
        discord.opus.load_opus("libopus.so.0")
    decoders: dict[int, discord.opus.Decoder] = {}
    chunks = []
    for frame in frames:
        decoder = decoders.setdefault(frame.ssrc, discord.opus.Decoder())
        chunks.append(np.frombuffer(decoder.decode(frame.opus), dtype=np.int16))
    if not chunks:
        return np.zeros((0, CHANNELS), dtype=np.int16)
    return np.concatenate(chunks).reshape(-1, CHANNELS)
