"""Deterministic demo traffic for the ``lapor.commands`` topic.

:func:`generate` plays a regency's season of SP4N-LAPOR! complaints (by default Hulu
Sungai Utara, a quarter of 2026) and returns it as Kafka records, ready to produce: key
the complaint id, value the command JSON of CONTRACT §2. Everything comes from one seeded
:class:`random.Random`, so the same arguments always give the same bytes.

The traffic is meant to exercise the whole engine, not just the happy path:

* **lifecycle** records: each complaint's commands in a valid order. Admins and SKPD
  liaison officers work 07:30-16:00 WITA on weekdays; complainants act at any hour,
  weekends included. Some verifications are late (verification SLA breaches), a few SKPDs
  are chronically slow to follow up (follow-up breaches per SKPD), about 30% of
  followed-up complaints are never resolved by the complainant (left for the engine's
  ``auto_close``), and a resolve or reply always comes within 9 calendar days of the last
  follow-up, so before ``auto_close`` (10 working days) could fire.
* **duplicate** records: a lifecycle record re-sent verbatim (same key and bytes)
  seconds to minutes later.
* **forbidden** records: well-formed commands the engine must reject (follow-up of a
  complaint that is only submitted, dispatch by a complainant, resolve of an archived
  complaint, a second submit with other content).
* **unknown_complaint** records: verifies of ids never submitted (``HSU-2026-9xxxxx``).
* **invalid** records: bytes that are not a valid command at all (not JSON, truncated,
  invalid UTF-8, wrong schema); they belong in ``lapor.dlq``.

Records come sorted by :attr:`DemoRecord.issued_at` (stable, so a complaint's commands
keep their order). Complaints are submitted within ``[start, start + days)``; their later
commands may run a few weeks past that window. Working days here are Monday to Friday;
holidays are the engine's business (they only make its deadlines later).
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Final

__all__ = [
    "DEFAULT_MIX",
    "KINDS",
    "WITA",
    "DemoMix",
    "DemoRecord",
    "DemoRegion",
    "describe",
    "expected_kinds",
    "generate",
]

WITA: Final = timezone(timedelta(hours=8), "WITA")
"""Waktu Indonesia Tengah (Asia/Makassar, UTC+8): the offset of every ``issued_at``."""

KINDS: Final[tuple[str, ...]] = (
    "lifecycle",
    "duplicate",
    "forbidden",
    "unknown_complaint",
    "invalid",
)
"""Every :attr:`DemoRecord.kind`, in report order."""

_WORK_START: Final = time(7, 30)
_WORK_SECONDS: Final = (16 * 60 - (7 * 60 + 30)) * 60  # 07:30-16:00
_REGION_RE: Final = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
_MAX_COMPLAINTS: Final = 899_999  # ids from 900000 up are reserved for unknown complaints


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class DemoRecord:
    """One Kafka record for ``lapor.commands`` and what the generator meant by it.

    ``issued_at`` is the command's own ``issued_at`` for lifecycle, forbidden and
    unknown-complaint records; for a duplicate it is the moment of the re-send (the bytes
    keep the original time); for an invalid record, the moment it was injected.
    """

    key: bytes
    value: bytes
    kind: str
    issued_at: datetime


@dataclass(frozen=True)
class DemoRegion:
    """The region the traffic belongs to: its code, time zone and SKPDs (code, name)."""

    region: str
    timezone: str
    skpds: tuple[tuple[str, str], ...]
    admin_id: str = ""
    slow_skpds: tuple[str, ...] = ()
    categories: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def skpd_name(self, code: str) -> str:
        """Return the full name of the SKPD ``code`` (the code itself when unknown)."""
        return dict(self.skpds).get(code, code)


@dataclass(frozen=True)
class DemoMix:
    """Shares of the generated traffic.

    Complaint paths (``archived`` ... ``extra_follow_up``) are shares of all complaints;
    ``auto_close`` is the share of complaints ending ``followed_up`` that the complainant
    never resolves. ``duplicate``, ``forbidden`` and ``invalid`` are shares of the
    lifecycle commands (invalid: at least one record of each variant);
    ``unknown_complaint`` is a share of complaints (at least 3).
    """

    archived: float = 0.06
    left_open: float = 0.015
    returned: float = 0.07
    replied: float = 0.06
    reopened: float = 0.03
    deferred: float = 0.03
    extra_follow_up: float = 0.04
    auto_close: float = 0.30
    admin_submit: float = 0.08
    anonymous: float = 0.15
    confidential: float = 0.05
    duplicate: float = 0.02
    forbidden: float = 0.01
    unknown_complaint: float = 0.003
    invalid: float = 0.005

    def __post_init__(self) -> None:
        for name, share in vars(self).items():
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"DemoMix.{name} must be within 0..1, got {share!r}")
        handled = 1.0 - self.archived - self.left_open
        if handled <= 0.0:
            raise ValueError("DemoMix.archived + DemoMix.left_open must stay below 1")
        for name in ("returned", "replied", "reopened", "deferred", "extra_follow_up"):
            if getattr(self, name) > handled:
                raise ValueError(f"DemoMix.{name} exceeds the share of dispatched complaints")


DEFAULT_MIX: Final = DemoMix()
"""The proportions :func:`generate` uses unless told otherwise."""


# --------------------------------------------------------------------------- the region

_SKPDS: Final[tuple[tuple[str, str], ...]] = (
    ("DISDIK", "Dinas Pendidikan"),
    ("DINKES", "Dinas Kesehatan"),
    ("RSUD", "RSUD Pambalah Batung"),
    ("PUPR", "Dinas Pekerjaan Umum dan Penataan Ruang"),
    ("DISPERKIM", "Dinas Perumahan Rakyat dan Kawasan Permukiman"),
    ("SATPOLPP", "Satuan Polisi Pamong Praja"),
    ("DAMKAR", "Dinas Pemadam Kebakaran dan Penyelamatan"),
    ("DINSOS", "Dinas Sosial"),
    (
        "DP3AP2KB",
        "Dinas Pemberdayaan Perempuan dan Perlindungan Anak, Pengendalian Penduduk "
        "dan Keluarga Berencana",
    ),
    ("DISDUKCAPIL", "Dinas Kependudukan dan Pencatatan Sipil"),
    ("DLH", "Dinas Lingkungan Hidup"),
    ("DISHUB", "Dinas Perhubungan"),
    ("DISKOMINFO", "Dinas Komunikasi dan Informatika"),
    ("DPMPTSP", "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu"),
    ("DISNAKER", "Dinas Tenaga Kerja"),
    ("DPMD", "Dinas Pemberdayaan Masyarakat dan Desa"),
    ("DISKOPUMKM", "Dinas Koperasi, Usaha Kecil dan Menengah"),
    ("DISDAGPERIN", "Dinas Perdagangan dan Perindustrian"),
    ("DISTAN", "Dinas Pertanian"),
    ("DISKAN", "Dinas Perikanan"),
    ("DKP", "Dinas Ketahanan Pangan"),
    ("DISPORAPAR", "Dinas Kepemudaan, Olahraga dan Pariwisata"),
    ("DISARPUS", "Dinas Perpustakaan dan Kearsipan"),
    ("BPBD", "Badan Penanggulangan Bencana Daerah"),
    ("BAPENDA", "Badan Pendapatan Daerah"),
    ("BPKAD", "Badan Pengelolaan Keuangan dan Aset Daerah"),
    ("BKPSDM", "Badan Kepegawaian dan Pengembangan Sumber Daya Manusia"),
    (
        "BAPPELITBANGDA",
        "Badan Perencanaan Pembangunan, Penelitian dan Pengembangan Daerah",
    ),
    ("KESBANGPOL", "Badan Kesatuan Bangsa dan Politik"),
    ("INSPEKTORAT", "Inspektorat Daerah"),
)

# Liaison officers who answer late: the per-SKPD report should single them out.
_SLOW_SKPDS: Final[tuple[str, ...]] = ("PUPR", "DINSOS", "DISPERKIM", "DISHUB")
_FAST_SKPDS: Final[tuple[str, ...]] = ("DINKES", "RSUD", "DISDUKCAPIL", "DPMPTSP", "BPBD")

# Working days from one step to the next: (days, weight).
_FOLLOW_UP_SLOW: Final = ((3, 5), (4, 10), (5, 15), (6, 25), (7, 25), (8, 20))
_FOLLOW_UP_NORMAL: Final = ((1, 15), (2, 25), (3, 25), (4, 15), (5, 10), (6, 5), (7, 3), (8, 2))
_FOLLOW_UP_FAST: Final = ((1, 45), (2, 35), (3, 15), (4, 5))
_VERIFY_DELAY: Final = ((0, 30), (1, 30), (2, 20), (3, 12), (4, 8))
_DISPATCH_DELAY: Final = ((0, 70), (1, 25), (2, 5))
_REDISPATCH_DELAY: Final = ((0, 50), (1, 35), (2, 15))
_ARCHIVE_DELAY: Final = ((0, 40), (1, 35), (2, 15), (3, 10))

_VILLAGES: Final[tuple[tuple[str, str], ...]] = (
    ("Sungai Karias", "Amuntai Tengah"),
    ("Palampitan Hilir", "Amuntai Tengah"),
    ("Palampitan Hulu", "Amuntai Tengah"),
    ("Paliwara", "Amuntai Tengah"),
    ("Sungai Malang", "Amuntai Tengah"),
    ("Antasari", "Amuntai Tengah"),
    ("Murung Sari", "Amuntai Tengah"),
    ("Kota Raden Hulu", "Amuntai Tengah"),
    ("Pakacangan", "Amuntai Utara"),
    ("Tambalang", "Amuntai Utara"),
    ("Telaga Silaba", "Amuntai Selatan"),
    ("Harusan", "Amuntai Selatan"),
    ("Teluk Betung", "Sungai Pandan"),
    ("Banua Hanyar", "Sungai Pandan"),
    ("Alabio", "Sungai Pandan"),
    ("Rantau Bujur", "Sungai Tabukan"),
    ("Sungai Tabukan", "Sungai Tabukan"),
    ("Babirik Hilir", "Babirik"),
    ("Murung Panti", "Babirik"),
    ("Danau Panggang", "Danau Panggang"),
    ("Sapala", "Paminggir"),
    ("Paminggir", "Paminggir"),
    ("Haur Gading", "Haur Gading"),
    ("Banjang", "Banjang"),
)
_ROADS: Final[tuple[str, ...]] = (
    "Jalan Norman Umar",
    "Jalan Abdul Aziz",
    "Jalan Basuki Rahmat",
    "Jalan Ahmad Yani",
    "Jalan Empu Jatmika",
    "Jalan Bihman Villa",
    "Jalan Penghulu Rasyid",
    "Jalan Lingkar Alabio",
)
_MARKETS: Final[tuple[str, ...]] = ("Pasar Amuntai", "Pasar Alabio", "Pasar Babirik")

_FIRST_NAMES: Final[tuple[str, ...]] = (
    "Ahmad", "Muhammad", "Abdul", "Rahmat", "Saiful", "Syahrani", "Fauzan", "Rizky",
    "Hendra", "Budi", "Siti", "Nur", "Fitri", "Rahmah", "Aisyah", "Mariani", "Hairunnisa",
    "Norhayati", "Jamilah", "Yusuf", "Gusti", "Noor", "Fahrul", "Arbain", "Mahyuni",
    "Rusdiansyah", "Khairil", "Rina", "Dewi", "Hamdan",
)  # fmt: skip
_LAST_NAMES: Final[tuple[str, ...]] = (
    "Hidayat", "Rahman", "Fauzi", "Ansyari", "Rifani", "Saputra", "Wahyuni", "Hasanah",
    "Maulana", "Ramadhan", "Husin", "Syarifuddin", "Aini", "Hafiz", "Mulyani", "Effendi",
    "Anwar", "Arifin", "Fitriani", "Rahmadi",
)  # fmt: skip
_PHONE_PREFIXES: Final[tuple[str, ...]] = (
    "0811", "0812", "0813", "0821", "0822", "0852", "0853", "0857", "0877", "0878", "0895",
)  # fmt: skip
_MAIL_HOSTS: Final[tuple[str, ...]] = ("gmail.com", "gmail.com", "yahoo.co.id", "yahoo.com")

_CHANNELS: Final[tuple[tuple[str, int], ...]] = (
    ("web", 36),
    ("mobile", 28),
    ("sms", 14),
    ("whatsapp", 16),
    ("twitter", 6),
)

_CHANNEL_NAMES: Final = tuple(name for name, _ in _CHANNELS)
_CHANNEL_WEIGHTS: Final = tuple(weight for _, weight in _CHANNELS)

_ARCHIVE_REASONS: Final[tuple[str, ...]] = (
    "Laporan tidak lengkap",
    "Bukan kewenangan pemerintah daerah",
    "Laporan ganda dengan laporan sebelumnya",
    "Identitas dan lokasi tidak dapat diverifikasi",
    "Bukan pengaduan pelayanan publik",
)
_VERIFY_NOTES: Final[tuple[str, ...]] = (
    "Laporan lengkap dan dapat ditindaklanjuti.",
    "Lokasi sudah dikonfirmasi dengan pelapor.",
    "Diteruskan ke SKPD yang berwenang.",
)
_DEFER_REASONS: Final[tuple[str, ...]] = (
    "Menunggu hasil survei lapangan bersama pihak kecamatan",
    "Menunggu ketersediaan anggaran pada APBD Perubahan",
    "Menunggu koordinasi dengan instansi vertikal",
    "Petugas teknis sedang menangani tanggap darurat banjir",
)
_REPLY_NOTES: Final[tuple[str, ...]] = (
    "Belum ada perbaikan di lapangan, mohon dicek kembali.",
    "Jawaban tidak sesuai dengan yang saya laporkan.",
    "Sampai hari ini belum ada perubahan.",
    "Petugas belum pernah datang ke lokasi.",
)
_RESOLVE_NOTES: Final[tuple[str, ...]] = (
    "Terima kasih, sudah ditangani.",
    "Sudah diperbaiki, terima kasih atas respons cepatnya.",
    "Masalah sudah selesai.",
    "Alhamdulillah sudah beres.",
)
_REOPEN_REASONS: Final[tuple[str, ...]] = (
    "Masalah muncul kembali setelah beberapa hari.",
    "Perbaikan hanya sementara, kondisinya rusak lagi.",
    "Yang dijanjikan ternyata belum terlaksana.",
)
_INTERIM_NOTES: Final[tuple[str, ...]] = (
    "Laporan sudah kami terima dan sedang dijadwalkan peninjauan lapangan.",
    "Sedang dikoordinasikan dengan bidang teknis terkait.",
)
_CLOSINGS: Final[tuple[str, ...]] = (
    " Mohon segera ditindaklanjuti.",
    " Mohon perhatian pemerintah daerah.",
    " Terima kasih.",
    "",
)


@dataclass(frozen=True)
class _Topic:
    """A kind of complaint: where it goes and what its texts look like."""

    category: str
    skpds: tuple[str, ...]  # SKPDs that hold the authority, the usual one first
    titles: tuple[str, ...]
    bodies: tuple[str, ...]
    answers: tuple[str, ...]
    weight: float = 2.0
    classification: str = "pengaduan"
    season: str = ""  # "hujan": rainy-season peak; "ramadan": only during Ramadan
    confidential: float = 0.0  # extra chance of a rahasia complaint


_T = _Topic
_TOPICS: Final[tuple[_Topic, ...]] = (
    # infrastruktur
    _T(
        "infrastruktur",
        ("PUPR",),
        ("Jalan rusak di Desa {desa}", "Jalan berlubang di {jalan}", "Jalan desa rusak parah"),
        (
            "Jalan penghubung di Desa {desa}, Kecamatan {kec} rusak parah dan berlubang "
            "sepanjang kurang lebih {m} meter. Kalau hujan jalan tergenang dan sudah beberapa "
            "pengendara motor terjatuh.",
            "Sudah {bulan} bulan jalan di {jalan} berlubang besar. Anak sekolah dan pedagang "
            "yang ke pasar terpaksa memutar jauh.",
        ),
        (
            "Tim UPTD Jalan dan Jembatan sudah meninjau lokasi; penambalan dijadwalkan minggu ini.",
            "Ruas tersebut masuk program pemeliharaan rutin; perbaikan sementara dengan urugan "
            "batu sudah dikerjakan.",
            "Sudah dilakukan penambalan dengan aspal dingin sepanjang {m} meter.",
        ),
        weight=9,
        season="hujan",
    ),
    _T(
        "infrastruktur",
        ("PUPR",),
        ("Jembatan ulin di Desa {desa} lapuk", "Titian jembatan di Desa {desa} patah"),
        (
            "Jembatan kayu ulin di Desa {desa}, Kecamatan {kec} sudah lapuk dan beberapa papan "
            "lantainya patah. Warga khawatir, terutama anak-anak yang setiap hari lewat ke "
            "sekolah.",
        ),
        (
            "Papan jembatan yang patah sudah diganti oleh tim pemeliharaan bersama warga.",
            "Penggantian jembatan diusulkan pada APBD Perubahan; sementara dipasang rambu "
            "peringatan.",
        ),
        weight=3,
    ),
    _T(
        "infrastruktur",
        ("PUPR", "DISPERKIM"),
        ("Drainase tersumbat di {jalan}", "Saluran air di Desa {desa} meluap"),
        (
            "Saluran drainase di {jalan} tersumbat sampah dan lumpur sehingga air meluap ke "
            "rumah warga setiap hujan deras.",
        ),
        (
            "Pembersihan saluran sudah dilakukan oleh petugas bersama warga.",
            "Normalisasi drainase dijadwalkan; sampah penyumbat sudah diangkat.",
        ),
        weight=4,
        season="hujan",
    ),
    _T(
        "infrastruktur",
        ("DISHUB", "DISPERKIM"),
        ("Lampu jalan mati di {jalan}", "Penerangan jalan umum padam di Desa {desa}"),
        (
            "Lampu penerangan jalan umum di {jalan} sudah {bulan} bulan mati. Malam hari "
            "sangat gelap dan rawan kecelakaan serta pencurian.",
        ),
        (
            "Lampu PJU yang rusak sudah diganti oleh petugas.",
            "Sudah dicek, kerusakan ada pada panel; perbaikan menunggu suku cadang.",
        ),
        weight=5,
    ),
    _T(
        "infrastruktur",
        ("DISPERKIM",),
        ("Bantuan bedah rumah di Desa {desa} belum terealisasi",),
        (
            "Rumah orang tua kami di Desa {desa} sudah miring dan atapnya bocor. Sudah didata "
            "petugas tahun lalu tetapi bantuan bedah rumah belum ada kabar.",
        ),
        ("Rumah tersebut sudah masuk daftar calon penerima bantuan RTLH tahun berjalan.",),
    ),
    _T(
        "infrastruktur",
        ("PUPR",),
        ("Air bersih tidak mengalir di Desa {desa}",),
        (
            "Sudah {bulan} minggu air dari jaringan SPAM desa tidak mengalir ke rumah warga di "
            "Desa {desa}. Warga terpaksa memakai air sungai.",
        ),
        ("Pipa transmisi yang bocor sudah diperbaiki dan aliran air kembali normal.",),
    ),
    # kesehatan
    _T(
        "kesehatan",
        ("DINKES",),
        ("Pelayanan puskesmas lambat", "Antrean di Puskesmas {kec} sangat lama"),
        (
            "Pelayanan di Puskesmas {kec} lambat, pasien menunggu lebih dari tiga jam dan "
            "petugas pendaftaran sering belum datang pada jam buka.",
        ),
        (
            "Kepala puskesmas sudah ditegur dan jadwal petugas pendaftaran diperbaiki.",
            "Sudah dilakukan pembinaan; sistem antrean daring mulai diterapkan.",
        ),
        weight=6,
    ),
    _T(
        "kesehatan",
        ("DINKES",),
        ("Obat di puskesmas sering kosong",),
        (
            "Setiap berobat ke Puskesmas {kec}, obat yang diresepkan kosong dan pasien disuruh "
            "membeli di apotek luar.",
        ),
        ("Distribusi obat dari instalasi farmasi sudah dipercepat; stok kini tersedia.",),
        weight=3,
    ),
    _T(
        "kesehatan",
        ("RSUD", "DINKES"),
        (
            "Antrean pendaftaran RSUD Pambalah Batung lama",
            "Pasien BPJS diminta membeli obat sendiri",
        ),
        (
            "Keluarga kami dirawat di RSUD Pambalah Batung. Antrean pendaftaran sejak subuh "
            "dan pasien BPJS masih diminta membeli obat sendiri.",
        ),
        (
            "Manajemen RSUD sudah menambah loket pendaftaran dan memeriksa ketersediaan obat.",
            "Pasien sudah dihubungi; biaya obat dikembalikan sesuai ketentuan JKN.",
        ),
        weight=4,
    ),
    _T(
        "kesehatan",
        ("DINKES",),
        ("Fogging demam berdarah belum dilakukan di Desa {desa}",),
        (
            "Sudah ada {n} warga Desa {desa} terkena demam berdarah bulan ini tetapi belum ada "
            "pengasapan (fogging).",
        ),
        ("Tim surveilans sudah melakukan penyelidikan epidemiologi dan fogging fokus.",),
        weight=2,
        season="hujan",
    ),
    # pendidikan
    _T(
        "pendidikan",
        ("DISDIK",),
        ("Guru jarang hadir di SDN {n} {desa}", "Atap kelas SDN {n} {desa} bocor"),
        (
            "Di SDN {n} {desa}, Kecamatan {kec}, guru kelas sering tidak hadir dan atap kelas "
            "bocor kalau hujan sehingga murid dipulangkan.",
        ),
        (
            "Pengawas sekolah sudah turun; kepala sekolah dan guru yang bersangkutan dibina.",
            "Perbaikan atap kelas masuk kegiatan rehabilitasi ringan tahun ini.",
        ),
        weight=5,
    ),
    _T(
        "pendidikan",
        ("DISDIK",),
        ("Pungutan biaya seragam di SMPN {n} {kec}", "Sekolah menarik uang perpisahan"),
        (
            "Sekolah anak kami menarik biaya seragam dan kegiatan sebesar Rp{rp}.000 per siswa "
            "tanpa musyawarah komite.",
        ),
        ("Kepala sekolah sudah dipanggil; pungutan dihentikan dan uang dikembalikan.",),
        weight=3,
    ),
    _T(
        "pendidikan",
        ("DISDIK",),
        ("Dana PIP belum cair",),
        ("Anak kami terdaftar penerima Program Indonesia Pintar tetapi dananya belum cair.",),
        ("Sudah dicek, rekening siswa perlu diaktivasi; sekolah membantu prosesnya.",),
    ),
    _T(
        "pendidikan",
        ("DISARPUS",),
        ("Usulan perpustakaan keliling ke Desa {desa}",),
        ("Mohon mobil perpustakaan keliling dijadwalkan ke Desa {desa} setiap bulan.",),
        ("Desa {desa} sudah masuk jadwal layanan perpustakaan keliling.",),
        weight=1,
        classification="aspirasi",
    ),
    # kependudukan
    _T(
        "kependudukan",
        ("DISDUKCAPIL",),
        ("KTP elektronik belum jadi", "Blanko KTP-el kosong di kecamatan"),
        (
            "Sudah rekam KTP-el di Kecamatan {kec} {bulan} bulan lalu tetapi sampai sekarang "
            "belum dicetak dengan alasan blanko kosong.",
        ),
        (
            "KTP-el pelapor sudah dicetak dan dapat diambil di kantor kecamatan.",
            "Blanko sudah tersedia; pencetakan dilakukan berurutan sesuai antrean.",
        ),
        weight=6,
    ),
    _T(
        "kependudukan",
        ("DISDUKCAPIL",),
        ("Pengurusan akta kelahiran lama", "Data Kartu Keluarga salah"),
        ("Pengurusan akta kelahiran dan perbaikan data KK kami sudah lebih dari sebulan.",),
        ("Dokumen pelapor sudah selesai dan dikirim melalui layanan jemput bola.",),
        weight=4,
    ),
    _T(
        "kependudukan",
        ("DISDUKCAPIL", "INSPEKTORAT"),
        ("Dugaan pungutan saat mengurus KK",),
        ("Saat mengurus KK di desa saya diminta membayar Rp{rp}.000 oleh oknum petugas.",),
        ("Oknum yang dilaporkan sudah diperiksa dan diberi sanksi sesuai ketentuan.",),
        weight=1,
        confidential=0.4,
    ),
    # sosial
    _T(
        "sosial",
        ("DINSOS",),
        ("Bantuan sosial belum diterima", "Bansos sembako bulan ini belum cair"),
        (
            "Keluarga kami terdaftar di DTKS dan biasanya menerima bantuan sembako, tetapi "
            "sudah {bulan} bulan bantuan belum diterima.",
        ),
        (
            "Data pelapor sudah dicek; penyaluran tertunda karena pemutakhiran DTKS.",
            "Bantuan pelapor sudah disalurkan melalui kantor pos.",
        ),
        weight=7,
    ),
    _T(
        "sosial",
        ("DINSOS",),
        ("Penerima PKH tidak tepat sasaran di Desa {desa}",),
        ("Ada penerima PKH di Desa {desa} yang rumahnya besar dan punya mobil.",),
        ("Pendamping PKH sudah melakukan verifikasi ulang penerima di desa tersebut.",),
        weight=3,
    ),
    _T(
        "sosial",
        ("DPMD",),
        ("BLT Dana Desa di Desa {desa} belum dibagikan",),
        ("BLT Dana Desa di Desa {desa} untuk triwulan ini belum dibagikan.",),
        ("Pemerintah desa sudah dipanggil; BLT dijadwalkan dibagikan minggu ini.",),
        weight=3,
    ),
    _T(
        "sosial",
        ("DP3AP2KB",),
        ("Dugaan kekerasan terhadap anak di lingkungan kami",),
        ("Ada anak tetangga yang sering dipukul orang tuanya. Mohon identitas saya dirahasiakan.",),
        ("Petugas UPTD PPA sudah melakukan penjangkauan dan pendampingan.",),
        weight=1,
        confidential=0.7,
    ),
    _T(
        "sosial",
        ("DINSOS",),
        ("Permintaan data penerima bantuan Desa {desa}",),
        ("Mohon informasi daftar penerima bantuan sosial di Desa {desa} tahun ini.",),
        ("Daftar penerima dapat dilihat di kantor desa dan laman cekbansos.",),
        weight=1,
        classification="permintaan_informasi",
    ),
    _T(
        "sosial",
        ("DP3AP2KB",),
        ("Penyuluh KB tidak pernah datang ke Desa {desa}",),
        ("Penyuluh KB tidak pernah datang ke Desa {desa} sejak awal tahun.",),
        ("Jadwal kunjungan penyuluh KB sudah disampaikan ke pemerintah desa.",),
        weight=1,
    ),
    # lingkungan
    _T(
        "lingkungan",
        ("DLH",),
        ("Sampah menumpuk di {pasar}", "Truk sampah tidak mengangkut sampah di {jalan}"),
        ("Sampah di {pasar} sudah {n} hari tidak diangkut dan baunya sampai ke permukiman.",),
        (
            "Sampah sudah diangkut dan jadwal armada ditambah.",
            "Tempat penampungan sementara sudah dibersihkan.",
        ),
        weight=5,
    ),
    _T(
        "lingkungan",
        ("DLH",),
        ("Limbah penggilingan padi mencemari sungai di Desa {desa}",),
        ("Limbah sekam dan air penggilingan padi dibuang ke sungai di Desa {desa}.",),
        ("Pengelola usaha sudah diberi teguran tertulis dan diminta membuat penampungan.",),
        weight=2,
    ),
    _T(
        "lingkungan",
        ("DLH", "BPBD"),
        ("Pohon besar rawan tumbang di {jalan}",),
        ("Ada pohon besar miring di {jalan} yang rawan tumbang saat angin kencang.",),
        ("Pohon sudah dipangkas oleh petugas.",),
        weight=2,
        season="hujan",
    ),
    # perizinan
    _T(
        "perizinan",
        ("DPMPTSP",),
        ("Pengurusan izin usaha lama", "NIB tidak kunjung terbit"),
        ("Sudah mengajukan izin usaha melalui OSS sejak {bulan} bulan lalu tetapi belum selesai.",),
        ("Petugas sudah membantu melengkapi data; NIB pelapor sudah terbit.",),
        weight=3,
    ),
    _T(
        "perizinan",
        ("DPMPTSP", "PUPR"),
        ("Proses PBG berlarut-larut",),
        ("Permohonan Persetujuan Bangunan Gedung kami sudah {bulan} bulan tanpa kejelasan.",),
        ("Tim teknis sudah menjadwalkan pemeriksaan dokumen; pelapor dihubungi.",),
        weight=2,
    ),
    _T(
        "perizinan",
        ("DPMPTSP", "SATPOLPP"),
        ("Sarang burung walet di permukiman Desa {desa}",),
        ("Bangunan sarang burung walet di tengah permukiman Desa {desa} sangat bising.",),
        ("Perizinan bangunan tersebut sudah diperiksa dan pemilik diminta memenuhi ketentuan.",),
        weight=2,
    ),
    # ketertiban
    _T(
        "ketertiban",
        ("SATPOLPP",),
        ("Pedagang kaki lima menutup trotoar {jalan}", "Balap liar setiap malam di {jalan}"),
        ("Di {jalan} trotoar penuh pedagang dan malam hari sering ada balap liar.",),
        ("Petugas sudah melakukan penertiban dan patroli malam.",),
        weight=4,
    ),
    _T(
        "ketertiban",
        ("SATPOLPP",),
        ("Tempat hiburan buka saat bulan Ramadan",),
        ("Ada tempat hiburan di {jalan} tetap buka sampai larut malam di bulan Ramadan.",),
        ("Tempat usaha tersebut sudah ditertibkan sesuai surat edaran bupati.",),
        weight=4,
        season="ramadan",
    ),
    _T(
        "ketertiban",
        ("KESBANGPOL", "SATPOLPP"),
        ("Spanduk ormas tanpa izin di {jalan}",),
        ("Banyak spanduk ormas dipasang tanpa izin di {jalan} dan menutupi rambu.",),
        ("Spanduk sudah diturunkan dan ormas yang bersangkutan diberi pembinaan.",),
        weight=1,
    ),
    # bencana
    _T(
        "bencana",
        ("BPBD", "DINSOS"),
        ("Banjir merendam rumah warga di Desa {desa}", "Banjir di Kecamatan {kec} belum surut"),
        (
            "Sudah {n} hari banjir merendam rumah warga di Desa {desa}, Kecamatan {kec}. Warga "
            "butuh perahu, air bersih dan makanan siap saji.",
        ),
        (
            "Tim reaksi cepat sudah menyalurkan logistik dan perahu karet ke lokasi.",
            "Dapur umum sudah didirikan di kantor kecamatan.",
        ),
        weight=5,
        season="hujan",
    ),
    _T(
        "bencana",
        ("BPBD", "DINSOS"),
        ("Bantuan korban banjir belum merata",),
        ("Bantuan korban banjir di Desa {desa} belum sampai ke RT kami.",),
        ("Pendataan ulang sudah dilakukan dan bantuan susulan disalurkan.",),
        weight=2,
        season="hujan",
    ),
    _T(
        "bencana",
        ("DAMKAR", "BPBD"),
        ("Hidran kebakaran di {pasar} tidak berfungsi", "Mobil pemadam lambat datang"),
        ("Hidran di {pasar} tidak berfungsi; kalau ada kebakaran air dari mana.",),
        ("Hidran sudah diperiksa dan diperbaiki bersama PDAM.",),
        weight=2,
    ),
    # transportasi
    _T(
        "transportasi",
        ("DISHUB",),
        ("Parkir liar di depan {pasar}", "Tarif parkir di {pasar} melebihi ketentuan"),
        ("Juru parkir di {pasar} menarik Rp{rp}.000 untuk sepeda motor tanpa karcis.",),
        ("Juru parkir sudah dibina dan karcis resmi diwajibkan.",),
        weight=3,
    ),
    _T(
        "transportasi",
        ("DISHUB",),
        ("Rambu lalu lintas rusak di {jalan}", "Kelotok penyeberangan di Desa {desa} tidak layak"),
        ("Rambu di {jalan} roboh dan kelotok penyeberangan tidak punya pelampung.",),
        ("Rambu sudah dipasang kembali dan pemilik kelotok diberi pelampung.",),
        weight=3,
    ),
    # ekonomi, pertanian, perikanan
    _T(
        "perdagangan",
        ("DISDAGPERIN",),
        ("Harga elpiji 3 kg melebihi HET di Desa {desa}",),
        ("Elpiji 3 kg di pangkalan Desa {desa} dijual Rp{rp}.000, jauh di atas HET.",),
        ("Pangkalan sudah diperiksa bersama agen dan diberi peringatan.",),
        weight=3,
    ),
    _T(
        "perdagangan",
        ("DKP", "DISDAGPERIN"),
        ("Harga beras naik, mohon operasi pasar",),
        ("Harga beras di {pasar} naik tajam. Mohon diadakan operasi pasar murah.",),
        ("Gerakan pangan murah dijadwalkan di {pasar}.",),
        weight=2,
    ),
    _T(
        "ekonomi",
        ("DISKOPUMKM",),
        ("Bantuan modal UMKM tidak jelas",),
        ("Kami pelaku UMKM sudah mendaftar bantuan modal tetapi tidak ada informasi lanjutan.",),
        ("Pelapor sudah diundang ke klinik UMKM untuk pendampingan.",),
        weight=2,
    ),
    _T(
        "pertanian",
        ("DISTAN",),
        ("Kelangkaan pupuk bersubsidi di Kecamatan {kec}", "Usulan pelatihan budidaya itik Alabio"),
        ("Petani di Kecamatan {kec} kesulitan mendapat pupuk bersubsidi menjelang musim tanam.",),
        ("Alokasi pupuk sudah ditambah dan kios resmi diawasi penyuluh.",),
        weight=3,
    ),
    _T(
        "perikanan",
        ("DISKAN",),
        ("Usulan pasar ikan yang bersih di {pasar}",),
        ("Mohon los ikan di {pasar} diperbaiki agar bersih dan tidak becek.",),
        ("Usulan sudah dicatat untuk kegiatan revitalisasi los ikan.",),
        weight=1,
        classification="aspirasi",
    ),
    # ketenagakerjaan, kepegawaian, pajak
    _T(
        "ketenagakerjaan",
        ("DISNAKER",),
        ("Upah pekerja di bawah UMK",),
        ("Perusahaan tempat saya bekerja membayar upah jauh di bawah UMK dan tanpa BPJS.",),
        ("Pengawas ketenagakerjaan sudah memeriksa perusahaan tersebut.",),
        weight=2,
        confidential=0.3,
    ),
    _T(
        "ketenagakerjaan",
        ("DISNAKER",),
        ("Informasi pelatihan kerja di BLK",),
        ("Mohon informasi jadwal pelatihan kerja gratis tahun ini.",),
        ("Jadwal pelatihan sudah diumumkan di media sosial Disnaker.",),
        weight=1,
        classification="permintaan_informasi",
    ),
    _T(
        "kepegawaian",
        ("BKPSDM", "INSPEKTORAT"),
        ("ASN tidak berada di kantor saat jam kerja",),
        ("Banyak pegawai di kantor kecamatan {kec} tidak ada di tempat pada jam kerja.",),
        ("Pegawai yang bersangkutan sudah diperiksa atasan langsungnya.",),
        weight=2,
        confidential=0.5,
    ),
    _T(
        "kepegawaian",
        ("BPKAD", "DISDIK"),
        ("Insentif guru honorer belum dibayar",),
        ("Insentif guru honorer untuk {bulan} bulan terakhir belum dibayarkan.",),
        ("Insentif sudah diproses dan ditransfer ke rekening masing-masing.",),
        weight=2,
    ),
    _T(
        "pajak",
        ("BAPENDA",),
        ("Tagihan PBB tidak sesuai luas tanah",),
        ("SPPT PBB kami mencantumkan luas tanah yang salah sehingga tagihan terlalu besar.",),
        ("Objek pajak pelapor sudah diperbaiki datanya.",),
        weight=2,
    ),
    # pembangunan, pariwisata, desa, informasi
    _T(
        "pembangunan",
        ("BAPPELITBANGDA",),
        ("Usulan Musrenbang Desa {desa} tidak diakomodasi",),
        (
            "Usulan jalan usaha tani dari Musrenbang Desa {desa} tiga tahun berturut-turut "
            "tidak masuk.",
        ),
        ("Usulan sudah dicatat untuk dibahas pada forum perangkat daerah.",),
        weight=1,
        classification="aspirasi",
    ),
    _T(
        "pariwisata",
        ("DISPORAPAR",),
        ("Objek wisata Candi Agung kurang terawat", "Usulan lapangan olahraga di Desa {desa}"),
        ("Kawasan Candi Agung banyak sampah dan toiletnya rusak.",),
        ("Kebersihan kawasan sudah ditingkatkan dan toilet diperbaiki.",),
        weight=2,
        classification="aspirasi",
    ),
    _T(
        "desa",
        ("DPMD", "INSPEKTORAT"),
        ("Dugaan penyalahgunaan dana desa di Desa {desa}", "Permohonan informasi APBDes"),
        ("Pembangunan di Desa {desa} tidak sesuai papan informasi kegiatan dana desa.",),
        ("Inspektorat sudah menjadwalkan audit dengan tujuan tertentu.",),
        weight=2,
        confidential=0.4,
    ),
    _T(
        "informasi",
        ("DISKOMINFO",),
        ("Situs web pemerintah kabupaten tidak bisa diakses", "Wifi publik di taman kota mati"),
        ("Situs web resmi pemerintah kabupaten sudah beberapa hari tidak bisa dibuka.",),
        ("Gangguan server sudah diperbaiki dan layanan kembali normal.",),
        weight=1,
    ),
)

# Approximate Ramadan dates (the engine's holidays package has the official ones).
_RAMADAN: Final[tuple[tuple[date, date], ...]] = (
    (date(2025, 3, 1), date(2025, 3, 30)),
    (date(2026, 2, 18), date(2026, 3, 19)),
    (date(2027, 2, 8), date(2027, 3, 9)),
)


def _season_factor(topic: _Topic, day: date) -> float:
    if topic.season == "hujan":
        return 2.0 if day.month in (11, 12, 1, 2) else 0.7
    if topic.season == "ramadan":
        return 1.0 if any(a <= day <= b for a, b in _RAMADAN) else 0.0
    return 1.0


# --------------------------------------------------------------------------- time helpers


def _add_workdays(day: date, n: int) -> date:
    """The ``n``-th Monday-Friday after ``day``; for ``n == 0`` ``day`` or the next weekday."""
    if n == 0:
        while day.weekday() >= 5:
            day += timedelta(days=1)
        return day
    for _ in range(n):
        day += timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
    return day


def _in_work_hours(at: datetime) -> bool:
    start = datetime.combine(at.date(), _WORK_START, WITA)
    return at.weekday() < 5 and start <= at < start + timedelta(seconds=_WORK_SECONDS)


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _encode(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------- the generator


@dataclass
class _Person:
    actor_id: str
    name: str
    phone: str
    email: str


@dataclass
class _Complaint:
    complaint_id: str
    submitted_at: datetime
    topic: _Topic
    person: _Person
    place: tuple[str, str]
    submitter: tuple[str, str]  # (role, id) of the submit
    events: list[tuple[datetime, str]] = field(default_factory=list)


class _Generator:
    """One run of :func:`generate`: all randomness flows through ``self.rng`` in order."""

    def __init__(
        self, rng: random.Random, region: DemoRegion, mix: DemoMix, start: date, days: int
    ) -> None:
        self.rng = rng
        self.region = region
        self.mix = mix
        self.start = start
        self.days = days
        self.admin = region.admin_id
        self.lifecycle: list[DemoRecord] = []
        self.extras: list[DemoRecord] = []
        self.command_ids: set[str] = set()
        self.people: list[_Person] = []
        self.complaints: list[_Complaint] = []
        self.skpd_codes = tuple(code for code, _ in region.skpds)
        self._topic_weights: dict[date, list[float]] = {}

    # -- small random helpers

    def pick(self, table: Sequence[tuple[int, int]]) -> int:
        """A value from ``(value, weight)`` pairs."""
        values = [v for v, _ in table]
        weights = [w for _, w in table]
        return self.rng.choices(values, weights)[0]

    def command_id(self) -> str:
        """A fresh ``c-<hex>`` id, unique within the run."""
        while True:
            cid = f"c-{self.rng.getrandbits(80):020x}"
            if cid not in self.command_ids:
                self.command_ids.add(cid)
                return cid

    def work_time(self, day: date) -> datetime:
        """A random moment of office hours on ``day``."""
        base = datetime.combine(day, _WORK_START, WITA)
        return base + timedelta(seconds=self.rng.randrange(_WORK_SECONDS))

    def citizen_time(self, day: date) -> datetime:
        """A random moment of ``day`` as complainants act: mostly daytime and evening."""
        hour = self.rng.choices(range(24), _CITIZEN_HOURS)[0]
        return datetime.combine(day, time(hour), WITA) + timedelta(seconds=self.rng.randrange(3600))

    def staff_after(self, prev: datetime, workdays: int) -> datetime:
        """An office-hours moment ``workdays`` working days after ``prev``, strictly later."""
        at = self.work_time(_add_workdays(prev.date(), workdays))
        if at <= prev:
            at = prev + timedelta(seconds=self.rng.randint(5 * 60, 150 * 60))
            if not _in_work_hours(at):
                at = self.work_time(_add_workdays(prev.date(), 1))
        return at

    def citizen_after(self, prev: datetime, lo_days: int, hi_days: int) -> datetime:
        """A complainant's moment ``lo_days..hi_days`` calendar days after ``prev`` (skewed early).

        The date is at most ``max(hi_days, 1)`` days after ``prev``'s date.
        """
        k = min(self.rng.randint(lo_days, hi_days), self.rng.randint(lo_days, hi_days))
        at = self.citizen_time(prev.date() + timedelta(days=k))
        if at <= prev:
            at = prev + timedelta(seconds=self.rng.randint(10 * 60, 4 * 3600))
        return at

    def person(self) -> _Person:
        """A complainant: mostly new people, some who have reported before."""
        if self.people and self.rng.random() < 0.12:
            return self.rng.choice(self.people)
        first = self.rng.choice(_FIRST_NAMES)
        last = self.rng.choice(_LAST_NAMES)
        number = len(self.people) + 1
        phone = self.rng.choice(_PHONE_PREFIXES) + "".join(
            self.rng.choice("0123456789") for _ in range(self.rng.choice((7, 8)))
        )
        mail = f"{first.lower()}.{last.lower()}{self.rng.randint(1, 99)}@"
        person = _Person(
            f"pelapor-{number}",
            f"{first} {last}",
            phone,
            mail + self.rng.choice(_MAIL_HOSTS),
        )
        self.people.append(person)
        return person

    def topic(self, day: date) -> _Topic:
        """A topic, weighted by its share and season on ``day``."""
        weights = self._topic_weights.get(day)
        if weights is None:
            weights = [t.weight * _season_factor(t, day) for t in _TOPICS]
            self._topic_weights[day] = weights
        return self.rng.choices(_TOPICS, weights)[0]

    def texts(self, topic: _Topic, place: tuple[str, str]) -> dict[str, str]:
        """Values for the ``{...}`` fields of a topic's templates."""
        return {
            "desa": place[0],
            "kec": place[1],
            "jalan": self.rng.choice(_ROADS),
            "pasar": self.rng.choice(_MARKETS),
            "n": str(self.rng.randint(1, 12)),
            "m": str(self.rng.randrange(50, 1500, 50)),
            "bulan": str(self.rng.randint(2, 8)),
            "rp": str(self.rng.choice((10, 15, 20, 25, 30, 50, 150, 250))),
        }

    # -- emitting

    def emit(
        self,
        c: _Complaint,
        at: datetime,
        ctype: str,
        actor: tuple[str, str],
        payload: dict[str, Any],
        kind: str = "lifecycle",
    ) -> DemoRecord:
        """Encode one command of complaint ``c`` and keep it as a record of ``kind``."""
        value = _encode(
            {
                "command_id": self.command_id(),
                "type": ctype,
                "complaint_id": c.complaint_id,
                "issued_at": _iso(at),
                "actor": {"role": actor[0], "id": actor[1]},
                "payload": payload,
            }
        )
        record = DemoRecord(c.complaint_id.encode("utf-8"), value, kind, at)
        if kind == "lifecycle":
            self.lifecycle.append(record)
            c.events.append((at, ctype))
        else:
            self.extras.append(record)
        return record

    def submit_payload(self, c: _Complaint, channel: str, topic: _Topic) -> dict[str, Any]:
        """The payload of a submit of ``c`` about ``topic``."""
        rng = self.rng
        fill = self.texts(topic, c.place)
        body = rng.choice(topic.bodies).format(**fill) + rng.choice(_CLOSINGS)
        anonymous = rng.random() < self.mix.anonymous
        confidential = rng.random() < min(1.0, self.mix.confidential + topic.confidential)
        payload: dict[str, Any] = {
            "title": rng.choice(topic.titles).format(**fill),
            "body": body,
            "category": topic.category,
            "classification": topic.classification,
            "channel": channel,
            "region": self.region.region,
            "anonymous": anonymous,
            "confidential": confidential,
        }
        if not anonymous:
            p = c.person
            payload["complainant"] = {"name": p.name, "phone": p.phone, "email": p.email}
        if rng.random() < 0.75:
            payload["location"] = f"Desa {c.place[0]}, Kecamatan {c.place[1]}"
        return payload

    # -- the complaints

    def make_complaints(self, count: int) -> None:
        """Draw submit moments over the window, then number the complaints in that order."""
        rng = self.rng
        days = [self.start + timedelta(days=i) for i in range(self.days)]
        day_weights = [(1.0, 1.0, 1.0, 1.0, 0.9, 0.55, 0.45)[d.weekday()] for d in days]
        drafts: list[tuple[datetime, bool]] = []
        for day in rng.choices(days, day_weights, k=count):
            by_admin = day.weekday() < 5 and rng.random() < self.mix.admin_submit
            at = self.work_time(day) if by_admin else self.citizen_time(day)
            drafts.append((at, by_admin))
        drafts.sort(key=lambda d: d[0])
        serial: Counter[int] = Counter()
        for at, by_admin in drafts:
            serial[at.year] += 1
            person = self.person()
            topic = self.topic(at.date())
            c = _Complaint(
                complaint_id=f"{self.region.region}-{at.year}-{serial[at.year]:06d}",
                submitted_at=at,
                topic=topic,
                person=person,
                place=rng.choice(_VILLAGES),
                submitter=("admin", self.admin) if by_admin else ("complainant", person.actor_id),
            )
            channel = "other" if by_admin else rng.choices(_CHANNEL_NAMES, _CHANNEL_WEIGHTS)[0]
            self.complaints.append(c)
            self.play(c, self.submit_payload(c, channel, topic))

    def play(self, c: _Complaint, submit: dict[str, Any]) -> None:
        """Emit the lifecycle of one complaint, every command strictly after the previous."""
        rng, mix = self.rng, self.mix
        admin = ("admin", self.admin)
        citizen = ("complainant", c.person.actor_id)
        t = c.submitted_at
        self.emit(c, t, "submit", c.submitter, submit)

        roll = rng.random()
        if roll < mix.archived:
            if rng.random() < 0.5:
                t = self.verify(c, t)
            t = self.staff_after(t, self.pick(_ARCHIVE_DELAY))
            self.emit(c, t, "archive", admin, {"reason": rng.choice(_ARCHIVE_REASONS)})
            return
        if roll < mix.archived + mix.left_open:
            if rng.random() < 0.5:
                self.verify(c, t)
            return

        handled = 1.0 - mix.archived - mix.left_open
        t = self.verify(c, t)
        skpd = rng.choices(c.topic.skpds, [3.0] + [1.0] * (len(c.topic.skpds) - 1))[0]
        t = self.staff_after(t, self.pick(_DISPATCH_DELAY))
        if rng.random() < mix.returned / handled:
            wrong = rng.choice([s for s in self.skpd_codes if s not in c.topic.skpds])
            self.emit(c, t, "dispatch", admin, {"skpd": wrong})
            t = self.staff_after(t, rng.randint(1, 3))
            reason = (
                f"Bukan wewenang {self.region.skpd_name(wrong)}; "
                f"kewenangan ada pada {self.region.skpd_name(skpd)}"
            )
            self.emit(c, t, "return", self.liaison(wrong), {"reason": reason})
            t = self.staff_after(t, self.pick(_REDISPATCH_DELAY))
        self.emit(c, t, "dispatch", admin, {"skpd": skpd})
        if rng.random() < mix.deferred / handled:
            t = self.staff_after(t, rng.randint(0, 2))
            self.emit(c, t, "defer", self.liaison(skpd), {"reason": rng.choice(_DEFER_REASONS)})
            t = self.staff_after(t, rng.randint(1, 5))
            self.emit(c, t, "resume", self.liaison(skpd), {})
        if rng.random() < mix.extra_follow_up / handled:
            t = self.follow_up(c, t, skpd, rng.choice(_INTERIM_NOTES))
            t = self.staff_after(t, rng.randint(1, 4))  # well before auto_close (10 WD)
            self.emit(c, t, "follow_up", self.liaison(skpd), {"note": self.answer(c)})
        else:
            t = self.follow_up(c, t, skpd, self.answer(c))
        if rng.random() < mix.replied / handled:
            t = self.citizen_after(t, 0, 9)
            self.emit(c, t, "reply", citizen, {"note": rng.choice(_REPLY_NOTES)})
            note = "Menindaklanjuti tanggapan pelapor: " + self.answer(c)
            t = self.follow_up(c, t, skpd, note)
        if rng.random() < mix.reopened / handled:
            t = self.resolve(c, t)
            t = self.citizen_after(t, 1, 20)
            self.emit(c, t, "reopen", citizen, {"reason": rng.choice(_REOPEN_REASONS)})
            t = self.follow_up(c, t, skpd, "Laporan dibuka kembali: " + self.answer(c))
        if rng.random() >= mix.auto_close:
            self.resolve(c, t)

    def liaison(self, skpd: str) -> tuple[str, str]:
        """The actor of an SKPD's liaison officer (pejabat penghubung)."""
        return ("skpd", f"penghubung-{skpd.lower()}")

    def answer(self, c: _Complaint) -> str:
        """A follow-up text for ``c``'s topic."""
        return self.rng.choice(c.topic.answers).format(**self.texts(c.topic, c.place))

    def verify(self, c: _Complaint, t: datetime) -> datetime:
        """Emit the admin's verify, 0-4 working days after ``t``."""
        at = self.staff_after(t, self.pick(_VERIFY_DELAY))
        payload = {"note": self.rng.choice(_VERIFY_NOTES)} if self.rng.random() < 0.5 else {}
        self.emit(c, at, "verify", ("admin", self.admin), payload)
        return at

    def follow_up(self, c: _Complaint, t: datetime, skpd: str, note: str) -> datetime:
        """Emit the SKPD's follow-up, as late as that SKPD usually is."""
        table: Sequence[tuple[int, int]]
        if skpd in self.region.slow_skpds:
            table = _FOLLOW_UP_SLOW
        elif skpd in _FAST_SKPDS:
            table = _FOLLOW_UP_FAST
        else:
            table = _FOLLOW_UP_NORMAL
        at = self.staff_after(t, self.pick(table))
        self.emit(c, at, "follow_up", self.liaison(skpd), {"note": note})
        return at

    def resolve(self, c: _Complaint, t: datetime) -> datetime:
        """Emit the complainant's resolve 0-9 calendar days after the follow-up at ``t``.

        Nine calendar days are at most seven working days: always before auto_close.
        """
        at = self.citizen_after(t, 0, 9)
        payload = {"note": self.rng.choice(_RESOLVE_NOTES)} if self.rng.random() < 0.7 else {}
        self.emit(c, at, "resolve", ("complainant", c.person.actor_id), payload)
        return at

    # -- the noise

    def duplicates(self) -> None:
        """Re-send a share of the lifecycle records verbatim, seconds to minutes later."""
        n = round(self.mix.duplicate * len(self.lifecycle))
        for original in self.rng.sample(self.lifecycle, n):
            if self.rng.random() < 0.7:
                delay = self.rng.randint(1, 30)
            else:
                delay = self.rng.randint(31, 900)
            at = original.issued_at + timedelta(seconds=delay)
            self.extras.append(DemoRecord(original.key, original.value, "duplicate", at))

    def forbidden(self) -> None:
        """Add well-formed commands that are surely not allowed when they are issued."""
        makers: tuple[Callable[[], bool], ...] = (
            self.follow_up_while_submitted,
            self.dispatch_by_complainant,
            self.resolve_archived,
            self.conflicting_resubmit,
        )
        n = round(self.mix.forbidden * len(self.lifecycle))
        for i in range(max(n, len(makers))):
            maker = makers[i % len(makers)]
            for _ in range(200):  # tries; a maker says False when its pick does not fit
                if maker():
                    break

    def follow_up_while_submitted(self) -> bool:
        """A liaison follows up a complaint nobody has verified or dispatched yet."""
        c = self.rng.choice(self.complaints)
        submitted = c.events[0][0]
        at = self.staff_after(submitted, 0)
        if len(c.events) > 1 and at >= c.events[1][0] - timedelta(minutes=1):
            return False
        note = "Sudah kami tindak lanjuti."
        self.emit(c, at, "follow_up", self.liaison(c.topic.skpds[0]), {"note": note}, "forbidden")
        return True

    def dispatch_by_complainant(self) -> bool:
        """A complainant tries to dispatch a verified complaint (role not allowed)."""
        c = self.rng.choice(self.complaints)
        if len(c.events) < 2 or c.events[1][1] != "verify":
            return False
        verified = c.events[1][0]
        if len(c.events) > 2:
            gap = int((c.events[2][0] - verified).total_seconds())
            if gap < 120:
                return False
            at = verified + timedelta(seconds=self.rng.randint(30, gap - 30))
        else:
            at = verified + timedelta(seconds=self.rng.randint(600, 2 * 86400))
        citizen = ("complainant", c.person.actor_id)
        self.emit(c, at, "dispatch", citizen, {"skpd": c.topic.skpds[0]}, "forbidden")
        return True

    def resolve_archived(self) -> bool:
        """A complainant tries to resolve an archived complaint."""
        c = self.rng.choice(self.complaints)
        if c.events[-1][1] != "archive":
            return False
        at = self.citizen_after(c.events[-1][0], 0, 14)
        payload = {"note": "Masalah sudah selesai."}
        self.emit(c, at, "resolve", ("complainant", c.person.actor_id), payload, "forbidden")
        return True

    def conflicting_resubmit(self) -> bool:
        """The complaint's id is submitted again with other content."""
        c = self.rng.choice(self.complaints)
        at = self.citizen_after(c.events[0][0], 0, 3)
        other = self.topic(at.date())
        payload = self.submit_payload(c, "web", other)
        payload["title"] = "[Kirim ulang] " + payload["title"]
        self.emit(c, at, "submit", ("complainant", c.person.actor_id), payload, "forbidden")
        return True

    def unknown(self) -> None:
        """Add verifies of complaint ids that were never submitted."""
        n = max(3, round(self.mix.unknown_complaint * len(self.complaints)))
        used: set[int] = set()
        weekdays = [
            self.start + timedelta(days=i)
            for i in range(self.days)
            if (self.start + timedelta(days=i)).weekday() < 5
        ] or [_add_workdays(self.start, 0)]
        for _ in range(n):
            number = self.rng.randint(900_000, 999_999)
            while number in used:
                number = self.rng.randint(900_000, 999_999)
            used.add(number)
            ghost = _Complaint(
                complaint_id=f"{self.region.region}-{self.start.year}-{number:06d}",
                submitted_at=datetime.combine(self.start, _WORK_START, WITA),
                topic=_TOPICS[0],
                person=_Person("", "", "", ""),
                place=_VILLAGES[0],
                submitter=("admin", self.admin),
            )
            at = self.work_time(self.rng.choice(weekdays))
            self.emit(ghost, at, "verify", ("admin", self.admin), {}, "unknown_complaint")

    def invalid(self) -> None:
        """Add records that are not commands at all: they belong in the DLQ."""
        variants = _INVALID_VARIANTS
        n = max(len(variants), round(self.mix.invalid * len(self.lifecycle)))
        order = list(variants) * (n // len(variants) + 1)
        self.rng.shuffle(order)
        for variant in order[:n]:
            base = self.rng.choice(self.lifecycle)
            at = base.issued_at + timedelta(seconds=self.rng.randint(1, 900))
            key, value = variant(self, base, at)
            self.extras.append(DemoRecord(key, value, "invalid", at))

    def doc(self, base: DemoRecord, at: datetime, ctype: str, payload: dict[str, Any]) -> Any:
        """A well-formed command document for ``base``'s complaint (for the broken variants)."""
        role = {"dispatch": "admin", "archive": "admin", "verify": "admin"}.get(ctype, "skpd")
        actor_id = self.admin if role == "admin" else "penghubung-pupr"
        if ctype == "submit":
            role, actor_id = "complainant", "pelapor-1"
        return {
            "command_id": self.command_id(),
            "type": ctype,
            "complaint_id": base.key.decode("utf-8"),
            "issued_at": _iso(at),
            "actor": {"role": role, "id": actor_id},
            "payload": payload,
        }


_CITIZEN_HOURS: Final[tuple[float, ...]] = (
    1, 0.5, 0.3, 0.3, 0.5, 1, 3, 5, 8, 9, 9, 8, 6, 7, 7, 7, 6, 5, 5, 7, 8, 7, 4, 2,
)  # fmt: skip

_Variant = Callable[[_Generator, DemoRecord, datetime], tuple[bytes, bytes]]


def _not_json(g: _Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    texts = (
        b"LAPOR 1708: jalan rusak di desa kami tolong diperbaiki",
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b"complaint_id=" + base.key + b"&type=verify",
    )
    return base.key, g.rng.choice(texts)


def _truncated(g: _Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    # Any strict prefix of a JSON object is not JSON: the closing brace is missing.
    return base.key, base.value[: g.rng.randint(8, len(base.value) - 2)]


def _unknown_type(g: _Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    ctype = g.rng.choice(("close", "escalate", "assign", "tutup"))
    return base.key, _encode(g.doc(base, at, ctype, {"note": "tutup laporan"}))


def _missing_field(g: _Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    ctype, payload = g.rng.choice(
        (
            ("dispatch", {}),
            ("archive", {"note": "tidak lengkap"}),
            ("follow_up", {}),
            ("return", {}),
            ("submit", {"title": "Jalan rusak", "body": "Mohon diperbaiki", "region": "HSU"}),
        )
    )
    return base.key, _encode(g.doc(base, at, ctype, payload))


def _bad_complaint_id(g: _Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    good = base.key.decode("utf-8")
    region, year, number = good.split("-", 2)
    bad = g.rng.choice(
        (f"{region} {year}/{number}", f"{good}#1", f"{good}?", "", f"{good}-" + "0" * 64)
    )
    doc = g.doc(base, at, "verify", {})
    doc["complaint_id"] = bad
    return bad.encode("utf-8"), _encode(doc)


def _naive_issued_at(g: _Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    doc = g.doc(base, at, "verify", {})
    doc["issued_at"] = g.rng.choice(
        (at.strftime("%Y-%m-%dT%H:%M:%S"), at.strftime("%d-%m-%Y %H:%M WITA"))
    )
    return base.key, _encode(doc)


def _not_an_object(g: _Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    doc = g.doc(base, at, "verify", {})
    return base.key, g.rng.choice(
        (_encode([doc]), b"null", b"42", _encode(base.key.decode("utf-8")))
    )


def _empty(g: _Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    return base.key, b""


def _invalid_utf8(g: _Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    # Latin-1 text from an old SMS gateway: "\xb1" alone is not UTF-8.
    doc = g.doc(base, at, "follow_up", {"note": "Sudah diperbaiki \u00b150 meter"})
    return base.key, json.dumps(doc, ensure_ascii=False).encode("latin-1")


def _unknown_role(g: _Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    doc = g.doc(base, at, "verify", {})
    doc["actor"] = g.rng.choice(({"role": "warga", "id": "pelapor-1"}, {"id": "diskominfo"}))
    return base.key, _encode(doc)


def _bad_enum(g: _Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    payload: dict[str, Any] = {
        "title": "Pelayanan lambat",
        "body": "Mohon ditindaklanjuti.",
        "category": "kesehatan",
        "classification": "pengaduan",
        "channel": "web",
        "region": g.region.region,
    }
    field_name, value = g.rng.choice((("classification", "keluhan"), ("channel", "email")))
    payload[field_name] = value
    return base.key, _encode(g.doc(base, at, "submit", payload))


def _bad_command_id(g: _Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    doc = g.doc(base, at, "verify", {})
    choice = g.rng.randrange(3)
    if choice == 0:
        del doc["command_id"]
    else:
        doc["command_id"] = "" if choice == 1 else "c-" + "f" * 127
    return base.key, _encode(doc)


def _payload_not_object(g: _Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    doc = g.doc(base, at, "dispatch", {})
    doc["payload"] = g.rng.choice(("DINKES", ["DINKES"], None))
    return base.key, _encode(doc)


_INVALID_VARIANTS: Final[tuple[_Variant, ...]] = (
    _not_json,
    _truncated,
    _unknown_type,
    _missing_field,
    _bad_complaint_id,
    _naive_issued_at,
    _not_an_object,
    _empty,
    _invalid_utf8,
    _unknown_role,
    _bad_enum,
    _bad_command_id,
    _payload_not_object,
)


# --------------------------------------------------------------------------- public functions


def generate(
    *,
    seed: int = 2026,
    complaints: int = 3000,
    start: date = date(2026, 1, 5),
    days: int = 91,
    region: str = "HSU",
    mix: DemoMix = DEFAULT_MIX,
) -> tuple[DemoRegion, list[DemoRecord]]:
    """Generate ``complaints`` complaints submitted over ``days`` days from ``start``.

    Returns the region and its ``lapor.commands`` records sorted by ``issued_at``
    (stable). The same arguments always give the same records, byte for byte.
    """
    if not _REGION_RE.match(region):
        raise ValueError(f"region must be 1..40 chars of [A-Za-z0-9._-], got {region!r}")
    if not 1 <= complaints <= _MAX_COMPLAINTS:
        raise ValueError(f"complaints must be within 1..{_MAX_COMPLAINTS}, got {complaints}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    demo_region = DemoRegion(
        region=region,
        timezone="Asia/Makassar",
        skpds=_SKPDS,
        admin_id=f"diskominfo-{region.lower()}",
        slow_skpds=_SLOW_SKPDS,
        categories=_category_skpds(),
    )
    gen = _Generator(random.Random(seed), demo_region, mix, start, days)
    gen.make_complaints(complaints)
    gen.duplicates()
    gen.forbidden()
    gen.unknown()
    gen.invalid()
    records = gen.lifecycle + gen.extras
    records.sort(key=lambda r: r.issued_at)
    return demo_region, records


def _category_skpds() -> tuple[tuple[str, tuple[str, ...]], ...]:
    by_category: dict[str, list[str]] = {}
    for topic in _TOPICS:
        codes = by_category.setdefault(topic.category, [])
        codes.extend(s for s in topic.skpds if s not in codes)
    return tuple((category, tuple(codes)) for category, codes in by_category.items())


def expected_kinds(records: Iterable[DemoRecord]) -> dict[str, int]:
    """Count records per kind: every kind of :data:`KINDS`, in that order, zeros included."""
    counts = Counter(r.kind for r in records)
    return {kind: counts.get(kind, 0) for kind in KINDS}


def describe(region: DemoRegion, records: Sequence[DemoRecord]) -> str:
    """One line summing up a generated traffic: region, size, time span and kinds."""
    kinds = expected_kinds(records)
    complaints = len({r.key for r in records if r.kind == "lifecycle"})
    span = f"{records[0].issued_at.date()}..{records[-1].issued_at.date()}" if records else "empty"
    mix = ", ".join(f"{kind} {count}" for kind, count in kinds.items())
    return (
        f"{region.region} ({region.timezone}): {complaints} complaints, "
        f"{len(region.skpds)} SKPDs, {len(records)} records {span}: {mix}"
    )
